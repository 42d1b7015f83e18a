"""Configuration: the schemas (every default, stated once), where ``conf/`` is, the config hash and the
checks a composed config passes before anything runs."""

from attnbench.config.hashing import HASH_DEFAULTS, HASH_EXCLUDED, config_hash
from attnbench.config.runtime import PathsConfig, TrainerConfig
from attnbench.config.schema import (
    OPTIMIZERS,
    SCHEDULERS,
    SCHEMAS,
    AttentionConfig,
    DataConfig,
    ModelConfig,
    MultiHeadConfig,
    OptimizerConfig,
    RunConfig,
    SchedulerConfig,
    SyntheticConfig,
)
from attnbench.config.store import config_dir, register_configs
from attnbench.config.validate import ConfigKeyError, validate

__all__ = [
    "HASH_DEFAULTS",
    "HASH_EXCLUDED",
    "OPTIMIZERS",
    "SCHEDULERS",
    "SCHEMAS",
    "AttentionConfig",
    "ConfigKeyError",
    "DataConfig",
    "ModelConfig",
    "MultiHeadConfig",
    "OptimizerConfig",
    "PathsConfig",
    "RunConfig",
    "SchedulerConfig",
    "SyntheticConfig",
    "TrainerConfig",
    "config_dir",
    "config_hash",
    "register_configs",
    "validate",
]
