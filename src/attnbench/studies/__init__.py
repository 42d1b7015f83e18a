"""Studies: ``experiments/<name>.yaml`` → one resumable Hydra multirun → a report.

``study_file`` reads and checks a study (``Study``, ``Variant``, ``Job``, expected jobs and their
directories), ``sweep`` turns it into the multirun's generated configs and overrides, ``runner`` runs
what is not done yet. The report is ``attnbench.reporting``; the command is ``attnbench.cli.study``.
"""
