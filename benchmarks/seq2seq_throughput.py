"""Seq2seq throughput: training target tokens/s and greedy/beam decoding tokens/s of attnbench's
encoder–decoder against a hand-written PyTorch model of the same architecture, in the same run.

    python benchmarks/seq2seq_throughput.py [--device cpu|cuda] [--style luong|bahdanau] [--threads 1]
        [--length 20] [--batch 64] [--steps 30] [--lightning]

Data: ``reverse`` pairs of ``--length`` symbols. Model: embedding 64, BiLSTM 64 per direction, LSTM
decoder 128, Luong ``general`` attention (h̃ = tanh(W_c[c; h])) or Bahdanau ``additive`` (query
s_{t−1}, context into the LSTM). Rows:
  hand      a plain nn.Module written out here (packed BiLSTM, explicit attention) and a plain loop
  ours      attnbench's EncoderDecoder in the same plain loop (what the model code costs)
  lightning ours through the Seq2SeqTask and a Lightning Trainer (``--lightning``; what the task,
            metrics and trainer add)
Each row prints tokens/s and its ratio to ``hand``. Decoding rows: greedy and beam 5 over the same
batches, counting decoded positions (examples × steps until every output ended or the length limit);
the hand-written model has no beam search, so the beam row is ours only.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import pytorch_lightning as pl
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from torch.utils.data import DataLoader

from attnbench.data.seq2seq.batching import PairBatch, collate_pairs
from attnbench.data.seq2seq.datamodule import Seq2SeqDataModule
from attnbench.data.seq2seq.vocab import BOS_ID, EOS_ID
from attnbench.models.beam import beam_search, greedy
from attnbench.models.seq2seq import EncoderDecoder, token_nll
from attnbench.tasks.seq2seq import Seq2SeqTask

EMB, ENC, DEC = 64, 64, 128


class HandSeq2Seq(nn.Module):
    """The benchmark's model written out by hand: the reference for the overhead of ours."""

    def __init__(self, vocab: int, style: str) -> None:
        super().__init__()
        self.style = style
        self.src_emb, self.tgt_emb = nn.Embedding(vocab, EMB, padding_idx=0), nn.Embedding(vocab, EMB, padding_idx=0)
        self.encoder = nn.LSTM(EMB, ENC, batch_first=True, bidirectional=True)
        self.bridge = nn.Linear(2 * ENC, DEC)
        extra = 2 * ENC if style == "bahdanau" else 0
        self.lstm = nn.LSTM(EMB + extra, DEC, batch_first=True)
        if style == "luong":
            self.w_a = nn.Linear(2 * ENC, DEC, bias=False)  # general: h_tᵀ W_a h_s
            self.combine = nn.Linear(2 * ENC + DEC, DEC, bias=False)
        else:
            self.w_q, self.w_k = nn.Linear(DEC, DEC, bias=False), nn.Linear(2 * ENC, DEC)
            self.v = nn.Linear(DEC, 1, bias=False)
            self.combine = nn.Linear(DEC + 2 * ENC + EMB, DEC)
        self.out = nn.Linear(DEC, vocab)

    def encode(self, src: Tensor, lengths: Tensor, mask: Tensor) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        packed = pack_padded_sequence(self.src_emb(src), lengths.cpu(), batch_first=True, enforce_sorted=False)
        states, (h, _) = self.encoder(packed)
        states, _ = pad_packed_sequence(states, batch_first=True, total_length=src.shape[1])
        h0 = torch.tanh(self.bridge(torch.cat([h[0], h[1]], -1)))[None]
        return states, (h0.contiguous(), torch.zeros_like(h0))

    def attend(self, query: Tensor, states: Tensor, mask: Tensor) -> Tensor:
        if self.style == "luong":
            scores = query @ self.w_a(states).transpose(1, 2)
        else:
            scores = self.v(torch.tanh(self.w_q(query)[:, :, None] + self.w_k(states)[:, None])).squeeze(-1)
        weights = torch.softmax(scores.masked_fill(~mask[:, None], float("-inf")), -1)
        return weights @ states

    def step(self, y: Tensor, state: tuple[Tensor, Tensor], states: Tensor, mask: Tensor):
        emb = self.tgt_emb(y)  # [B, T, E]
        if self.style == "luong":
            top, state = self.lstm(emb, state)
            out = torch.tanh(self.combine(torch.cat([self.attend(top, states, mask), top], -1)))
            return self.out(out), state
        logits = []
        for t in range(y.shape[1]):
            context = self.attend(state[0][-1][:, None], states, mask)
            top, state = self.lstm(torch.cat([emb[:, t : t + 1], context], -1), state)
            logits.append(self.out(torch.tanh(self.combine(torch.cat([top, context, emb[:, t : t + 1]], -1)))))
        return torch.cat(logits, 1), state

    def forward(self, b: PairBatch) -> Tensor:
        states, state = self.encode(b.source, b.source_lengths, b.source_mask)
        return self.step(b.target_in, state, states, b.source_mask)[0]

    @torch.no_grad()
    def greedy(self, b: PairBatch, max_length: int) -> int:
        states, state = self.encode(b.source, b.source_lengths, b.source_mask)
        y = torch.full((len(b), 1), BOS_ID, device=b.source.device)
        done = torch.zeros(len(b), dtype=torch.bool, device=y.device)
        steps = 0
        while steps < max_length and not bool(done.all()):
            logits, state = self.step(y, state, states, b.source_mask)
            y = logits[:, -1].argmax(-1, keepdim=True)
            done |= y[:, 0] == EOS_ID
            steps += 1
        return len(b) * steps  # decoded positions, as ours counts them


def timed(fn: Callable[[], float], repeats: int) -> float:
    """Best of ``repeats`` (tokens, seconds) runs, as tokens/s."""
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        tokens = fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        best = max(best, tokens / (time.perf_counter() - start))
    return best


def train_loop(
    model: nn.Module, forward: Callable[[PairBatch], Tensor], batches: list[PairBatch]
) -> Callable[[], float]:
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def run() -> float:
        tokens = 0
        for b in batches:
            total, count = token_nll(forward(b), b.target_out)
            opt.zero_grad()
            (total / count).backward()
            opt.step()
            tokens += int(count)
        return tokens

    return run


def ours_spec(style: str) -> tuple[dict, dict, dict]:
    attention = {"name": "attention", "score": "general" if style == "luong" else "additive", "hidden_size": DEC}
    return {"name": "bilstm", "hidden_size": ENC}, {"hidden_size": DEC, "style": style}, attention


def ours_model(vocab: int, style: str) -> EncoderDecoder:
    return EncoderDecoder(vocab, vocab, *ours_spec(style), embedding_dim=EMB)


def lightning_loop(dm: Seq2SeqDataModule, style: str, batches: list[PairBatch], device: str) -> Callable[[], float]:
    """Seq2SeqTask fit by a Lightning Trainer over the same batches (no validation, logging or checkpoints)."""
    encoder, decoder, attention = ours_spec(style)
    kwargs = {**dm.task_kwargs(), "encoder": encoder, "decoder": decoder, "attention": attention}
    task = Seq2SeqTask(
        **kwargs,
        decode={},
        embedding_dim=EMB,
        embedding_dropout=0.0,
        share_embeddings=False,
        optimizer={"name": "adam", "lr": 1e-3, "weight_decay": 0.0},
        scheduler={"name": "none"},
    )

    def run() -> float:
        trainer = pl.Trainer(
            accelerator="gpu" if device == "cuda" else "cpu",
            devices=1,
            max_epochs=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            limit_val_batches=0,
            num_sanity_val_steps=0,
        )
        # batch_size=None: the loader hands out the prepared batches as they are
        trainer.fit(task, train_dataloaders=DataLoader(batches, batch_size=None, collate_fn=_same))
        return float(sum(int((b.target_out != 0).sum()) for b in batches))

    return run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--style", default="luong", choices=["luong", "bahdanau"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--length", type=int, default=20)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--lightning", action="store_true", help="also time Seq2SeqTask under a Lightning Trainer")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    gen = {
        "task": "reverse",
        "length": args.length,
        "min_length": max(1, args.length // 2),
        "num_train": args.batch * args.steps,
        "num_val": 1,
        "num_test": 1,
    }
    dm = Seq2SeqDataModule.from_schema(generate=gen, batch_size=args.batch)
    dm.setup()
    ds, vocab = dm.datasets["train"], len(dm.target_vocab)
    batches = [collate_pairs([ds[i] for i in range(s, s + args.batch)]) for s in range(0, len(ds), args.batch)]
    batches = [_to(b, args.device) for b in batches]
    hand, ours = HandSeq2Seq(vocab, args.style).to(args.device), ours_model(vocab, args.style).to(args.device)

    def ours_forward(b: PairBatch) -> Tensor:
        return ours(b.source, b.source_lengths, b.source_mask, b.target_in).logits

    rows = {
        "train hand": timed(train_loop(hand, hand, batches), args.repeats),
        "train ours": timed(train_loop(ours, ours_forward, batches), args.repeats),
    }
    if args.lightning:
        rows["train lightning"] = timed(lightning_loop(dm, args.style, batches, args.device), args.repeats)
    hand.eval()
    ours.eval()
    max_len = args.length + 2
    rows["greedy hand"] = timed(lambda: sum(hand.greedy(b, max_len) for b in batches), args.repeats)
    rows["greedy ours"] = timed(lambda: sum(_decoded(ours, b, max_len, 1) for b in batches), args.repeats)
    rows["beam5 ours"] = timed(lambda: sum(_decoded(ours, b, max_len, 5) for b in batches), args.repeats)
    print(f"device={args.device} threads={args.threads} style={args.style} length<={args.length} batch={args.batch}")
    for name, rate in rows.items():
        reference = rows.get(name.split()[0] + " hand")
        ratio = f"  {rate / reference:.2f}x hand" if reference else ""
        print(f"{name:15s} {rate:10.0f} target tokens/s{ratio}")


def _decoded(model: EncoderDecoder, b: PairBatch, max_length: int, beam: int) -> int:
    with torch.no_grad():
        memory = model.encode(b.source, b.source_lengths, b.source_mask)
        if beam == 1:
            out = greedy(model.decoder, memory, BOS_ID, EOS_ID, max_length)
        else:
            out = beam_search(model.decoder, memory, BOS_ID, EOS_ID, max_length, beam)
        return out.tokens.numel()  # decoded positions: examples × steps taken


def _same(batch: PairBatch) -> PairBatch:
    return batch


def _to(b: PairBatch, device: str) -> PairBatch:
    return PairBatch(*(getattr(b, f).to(device) for f in PairBatch.__dataclass_fields__))


if __name__ == "__main__":
    main()
