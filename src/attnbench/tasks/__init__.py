"""Tasks: the LightningModules. :mod:`~attnbench.tasks.base` holds what every task shares (optimizer and
schedule, ``split/metric`` names, the exact DDP evaluation loss); one file per task builds on it."""

from attnbench.tasks.base import Task, count_parameters
from attnbench.tasks.classification import ClassificationTask, ClassifierOutput

__all__ = ["ClassificationTask", "ClassifierOutput", "Task", "count_parameters"]
