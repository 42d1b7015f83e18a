"""Aggregate ``run.json`` records into a study's results: tables (Markdown, CSV, LaTeX) with mean ± std over
seeds, n, the best per column and a paired significance test against the baseline; plots (PNG); the best
run's attention heatmaps; a static ``index.html``; a ``MANIFEST``. Optionally the table goes to W&B.

``attnbench-report <sweep dir(s)> --out DIR`` aggregates any set of runs (ad-hoc multiruns included);
``attnbench-study`` calls :func:`write_report` after its sweep.

Significance: a two-sided paired t-test across seeds (run *i* of a variant paired with the baseline's
run of the same seed and column), on the table's first metric. It needs at least 2 paired seeds; with
3 seeds only large, consistent differences reach p < 0.05.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import json
import logging
import math
import shlex
import shutil
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnbench.record import RUN_FILE
from attnbench.report import describe, keep_previous, manifest

log = logging.getLogger(__name__)

METRIC_NAMES = {
    "test/acc": "test acc",
    "test/f1_macro": "test macro-F1",
    "val/acc": "best val acc",
    "val/f1_macro": "val macro-F1",
    "timings/fit_s": "train time (s)",
    "params": "parameters",
}
RESULT_FILES = [
    "table.md",
    "table.csv",
    "table.tex",
    "pairwise.csv",
    "bar.png",
    "length.png",
    "heatmaps",
    "index.html",
    "MANIFEST",
]
SIG_MARKS = ((0.01, "‡"), (0.05, "†"))


# ---- collecting -----------------------------------------------------------------------------------


def collect(dirs: list[Path]) -> list[dict[str, Any]]:
    """Every current ``run.json`` under ``dirs`` (earlier records kept in ``.previous/`` are ignored)."""
    records = []
    for d in dirs:
        if not Path(d).exists():
            raise FileNotFoundError(f"{d}: no such directory (give sweep directories holding run.json files)")
        for path in sorted(Path(d).rglob(RUN_FILE)):
            if ".previous" in path.parts:
                continue
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError) as err:
                record = {"status": "failed", "error": f"unreadable run.json: {err}", "config": {}}
            record["_path"] = str(path)
            records.append(record)
    return records


def lookup(record: dict[str, Any], key: str) -> Any:
    """A value of a run: a metric (``test/acc``), ``timings/fit_s``, ``params``, a Hydra group choice
    (``data``) or a dotted config key (``data.synthetic.length``)."""
    if "/" in key:
        section, name = key.split("/", 1)
        if section == "timings":
            return (record.get("timings") or {}).get(name)
        return (record.get("metrics") or {}).get(key)
    if key in ("params", "epochs"):
        return record.get(key)
    choices = record.get("choices") or {}
    if key in choices:
        return choices[key]
    node: Any = record.get("config") or {}
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def model_name(record: dict[str, Any]) -> str:
    """The study variant's label, else a description of the model (``BiLSTM + additive attention``)."""
    config = record.get("config") or {}
    study = config.get("study") or {}
    if study.get("label"):
        return study["label"]
    try:
        return "TF-IDF + logistic regression" if _is_tfidf(config) else describe(config)
    except (KeyError, TypeError):
        return "?"


def run_labels(records: list[dict[str, Any]]) -> list[str]:
    """Row labels of ad-hoc runs: the model name, plus the overrides (other than seeds) that tell apart
    runs whose model names are equal."""

    def swept(r: dict[str, Any]) -> tuple[str, ...]:
        return tuple(sorted(o for o in r.get("overrides") or [] if not o.startswith(("seed=", "torch_threads="))))

    names = [model_name(r) for r in records]
    groups: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for name, r in zip(names, records, strict=True):
        groups[name].add(swept(r))
    labels = []
    for name, r in zip(names, records, strict=True):
        if len(groups[name]) > 1:
            common = set.intersection(*(set(g) for g in groups[name]))
            labels.append(f"{name} [{' '.join(o for o in swept(r) if o not in common)}]")
        else:
            labels.append(name)
    return labels


def run_label(record: dict[str, Any]) -> str:
    return model_name(record)


def _is_tfidf(config: dict[str, Any]) -> bool:
    return "tfidf" in str((config.get("model") or {}).get("_target_", "")).lower()


# ---- statistics -----------------------------------------------------------------------------------


@dataclass
class Cell:
    values: dict[int, float] = field(default_factory=dict)  # seed → value (completed runs)
    failed: list[str] = field(default_factory=list)  # run paths (or job names) that failed / are missing
    p_value: float | None = None
    best: bool = False

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float | None:
        return sum(self.values.values()) / self.n if self.n else None

    @property
    def std(self) -> float | None:
        if self.n < 2:
            return None if self.n == 0 else 0.0
        m = self.mean
        return math.sqrt(sum((v - m) ** 2 for v in self.values.values()) / (self.n - 1))


def paired_p_value(a: dict[int, float], b: dict[int, float]) -> float | None:
    """Two-sided paired t-test over the seeds both have; None with fewer than 2 pairs. Identical
    differences (zero variance) give p = 1 when they are all 0, else p = 0."""
    seeds = sorted(set(a) & set(b))
    if len(seeds) < 2:
        return None
    diffs = [a[s] - b[s] for s in seeds]
    if max(diffs) - min(diffs) < 1e-12:
        return 1.0 if abs(diffs[0]) < 1e-12 else 0.0
    from scipy import stats

    return float(stats.ttest_rel([a[s] for s in seeds], [b[s] for s in seeds]).pvalue)


@dataclass
class Table:
    title: str
    rows: list[tuple[str, str]]  # (row id, label)
    columns: list[tuple[Any, str]]  # (column value: grid value or metric key, header)
    metric_of: dict[Any, str]  # column value → metric key
    cells: dict[tuple[str, Any], Cell]
    baseline: str | None
    expected_seeds: int
    column_key: str | None
    published: dict[str, Any] | None = None
    higher_is_better: bool = True
    extra: list[str] = field(default_factory=list)  # extra (non-significance) metric columns

    def footnote(self) -> str:
        lines = ["Cells: mean ± sample std over seeds; n = completed seeds per row (failed runs counted separately)."]
        first = self.metric_of[self.columns[0][0]] if self.columns else "?"
        lines.append(f"Best per column in bold ({'highest' if self.higher_is_better else 'lowest'} mean).")
        if self.baseline:
            base = dict(self.rows).get(self.baseline, self.baseline)
            lines.append(
                f"Significance: two-sided paired t-test across seeds on {first} against the baseline "
                f"'{base}' (same seed{', same column' if self.column_key else ''}); † p < 0.05, ‡ p < 0.01."
            )
        if self.published:
            lines.append(f"Published: {self.published.get('source', '')} ({self.published.get('metric', '')}).")
        return " ".join(lines)


def build_table(
    records: list[dict[str, Any]],
    study: Any | None = None,
    sweep_dirs: list[Path] | None = None,
    metrics: list[str] | None = None,
    baseline: str | None = None,
) -> Table:
    """Group runs into rows (variants) and columns (grid values or metrics), with statistics."""
    rows: list[tuple[str, str]] = []
    column_key = study.columns if study else None
    if study is not None:
        records = [r for r in records if ((r.get("config") or {}).get("study") or {}).get("name") == study.name]
        rows = [(v.id, v.label) for v in study.variants.values()]
        metrics = study.metrics
        baseline = study.baseline
    metrics = metrics or ["test/acc", "test/f1_macro"]

    labels = {id(r): label for r, label in zip(records, run_labels(records), strict=True)}

    def row_of(r: dict[str, Any]) -> str:
        s = (r.get("config") or {}).get("study") or {}
        return s.get("variant") if study is not None else labels[id(r)]

    if study is None:
        for r in records:
            if (labels[id(r)], labels[id(r)]) not in rows:
                rows.append((labels[id(r)], labels[id(r)]))
    if column_key:
        values = list(study.grid[column_key])
        columns = [(v, f"{column_key.split('.')[-1]}={v}") for v in values]
        metric_of = {v: metrics[0] for v in values}
        extra: list[str] = []
    else:
        extra = ["timings/fit_s", "params"]  # shown, never marked best or tested
        columns = [(m, METRIC_NAMES.get(m, m)) for m in [*metrics, *extra]]
        metric_of = {m: m for m in [*metrics, *extra]}
    cells: dict[tuple[str, Any], Cell] = defaultdict(Cell)
    for r in records:
        rid = row_of(r)
        seed = (r.get("config") or {}).get("seed", 0)
        col_values = [lookup(r, column_key)] if column_key else [c for c, _ in columns]
        for col in col_values:
            col = _match_column(col, [c for c, _ in columns])
            if col is None:
                continue
            cell = cells[(rid, col)]
            if r.get("status") != "completed":
                cell.failed.append(r.get("_path", "?"))
                continue
            v = lookup(r, metric_of[col])
            if v is not None:
                cell.values[seed] = float(v)
    if study is not None and sweep_dirs:  # jobs that never wrote a run.json
        from attnbench.study import expected_jobs, job_dir_name

        for job in expected_jobs(study):
            if not any((d / job_dir_name(job) / RUN_FILE).is_file() for d in sweep_dirs):
                cols = [job["cell"][column_key]] if column_key else [c for c, _ in columns]
                for col in cols:
                    cells[(job["variant"], col)].failed.append(job_dir_name(job) + " (no run.json)")
    table = Table(
        title=(study.title if study and study.title else (study.name if study else "runs")),
        rows=rows,
        columns=columns,
        metric_of=metric_of,
        cells=cells,
        baseline=baseline,
        expected_seeds=len(study.seeds) if study else 0,
        column_key=column_key,
        published=study.published if study else None,
        higher_is_better=study.higher_is_better if study else True,
        extra=extra,
    )
    for col, _ in columns:
        metric = metric_of[col]
        if metric in extra:
            continue
        means = [(cells[(rid, col)].mean, rid) for rid, _ in rows if cells[(rid, col)].mean is not None]
        if means:
            best = (max if table.higher_is_better else min)(m for m, _ in means)
            for m, rid in means:
                cells[(rid, col)].best = abs(m - best) < 1e-12
        if baseline and (metric == metrics[0]):
            base = cells[(baseline, col)]
            for rid, _ in rows:
                if rid != baseline and cells[(rid, col)].n:
                    cells[(rid, col)].p_value = paired_p_value(cells[(rid, col)].values, base.values)
    return table


def _match_column(value: Any, columns: list[Any]) -> Any:
    for c in columns:
        if value == c or str(value) == str(c):
            return c
    return None


# ---- rendering ------------------------------------------------------------------------------------


def _fmt(metric: str, v: float) -> str:
    if metric == "params":
        return f"{v:,.0f}"
    if metric.startswith("timings/"):
        return f"{v:.1f}"
    return f"{v:.3f}"


def cell_text(table: Table, rid: str, col: Any, style: str = "md") -> str:
    cell = table.cells.get((rid, col), Cell())
    metric = table.metric_of[col]
    if cell.n == 0:
        return f"failed ({len(cell.failed)})" if cell.failed else "—"
    pm = {"md": " ± ", "tex": r" $\pm$ ", "html": " ± "}[style]
    text = _fmt(metric, cell.mean) + (pm + _fmt(metric, cell.std) if cell.n > 1 and metric != "params" else "")
    if cell.p_value is not None:
        mark = next((m for cut, m in SIG_MARKS if cell.p_value < cut), "")
        if style == "tex":
            mark = {"‡": r"$^{\ddagger}$", "†": r"$^{\dagger}$"}.get(mark, "")
        text += mark
    if cell.failed:
        text += f" ({len(cell.failed)} failed)"
    if cell.best:
        text = {"md": f"**{text}**", "tex": rf"\textbf{{{text}}}", "html": f"<strong>{text}</strong>"}[style]
    return text


def row_n(table: Table, rid: str) -> str:
    ns = [table.cells[(rid, c)].n for c, _ in table.columns if (rid, c) in table.cells]
    fails = sum(len(table.cells[(rid, c)].failed) for c, _ in table.columns if (rid, c) in table.cells)
    if not table.column_key:
        fails = len(table.cells[(rid, table.columns[0][0])].failed) if (rid, table.columns[0][0]) in table.cells else 0
    n = min(ns) if ns else 0
    return f"{n}" + (f" ({fails} failed)" if fails else "")


def published_rows(table: Table) -> list[tuple[str, list[str]]]:
    if not table.published:
        return []
    out = []
    for rid, label in table.rows:
        values = (table.published.get("values") or {}).get(rid)
        if values:
            cells = [f"{values[c]:.2f}" if isinstance(values.get(c), int | float) else "—" for c, _ in table.columns]
            out.append((f"{label} — published", cells))
    return out


def to_markdown(table: Table) -> str:
    headers = ["model", *[h for _, h in table.columns], "n"]
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|"]
    for rid, label in table.rows:
        name = f"{label} (baseline)" if rid == table.baseline else label
        lines.append(
            "| " + " | ".join([name, *[cell_text(table, rid, c) for c, _ in table.columns], row_n(table, rid)]) + " |"
        )
    for label, cells in published_rows(table):
        lines.append("| " + " | ".join([f"*{label}*", *cells, ""]) + " |")
    return "\n".join(lines) + "\n"


def to_tex(table: Table) -> str:
    def esc(s: str) -> str:
        return (
            s.replace("\\", r"\textbackslash{}")
            .replace("&", r"\&")
            .replace("%", r"\%")
            .replace("_", r"\_")
            .replace("#", r"\#")
            .replace("±", r"$\pm$")
            .replace("—", "--")
        )

    headers = ["model", *[h for _, h in table.columns], "n"]
    lines = [
        r"% requires \usepackage{booktabs}",
        r"\begin{tabular}{l" + "r" * (len(headers) - 1) + "}",
        r"\toprule",
        " & ".join(esc(h) for h in headers) + r" \\",
        r"\midrule",
    ]
    for rid, label in table.rows:
        name = esc(f"{label} (baseline)" if rid == table.baseline else label)
        cells = [cell_text(table, rid, c, "tex") for c, _ in table.columns]
        lines.append(" & ".join([name, *cells, esc(row_n(table, rid))]) + r" \\")
    pub = published_rows(table)
    if pub:
        lines.append(r"\midrule")
        for label, cells in pub:
            lines.append(" & ".join([r"\emph{" + esc(label) + "}", *cells, ""]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", "% " + table.footnote().replace("%", r"\%")]
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(
        [
            "row",
            "label",
            "column",
            "metric",
            "mean",
            "std",
            "n",
            "failed",
            "p_value_vs_baseline",
            "best",
            "values_by_seed",
            "published",
        ]
    )
    pub = (table.published or {}).get("values") or {}
    for rid, label in table.rows:
        for col, _ in table.columns:
            cell = table.cells.get((rid, col), Cell())
            w.writerow(
                [
                    rid,
                    label,
                    col,
                    table.metric_of[col],
                    cell.mean,
                    cell.std,
                    cell.n,
                    len(cell.failed),
                    cell.p_value,
                    cell.best,
                    json.dumps(cell.values, sort_keys=True),
                    (pub.get(rid) or {}).get(col),
                ]
            )
    return buf.getvalue()


def to_pairwise_csv(table: Table) -> str:
    """Every pair of rows, per column, on the table's first metric: the paired mean difference over the
    seeds both have and the two-sided paired t-test's p-value (every pairing, not only the baseline)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["column", "metric", "row_a", "row_b", "mean_a", "mean_b", "mean_diff_paired", "n_pairs", "p_value"])
    for col, _ in table.columns:
        metric = table.metric_of[col]
        if metric in table.extra:
            continue
        for i, (a, label_a) in enumerate(table.rows):
            for b, label_b in table.rows[i + 1 :]:
                ca, cb = table.cells.get((a, col), Cell()), table.cells.get((b, col), Cell())
                seeds = sorted(set(ca.values) & set(cb.values))
                diff = sum(ca.values[s] - cb.values[s] for s in seeds) / len(seeds) if seeds else None
                w.writerow(
                    [
                        col,
                        metric,
                        label_a,
                        label_b,
                        ca.mean,
                        cb.mean,
                        diff,
                        len(seeds),
                        paired_p_value(ca.values, cb.values),
                    ]
                )
        if not table.column_key:
            break  # the metric columns: the first metric is the compared one
    return buf.getvalue()


# ---- plots ----------------------------------------------------------------------------------------


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def bar_plot(table: Table, path: Path) -> Path | None:
    """Horizontal bars of the first metric (mean, error bar = std); grouped by column when there is a grid."""
    plt = _pyplot()
    cols = [c for c, _ in table.columns if table.metric_of[c] not in table.extra]
    cols = cols if table.column_key else cols[:1]
    rows = [(rid, label) for rid, label in table.rows if any(table.cells.get((rid, c), Cell()).n for c in cols)]
    if not rows:
        return None
    height = 0.8 / len(cols)
    fig, ax = plt.subplots(figsize=(8, 0.9 + 0.35 * len(rows) * max(1, len(cols) * 0.6)))
    for j, col in enumerate(cols):
        means = [table.cells.get((rid, col), Cell()).mean or 0.0 for rid, _ in rows]
        stds = [table.cells.get((rid, col), Cell()).std or 0.0 for rid, _ in rows]
        ys = [i + (j - (len(cols) - 1) / 2) * height for i in range(len(rows))]
        label = dict(table.columns)[col] if table.column_key else None
        ax.barh(ys, means, height=height, xerr=stds, capsize=3, label=label)
    ax.set_yticks(range(len(rows)), [label for _, label in rows])
    ax.invert_yaxis()
    metric = table.metric_of[cols[0]]
    xlabel = f"{METRIC_NAMES.get(metric, metric)} (mean ± std over seeds)"
    lows = [c.mean - (c.std or 0.0) for rid, _ in rows for col in cols if (c := table.cells.get((rid, col), Cell())).n]
    if metric.endswith(("/acc", "/f1_macro")) and lows and min(lows) > 0.3:
        # close values: the axis starts near the lowest bar instead of 0, and says so
        start = max(0.0, math.floor((min(lows) - 0.05) * 20) / 20)
        ax.set_xlim(start, 1.005)
        xlabel += f"; axis starts at {start:.2f}"
    ax.set_xlabel(xlabel)
    fig.suptitle(table.title, fontsize="medium")
    if table.column_key:
        ax.legend(fontsize="small", loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def length_plot(table: Table, path: Path) -> Path | None:
    """The first metric against the (numeric) column key, one line per row, error bars = std."""
    if not table.column_key:
        return None
    try:
        xs = [float(c) for c, _ in table.columns]
    except (TypeError, ValueError):
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    log_x = min(xs) > 0 and max(xs) / min(xs) >= 8
    markers, styles = "osD^vP*X", ["-", "--", "-.", ":"]
    for i, (rid, label) in enumerate(table.rows):
        pts = [(x, table.cells.get((rid, c), Cell())) for x, (c, _) in zip(xs, table.columns, strict=True)]
        pts = [(x, cell) for x, cell in pts if cell.n]
        if not pts:
            continue
        # dodge: equal values (several rows at 1.0) stay visible side by side
        shift = (i - (len(table.rows) - 1) / 2) * 0.025
        px = [x * 2**shift if log_x else x + shift * (max(xs) - min(xs)) / 4 for x, _ in pts]
        ax.errorbar(
            px,
            [c.mean for _, c in pts],
            yerr=[c.std or 0.0 for _, c in pts],
            label=label,
            capsize=3,
            marker=markers[i % len(markers)],
            linestyle=styles[i % len(styles)],
            markersize=5,
        )
    metric = table.metric_of[table.columns[0][0]]
    if metric.endswith(("/acc", "/f1_macro")):
        ax.set_ylim(-0.02, 1.04)
    if log_x:
        ax.set_xscale("log", base=2)
        ax.set_xticks(xs, [f"{x:g}" for x in xs])
    ax.set_xlabel(table.column_key)
    ax.set_ylabel(f"{METRIC_NAMES.get(metric, metric)} (mean ± std)")
    fig.suptitle(table.title, fontsize="medium")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def best_heatmaps(
    records: list[dict[str, Any]], metric: str, out: Path, column_key: str | None = None, num_examples: int = 3
) -> tuple[Path | None, dict[str, Any] | None]:
    """The attention heatmaps of the best completed attention run (by ``metric``; among equal ones, the
    one with the largest numeric ``column_key`` value, e.g. the longest sequences) in ``out/heatmaps``.

    They are drawn afresh from the run's best checkpoint (the first ``num_examples`` test examples,
    windows around the largest weights); a run whose checkpoint is gone gives the PNGs its
    ``attention_heatmaps`` callback wrote, if any."""

    def rank(r: dict[str, Any]) -> tuple[float, float]:
        col = lookup(r, column_key) if column_key else None
        return (float(lookup(r, metric)), float(col) if isinstance(col, int | float) else 0.0)

    def has_attention(r: dict[str, Any]) -> bool:
        config = r.get("config") or {}
        return not _is_tfidf(config) and (config.get("attention") or {}).get("name") not in (None, "none")

    candidates = [
        r for r in records if r.get("status") == "completed" and lookup(r, metric) is not None and has_attention(r)
    ]
    target = out / "heatmaps"
    for r in sorted(candidates, key=rank, reverse=True):
        checkpoint = r.get("checkpoint")
        try:
            if checkpoint and Path(checkpoint).is_file():
                paths = draw_heatmaps(r, Path(checkpoint), target, num_examples)
            else:
                pngs = sorted((Path(r["_path"]).parent / "attention_heatmaps").glob("*.png"))[:num_examples]
                target.mkdir(parents=True, exist_ok=True)
                paths = [Path(shutil.copy2(p, target / p.name)) for p in pngs]
        except Exception as err:  # a run this code cannot rebuild: try the next best
            log.warning("heatmaps of %s failed (%s: %s)", r["_path"], type(err).__name__, err)
            continue
        if paths:
            return target, r
    return None, None


def draw_heatmaps(record: dict[str, Any], checkpoint: Path, out_dir: Path, num_examples: int) -> list[Path]:
    """Rebuild a run's data and model from its resolved config and checkpoint; draw its first test batch."""
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from attnbench.callbacks import AttentionHeatmaps
    from attnbench.checkpoints import load_checkpoint, load_weights, restore_data_state

    cfg = OmegaConf.create(record["config"])
    state = load_checkpoint(checkpoint)
    dm = instantiate(cfg.data)
    restore_data_state(dm, state)
    # the data summary and cache lines were logged by the run already: keep the report's output short
    quiet = [logging.getLogger(n) for n in ("pytorch_lightning.utilities.rank_zero", "attnbench.data")]
    levels = [lg.level for lg in quiet]
    try:
        for lg in quiet:
            lg.setLevel(logging.WARNING)
        dm.setup("test")
    finally:
        for lg, level in zip(quiet, levels, strict=True):
            lg.setLevel(level)
    model = instantiate(cfg.model, vocab_size=dm.vocab_size, num_classes=dm.num_classes, **dm.model_kwargs())
    load_weights(model, state, str(checkpoint))
    model.eval()
    batch = next(iter(dm.test_dataloader()))
    drawer = AttentionHeatmaps(num_examples=num_examples)
    paths, _ = drawer.draw_batch(model, batch, dm, out_dir)
    return paths


# ---- the report page ------------------------------------------------------------------------------


def to_html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ["model", *[h for _, h in table.columns], "n"])
    body = []
    for rid, label in table.rows:
        name = html.escape(f"{label} (baseline)" if rid == table.baseline else label)
        cells = "".join(f"<td>{_html_cell(table, rid, c)}</td>" for c, _ in table.columns)
        body.append(
            f'<tr class="run-row" data-row="{html.escape(rid)}"><th scope="row">{name}</th>{cells}'
            f"<td>{html.escape(row_n(table, rid))}</td></tr>"
        )
    for label, cells in published_rows(table):
        body.append(
            f'<tr class="published-row"><th scope="row"><em>{html.escape(label)}</em></th>'
            + "".join(f"<td>{html.escape(c)}</td>" for c in cells)
            + "<td></td></tr>"
        )
    return f'<table id="results"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _html_cell(table: Table, rid: str, col: Any) -> str:
    text = cell_text(table, rid, col, "md").replace("**", "")
    text = html.escape(text)
    return f"<strong>{text}</strong>" if table.cells.get((rid, col), Cell()).best else text


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem; color: #222; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ padding: .3rem .7rem; border-bottom: 1px solid #ddd; }}
td {{ text-align: right; font-variant-numeric: tabular-nums; }}
th[scope=row] {{ text-align: left; font-weight: normal; }}
img {{ max-width: 100%; border: 1px solid #eee; }} img.broken {{ outline: 3px solid #c00; }}
.note {{ color: #555; font-size: .9rem; }}
pre {{ background: #f6f6f6; padding: .8rem; overflow-x: auto; font-size: .8rem; }}
#missing {{ color: #c00; }}
</style></head>
<body>
<h1>{title}</h1>
<p>{description}</p>
<p><strong>Question:</strong> {question}</p>
<h2>Results</h2>
{table}
<p class="note">{footnote}</p>
<p id="missing" hidden></p>
{figures}
<h2>Reproduce</h2>
<pre>{command}</pre>
<p>Files: <a href="table.md">table.md</a> · <a href="table.csv">table.csv</a> · <a href="table.tex">table.tex</a>
· <a href="pairwise.csv">pairwise.csv</a> (every pair of rows: paired difference, p-value)
· <a href="MANIFEST">MANIFEST</a></p>
<h2>MANIFEST</h2>
<pre>{manifest}</pre>
<script>
// mark images that failed to load, so a broken page is visible (and testable in a headless browser)
function imgDone(img, ok) {{
  img.dataset.loaded = ok ? "1" : "0";
  if (!ok) {{ img.classList.add("broken"); const m = document.getElementById("missing");
    m.hidden = false; m.textContent += "missing image: " + img.getAttribute("src") + " "; }}
}}
for (const img of document.images) {{
  if (img.complete) imgDone(img, img.naturalWidth > 0);
  else {{ img.addEventListener("load", () => imgDone(img, true));
         img.addEventListener("error", () => imgDone(img, false)); }}
}}
</script>
</body></html>
"""


def figure_html(path: Path, out: Path, caption: str) -> str:
    rel = path.relative_to(out).as_posix()
    return (
        f'<figure><img src="{html.escape(rel)}" alt="{html.escape(caption)}">'
        f'<figcaption class="note">{html.escape(caption)}</figcaption></figure>'
    )


# ---- the whole report -----------------------------------------------------------------------------


def write_report(
    sweep_dirs: list[Path],
    out: Path,
    study: Any | None = None,
    command: str = "",
    run_info: dict[str, Any] | None = None,
    log_wandb: bool = True,
    metrics: list[str] | None = None,
    baseline: str | None = None,
) -> dict[str, Any]:
    """Aggregate the runs under ``sweep_dirs`` into ``out`` (earlier result files move to
    ``out/.previous/<time>/``). Returns ``{"markdown", "files", "failed", "table"}``."""
    started = time.perf_counter()
    sweep_dirs = [Path(d) for d in sweep_dirs]
    records = collect(sweep_dirs)
    ignored = 0
    if study is not None:
        # only the study's current jobs: runs of an earlier layout of the study (another grid, a removed
        # variant) may still lie in the sweep directory
        from attnbench.study import expected_jobs, job_dir_name

        wanted = {str((d / job_dir_name(job) / RUN_FILE).resolve()) for d in sweep_dirs for job in expected_jobs(study)}
        kept = [
            r
            for r in records
            if str(Path(r["_path"]).resolve()) in wanted
            and ((r.get("config") or {}).get("study") or {}).get("name") == study.name
        ]
        ignored, records = len(records) - len(kept), kept
    if not records:
        raise FileNotFoundError(f"no run.json under {', '.join(map(str, sweep_dirs))}: nothing to aggregate")
    table = build_table(records, study, sweep_dirs, metrics, baseline)
    out.mkdir(parents=True, exist_ok=True)
    backup = keep_previous(out, RESULT_FILES)
    if backup:
        log.info("earlier results moved to %s", backup)
    files = []
    md = f"# {table.title}\n\n"
    if study is not None and study.question:
        md += f"{study.question}\n\n"
    md += to_markdown(table) + "\n" + table.footnote() + "\n"
    (out / "table.md").write_text(md)
    (out / "table.csv").write_text(to_csv(table))
    (out / "table.tex").write_text(to_tex(table))
    (out / "pairwise.csv").write_text(to_pairwise_csv(table))
    files += ["table.md", "table.csv", "table.tex", "pairwise.csv"]
    figures = []
    plots = study.plots if study is not None else ["bar", "length", "heatmaps"]
    first_metric = table.metric_of[table.columns[0][0]]
    if "bar" in plots and bar_plot(table, out / "bar.png"):
        files.append("bar.png")
        figures.append(
            figure_html(out / "bar.png", out, f"{METRIC_NAMES.get(first_metric, first_metric)}: mean ± std over seeds")
        )
    if "length" in plots and length_plot(table, out / "length.png"):
        files.append("length.png")
        figures.append(
            figure_html(
                out / "length.png", out, f"{METRIC_NAMES.get(first_metric, first_metric)} against {table.column_key}"
            )
        )
    best_run = None
    if "heatmaps" in plots:
        heat_dir, best_run = best_heatmaps(records, first_metric, out, column_key=table.column_key)
        if heat_dir is not None:
            files.append("heatmaps/")
            caption = (
                f"attention of the best run ({run_label(best_run)}, seed {best_run['config'].get('seed')}"
                + (f", {table.column_key}={lookup(best_run, table.column_key)}" if table.column_key else "")
                + f", {first_metric} {lookup(best_run, first_metric):.3f})"
            )
            figures += [figure_html(p, out, caption + f": {p.name}") for p in sorted(heat_dir.glob("*.png"))]
    info = dict(run_info or {})
    completed = [r for r in records if r.get("status") == "completed"]
    failed = [r for r in records if r.get("status") != "completed"]
    missing = sum(len(c.failed) for c in table.cells.values() if any("no run.json" in f for f in c.failed))
    extra = {
        "study": study.name if study else "(ad hoc)",
        "study_file": str(study.path) if study else "",
        "sweep_dirs": " ".join(map(str, sweep_dirs)),
        "runs_completed": len(completed),
        "runs_failed": len(failed),
        "runs_missing": missing,
        "runs_ignored": f"{ignored} (run.json files under the sweep dir that are not jobs of this study)",
        "run_time_sum_s": f"{sum((r.get('timings') or {}).get('total_s', 0.0) for r in records):.1f}",
        # the code each run ran with (a report made later may run on a newer commit)
        "run_git_shas": ", ".join(
            f"{sha} ({n} runs)" for sha, n in sorted(Counter(str(r.get("git_sha")) for r in records).items())
        ),
        **{f"sweep_{k}": v for k, v in info.items() if k not in ("failed", "wall_s")},
    }
    if best_run is not None:
        extra["heatmaps_from"] = best_run["_path"]
    wall = float(info.get("wall_s", 0.0)) + (time.perf_counter() - started)
    if log_wandb:
        extra["wandb_report_run"] = (
            log_table_to_wandb(table, records, study, out, sweep_dirs[0]) or "not logged (no W&B logger in the runs)"
        )
    manifest_text = manifest(command, wall, extra)
    (out / "MANIFEST").write_text(manifest_text)
    files.append("MANIFEST")
    page = PAGE.format(
        title=html.escape(table.title),
        description=html.escape(study.description if study else ""),
        question=html.escape(study.question if study else "(ad-hoc runs)"),
        table=to_html_table(table),
        footnote=html.escape(table.footnote()),
        figures="\n".join(figures),
        command=html.escape(command),
        manifest=html.escape(manifest_text),
    )
    (out / "index.html").write_text(page)
    files.insert(-1, "index.html")
    return {
        "markdown": to_markdown(table),
        "files": files,
        "failed": [r["_path"] for r in failed]
        + [f for c in table.cells.values() for f in c.failed if "no run.json" in f],
        "table": table,
    }


def log_table_to_wandb(
    table: Table, records: list[dict[str, Any]], study: Any | None, out: Path, save_dir: Path
) -> str | None:
    """Log the comparison once as a ``wandb.Table`` (and the plots) in a ``job_type=report`` run of the
    study's group; offline without credentials. Returns the run's local directory, or None when the
    runs did not use W&B."""
    wb = next((c for r in records if (c := ((r.get("config") or {}).get("logger") or {}).get("wandb"))), None)
    if not wb:
        return None
    import wandb

    from attnbench.loggers import resolve_wandb_mode

    mode = resolve_wandb_mode(wb.get("mode", "auto"))
    run = wandb.init(
        project=wb.get("project", "attnbench"),
        entity=wb.get("entity"),
        group=study.name if study else wb.get("group"),
        job_type="report",
        name=f"{study.name if study else 'runs'}-table",
        dir=str(save_dir),
        mode=mode,
        reinit="finish_previous",
        settings=wandb.Settings(silent=True),
    )
    columns = ["model", *[h for _, h in table.columns], "n"]
    data = [
        [label, *[cell_text(table, rid, c).replace("**", "") for c, _ in table.columns], row_n(table, rid)]
        for rid, label in table.rows
    ]
    run.log({"comparison": wandb.Table(columns=columns, data=data)})
    for name in ("bar.png", "length.png"):
        if (out / name).is_file():
            run.log({f"plots/{name[:-4]}": wandb.Image(str(out / name))})
    run.summary["runs"] = len(records)
    directory = run.dir
    run.finish()
    return str(Path(directory).parent)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="attnbench-report", description="Aggregate run.json files into tables, plots and a report page."
    )
    p.add_argument("dirs", nargs="+", help="sweep directories (any set of runs)")
    p.add_argument("--out", required=True, help="results directory")
    p.add_argument("--study", default=None, help="use this study's table spec (experiments/<name>.yaml)")
    p.add_argument(
        "--metric", action="append", default=None, help="metric column(s), default test/acc and test/f1_macro"
    )
    p.add_argument("--baseline", default=None, help="row label of the baseline for the significance test")
    p.add_argument("--no-wandb", action="store_true", help="do not log the table to W&B")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    study = None
    from attnbench.study import StudyError, load_study

    try:
        if args.study:
            study = load_study(args.study)
        command = "attnbench-report " + shlex.join(sys.argv[1:] if argv is None else argv)
        summary = write_report(
            [Path(d) for d in args.dirs],
            Path(args.out),
            study=study,
            command=command,
            log_wandb=not args.no_wandb,
            metrics=args.metric,
            baseline=args.baseline,
        )
    except (StudyError, FileNotFoundError) as err:
        print(f"attnbench-report: {err}", file=sys.stderr)
        return 2
    return print_summary(summary, Path(args.out))


def print_summary(summary: dict[str, Any], out: Path) -> int:
    """Print the table and the files written; the exit status: 1 when a run failed or is missing."""
    print(summary["markdown"])
    print(f"wrote {out}: {', '.join(summary['files'])}")
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
