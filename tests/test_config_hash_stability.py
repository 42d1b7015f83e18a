"""Every committed study's configuration composes to the config hash its runs were recorded with.

``tests/data/study_config_hashes.json`` holds, for one job of each variant of each study, the hash the
code computed before the package was reshaped (issue 19: runtime/ and classification tasks wrapping
``nn.Module``s; taken at commit e7b4e43). A refactor that changes what a config hashes to would make
every earlier study run count as not done, and a study would silently re-train everything.
``data.dedup=none`` (issue 26) is the data those runs were trained on; the default (``exact``)
de-duplicates and so hashes as another computation (checked too)."""

from __future__ import annotations

import json
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra

from attnbench.config import config_hash
from attnbench.config.store import config_dir, register_configs
from attnbench.studies.study_file import load_study
from attnbench.studies.sweep import job_overrides, write_variant_configs

# Study files changed since the hashes were recorded, and the overrides that give back what they computed:
# issue 25 set Jain & Wallace's leave-one-out (analysis.loo=tvd) in the two faithfulness studies.
AS_RECORDED = {
    "attention_faithfulness": ["analysis.loo=probability"],
    "jain_wallace_2019_faithfulness": ["analysis.loo=probability"],
}
RECORDED = json.loads((Path(__file__).parent / "data" / "study_config_hashes.json").read_text())


def test_study_jobs_hash_as_recorded(tmp_path: Path) -> None:
    register_configs()
    by_study: dict[str, dict[str, str]] = {}
    for key, digest in RECORDED.items():
        study, job_dir = key.split("/", 1)
        by_study.setdefault(study, {})[job_dir] = digest
    differ = []
    for name, expected in sorted(by_study.items()):
        study = load_study(name)
        conf = tmp_path / name / "conf"
        write_variant_configs(study, conf)
        jobs = {job.dir_name: job for job in study.expected_jobs()}
        GlobalHydra.instance().clear()
        with initialize_config_dir(str(config_dir()), version_base="1.3"):
            for i, (job_dir, digest) in enumerate(expected.items()):
                overrides = [*job_overrides(study, jobs[job_dir], []), f"hydra.searchpath=[file://{conf}]"]
                as_recorded = [*overrides, "data.dedup=none", *AS_RECORDED.get(name, [])]
                got = config_hash(compose("config", overrides=as_recorded))
                if got != digest:
                    differ.append(f"{name}/{job_dir}: {got} != recorded {digest}")
                # once per study (a composition costs ~0.3 s): the default de-duplicates, another computation
                if i == 0 and config_hash(compose("config", overrides=overrides)) == digest:
                    differ.append(f"{name}/{job_dir}: de-duplicated data hash as the recorded runs")
    GlobalHydra.instance().clear()
    assert not differ, "\n".join(differ)
