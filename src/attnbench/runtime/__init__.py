"""What one run needs around the Trainer: the run record and its attempts, checkpoints, DDP inside a
Hydra job, loggers, callbacks and throughput. Imported by the entry points (``train``, ``evaluate``,
``fitters``) and by analysis; never imports studies or reporting."""
