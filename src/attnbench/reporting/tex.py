"""A :class:`~attnbench.reporting.statistics.Table` as a paper-ready LaTeX table: a ``table`` float with
its caption, booktabs rules, headers from the label registry with their math (τ, ±), the published rows
and the footnote of the marks. Needs ``\\usepackage{booktabs}``."""

from __future__ import annotations

from attnbench.reporting.labels import tex_escape
from attnbench.reporting.statistics import Table
from attnbench.reporting.tables import cell_text, headers, published_rows, row_n


def _row_name(table: Table, rid: str, label: str) -> str:
    return f"{label} (baseline)" if rid == table.baseline else label


def to_tex(table: Table) -> str:
    """The whole ``table`` float (``\\input`` it in a document that loads booktabs)."""
    head = headers(table)
    lines = [
        r"% attnbench table; needs \usepackage{booktabs}",
        r"\begin{table}[t]",
        r"\centering",
        r"\small",
        r"\caption{" + tex_escape(table.title) + "}",
        r"\begin{tabular}{l" + "r" * (len(head) - 1) + "}",
        r"\toprule",
        " & ".join(tex_escape(h) for h in head[:-1]) + r" & $n$ \\",
        r"\midrule",
    ]
    for rid, label in table.rows:
        cells = [cell_text(table, rid, c, "tex").replace("—", "--") for c, _ in table.columns]
        lines.append(" & ".join([tex_escape(_row_name(table, rid, label)), *cells, row_n(table, rid)]) + r" \\")
    pub = published_rows(table)
    if pub:
        lines.append(r"\midrule")
        for label, cells in pub:
            lines.append(" & ".join([r"\emph{" + tex_escape(label) + "}", *map(tex_escape, cells), ""]) + r" \\")
    lines += [
        r"\bottomrule",
        r"\end{tabular}",
        r"\par\smallskip",
        r"\parbox{\linewidth}{\footnotesize " + tex_escape(table.footnote()) + "}",
        r"\end{table}",
    ]
    return "\n".join(lines) + "\n"
