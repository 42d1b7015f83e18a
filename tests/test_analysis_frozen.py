"""``attention.frozen=uniform``: W&P's uniform-attention baseline, and configs and checkpoints from before it."""

from __future__ import annotations

import pytest
import torch
from omegaconf import OmegaConf

from attnbench.config import config_hash
from attnbench.models.classifier import TextClassifier
from attnbench.models.pooling import UniformAttention
from attnbench.runtime.checkpoints import check_compatible
from attnbench.tasks import ClassificationTask

ATTENTIONS = [
    {"name": "attention", "score": "additive", "hidden_size": 8},
    {"name": "attention", "score": "dot", "query": "self", "hops": 1},
    {"name": "multihead", "heads": 2, "hidden_size": 8},
]


@pytest.mark.parametrize("attention", ATTENTIONS, ids=lambda a: a.get("score", a["name"]))
def test_frozen_uniform_has_no_attention_parameters_and_uniform_weights(attention: dict) -> None:
    model = TextClassifier(
        30,
        3,
        {"name": "bilstm", "hidden_size": 4},
        {**attention, "frozen": "uniform"},
        {"mode": "last"},
        embedding_dim=6,
    ).eval()
    assert isinstance(model.aggregator, UniformAttention)
    assert not list(model.aggregator.parameters())
    assert {n.split(".")[0] for n, _ in model.named_parameters()} == {"embedding", "encoder", "head"}
    ids = torch.tensor([[3, 4, 5, 6], [7, 8, 0, 0]])
    lengths = torch.tensor([4, 2])
    out = model.encode(ids, lengths, torch.arange(4)[None, :] < lengths[:, None])
    torch.testing.assert_close(out.weights[:, 0], torch.tensor([[0.25] * 4, [0.5, 0.5, 0.0, 0.0]]))


def test_unknown_frozen_value_is_refused() -> None:
    with pytest.raises(ValueError, match=r"attention\.frozen='random'"):
        TextClassifier(
            30,
            3,
            {"name": "conv1d", "filters": 4},
            {"name": "attention", "frozen": "random"},
            {"mode": "last"},
            embedding_dim=6,
        )


def test_configs_without_the_new_keys_keep_their_hash(make_cfg) -> None:
    cfg = make_cfg("attention=additive")
    assert cfg.attention.frozen is None and cfg.analysis is None
    plain = OmegaConf.to_container(cfg, resolve=False)
    del plain["attention"]["frozen"], plain["analysis"]  # as composed before these settings existed
    assert config_hash(cfg) == config_hash(plain)
    assert config_hash(make_cfg("attention=additive", "attention.frozen=uniform")) != config_hash(cfg)


def test_checkpoints_from_before_frozen_existed_still_load() -> None:
    model = ClassificationTask(
        30,
        3,
        encoder={"name": "conv1d", "filters": 4},
        attention={"name": "attention", "frozen": None},
        pooling={"mode": "last"},
        embedding_dim=6,
    )
    saved = dict(model.hparams)
    saved["attention"] = {k: v for k, v in saved["attention"].items() if k != "frozen"}
    check_compatible(model, {"hyper_parameters": saved}, "old.ckpt")


def test_token_mlp_states_do_not_see_other_tokens(make_cfg) -> None:
    cfg = make_cfg("encoder=token_mlp", "attention=additive", "attention.frozen=uniform")
    assert cfg.encoder.name == "token_mlp"
    torch.manual_seed(0)
    model = TextClassifier(
        30, 2, dict(cfg.encoder), {"name": "attention", "frozen": "uniform"}, {"mode": "last"}, embedding_dim=6
    ).eval()
    ids, lengths = torch.tensor([[3, 4, 5], [3, 9, 0]]), torch.tensor([3, 2])
    mask = torch.arange(3)[None, :] < lengths[:, None]
    states = model.encoder(model.embedding(ids), lengths, mask).states
    torch.testing.assert_close(states[0, 0], states[1, 0])  # the same token, other neighbours
    assert (states[1, 2] == 0).all()
