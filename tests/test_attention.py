"""The attention space: each score against its paper formula, masking and alignment properties, SDPA and
Keras equivalences, gradients, the structured penalty, the Keras seed model, heatmaps, and every
(encoder × score × alignment × query) variant composed from config and trained for one fast_dev_run."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from hydra.utils import instantiate

from attnbench.config import validate
from attnbench.data.batching import TextBatch, collate
from attnbench.models import KerasConv1DAttention, TextClassifier, count_parameters
from attnbench.models.attention import SCORES, Alignment
from attnbench.models.encoders import EncoderOutput
from attnbench.models.pooling import AttentionPooling, MultiHeadAttentionPooling, structured_penalty
from attnbench.runtime.callbacks import AttentionHeatmaps

from .helpers import CONF, compose_config

B, TQ, TK, D = 3, 4, 6, 5
LENGTHS = torch.tensor([6, 2, 0])  # a full row, a short one, and one with no valid key at all


def key_mask(lengths: torch.Tensor = LENGTHS, width: int = TK) -> torch.Tensor:
    return torch.arange(width)[None, :] < lengths[:, None]


def inputs(seed: int = 0, tq: int = TQ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(B, tq, D, generator=g, dtype=torch.float64)
    k = torch.randn(B, TK, D, generator=g, dtype=torch.float64)
    v = torch.randn(B, TK, D + 2, generator=g, dtype=torch.float64)
    return q, k, v


def make(score: str, alignment: str = "soft", seed: int = 0, **options) -> torch.nn.Module:
    torch.manual_seed(seed)
    cls = SCORES[score]
    align = Alignment(alignment, query_dim=D, hidden_size=7, window=1, **options.pop("align", {}))
    extra = {"hidden_size": 7} if score == "additive" else {"max_positions": TK + 2} if score == "location" else {}
    return cls(query_dim=D, key_dim=D, alignment=align, **extra, **options).double()


# ---- each score against its formula, written here with plain tensor maths --------------------


def reference_softmax(scores: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """exp over valid keys / their sum; rows without valid keys are zero."""
    m = mask[:, None, :].expand_as(scores)
    shifted = scores - scores.masked_fill(~m, -math.inf).amax(-1, keepdim=True).nan_to_num(neginf=0.0)
    e = shifted.exp() * m
    return e / e.sum(-1, keepdim=True).clamp(min=1e-300)


def reference_scores(score: str, att: torch.nn.Module, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    out = torch.empty(q.shape[0], q.shape[1], k.shape[1], dtype=q.dtype)
    for b in range(q.shape[0]):
        for i in range(q.shape[1]):
            for j in range(k.shape[1]):
                qi, kj = q[b, i], k[b, j]
                if score == "additive":  # Bahdanau: vᵀ tanh(W q + U k + b)
                    h = att.w_query.weight @ qi + att.w_key.weight @ kj + att.w_key.bias
                    s = att.v.weight[0] @ torch.tanh(h)
                elif score == "dot":  # Luong: qᵀk
                    s = qi @ kj
                elif score == "scaled_dot":  # Vaswani: qᵀk / √d
                    s = qi @ kj / math.sqrt(kj.numel())
                elif score == "general":  # Luong: qᵀ W k
                    s = qi @ att.w.weight @ kj
                elif score == "cosine":  # Graves: q·k / (|q| |k|)
                    s = qi @ kj / (qi.norm() * kj.norm())
                else:  # location, Luong: (W q + b)_j, the key's content unused
                    s = att.w.weight[j] @ qi + att.w.bias[j]
                out[b, i, j] = s
    return out


@pytest.mark.parametrize("score", sorted(SCORES))
def test_score_matches_the_paper_formula(score: str) -> None:
    att = make(score)
    q, k, v = inputs()
    mask = key_mask()
    out = att(q, k, v, mask)
    expected = reference_softmax(reference_scores(score, att, q, k), mask)
    torch.testing.assert_close(att.score(q, k), reference_scores(score, att, q, k))
    torch.testing.assert_close(out.weights, expected)
    torch.testing.assert_close(out.context, expected @ v)


@pytest.mark.parametrize("score", ["dot", "scaled_dot", "general", "cosine"])
def test_use_scale_is_a_learned_scalar_on_the_scores(score: str) -> None:
    plain, scaled = make(score), make(score, use_scale=True)
    q, k, _ = inputs()
    with torch.no_grad():
        scaled.scale.fill_(2.5)
    torch.testing.assert_close(scaled.score(q, k), 2.5 * plain.score(q, k))
    assert scaled.scale.requires_grad


# ---- Keras `Attention` and `scaled_dot_product_attention` ---------------------------------------


def keras_attention(q, k, v, mask, scale=None, score_mode="dot", concat_weight=1.0):
    """keras.layers.Attention._calculate_scores / _apply_scores, transcribed (value mask only)."""
    if score_mode == "dot":
        scores = q @ k.transpose(1, 2)
        if scale is not None:
            scores = scores * scale
    else:
        summed = q[:, :, None, :] + k[:, None, :, :]
        scores = concat_weight * torch.tanh(summed * scale if scale is not None else summed).sum(-1)
    scores = scores - 1.0e9 * (~mask[:, None, :]).to(scores.dtype)
    weights = torch.softmax(scores, -1)
    return weights @ v, weights


@pytest.mark.parametrize("score_mode", ["dot", "concat"])
@pytest.mark.parametrize("use_scale", [False, True])
def test_dot_matches_keras_attention(score_mode: str, use_scale: bool) -> None:
    att = make("dot", score_mode=score_mode, use_scale=use_scale)
    with torch.no_grad():
        if use_scale:
            att.scale.fill_(0.7)
        if score_mode == "concat":
            att.concat_score_weight.fill_(1.3)
    q, k, v = inputs()
    mask = key_mask(torch.tensor([6, 2, 1]))  # Keras gives a fully masked row uniform weights; we give zeros
    out = att(q, k, v, mask)
    context, weights = keras_attention(q, k, v, mask, 0.7 if use_scale else None, score_mode, 1.3)
    torch.testing.assert_close(out.weights, weights)
    torch.testing.assert_close(out.context, context)


def test_scaled_dot_soft_self_equals_sdpa() -> None:
    att = make("scaled_dot")
    _, k, v = inputs()
    lengths = torch.tensor([6, 2, 4])
    mask = key_mask(lengths)
    q = k.clone()  # self attention: queries are the states themselves
    expected = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, :])
    torch.testing.assert_close(att(q, k, v, mask).context, expected)


def test_multihead_equals_per_head_scaled_dot() -> None:
    """MultiHeadAttentionPooling (SDPA) = our ScaledDotAttention run head by head on its projections."""
    torch.manual_seed(0)
    heads, hidden = 2, 6
    mha = MultiHeadAttentionPooling(D, heads=heads, hidden_size=hidden, query="self", average_attn_weights=False)
    mha = mha.double().eval()
    _, states, _ = inputs()
    lengths = torch.tensor([6, 2, 4])
    mask = key_mask(lengths)
    states = states * mask[..., None]
    agg = mha(EncoderOutput(states, states[:, -1]), mask)
    q, k, v = mha.q_proj(states), mha.k_proj(states), mha.v_proj(states)
    ref = make("scaled_dot").__class__(hidden // heads, hidden // heads).double()
    per_head = [ref(*(x[..., h * 3 : (h + 1) * 3] for x in (q, k, v)), mask=mask) for h in range(heads)]
    context = mha.out_proj(torch.cat([o.context for o in per_head], -1))
    pooled = (context * mask[..., None]).sum(1) / lengths[:, None]
    torch.testing.assert_close(agg.vector, pooled)
    received = torch.stack([(o.weights * mask[..., None]).sum(1) / lengths[:, None] for o in per_head], 1)
    torch.testing.assert_close(agg.weights, received)  # [B, heads, T]: per head, averaged over queries


# ---- masking and alignment -------------------------------------------------------------------

ALIGNMENT_CASES = ["soft", "local_m", "local_p", "hard-gumbel", "hard-reinforce"]


def aligned(score: str, case: str, train: bool, seed: int = 0):
    kind, _, estimator = case.partition("-")
    att = make(score, kind, seed=seed, align={"hard_estimator": estimator or "gumbel"})
    att.train(train)
    q, k, v = inputs(seed)
    return att, att(q, k, v, key_mask()), (q, k, v)


@pytest.mark.parametrize("case", ALIGNMENT_CASES)
@pytest.mark.parametrize("score", ["additive", "dot", "location"])
def test_masking_and_alignment_properties(score: str, case: str) -> None:
    for train in (True, False):
        _, out, _ = aligned(score, case, train)
        w = out.weights
        mask = key_mask()
        assert torch.isfinite(w).all() and torch.isfinite(out.context).all()
        assert (w.masked_select(~mask[:, None, :].expand_as(w)) == 0).all()  # padded keys: exactly zero
        assert (w[2] == 0).all()  # no valid key: zeros, never NaN
        sums = w[:2].sum(-1)
        if case == "soft":
            torch.testing.assert_close(sums, torch.ones_like(sums))
        elif case.startswith("local"):
            distance = (torch.arange(TK)[None, None, :] - out.centres[..., None]).abs()
            assert (w.masked_select(distance > 1) == 0).all()  # zero outside [p − D, p + D], D = 1
            assert (sums <= 1 + 1e-12).all() and (sums[0] > 0).all()
            if case == "local_m":  # query t aligned to key t: weights sum to 1 over the window's valid keys
                assert torch.equal(out.centres[0], torch.arange(TQ, dtype=out.centres.dtype))
                torch.testing.assert_close(sums[0], torch.ones(TQ, dtype=sums.dtype))
                torch.testing.assert_close(sums[1], torch.tensor([1.0, 1.0, 1.0, 0.0], dtype=sums.dtype))
        else:  # one unmasked position per row, weight exactly 1 in the forward pass
            assert ((w[:2] != 0).sum(-1) == 1).all()
            torch.testing.assert_close(sums, torch.ones_like(sums))


@pytest.mark.parametrize("case", ["hard-gumbel", "hard-reinforce"])
def test_hard_is_argmax_and_deterministic_in_eval(case: str) -> None:
    att, first, (q, k, v) = aligned("general", case, train=False)
    second = att(q, k, v, key_mask())
    assert torch.equal(first.weights, second.weights) and first.log_prob is None
    expected = att.score(q, k).masked_fill(~key_mask()[:, None, :], -math.inf).argmax(-1)
    assert torch.equal(first.weights[:2].argmax(-1), expected[:2])
    att.train()
    samples = {tuple(att(q, k, v, key_mask()).weights[0].argmax(-1).tolist()) for _ in range(20)}
    assert len(samples) > 1  # training samples positions


def test_hard_estimators_train_the_score() -> None:
    """Gumbel: gradient reaches the score through the straight-through weights; REINFORCE: only through
    the log-probability of the sampled positions (the weights themselves carry none)."""
    for estimator in ("gumbel", "reinforce"):
        att, out, _ = aligned("general", f"hard-{estimator}", train=True)
        loss = out.context.pow(2).sum()
        if estimator == "reinforce":
            assert out.log_prob is not None and out.log_prob.shape == (B, TQ) and (out.log_prob[2] == 0).all()
            assert not out.weights.requires_grad
            loss = loss + out.log_prob.sum()
        loss.backward()
        assert att.w.weight.grad is not None and att.w.weight.grad.abs().sum() > 0, estimator


def test_local_p_predicts_positions_inside_the_sequence_and_learns_them() -> None:
    att, out, _ = aligned("dot", "local_p", train=True)
    assert ((out.centres[0] >= 0) & (out.centres[0] <= 5)).all()  # p = (L − 1)·sigmoid(.) ∈ [0, L − 1]
    assert ((out.centres[1] >= 0) & (out.centres[1] <= 1)).all()
    out.context.sum().backward()
    assert att.alignment.predict[0].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("query", ["learned", "last"])
def test_local_m_positions_for_pooled_queries(query: str) -> None:
    torch.manual_seed(0)
    hops = 3 if query == "learned" else 1
    agg = AttentionPooling(D, score="dot", alignment="local_m", query=query, hops=hops, window=0).eval()
    lengths = torch.tensor([6, 2, 1])
    mask = key_mask(lengths)
    states = torch.randn(B, TK, D) * mask[..., None]
    out = agg(EncoderOutput(states, states[:, 0]), mask)
    picked = out.weights.argmax(-1)  # window 0: all weight on the aligned position
    expected = [[1, 3, 5], [0, 1, 1], [0, 0, 0]] if query == "learned" else [[5], [1], [0]]
    assert picked.tolist() == expected
    torch.testing.assert_close(out.weights.sum(-1), torch.ones(B, hops))


@pytest.mark.parametrize("score", sorted(SCORES))
@pytest.mark.parametrize("alignment", ["soft", "local_p"])
def test_gradcheck(score: str, alignment: str) -> None:
    att = make(score, alignment)
    q, k, v = inputs(tq=2)
    q, k, v = q[:2].requires_grad_(), k[:2].requires_grad_(), v[:2].requires_grad_()
    mask = key_mask()[:2]
    assert torch.autograd.gradcheck(lambda q, k, v: att(q, k, v, mask).context, (q, k, v))


# ---- query kinds and the structured penalty ----------------------------------------------------


def test_self_query_pools_to_the_average_received_weights() -> None:
    torch.manual_seed(0)
    agg = AttentionPooling(D, score="scaled_dot", query="self").eval()
    lengths = torch.tensor([6, 2, 4])
    mask = key_mask(lengths)
    states = torch.randn(B, TK, D) * mask[..., None]
    out = agg(EncoderOutput(states, states[:, 0]), mask)
    assert out.weights.shape == (B, 1, TK) and agg.output_size == D
    torch.testing.assert_close(out.vector, (out.weights @ states).squeeze(1))  # one weighted sum
    torch.testing.assert_close(out.weights.sum(-1), torch.ones(B, 1))


def test_penalty_is_zero_for_orthogonal_one_hot_hops_and_positive_otherwise() -> None:
    one_hot = torch.zeros(2, 3, 5)
    one_hot[:, 0, 1] = one_hot[:, 1, 4] = one_hot[:, 2, 0] = 1
    assert structured_penalty(one_hot) == 0
    same = one_hot.clone()
    same[:, 2] = same[:, 0]  # two hops on one position
    assert structured_penalty(same) == pytest.approx(2.0)
    assert structured_penalty(torch.full((2, 3, 5), 0.2)) > 0  # flat hops overlap


def test_penalty_reaches_the_loss() -> None:
    attention = {"name": "attention", "score": "additive", "hops": 3, "hidden_size": 8, "penalty": 0.5}
    encoder = {"name": "conv1d", "filters": 8}
    model = TextClassifier(30, 4, encoder, attention, {"mode": "last"}, embedding_dim=8)
    batch = collate([(torch.tensor([2, 3, 4, 5]), 1, 0), (torch.tensor([6, 7]), 0, 1)])
    out = model.run_batch(batch)
    torch.testing.assert_close(out.penalty, 0.5 * structured_penalty(out.weights))
    assert out.penalty > 0


# ---- the Keras seed model ---------------------------------------------------------------------


def pair_batch() -> TextBatch:
    single = collate([(torch.tensor([2, 3, 4, 5, 6]), 1, 0), (torch.tensor([7, 8]), 0, 1)])
    value = collate([(torch.tensor([9, 3, 11]), 1, 0), (torch.tensor([4, 5, 6, 7, 8, 9, 10]), 0, 1)])
    return TextBatch(
        single.ids, single.lengths, single.mask, single.labels, single.index, value.ids, value.lengths, value.mask
    )


def test_keras_model_has_the_keras_layers() -> None:
    cfg = compose_config(["experiment=keras_conv1d"], output_dir="unused")
    assert cfg.data.max_vocab == 1000
    model = instantiate(cfg.model, vocab_size=1000, num_classes=5)
    # Embedding(1000, 64) + Conv1D(100, 4) + Attention() (no weights) + Dense(5) on 2 × 100 features
    assert count_parameters(model) == 1000 * 64 + (64 * 4 * 100 + 100) + (200 * 5 + 5)
    assert model.model.cnn.pad == (1, 2) and isinstance(
        model.model.cnn.act, torch.nn.Identity
    )  # Keras 'same', no activation


def test_keras_model_attends_over_the_value_text() -> None:
    torch.manual_seed(0)
    model = KerasConv1DAttention(20, 3, embedding_dim=6, filters=4).eval()
    pair = pair_batch()
    single = TextBatch(pair.ids, pair.lengths, pair.mask, pair.labels, pair.index)
    with torch.no_grad():
        out_pair, out_single = model.run_batch(pair), model.run_batch(single)
        fields = (single.ids, single.lengths, single.mask, single.labels, single.index)
        as_pair = model.run_batch(TextBatch(*fields, single.ids, single.lengths, single.mask))
    assert out_pair.weights_over == "pair_ids" and out_pair.weights.shape == (2, 1, pair.pair_ids.shape[1])
    assert out_single.weights_over == "ids" and out_single.weights.shape == (2, 1, pair.ids.shape[1])
    torch.testing.assert_close(as_pair.logits, out_single.logits)  # single text: value = query
    assert not torch.allclose(out_pair.logits, out_single.logits)
    assert (out_pair.weights[0, 0, 3:] == 0).all()  # padded value tokens


# ---- every variant from config, one fast_dev_run each ------------------------------------------
# Composing is what costs here (~0.15 s against ~0.04 s for a tiny fast_dev_run), and the encoder and
# attention groups are independent: each attention variant is composed once (with encoder=bilstm) and
# trained with both encoders, the conv1d encoder node coming from its own composed config.

ALIGNMENT_OVERRIDES = {
    "soft": ["attention.alignment=soft"],
    "local_m": ["attention.alignment=local_m"],
    "local_p": ["attention.alignment=local_p"],
    "hard-gumbel": ["attention.alignment=hard", "attention.hard_estimator=gumbel"],
    "hard-reinforce": ["attention.alignment=hard", "attention.hard_estimator=reinforce"],
}
QUERIES = ["learned", "last", "self"]
VARIANTS = {
    f"{score}-{align}-{query}": [
        f"attention={score}",
        *ALIGNMENT_OVERRIDES[align],
        f"attention.query={query}",
        "attention.window=2",
    ]
    for score in sorted(SCORES)
    for align in ALIGNMENT_OVERRIDES
    for query in QUERIES
}
VARIANTS |= {f"multihead-{q}": ["attention=multihead", f"attention.query={q}"] for q in QUERIES}
VARIANTS |= {
    "multihead-per-head-weights": ["attention=multihead", "attention.average_attn_weights=false"],
    "structured": ["attention=structured"],
}
PRESETS = sorted(p.stem for p in (CONF / "attention").glob("*.yaml") if p.stem != "none")


def test_the_variant_matrix_covers_every_preset() -> None:
    covered = {o.split("=")[1] for overrides in VARIANTS.values() for o in overrides if o.startswith("attention=")}
    assert covered == set(PRESETS)


@pytest.fixture(scope="module")
def tiny_datamodule():
    """BBC News, 24 tokens per text, 500 words, batches of 4: set up once and shared by the variants."""
    from attnbench.data import TextClassificationDataModule

    dm = TextClassificationDataModule.from_schema(max_length=24, max_vocab=500, batch_size=4, eval_batch_size=4)
    dm.setup("fit")
    return dm


@pytest.fixture(scope="module")
def conv1d_encoder():
    return compose_config(["encoder=conv1d"], output_dir="unused", tiny=True).encoder


def fast_dev_run(cfg, dm, tmp_path: Path, callbacks: list[pl.Callback] | None = None) -> dict[str, float]:
    """``fast_dev_run`` fit (one train and one val batch) and test (one batch); the logged metrics."""
    model = instantiate(cfg.model, vocab_size=dm.vocab_size, num_classes=dm.num_classes)
    trainer = pl.Trainer(
        accelerator="cpu",
        fast_dev_run=True,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=str(tmp_path),
        callbacks=callbacks or [],
    )
    trainer.fit(model, datamodule=dm)
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    trainer.test(model, datamodule=dm, verbose=False)
    return metrics | {k: float(v) for k, v in trainer.callback_metrics.items()}


def assert_trained(metrics: dict[str, float]) -> None:
    for key in ("train/loss", "val/loss", "val/acc", "test/loss", "test/acc"):
        assert math.isfinite(metrics[key]), (key, metrics)


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_variant_composes_and_runs_with_both_encoders(
    variant: str, tiny_datamodule, conv1d_encoder, tmp_path: Path
) -> None:
    cfg = compose_config(["encoder=bilstm", *VARIANTS[variant]], output_dir=tmp_path, tiny=True)
    validate(cfg)
    assert_trained(fast_dev_run(cfg, tiny_datamodule, tmp_path))
    cfg.encoder = conv1d_encoder
    validate(cfg)
    assert_trained(fast_dev_run(cfg, tiny_datamodule, tmp_path))


def test_keras_experiment_runs(tiny_datamodule, tmp_path: Path) -> None:
    cfg = compose_config(["experiment=keras_conv1d"], output_dir=tmp_path, tiny=True)
    validate(cfg)
    assert_trained(fast_dev_run(cfg, tiny_datamodule, tmp_path))


def test_heatmaps_are_written_per_example_and_row(tiny_datamodule, tmp_path: Path) -> None:
    cfg = compose_config(["encoder=conv1d", "attention=structured", "attention.hops=2"], output_dir=tmp_path, tiny=True)
    callback = AttentionHeatmaps(num_examples=3, max_tokens=10)
    fast_dev_run(cfg, tiny_datamodule, tmp_path, [callback])
    pngs = sorted((tmp_path / "attention_heatmaps").glob("*.png"))
    assert len(pngs) == 3 * 2 and pngs == sorted(callback.paths)
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 1000 for p in pngs)

    none_dir = tmp_path / "none"
    fast_dev_run(
        compose_config(["attention=none"], output_dir=none_dir, tiny=True),
        tiny_datamodule,
        none_dir,
        [AttentionHeatmaps()],
    )
    assert not (none_dir / "attention_heatmaps").exists()  # no weights, no pictures
