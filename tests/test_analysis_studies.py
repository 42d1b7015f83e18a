"""The faithfulness study files: every run composes and validates, with the analyses it asks for."""

from __future__ import annotations

from pathlib import Path

import pytest

from attnbench.config import validate
from attnbench.studies.study_file import load_study

from .helpers import compose_config

STUDIES = ("attention_faithfulness", "attention_faithfulness_needle", "jain_wallace_2019_faithfulness")


@pytest.mark.parametrize("name", STUDIES)
def test_every_variant_composes_with_its_analyses(name: str, tmp_path: Path) -> None:
    study = load_study(name)
    for vid, variant in study.variants.items():
        cfg = compose_config([*study.overrides, *variant.overrides, "seed=1"], output_dir=tmp_path / vid)
        validate(cfg)
        assert cfg.analysis is not None and cfg.analysis.kendall is not None, vid
        assert (cfg.attention.frozen == "uniform") == vid.endswith("uniform"), vid
    measured = {m.split("/")[1] for m in study.metrics if m.startswith("analysis/")}
    assert all(cfg.analysis[m] is not None for m in measured), measured


def test_published_correlations_are_jain_and_wallaces() -> None:
    """Their CorrStats_kendalltau/<task>+lstm+tanh.csv: `al` = attention-gradient, `ag` = attention-LOO."""
    values = load_study("jain_wallace_2019_faithfulness").published["values"]
    assert values["sst"]["analysis/kendall/tau_attn_grad_mean"] == 0.35
    assert values["sst"]["analysis/kendall/tau_attn_loo_mean"] == 0.29
    assert values["20news"]["analysis/kendall/tau_grad_loo_mean"] == 0.53


def test_bbc_study_shows_jain_and_wallaces_correlations_as_published_rows() -> None:
    """attention_faithfulness cannot run their datasets here: their τ rows are the same numbers."""
    theirs = load_study("jain_wallace_2019_faithfulness").published["values"]
    rows = load_study("attention_faithfulness").published["rows"]
    names = {"sst": "SST", "imdb": "IMDB", "agnews": "AG News", "20news": "20News"}
    for key, name in names.items():
        row = rows[f"Jain & Wallace, {name}"]
        assert row and all(theirs[key][column] == value for column, value in row.items()), name
