"""The one registry of metric labels: every key a run writes (``test/acc``, ``test/bleu@len=5``,
``timings/fit_s``, ``memory/peak_rss_mb``, ``analysis/kendall/tau_attn_grad_mean``, ...) with its
label, a short description, its direction and its format, stated once here.

Direction: ``higher`` or ``lower`` is better, or ``none`` (a control, such as erasing a random token,
or a descriptive count such as parameters): a table marks the best mean in bold only for the first
two. For the analyses "better" means "the attention explains the decision more faithfully".

The API is four functions of a key: :func:`label`, :func:`direction`, :func:`fmt`, :func:`describe`
(plus :func:`tex_label` for LaTeX and :func:`is_known`). An unknown key falls back to the key itself.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

Direction = Literal["higher", "lower", "none"]
Format = Literal["score", "count", "seconds", "rate", "mib", "epochs"]


@dataclass(frozen=True)
class Metric:
    """One key's label (may hold τ, ±, ε: LaTeX gets them as math), description, direction, format."""

    label: str
    description: str
    direction: Direction = "higher"
    format: Format = "score"


# the task metrics, without their split prefix (test/, val/, train/)
_TASK = {
    "acc": Metric("acc", "accuracy (classification); exact match of the whole output sequence (seq2seq)", "higher"),
    "f1_macro": Metric("macro-F1", "F1 averaged over classes, each class weighing the same", "higher"),
    "loss": Metric("loss", "mean cross-entropy per example (classification) or per target token (seq2seq)", "lower"),
    "token_acc": Metric("token acc", "tokens equal at the same position, over the longer of output and reference"),
    "tf_token_acc": Metric("teacher-forced token acc", "next-token accuracy with the reference as the decoder input"),
    "bleu": Metric("BLEU", "corpus BLEU (sacrebleu, 0-1) over the model's tokens"),
    "chrf": Metric("chrF", "corpus chrF (sacrebleu, 0-1)"),
}
_SPLITS = {"test": "test {}", "val": "best val {}", "train": "train {}"}
_ATTR = {"attn": "attention", "grad": "gradient", "loo": "leave-one-out", "ig": "integrated gradients"}
_ORDERS = {"attention": "attention", "gradient": "gradient", "loo": "leave-one-out", "ig": "integrated gradients"}

_FIXED = {
    "params": Metric("parameters", "trainable parameters", "none", "count"),
    "epochs": Metric("epochs", "epochs trained (early stopping may end sooner)", "none", "epochs"),
    "timings/fit_s": Metric("train time (s)", "seconds in fit (training and validation)", "lower", "seconds"),
    "timings/test_s": Metric("test time (s)", "seconds evaluating the test split", "lower", "seconds"),
    "timings/total_s": Metric("run time (s)", "seconds of the whole run", "lower", "seconds"),
    "timings/data_s": Metric("data time (s)", "seconds loading and processing the data", "lower", "seconds"),
    "timings/analysis_s": Metric("analysis time (s)", "seconds of the analyses", "lower", "seconds"),
    "timings/train_s": Metric("train loop time (s)", "seconds inside training steps", "lower", "seconds"),
    "timings/train_examples_per_s": Metric("train examples/s", "training throughput", "higher", "rate"),
    "timings/train_tokens_per_s": Metric("train tokens/s", "training throughput in tokens", "higher", "rate"),
    "timings/eval_examples_per_s": Metric("eval examples/s", "evaluation throughput", "higher", "rate"),
    "memory/peak_rss_mb": Metric("peak RSS (MiB)", "the process's resident-set high-water mark", "lower", "mib"),
    "memory/cuda_peak_mb": Metric("peak CUDA memory (MiB)", "most CUDA memory held by tensors", "lower", "mib"),
    "analysis/seconds": Metric("analysis time (s)", "seconds of the analyses", "lower", "seconds"),
    # permutation (Jain & Wallace 2019)
    "analysis/permutation/median_tvd": Metric(
        "median TVD under permutation",
        "median over examples of the median output TVD when the attention "
        "weights are shuffled (high: the output depends on where attention goes)",
    ),
    "analysis/permutation/frac_below": Metric(
        "share permutation-insensitive", "examples whose median TVD under permutation is below the threshold", "lower"
    ),
    # adversarial attention (Jain & Wallace 2019)
    "analysis/adversarial/emax_jsd_mean": Metric(
        "ε-max JSD",
        "mean JSD of the most different attention that keeps the output (high: attention is not unique)",
        "lower",
    ),
    "analysis/adversarial/emax_jsd_median": Metric("ε-max JSD (median)", "median of the ε-max JSD", "lower"),
    "analysis/adversarial/frac_above": Metric(
        "share with adversary", "examples whose ε-max JSD exceeds the threshold", "lower"
    ),
    # erasure (Serrano & Smith 2019)
    "analysis/erasure/flip_top": Metric(
        "flips (top attention erased)", "share of decisions that change when the top-attention token is erased"
    ),
    "analysis/erasure/flip_random": Metric(
        "flips (random erased, control)", "share of decisions that change when a random token is erased", "none"
    ),
    "analysis/erasure/jsd_top_mean": Metric("JSD (top attention erased)", "mean output JSD erasing the top token"),
    "analysis/erasure/jsd_random_mean": Metric(
        "JSD (random erased, control)", "mean output JSD erasing a random token", "none"
    ),
    # seed agreement
    "analysis/seed_agreement/jsd_attention_mean": Metric(
        "attention JSD across seeds", "mean JSD between the attention of models trained with other seeds", "lower"
    ),
    "analysis/seed_agreement/jsd_attention_median": Metric(
        "attention JSD across seeds (median)", "median JSD between seeds' attention", "lower"
    ),
    "analysis/seed_agreement/tvd_output_mean": Metric(
        "output TVD across seeds", "mean TVD between seeds' outputs (the reference for the JSD)", "none"
    ),
}


def _analysis_entries() -> dict[str, Metric]:
    """The keys the analyses build from names (kendall τ per pair, ERASER and rationale per order)."""
    out: dict[str, Metric] = {}
    for a, b in itertools.permutations(_ATTR, 2):  # analysis.kendall.pairs may name them in either order
        control = "attn" not in (a, b)  # agreement of two attributions without attention: a reference
        what = f"Kendall τ between {_ATTR[a]} and {_ATTR[b]} token rankings"
        d: Direction = "none" if control else "higher"
        key = f"analysis/kendall/tau_{a}_{b}"
        out[f"{key}_mean"] = Metric(f"τ({a}, {b})", f"mean {what}", d)
        out[f"{key}_std"] = Metric(f"τ({a}, {b}) std", f"std over examples of the {what}", "none")
        out[f"{key}_sig"] = Metric(f"τ({a}, {b}) significant", f"share of examples with a significant {what}", d)
    for name, words in {**_ORDERS, "random": "random"}.items():
        control = name == "random"
        d_hi: Direction = "none" if control else "higher"
        d_lo: Direction = "none" if control else "lower"
        tag = f"{words}, control" if control else words
        out[f"analysis/eraser/comprehensiveness_{name}"] = Metric(
            f"comprehensiveness ({tag})", f"ERASER: probability drop when the top {words} tokens are removed", d_hi
        )
        out[f"analysis/eraser/sufficiency_{name}"] = Metric(
            f"sufficiency ({tag})", f"ERASER: probability drop keeping only the top {words} tokens", d_lo
        )
        out[f"analysis/rationale/mass_{name}"] = Metric(
            f"gold mass ({tag})", f"share of the {words} scores on the deciding token", d_hi
        )
        out[f"analysis/rationale/top1_{name}"] = Metric(
            f"gold top-1 ({tag})", f"share of examples whose deciding token ranks first by {words}", d_hi
        )
        out[f"analysis/rationale/rank_{name}_mean"] = Metric(
            f"gold rank ({tag})", f"mean rank of the deciding token by {words}", d_lo
        )
        out[f"analysis/erasure/frac_to_flip_{name}_median"] = Metric(
            f"share erased to flip ({tag})",
            f"median share of tokens erased in {words} order until the decision flips",
            d_lo,
        )
        out[f"analysis/erasure/never_flips_{name}"] = Metric(
            f"never flips ({tag})", f"share of examples whose decision never flips erasing in {words} order", d_lo
        )
    return out


REGISTRY: dict[str, Metric] = {**_FIXED, **_analysis_entries()}


def lookup_metric(key: str) -> Metric | None:
    """The registry entry of ``key``: an exact key, a split-prefixed task metric (``val/f1_macro``), a
    length bucket (``test/bleu@len=5``), a Kendall τ per class (``..._mean_class2``), an analysis's
    example count (``analysis/<name>/examples``); else None."""
    if key in REGISTRY:
        return REGISTRY[key]
    base, sep, bucket = key.partition("@len=")
    if sep:
        m = lookup_metric(base)
        return (
            None
            if m is None
            else Metric(
                f"{m.label} (len {bucket})", f"{m.description}; sources of length {bucket}", m.direction, m.format
            )
        )
    split, _, name = key.partition("/")
    if split in _SPLITS and name in _TASK:
        m = _TASK[name]
        return Metric(_SPLITS[split].format(m.label), m.description, m.direction, m.format)
    stem, sep, cls = key.rpartition("_class")
    if sep and cls.isdigit() and stem in REGISTRY:
        m = REGISTRY[stem]
        return Metric(f"{m.label}, class {cls}", f"{m.description}, examples predicted as class {cls}", m.direction)
    parts = key.split("/")
    if len(parts) == 3 and parts[0] == "analysis" and parts[2] == "examples":
        return Metric(f"{parts[1]} examples", f"examples the {parts[1]} analysis measured", "none", "count")
    return None


def is_known(key: str) -> bool:
    return lookup_metric(key) is not None


def label(key: str, renames: dict[str, str] | None = None) -> str:
    """The readable label of ``key`` (``test/acc`` → ``test acc``); the key itself when unknown.
    ``renames`` (a study's ``table.labels``) come first, for a key and for its length buckets."""
    base, sep, bucket = key.partition("@len=")
    if renames and key in renames:
        return renames[key]
    if renames and sep and base in renames:
        return f"{renames[base]} (len {bucket})"
    m = lookup_metric(key)
    return m.label if m else key


def describe(key: str) -> str:
    """A one-line description of ``key``; empty when unknown."""
    m = lookup_metric(key)
    return m.description if m else ""


def direction(key: str) -> Direction:
    """``higher``/``lower`` is better, or ``none`` (a control or a descriptive number); ``none`` when unknown."""
    m = lookup_metric(key)
    return m.direction if m else "none"


def fmt(key: str, value: float) -> str:
    """``value`` as ``key`` is shown: scores to 0.001, seconds to 0.1, counts with separators."""
    v = float(value)
    if math.isnan(v):
        return "undefined"
    m = lookup_metric(key)
    kind = m.format if m else "score"
    if kind == "count":
        return f"{v:,.0f}"
    if kind in ("seconds", "mib"):
        return f"{v:,.1f}"
    if kind == "rate":
        return f"{v:,.0f}"
    if kind == "epochs":
        return f"{v:.0f}" if v.is_integer() else f"{v:.1f}"
    return f"{v:.3f}"


TEX_SYMBOLS = {
    "τ": r"$\tau$",
    "±": r"$\pm$",
    "ε": r"$\varepsilon$",
    "—": "---",
    "–": "--",
    "→": r"$\to$",
    "×": r"$\times$",
    "†": r"$^{\dagger}$",
    "‡": r"$^{\ddagger}$",
    "·": r"$\cdot$",
    "≤": r"$\leq$",
    "≥": r"$\geq$",
    "…": r"\ldots{}",
    "−": "$-$",
    "σ": r"$\sigma$",
    "θ": r"$\theta$",
    "ᵀ": r"$^\top$",
    "α": r"$\alpha$",
    "<": "$<$",
    ">": "$>$",
}


def tex_escape(text: str) -> str:
    """Plain text as LaTeX: special characters escaped, τ ± ε → × as math."""
    out = text.replace("\\", "\0")  # a placeholder: the braces escaped next are not its own
    for ch in "&%_#${}":
        out = out.replace(ch, "\\" + ch)
    out = out.replace("^", r"\^{}").replace("~", r"\textasciitilde{}").replace("\0", r"\textbackslash{}")
    for ch, tex in TEX_SYMBOLS.items():
        out = out.replace(ch, tex)
    return out


def tex_label(key: str) -> str:
    """:func:`label` for LaTeX."""
    return tex_escape(label(key))
