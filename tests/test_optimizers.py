"""``model.optimizer.name``: adamw (default, decoupled weight decay) or adam (L2 weight decay, amsgrad)."""

from __future__ import annotations

import pytest
import torch

from attnbench.config import ConfigKeyError, validate
from attnbench.runtime.checkpoints import check_compatible
from attnbench.tasks import ClassificationTask

ENCODER, ATTENTION, POOLING = {"name": "bilstm", "hidden_size": 4}, {"name": "none"}, {"mode": "last"}


def model_with(optimizer: dict | None) -> ClassificationTask:
    return ClassificationTask(
        20, 3, optimizer=optimizer, encoder=ENCODER, attention=ATTENTION, pooling=POOLING, embedding_dim=4
    )


def test_default_is_adamw() -> None:
    opt = model_with({"lr": 0.01}).configure_optimizers()
    assert type(opt) is torch.optim.AdamW
    assert opt.defaults["weight_decay"] == 0.01  # the task's AdamW default when the config gives none


def test_adam_takes_every_option() -> None:
    opt = model_with(
        {"name": "adam", "lr": 1e-3, "weight_decay": 1e-5, "amsgrad": True, "betas": [0.8, 0.9], "eps": 1e-7}
    ).configure_optimizers()
    assert type(opt) is torch.optim.Adam
    d = opt.defaults
    assert (d["lr"], d["weight_decay"], d["amsgrad"], tuple(d["betas"]), d["eps"]) == (
        1e-3,
        1e-5,
        True,
        (0.8, 0.9),
        1e-7,
    )


def test_adam_weight_decay_is_l2_and_adamw_is_decoupled() -> None:
    """With a zero loss gradient, Adam's L2 term wd·w is the whole gradient, which Adam normalises to a
    step of about lr; AdamW shrinks w by lr·wd·w only."""
    w0 = torch.tensor([1.0, -2.0])
    moved = {}
    for name in ("adam", "adamw"):
        w = torch.nn.Parameter(w0.clone())
        opt = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW}[name]([w], lr=0.1, weight_decay=1e-2)
        w.grad = torch.zeros_like(w)
        opt.step()
        moved[name] = (w.detach() - w0).abs()
    assert torch.allclose(moved["adam"], torch.full((2,), 0.1), rtol=1e-3)
    assert torch.allclose(moved["adamw"], 0.1 * 1e-2 * w0.abs())
    # and the task builds exactly these classes
    assert type(model_with({"name": "adam"}).configure_optimizers()) is torch.optim.Adam


def test_unknown_optimizer_fails_at_validation(make_cfg) -> None:
    validate(make_cfg("model.optimizer.name=adam", "model.optimizer.amsgrad=true"))
    with pytest.raises(ConfigKeyError, match=r"model\.optimizer\.name='sgd'.*adam.*adamw"):
        validate(make_cfg("model.optimizer.name=sgd"))
    with pytest.raises(ValueError, match=r"model\.optimizer\.name='sgd'"):
        model_with({"name": "sgd"}).configure_optimizers()


def test_checkpoints_from_before_the_option_are_compatible_with_adamw() -> None:
    model = model_with({"name": "adamw", "lr": 0.01})
    old = {"hyper_parameters": {**dict(model.hparams), "optimizer": {"lr": 0.01}}}
    check_compatible(model, old, "old.ckpt")  # no optimizer.name saved: it was AdamW
    with pytest.raises(ValueError, match=r"optimizer\.name"):
        check_compatible(model_with({"name": "adam", "lr": 0.01}), old, "old.ckpt")


def test_a_training_step_with_adam_amsgrad(make_cfg) -> None:
    """A real (tiny) run with Adam + AMSGrad through train.run completes."""
    from attnbench.train import run

    cfg = make_cfg(
        "model.optimizer.name=adam",
        "model.optimizer.amsgrad=true",
        "model.optimizer.weight_decay=1e-5",
        "debug=fdr",
        "logger=none",
        "callbacks=none",
    )
    record = run(cfg)
    assert record["status"] == "completed"
    assert record["config"]["model"]["optimizer"]["name"] == "adam"
