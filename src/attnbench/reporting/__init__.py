"""Reporting: ``run.json`` records → a results directory.

``records`` collects runs and reads values out of them, ``statistics`` groups them into a table of
cells (mean ± std over seeds, best, paired t-tests), ``tables`` renders it (Markdown, CSV, LaTeX,
HTML), ``plots`` and ``heatmaps`` draw it, ``page`` writes ``index.html``, ``manifest`` the MANIFEST
(and keeps earlier results), ``wandb_table`` logs it to W&B, and ``report.write_report`` runs those
steps in order. A study is read through the protocols in ``spec``: this package never imports
``attnbench.studies``.
"""
