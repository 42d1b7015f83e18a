"""Faithfulness analyses of a trained attention classifier: does attention explain the prediction?

:mod:`~attnbench.analysis.core` states what a model must offer (:class:`Explainable`);
:mod:`~attnbench.analysis.adapter` offers it for the built-in classifier; one module per measurement
(``kendall``, ``permutation``, ``adversarial``, ``erasure``, ``eraser``, ``rationale``, ``agreement``
for ``seed_agreement``), sharing the token rankings of :mod:`~attnbench.analysis.context`;
:mod:`~attnbench.analysis.runner` runs them over batches and writes the tables,
:mod:`~attnbench.analysis.session` feeds it a test split, :mod:`~attnbench.analysis.checkpoint` ties it
to runs and checkpoints (``analysis=[...]`` after training, ``attnbench-analyze``). Options and their
defaults: :mod:`attnbench.config.analysis`.
"""
