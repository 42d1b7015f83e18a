"""``experiments/jain_wallace_2019.yaml``: every run of the study composes and validates, and the composed
configs are Jain & Wallace's setup. Composition only: the data come from the Hugging Face Hub and
scikit-learn's download server, which the tests do not reach."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
import yaml
from omegaconf import DictConfig

from attnbench.config import validate

from .helpers import compose_config

STUDY = Path(__file__).resolve().parents[1] / "experiments" / "jain_wallace_2019.yaml"
DATASETS = ["jw_sst", "jw_imdb", "jw_agnews", "jw_20news"]


@pytest.fixture(scope="module")
def study() -> dict:
    return yaml.safe_load(STUDY.read_text())


def run_overrides(study: dict) -> list[tuple[str, str, int, list[str]]]:
    """(variant, data, seed, overrides) of every run: study + variant overrides, the grid value, the seed."""
    runs = []
    for (vid, variant), data, seed in itertools.product(
        study["variants"].items(), study["grid"]["data"], study["seeds"]
    ):
        runs.append((vid, data, seed, [*study["overrides"], *variant["overrides"], f"data={data}", f"seed={seed}"]))
    return runs


def test_study_file_has_the_format(study: dict) -> None:
    assert {"description", "question", "overrides", "seeds", "variants", "grid", "table", "published"} == set(study)
    assert study["seeds"] == [1, 2, 3]
    assert set(study["variants"]) == {"additive", "dot", "none"}
    assert all(set(v) == {"label", "overrides"} and v["label"] for v in study["variants"].values())
    assert study["grid"] == {"data": DATASETS}
    assert study["table"] == {"rows": "variant", "columns": "data", "metric": "test/f1_macro", "baseline": "none"}


def test_published_values_for_the_four_datasets(study: dict) -> None:
    published = study["published"]
    assert "Jain" in published["source"] and published["metric"]
    assert published["values"] == {"additive": {"jw_sst": 0.81, "jw_imdb": 0.88, "jw_agnews": 0.96, "jw_20news": 0.94}}


def check_common(cfg: DictConfig) -> None:
    assert cfg.encoder.name == "bilstm" and cfg.encoder.hidden_size == 128 and cfg.encoder.num_layers == 1
    assert cfg.model.architecture == "attnbench.models.TextClassifier"
    assert cfg.model.embedding_dim == 300 and cfg.model.dropout == 0.0
    opt = cfg.model.optimizer
    assert (opt.name, opt.amsgrad, opt.lr, opt.weight_decay) == ("adam", True, 1e-3, 1e-5)
    assert cfg.model.scheduler.name == "none"
    assert cfg.data.batch_size == 32
    assert cfg.trainer.max_epochs == 8 and cfg.trainer.gradient_clip_val is None
    ckpt = cfg.callbacks.model_checkpoint
    assert (ckpt.monitor, ckpt.mode, ckpt.save_top_k) == ("val/acc", "max", 1)
    assert cfg.callbacks.get("early_stopping") is None


def check_variant(vid: str, cfg: DictConfig) -> None:
    att = cfg.model.attention  # what the model is built from (interpolates ${attention})
    if vid == "additive":
        assert (att.name, att.score, att.alignment, att.query, att.hidden_size, att.hops) == (
            "attention",
            "additive",
            "soft",
            "learned",
            128,
            1,
        )
    elif vid == "dot":
        assert (att.name, att.score, att.alignment, att.query, att.use_scale, att.hops) == (
            "attention",
            "scaled_dot",
            "soft",
            "learned",
            False,
            1,
        )
    else:
        assert att.name == "none" and cfg.model.pooling.mode == "last"


def check_data(data: str, cfg: DictConfig) -> None:
    d = cfg.data
    assert d.name == data and d.lowercase and d.tokenizer == "word"
    if data == "jw_sst":
        assert (d.source, d.dataset, d.text_column, d.label_column) == ("hub", "SetFit/sst5", "text", "label_text")
        assert dict(d.splits) == {"train": "train", "val": "validation", "test": "test"}
        assert dict(d.label_map) == {
            "very negative": "negative",
            "negative": "negative",
            "neutral": None,
            "positive": "positive",
            "very positive": "positive",
        }
        assert d.labels is None and d.max_tokens is None
    elif data == "jw_imdb":
        assert (d.source, d.dataset) == ("hub", "stanfordnlp/imdb")
        assert d.max_tokens == 400 and d.max_length >= 400
        assert d.labels is None and d.label_map is None
    elif data == "jw_agnews":
        assert (d.source, d.dataset) == ("hub", "fancyzhx/ag_news")
        assert list(d.labels) == ["World", "Business"] and d.label_map is None and d.max_tokens is None
    else:
        assert d.source == "20newsgroups"
        assert list(d.labels) == ["rec.sport.baseball", "rec.sport.hockey"]
        assert d.label_map is None and d.max_tokens is None


def test_every_run_composes_validates_and_is_their_setup(study: dict, tmp_path: Path) -> None:
    runs = run_overrides(study)
    assert len(runs) == 3 * 4 * 3
    for vid, data, seed, overrides in runs:
        cfg = compose_config(overrides, output_dir=tmp_path / f"{vid}-{data}-{seed}")
        validate(cfg)
        assert cfg.seed == seed and cfg.data.seed == seed
        check_common(cfg)
        check_variant(vid, cfg)
        check_data(data, cfg)


def test_the_attention_modules_compute_their_scores() -> None:
    """The composed attentions build the modules the comments in the study describe: additive with a
    256→128 key layer (with bias), a 128→1 output (no bias) and a learned query; scaled dot with a
    learned 256-d query and the 1/√256 scale."""
    import math

    from attnbench.models.attention.additive import AdditiveAttention
    from attnbench.models.attention.scaled_dot import ScaledDotAttention
    from attnbench.models.pooling import build_aggregator

    additive = build_aggregator(
        {"name": "attention", "score": "additive", "query": "learned", "hidden_size": 128}, {"mode": "last"}, 256
    )
    att = additive.attention
    assert isinstance(att, AdditiveAttention)
    assert tuple(att.w_key.weight.shape) == (128, 256) and att.w_key.bias is not None
    assert tuple(att.v.weight.shape) == (1, 128) and att.v.bias is None
    assert tuple(additive.query.shape) == (1, 128)
    dot = build_aggregator({"name": "attention", "score": "scaled_dot", "query": "learned"}, {"mode": "last"}, 256)
    assert isinstance(dot.attention, ScaledDotAttention)
    assert tuple(dot.query.shape) == (1, 256)
    assert dot.attention.inv_sqrt_d == pytest.approx(1 / math.sqrt(256))
