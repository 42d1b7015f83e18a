"""A :class:`~attnbench.reporting.statistics.Table` as text: Markdown, LaTeX (booktabs), HTML, the
cell-level CSV and the CSV of every pairwise comparison."""

from __future__ import annotations

import csv
import html
import io
import json
from typing import Any

from attnbench.reporting import labels
from attnbench.reporting.significance import holm, paired_diffs, t_test_p_value
from attnbench.reporting.statistics import Cell, Table, paired_p_value

SIG_MARKS = ((0.01, "‡"), (0.05, "†"))
TEX_MARKS = {"‡": r"$^{\ddagger}$", "†": r"$^{\dagger}$"}
NOT_TESTED = "n.t."
CSV_HEADER = [
    "row",
    "label",
    "column",
    "metric",
    "column_label",
    "direction",
    "mean",
    "std",
    "n",
    "failed",
    "undefined",
    "p_value_vs_baseline",
    "p_holm_vs_baseline",
    "best",
    "values_by_seed",
    "published",
]
PAIRWISE_HEADER = [
    "column",
    "metric",
    "row_a",
    "row_b",
    "mean_a",
    "mean_b",
    "mean_diff_paired",
    "n_pairs",
    "p_value",
    "p_holm",
    "test",
    "p_ttest",
]
PAIRED_TEST = "exact paired sign-flip"


def format_value(metric: str, v: float) -> str:
    """``v`` as the label registry formats ``metric`` (scores to 0.001, seconds to 0.1, counts)."""
    return labels.fmt(metric, v)


def cell_text(table: Table, rid: str, col: Any, style: str = "md") -> str:
    """``mean ± std`` with the significance mark, failures, undefined seeds and bold for the best;
    ``style``: md | tex | html."""
    cell = table.cells.get((rid, col), Cell())
    metric = table.metric_of[col]
    if cell.mean is None:
        if cell.failed:
            return f"failed ({len(cell.failed)})"
        return "undefined" if cell.undefined else "—"
    pm, dash = {"md": (" ± ", "—"), "tex": (r" $\pm$ ", "--"), "html": (" ± ", "—")}[style]
    text = format_value(metric, cell.mean)
    if metric != "params":
        text += pm + (format_value(metric, cell.std) if cell.std is not None else dash)
    if cell.p_value is not None:
        mark = next((m for cut, m in SIG_MARKS if cell.p_value < cut), "")
        text += TEX_MARKS.get(mark, "") if style == "tex" else mark
    elif cell.tested:
        text += f" ({NOT_TESTED})"
    notes = [f"n={cell.n}, {cell.undefined} undefined"] if cell.undefined else []
    if cell.failed:
        notes.append(f"{len(cell.failed)} failed")
    if notes:
        text += f" ({'; '.join(notes)})"
    if cell.best:
        text = {"md": f"**{text}**", "tex": rf"\textbf{{{text}}}", "html": f"<strong>{text}</strong>"}[style]
    return text


def row_n(table: Table, rid: str) -> str:
    """The row's completed seeds (the most over its columns: a cell with fewer says so), and its failures."""
    measured = [c for c, _ in table.columns if table.metric_of[c] not in table.extra]  # not train time, params
    present = [c for c in measured or [c for c, _ in table.columns] if (rid, c) in table.cells]
    ns = [table.cells[(rid, c)].n + table.cells[(rid, c)].undefined for c in present]  # completed, NaN or not
    fails = sum(len(table.cells[(rid, c)].failed) for c in present)
    if not table.column_key:  # metric columns all come from the same runs: count them once
        first = table.columns[0][0]
        fails = len(table.cells[(rid, first)].failed) if (rid, first) in table.cells else 0
    n = max(ns) if ns else 0
    return f"{n}" + (f" ({fails} failed)" if fails else "")


def published_text(value: Any) -> str:
    """A published number as the paper wrote it (the study file's digits), else "—"."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return str(getattr(value, "text", None) or f"{value:g}")


def published_rows(table: Table) -> list[tuple[str, list[str]]]:
    """(label, cells) of the published numbers: a row per variant that has some (``published.values``),
    then a row per setting the study does not run (``published.rows``, by label)."""
    if not table.published:
        return []
    named = [(label, (table.published.get("values") or {}).get(rid)) for rid, label in table.rows]
    named += list((table.published.get("rows") or {}).items())
    out = []
    for label, values in named:
        if values:
            cells = [published_text(values.get(c)) for c, _ in table.columns]
            out.append((f"{label} — published", cells))
    return out


def _row_name(table: Table, rid: str, label: str) -> str:
    return f"{label} (baseline)" if rid == table.baseline else label


def headers(table: Table) -> list[str]:
    return ["model", *[h for _, h in table.columns], "n"]


def to_markdown(table: Table) -> str:
    head = headers(table)
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    for rid, label in table.rows:
        cells = [cell_text(table, rid, c) for c, _ in table.columns]
        lines.append("| " + " | ".join([_row_name(table, rid, label), *cells, row_n(table, rid)]) + " |")
    for label, cells in published_rows(table):
        lines.append("| " + " | ".join([f"*{label}*", *cells, ""]) + " |")
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    """One line per cell: the statistics and the values by seed (an undefined seed's value is null),
    for anyone who recomputes them."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_HEADER)
    pub = (table.published or {}).get("values") or {}
    for rid, label in table.rows:
        for col, header in table.columns:
            cell = table.cells.get((rid, col), Cell())
            stats = [cell.mean, cell.std, cell.n, len(cell.failed), cell.undefined, cell.p_value, cell.p_holm]
            by_seed: dict[int, float | None] = {**cell.values, **dict.fromkeys(cell.undefined_seeds)}
            values = json.dumps(dict(sorted(by_seed.items())))
            published = (pub.get(rid) or {}).get(col)
            shown = published_text(published) if published is not None else None
            w.writerow(
                [rid, label, col, table.metric_of[col], header, table.direction(col), *stats, cell.best, values, shown]
            )
    return buf.getvalue()


def pairwise_rows(table: Table) -> list[list[Any]]:
    """Every pair of rows, per column, on the table's first metric (every pairing, not only the
    baseline): the paired mean difference over the seeds both have, the sign-flip test's p-value,
    Holm's over all of them (the family: every test in the file) and the paired t-test's for reference."""
    out: list[list[Any]] = []
    t_tests: list[float | None] = []
    for col, _ in table.columns:
        metric = table.metric_of[col]
        if metric in table.extra:
            continue
        for i, (a, label_a) in enumerate(table.rows):
            for b, label_b in table.rows[i + 1 :]:
                ca, cb = table.cells.get((a, col), Cell()), table.cells.get((b, col), Cell())
                seeds = sorted(set(ca.values) & set(cb.values))
                diff = sum(ca.values[s] - cb.values[s] for s in seeds) / len(seeds) if seeds else None
                p = paired_p_value(ca.values, cb.values)
                out.append([col, metric, label_a, label_b, ca.mean, cb.mean, diff, len(seeds), p])
                t_tests.append(t_test_p_value(paired_diffs(ca.values, cb.values)))
        if not table.column_key:
            break  # the metric columns: the first metric is the compared one
    for row, adjusted in zip(out, holm([r[-1] for r in out]), strict=True):
        row += [adjusted, PAIRED_TEST if row[-1] is not None else "not testable (fewer than 2 paired seeds)"]
    for row, p_t in zip(out, t_tests, strict=True):
        row.append(p_t)  # for reference: a paired t-test assumes normal differences, which 3 seeds cannot show
    return out


def to_pairwise_csv(table: Table) -> str:
    """:func:`pairwise_rows` as CSV."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(PAIRWISE_HEADER)
    w.writerows(pairwise_rows(table))
    return buf.getvalue()


def to_html_table(table: Table) -> str:
    """The table for the report page; rows carry ``class="run-row"`` and their id (for tests and styles)."""
    tips = ["", *[labels.describe(table.metric_of[c]) for c, _ in table.columns], "completed seeds"]
    head = "".join(
        f'<th title="{html.escape(t)}">{html.escape(h)}</th>' for h, t in zip(headers(table), tips, strict=True)
    )
    body = []
    for rid, label in table.rows:
        name = html.escape(_row_name(table, rid, label))
        cells = "".join(f"<td>{_html_cell(table, rid, c)}</td>" for c, _ in table.columns)
        body.append(
            f'<tr class="run-row" data-row="{html.escape(rid)}"><th scope="row">{name}</th>{cells}'
            f"<td>{html.escape(row_n(table, rid))}</td></tr>"
        )
    for label, published in published_rows(table):
        body.append(
            f'<tr class="published-row"><th scope="row"><em>{html.escape(label)}</em></th>'
            + "".join(f"<td>{html.escape(c)}</td>" for c in published)
            + "<td></td></tr>"
        )
    return f'<table id="results"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _html_cell(table: Table, rid: str, col: Any) -> str:
    # the Markdown text, escaped, with the bold as <strong> (escaping the "html" style would escape it too)
    text = html.escape(cell_text(table, rid, col, "md").replace("**", ""))
    return f"<strong>{text}</strong>" if table.cells.get((rid, col), Cell()).best else text


def plain_rows(table: Table) -> list[list[str]]:
    """The Markdown rows without bold, for a W&B table: label, cells, n."""
    return [
        [label, *[cell_text(table, rid, c).replace("**", "") for c, _ in table.columns], row_n(table, rid)]
        for rid, label in table.rows
    ]
