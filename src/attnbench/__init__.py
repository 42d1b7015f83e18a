"""attnbench: reproducible numbers on when and how much attention helps a sequence model."""

__version__ = "0.1.0"
