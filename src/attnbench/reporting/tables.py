"""A :class:`~attnbench.reporting.statistics.Table` as text: Markdown, LaTeX (booktabs), HTML, the
cell-level CSV and the CSV of every pairwise comparison."""

from __future__ import annotations

import csv
import html
import io
import json
from typing import Any

from attnbench.reporting.statistics import Cell, Table, paired_p_value

SIG_MARKS = ((0.01, "‡"), (0.05, "†"))
TEX_MARKS = {"‡": r"$^{\ddagger}$", "†": r"$^{\dagger}$"}
CSV_HEADER = [
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
PAIRWISE_HEADER = ["column", "metric", "row_a", "row_b", "mean_a", "mean_b", "mean_diff_paired", "n_pairs", "p_value"]


def format_value(metric: str, v: float) -> str:
    """Parameters as a count, seconds to 0.1, epochs as counts (a mean over seeds to 0.1), scores to 0.001."""
    if metric == "params":
        return f"{v:,.0f}"
    if metric.startswith("timings/"):
        return f"{v:.1f}"
    if metric == "epochs":
        return f"{v:.0f}" if float(v).is_integer() else f"{v:.1f}"
    return f"{v:.3f}"


def cell_text(table: Table, rid: str, col: Any, style: str = "md") -> str:
    """``mean ± std`` with the significance mark, failures and bold for the best; ``style``: md | tex | html."""
    cell = table.cells.get((rid, col), Cell())
    metric = table.metric_of[col]
    if cell.mean is None:
        return f"failed ({len(cell.failed)})" if cell.failed else "undefined" if cell.undefined else "—"
    pm = {"md": " ± ", "tex": r" $\pm$ ", "html": " ± "}[style]
    text = format_value(metric, cell.mean)
    if cell.n > 1 and metric != "params" and cell.std is not None:
        text += pm + format_value(metric, cell.std)
    if cell.p_value is not None:
        mark = next((m for cut, m in SIG_MARKS if cell.p_value < cut), "")
        text += TEX_MARKS.get(mark, "") if style == "tex" else mark
    if cell.failed:
        text += f" ({len(cell.failed)} failed)"
    if cell.best:
        text = {"md": f"**{text}**", "tex": rf"\textbf{{{text}}}", "html": f"<strong>{text}</strong>"}[style]
    return text


def row_n(table: Table, rid: str) -> str:
    """The row's completed seeds (the fewest over its columns), and its failures."""
    measured = [c for c, _ in table.columns if table.metric_of[c] not in table.extra]  # not train time, params
    present = [c for c in measured or [c for c, _ in table.columns] if (rid, c) in table.cells]
    ns = [table.cells[(rid, c)].n + table.cells[(rid, c)].undefined for c in present]  # completed, NaN or not
    fails = sum(len(table.cells[(rid, c)].failed) for c in present)
    if not table.column_key:  # metric columns all come from the same runs: count them once
        first = table.columns[0][0]
        fails = len(table.cells[(rid, first)].failed) if (rid, first) in table.cells else 0
    n = min(ns) if ns else 0
    return f"{n}" + (f" ({fails} failed)" if fails else "")


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
            cells = [f"{values[c]:.2f}" if isinstance(values.get(c), int | float) else "—" for c, _ in table.columns]
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


def _tex_escape(s: str) -> str:
    return (
        s.replace("\\", r"\textbackslash{}")
        .replace("&", r"\&")
        .replace("%", r"\%")
        .replace("_", r"\_")
        .replace("#", r"\#")
        .replace("±", r"$\pm$")
        .replace("—", "--")
    )


def to_tex(table: Table) -> str:
    head = headers(table)
    lines = [
        r"% requires \usepackage{booktabs}",
        r"\begin{tabular}{l" + "r" * (len(head) - 1) + "}",
        r"\toprule",
        " & ".join(_tex_escape(h) for h in head) + r" \\",
        r"\midrule",
    ]
    for rid, label in table.rows:
        cells = [cell_text(table, rid, c, "tex") for c, _ in table.columns]
        name = _tex_escape(_row_name(table, rid, label))
        lines.append(" & ".join([name, *cells, _tex_escape(row_n(table, rid))]) + r" \\")
    pub = published_rows(table)
    if pub:
        lines.append(r"\midrule")
        for label, cells in pub:
            lines.append(" & ".join([r"\emph{" + _tex_escape(label) + "}", *map(_tex_escape, cells), ""]) + r" \\")
    lines += [r"\bottomrule", r"\end{tabular}", "% " + table.footnote().replace("%", r"\%")]
    return "\n".join(lines) + "\n"


def to_csv(table: Table) -> str:
    """One line per cell: the statistics and the values by seed, for anyone who recomputes them."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_HEADER)
    pub = (table.published or {}).get("values") or {}
    for rid, label in table.rows:
        for col, _ in table.columns:
            cell = table.cells.get((rid, col), Cell())
            stats = [cell.mean, cell.std, cell.n, len(cell.failed), cell.p_value, cell.best]
            values = json.dumps(cell.values, sort_keys=True)
            w.writerow([rid, label, col, table.metric_of[col], *stats, values, (pub.get(rid) or {}).get(col)])
    return buf.getvalue()


def to_pairwise_csv(table: Table) -> str:
    """Every pair of rows, per column, on the table's first metric: the paired mean difference over the
    seeds both have and the two-sided paired t-test's p-value (every pairing, not only the baseline)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(PAIRWISE_HEADER)
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
                w.writerow([col, metric, label_a, label_b, ca.mean, cb.mean, diff, len(seeds), p])
        if not table.column_key:
            break  # the metric columns: the first metric is the compared one
    return buf.getvalue()


def to_html_table(table: Table) -> str:
    """The table for the report page; rows carry ``class="run-row"`` and their id (for tests and styles)."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers(table))
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
