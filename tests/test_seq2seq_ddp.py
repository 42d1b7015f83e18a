"""Seq2seq under DDP (2 gloo processes through the real CLI): validation and test metrics, exact match,
BLEU, chrF, token accuracy and the loss, overall and by length, equal a single-process evaluation of
the same checkpoint to the last example."""

from __future__ import annotations

import math

import pytest
from hydra.utils import instantiate

from attnbench.runtime.checkpoints import load_checkpoint, restore_data_state
from attnbench.tasks.seq2seq import Seq2SeqTask

from .helpers import (
    DDP_TIMEOUT,
    compose_config,
    read_record,
    run_cli,
    single_process_trainer,
    subprocess_env,
    train_command,
)

# 45 val/test pairs in batches of 10: rank 0 evaluates 3 batches, rank 1 two, so the metrics are exact
# only when counts and sufficient statistics are summed over ranks
DDP_S2S = [
    "task=seq2seq",
    "trainer=ddp_cpu",
    "trainer.devices=2",
    "trainer.max_epochs=2",
    "trainer.limit_train_batches=3",
    "data.generate.length=[3,5,7]",
    "data.generate.num_train=60",
    "data.generate.num_val=15",
    "data.generate.num_test=15",
    "data.batch_size=16",
    "data.eval_batch_size=10",
    "model.embedding_dim=16",
    "encoder.hidden_size=8",
    "decoder.hidden_size=16",
    "attention=general",
    "callbacks.rich_progress_bar=null",
    "logger=csv",
]


@pytest.mark.slow
@pytest.mark.xdist_group("ddp_seq2seq")
def test_ddp_seq2seq_evaluation_equals_one_process(tmp_path) -> None:
    run_dir = tmp_path / "run"
    run_cli(
        train_command(*DDP_S2S, f"hydra.run.dir={run_dir}"),
        cwd=tmp_path,
        env=subprocess_env(tmp_path),
        timeout=DDP_TIMEOUT,
    )
    record = read_record(run_dir)
    assert record["status"] == "completed", record.get("error")
    cfg = compose_config([o for o in DDP_S2S if not o.startswith("trainer")] + ["trainer=cpu"])
    checkpoint = load_checkpoint(record["checkpoint"])
    dm = instantiate(cfg.data)
    restore_data_state(dm, checkpoint)
    dm.setup("fit")
    model = Seq2SeqTask(**checkpoint["hyper_parameters"])
    model.load_state_dict(checkpoint["state_dict"])
    trainer = single_process_trainer()
    single = {
        **trainer.validate(model, datamodule=dm, verbose=False)[0],
        **trainer.test(model, datamodule=dm, verbose=False)[0],
    }
    compared = [k for k in single if k.split("/")[0] in ("val", "test")]
    assert {"test/acc", "test/bleu", "test/chrf", "test/acc@len=7", "val/loss"} <= set(compared)
    for key in compared:
        assert math.isclose(record["metrics"][key], single[key], rel_tol=1e-5, abs_tol=1e-7), key
