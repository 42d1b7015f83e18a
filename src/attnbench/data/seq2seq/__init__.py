"""Sequence-to-sequence data: parallel corpora (generated or read), vocabularies, batches, the data module."""
