"""Highlighted examples: test texts with each token shaded by its weight, the way papers show attention
(Jain & Wallace 2019, Wiegreffe & Pinter 2019, Serrano & Smith 2019, ERASER), as one self-contained
``examples.html`` and an ``examples.tex`` (``\\colorbox`` per token).

Pure rendering of :class:`ShadedExample` / :class:`AlignmentExample` (no torch): the numbers come from
:mod:`attnbench.analysis.examples` (classifiers) and :mod:`attnbench.reporting.examples_run` (a run's
checkpoint, seq2seq included). A token's shade is its score over the example's largest score of that
measure (``alpha = |score| / max |score|``, so each row uses the full scale, as the heatmaps do); the
raw score is in the token's ``data-score``; one inline script shows it as the hovered token's tooltip, with
its row's measure (a ``title`` per token doubled the size of long pages: 2.4 MB for six 800-token texts).
"""

from __future__ import annotations

import base64
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

from attnbench.runtime.record import write_text_atomic

# measure → (readable name, RGB of a full-weight token); signed scores (integrated gradients) shade
# their negative part in NEGATIVE
MEASURES: dict[str, tuple[str, tuple[int, int, int]]] = {
    "attention": ("attention", (217, 26, 26)),
    "gradient": ("gradient×input", (33, 102, 172)),
    "loo": ("leave-one-out", (27, 120, 55)),
    "ig": ("integrated gradients", (118, 42, 131)),
}
NEGATIVE = (230, 120, 0)
HTML_FILE, TEX_FILE = "examples.html", "examples.tex"


def measure_label(key: str) -> str:
    """The readable name of a measure; a local stand-in for the metric label registry (issue 23, part 1)
    until it holds the token measures too: switch this one function to it."""
    return MEASURES.get(key, (key, (0, 0, 0)))[0]


@dataclass
class ShadedExample:
    """One classified test example: ``tokens`` [T] with ``scores[measure]`` [T] per measure (attention
    first), the gold and predicted label names, the predicted class's probability, Kendall τ between
    attention and gradient×input (NaN where not computed), ``deciding`` (positions of the synthetic
    task's deciding token), ``reason`` (why it was chosen) and ``context`` (a text pair's other text,
    shown unshaded: ``query: ...`` when the shaded text is the document the query attends over)."""

    index: int
    tokens: list[str]
    scores: dict[str, list[float]]
    gold: str
    predicted: str
    probability: float
    tau: float = math.nan
    deciding: list[int] = field(default_factory=list)
    reason: str = ""
    context: str = ""

    @property
    def correct(self) -> bool:
        return self.gold == self.predicted


@dataclass
class AlignmentExample:
    """One seq2seq test pair: ``weights`` ``[len(output)][len(source)]``, the reference, whether the output
    equals it, and the alignment heatmap as a PNG file (embedded into the page) or None."""

    index: int
    source: list[str]
    output: list[str]
    weights: list[list[float]]
    reference: str
    correct: bool = False  # the output equals the reference
    heatmap: Path | None = None


class Judged(Protocol):
    """An example that is right or wrong (:class:`ShadedExample`, :class:`AlignmentExample`)."""

    @property
    def correct(self) -> bool: ...


J = TypeVar("J", bound=Judged)


def alternate(examples: Sequence[J], n: int) -> list[J]:
    """Up to ``n`` of ``examples``: right and wrong ones taken in turn while both last (right first), each
    kind in the order given."""
    right = [e for e in examples if e.correct]
    wrong = [e for e in examples if not e.correct]
    out: list[J] = []
    while len(out) < n and (right or wrong):
        for group in (right, wrong):
            if group and len(out) < n:
                out.append(group.pop(0))
    return out


def alphas(scores: Sequence[float]) -> list[float]:
    """Shade of each token, ``|s| / max |s|`` over the example (all zero when every score is 0)."""
    top = max((abs(s) for s in scores if math.isfinite(s)), default=0.0)
    return [abs(s) / top if top > 0 and math.isfinite(s) else 0.0 for s in scores]


def rgba(measure: str, score: float, alpha: float) -> str:
    """The CSS background of a token: the measure's colour (NEGATIVE for a negative score) at ``alpha``."""
    r, g, b = NEGATIVE if score < 0 else MEASURES.get(measure, (measure, (80, 80, 80)))[1]
    return f"rgba({r},{g},{b},{alpha:.3f})"


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
.example { border-top: 1px solid #ddd; padding: .6rem 0; }
.meta { font-size: .9rem; color: #444; margin: .2rem 0 .4rem; }
.row { display: flex; gap: .6rem; align-items: baseline; margin: .15rem 0; }
.measure { flex: 0 0 10rem; font-size: .8rem; color: #555; text-align: right; }
.text { line-height: 1.9; font-family: ui-monospace, monospace; font-size: .9rem; }
.tok { padding: .1rem .15rem; border-radius: .2rem; }
.tok.deciding { outline: 2px solid #000; }
.wrong { color: #b00; font-weight: bold; } .right { color: #060; font-weight: bold; }
img { max-width: 100%; border: 1px solid #eee; } .note { color: #555; font-size: .9rem; }
"""


def _token_spans(tokens: Sequence[str], measure: str, scores: Sequence[float], deciding: Sequence[int]) -> str:
    spans = []
    for i, (token, score, alpha) in enumerate(zip(tokens, scores, alphas(scores), strict=True)):
        cls = "tok deciding" if i in deciding else "tok"
        spans.append(
            f'<span class="{cls}" data-score="{score:.6g}" style="background:{rgba(measure, score, alpha)}">'
            f"{html.escape(token)}</span>"
        )
    return " ".join(spans)


def example_html(example: ShadedExample) -> str:
    """One example's block: the labels, then one shaded copy of the text per measure."""
    verdict = '<span class="right">correct</span>' if example.correct else '<span class="wrong">wrong</span>'
    tau = "" if math.isnan(example.tau) else f" · τ(attention, gradient×input) = {example.tau:.2f}"
    context = f'<div class="meta context">{html.escape(example.context)}</div>' if example.context else ""
    rows = "".join(
        f'<div class="row" data-measure="{m}"><span class="measure">{html.escape(measure_label(m))}</span>'
        f'<span class="text">{_token_spans(example.tokens, m, s, example.deciding)}</span></div>'
        for m, s in example.scores.items()
    )
    return (
        f'<div class="example" id="example{example.index}"><div class="meta">test example {example.index} · '
        f"gold <b>{html.escape(example.gold)}</b> · predicted <b>{html.escape(example.predicted)}</b> "
        f"(p = {example.probability:.3f}) · {verdict}{tau}"
        f"{' · ' + html.escape(example.reason) if example.reason else ''}</div>{context}{rows}</div>"
    )


def alignment_html(example: AlignmentExample) -> str:
    """One pair: per output token, the source tokens shaded by the weight it gave them, beside the
    heatmap (embedded as a data URI so the page stays one file)."""
    rows = "".join(
        f'<div class="row" data-output="{j}"><span class="measure">{html.escape(out)}</span>'
        f'<span class="text">{_token_spans(example.source, "attention", w, [])}</span></div>'
        for j, (out, w) in enumerate(zip(example.output, example.weights, strict=True))
    )
    image = ""
    if example.heatmap is not None and example.heatmap.is_file():
        data = base64.b64encode(example.heatmap.read_bytes()).decode()
        image = f'<img src="data:image/png;base64,{data}" alt="alignment heatmap of test pair {example.index}">'
    verdict = '<span class="right">exact</span>' if example.correct else '<span class="wrong">differs</span>'
    return (
        f'<div class="example" id="pair{example.index}"><div class="meta">test pair {example.index} · reference '
        f"<b>{html.escape(example.reference)}</b> · output <b>{html.escape(' '.join(example.output))}</b> · "
        f'{verdict}</div><div style="display:flex;gap:1rem;flex-wrap:wrap"><div>{rows}</div>{image}</div></div>'
    )


def legend_html(measures: Sequence[str]) -> str:
    return " · ".join(
        f'<span class="tok" style="background:{rgba(m, 1.0, 0.4)}">{html.escape(measure_label(m))}</span>'
        for m in measures
    )


# The hovered token's tooltip: its row's measure (an alignment row's: attention) and its raw score
TOOLTIP = """document.addEventListener("mouseover", (e) => {
  const t = e.target, row = t.closest && t.closest(".row");
  if (!t.dataset || t.dataset.score === undefined || t.title || !row) return;
  t.title = (row.dataset.measure ? row.querySelector(".measure").textContent : "attention") + " " + t.dataset.score;
});"""


def render_html(title: str, examples: Sequence[ShadedExample | AlignmentExample], note: str = "") -> str:
    """The whole self-contained page (inline CSS, images as data URIs)."""
    measures = list(dict.fromkeys(m for e in examples if isinstance(e, ShadedExample) for m in e.scores))
    legend = legend_html(measures or ["attention"])
    explain = (
        "Each token is shaded by its score over the example's largest score of that measure; hover a token "
        "for the raw score. Outlined: the token that decides the label (synthetic tasks)."
        if measures
        else "Each source token is shaded by its weight over the row's largest weight; hover a token for the weight."
    )
    if any(e.get("ig") and min(e["ig"]) < 0 for e in (x.scores for x in examples if isinstance(x, ShadedExample))):
        explain += " Integrated gradients' negative scores are orange."
    blocks = "\n".join(example_html(e) if isinstance(e, ShadedExample) else alignment_html(e) for e in examples)
    return (
        f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<style>{STYLE}</style></head>\n<body>\n<h1>{html.escape(title)}</h1>\n<p class="note">{html.escape(note)}'
        f'</p>\n<p class="note">{legend}. {explain}</p>\n{blocks}\n<script>{TOOLTIP}</script>\n</body></html>\n'
    )


TEX_SPECIAL = {c: "\\" + c for c in "&%$#_{}"} | {
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
    "\\": r"\textbackslash{}",
}


TEX_SPECIAL |= {"τ": r"$\tau$", "×": r"$\times$", "␣": r"\textvisiblespace{}", "−": "-"}


def tex_escape(text: str) -> str:
    """``text`` safe in LaTeX under pdflatex (T1, utf8): specials escaped, τ and × as math, Latin-1 letters
    kept, other characters (which pdflatex has no glyph for) as ``?``."""
    return "".join(TEX_SPECIAL.get(c, c if ord(c) < 256 else "?") for c in text)


def tex_colour(measure: str, score: float, alpha: float) -> str:
    """``r,g,b`` in [0, 1]: the measure's colour at ``alpha`` over white (what the page shows)."""
    r, g, b = NEGATIVE if score < 0 else MEASURES.get(measure, (measure, (80, 80, 80)))[1]
    return ",".join(f"{1 - alpha * (1 - c / 255):.3f}" for c in (r, g, b))


def tex_tokens(tokens: Sequence[str], measure: str, scores: Sequence[float], deciding: Sequence[int]) -> str:
    """``\\colorbox[rgb]{...}{\\strut token}`` per token (the deciding one underlined)."""
    out = []
    for i, (token, score, alpha) in enumerate(zip(tokens, scores, alphas(scores), strict=True)):
        text = tex_escape(token)
        text = rf"\underline{{{text}}}" if i in deciding else text
        out.append(rf"\colorbox[rgb]{{{tex_colour(measure, score, alpha)}}}{{\strut {text}}}")
    return "\\allowbreak\n".join(out)


def render_tex(examples: Sequence[ShadedExample | AlignmentExample]) -> str:
    """A standalone LaTeX document (``xcolor``): one paragraph per example and measure; copy the
    paragraphs into a paper (``\\setlength{\\fboxsep}{1pt}`` keeps the boxes tight)."""
    parts = [
        r"\documentclass{article}",
        r"\usepackage[T1]{fontenc}",
        r"\usepackage[utf8]{inputenc}",
        r"\usepackage{xcolor}",
        r"\setlength{\fboxsep}{1pt}",
        r"\begin{document}",
    ]
    for e in examples:
        if isinstance(e, ShadedExample):
            parts.append(
                rf"\paragraph{{Test example {e.index}}} gold {tex_escape(e.gold)}, predicted "
                rf"{tex_escape(e.predicted)} ($p = {e.probability:.3f}$)"
                + ("" if math.isnan(e.tau) else rf", $\tau = {e.tau:.2f}$")
                + (f" ({tex_escape(e.reason)})" if e.reason else "")
                + "."
                + (rf" \textit{{{tex_escape(e.context)}}}" if e.context else "")
            )
            for m, s in e.scores.items():
                parts.append(
                    rf"\noindent\textit{{{tex_escape(measure_label(m))}}}: "
                    + tex_tokens(e.tokens, m, s, e.deciding)
                    + "\n"
                )
        else:
            parts.append(rf"\paragraph{{Test pair {e.index}}} reference {tex_escape(e.reference)}.")
            for out, w in zip(e.output, e.weights, strict=True):
                parts.append(
                    rf"\noindent\texttt{{{tex_escape(out)}}}: " + tex_tokens(e.source, "attention", w, []) + "\n"
                )
    parts.append(r"\end{document}")
    return "\n\n".join(parts) + "\n"


def write_examples(
    examples: Sequence[ShadedExample | AlignmentExample], out_dir: Path, title: str, note: str = ""
) -> list[Path]:
    """``out_dir/examples.html`` and ``out_dir/examples.tex`` (each written whole); their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    html_path, tex_path = out_dir / HTML_FILE, out_dir / TEX_FILE
    write_text_atomic(html_path, render_html(title, examples, note))
    write_text_atomic(tex_path, render_tex(examples))
    return [html_path, tex_path]
