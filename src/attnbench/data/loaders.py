"""The data loaders every DataModule shares: length-bucketed batches, exact under DDP (see
:class:`~attnbench.data.batching.BucketBySequenceLength`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader

from attnbench.data.batching import BucketBySequenceLength


class BucketedLoaders(pl.LightningDataModule):
    """``train/val/test_dataloader`` over ``self.datasets[split]`` (each with ``lengths``), batched by
    ``self.collate_fn``, with ``batch_size``/``eval_batch_size``, ``seed``, ``bucket`` (false: random
    batches) and ``num_workers`` set by the subclass."""

    collate_fn: ClassVar[Callable[[list[Any]], Any]]  # a plain function, read from the class
    datasets: dict[str, Any]
    batch_size: int
    eval_batch_size: int
    seed: int
    bucket: bool
    num_workers: int

    def _loader(self, split: str, train: bool) -> DataLoader:
        ds = self.datasets[split]
        trainer = self.trainer
        replicas, rank = (trainer.world_size, trainer.global_rank) if trainer is not None else (1, 0)
        sampler = BucketBySequenceLength(
            ds.lengths,
            self.batch_size if train else self.eval_batch_size,
            shuffle=train,
            seed=self.seed,
            # a pool of one batch is plain random batching (no bucketing)
            pool_batches=BucketBySequenceLength.DEFAULT_POOL_BATCHES if self.bucket else 1,
            num_replicas=replicas,
            rank=rank,
        )
        return DataLoader(
            ds,
            batch_sampler=sampler,
            collate_fn=type(self).collate_fn,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
            # the loader's own seed draws (one per epoch) leave the global random state alone: a run
            # resumed from a checkpoint (attnbench.runtime.callbacks.ResumeRandomState) continues it exactly
            generator=torch.Generator().manual_seed(self.seed),
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", train=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", train=False)
