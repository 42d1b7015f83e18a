"""Faithfulness analyses of a trained attention classifier: does attention explain the prediction?

:mod:`~attnbench.analysis.core` states what a model must offer (:class:`Explainable`);
:mod:`~attnbench.analysis.adapter` offers it for the built-in classifier; one module per measurement
(``kendall``, ``permutation``, ``adversarial``, ``erasure``, ``eraser``, ``rationale``,
``seed_agreement``); :mod:`~attnbench.analysis.runner` runs them over batches and writes the tables.
"""
