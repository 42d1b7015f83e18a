"""``--help`` of ``attnbench-train``, ``attnbench-eval`` and ``attnbench-analyze`` in about a second.

Hydra's own ``--help`` lists the options of every config group to fill ``$APP_CONFIG_GROUPS`` and
``$HYDRA_CONFIG_GROUPS``, whether the help template uses them or not; with the ~200 groups the
structured-config schema registers, that takes 5–14 s on 2 CPU cores. The attnbench template
(``conf/hydra/help/attnbench.yaml``) uses neither: it reads each group's options with the
``attnbench_options`` resolver. A bare ``--help`` (or ``-h``) is therefore answered here, with the same
template resolved in the composed config: the same text Hydra prints. With other arguments beside it
(``attnbench-train task=seq2seq --help``) Hydra answers, as before.
"""

from __future__ import annotations

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from attnbench.config import config_dir, register_configs

HELP_FLAGS = ("--help", "-h")


def help_text(config_name: str) -> str:
    """The resolved help template of ``config_name`` (``config``, ``eval``, ``analyze``)."""
    register_configs()
    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(config_dir=str(config_dir()), version_base="1.3"):
            cfg = compose(config_name=config_name, return_hydra_config=True)
            return str(cfg.hydra.help.template)
    finally:
        GlobalHydra.instance().clear()


def answer_help(argv: list[str], config_name: str) -> bool:
    """Print the help and return True when ``argv`` (``sys.argv``) asks for it and nothing else."""
    if len(argv) != 2 or argv[1] not in HELP_FLAGS:
        return False
    print(help_text(config_name))
    return True
