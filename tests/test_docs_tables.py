"""The results tables that README.md and docs/*.md quote are copies of the generated ones (issues 23, 25).

A quoted table sits under a marker comment naming the generated file::

    <!-- table: results/<name>/table.md -->

    | model | ... |        <- every row of the generated table, as it is
    |---|...|

    Cells: mean ± ...      <- the generated footnote paragraph, as it is

The copy must equal the generated rows and footnote line for line, so a number edited by hand, a row
dropped or added, or a table regenerated without updating its copy fails here. A table with a
``mean ± std`` cell outside such a marker is a hand-typed results table, and fails too. After a
study is regenerated, ``python tests/test_docs_tables.py --write`` pastes its table again.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
MARKER = re.compile(r"^<!-- table: (results/[\w.-]+/table\.md) -->$")
MEAN_STD = re.compile(r"\d ± [\d—]")  # a "mean ± std" cell, not "BiLSTM ± attention"
# The generated tables every page must keep quoting: dropping a marker (and its check) fails here.
EXPECTED = {
    "README.md": ["results/long_sequence_memory/table.md"],
    "docs/results.md": [
        "results/long_sequence_memory/table.md",
        "results/bilstm_vs_attention/table.md",
        "results/seq2seq_length/table.md",
        "results/seq2seq_length_numbers/table.md",
        "results/luong_variants/table.md",
        "results/attention_faithfulness/table.md",
        "results/attention_faithfulness_needle/table.md",
    ],
}


def _skip_blank(lines: list[str], i: int) -> int:
    while i < len(lines) and not lines[i].strip():
        i += 1
    return i


def _table_and_footnote(lines: list[str], start: int) -> tuple[list[str], int]:
    """The table rows from the first ``|`` line at or after ``start``, a blank line, then the paragraph
    after it (the footnote); returns those lines and the index just past them."""
    i = start
    while i < len(lines) and not lines[i].startswith("|"):
        i += 1
    j = i
    while j < len(lines) and lines[j].startswith("|"):
        j += 1
    k = _skip_blank(lines, j)
    end = k
    while end < len(lines) and lines[end].strip():
        end += 1
    return [*lines[i:j], "", *lines[k:end]], end


def generated_block(table_md: Path) -> list[str]:
    """The rows and footnote of a generated ``results/<name>/table.md`` (its title and question left)."""
    return _table_and_footnote(table_md.read_text(encoding="utf-8").splitlines(), 0)[0]


def check_page(text: str, root: Path = ROOT) -> tuple[list[str], list[str]]:
    """(the generated files the page quotes, in order; the problems found: copies that differ from
    their generated file, and ``±`` table rows outside any quoted copy)."""
    lines = text.splitlines()
    quoted: list[str] = []
    problems: list[str] = []
    covered: set[int] = set()
    for n, line in enumerate(lines):
        match = MARKER.match(line.strip())
        if not match:
            continue
        rel = match.group(1)
        quoted.append(rel)
        if not (root / rel).is_file():
            problems.append(f"line {n + 1}: {rel} does not exist; fix the marker's path")
            continue
        want = generated_block(root / rel)
        start = _skip_blank(lines, n + 1)
        got, end = _table_and_footnote(lines, start)
        covered.update(range(start, end))
        if got != want:
            diff = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), None)
            where = f"first differing line {diff + 1} of the copy" if diff is not None else "length"
            problems.append(
                f"line {n + 1}: the copy of {rel} differs from the generated file ({where}: "
                f"{len(got)} lines vs {len(want)}); paste the rows and footnote of {rel} again"
            )
    for n, line in enumerate(lines):
        if line.startswith("|") and MEAN_STD.search(line) and n not in covered:
            problems.append(f"line {n + 1}: a hand-typed results row; quote results/<name>/table.md")
    return quoted, problems


def refresh_page(text: str, root: Path = ROOT) -> str:
    """The page with every quoted copy replaced by its generated file's rows and footnote (what
    ``python tests/test_docs_tables.py --write`` does after a study is regenerated)."""
    lines = text.splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        out.append(lines[i])
        match = MARKER.match(lines[i].strip())
        i += 1
        if match and (root / match.group(1)).is_file():
            start = _skip_blank(lines, i)
            end = _table_and_footnote(lines, start)[1]
            out += ["", *generated_block(root / match.group(1))]
            i = end
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def test_quoted_tables_equal_the_generated_ones() -> None:
    for page in PAGES:
        quoted, problems = check_page(page.read_text(encoding="utf-8"))
        assert problems == [], f"{page.relative_to(ROOT)}: {problems}"
        rel = page.relative_to(ROOT).as_posix()
        assert quoted == EXPECTED.get(rel, quoted), rel
    assert sum(len(v) for v in EXPECTED.values()) == 8


def test_a_hand_edit_fails() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert check_page(text) == (["results/long_sequence_memory/table.md"], [])
    # the baseline row's second cell (whatever the committed numbers are): retyped, and marked
    row = next(line for line in text.splitlines() if line.startswith("| BiLSTM, last state"))
    cell = row.split(" | ")[2]
    retyped = cell[:-1] + str((int(cell[-1]) + 1) % 10)
    edits = [
        (f"| {cell} |", f"| {retyped} |"),  # one number retyped
        (f"| {cell} |", f"| {cell}‡ |"),  # a mark
        ("With 3 seeds the smallest possible p is 0.25", "p < 0.01"),  # the footnote
    ]
    results = [check_page(text.replace(old, new, 1))[1] for old, new in edits]
    assert all(old in text for old, _ in edits)
    assert [len(r) for r in results] == [1, 1, 1]
    assert "differs from the generated file" in results[0][0]


def test_a_dropped_or_added_row_and_an_unmarked_table_fail(tmp_path: Path) -> None:
    gen = tmp_path / "results" / "toy" / "table.md"
    gen.parent.mkdir(parents=True)
    gen.write_text("# Toy\n\nQ?\n\n| model | acc |\n|---|---:|\n| a | 0.5 ± 0.1 |\n\nCells: mean.\n")
    good = "Intro.\n\n<!-- table: results/toy/table.md -->\n\n| model | acc |\n|---|---:|\n"
    good += "| a | 0.5 ± 0.1 |\n\nCells: mean.\n\nMore text.\n"
    assert check_page(good, tmp_path) == (["results/toy/table.md"], [])
    added = good.replace("| a | 0.5 ± 0.1 |\n", "| a | 0.5 ± 0.1 |\n| b | 0.6 ± 0.1 |\n")
    dropped = good.replace("| a | 0.5 ± 0.1 |\n", "")
    unmarked = good.replace("<!-- table: results/toy/table.md -->\n\n", "")
    missing = good.replace("results/toy/", "results/nope/")
    assert len(check_page(added, tmp_path)[1]) == 1
    assert len(check_page(dropped, tmp_path)[1]) == 1
    assert refresh_page(added, tmp_path) == refresh_page(dropped, tmp_path) == good
    assert check_page(unmarked, tmp_path) == ([], ["line 5: a hand-typed results row; quote results/<name>/table.md"])
    assert "does not exist" in check_page(missing, tmp_path)[1][0]


if __name__ == "__main__":
    # After regenerating a study: paste its table again into every page that quotes it.
    if sys.argv[1:] != ["--write"]:
        sys.exit("usage: python tests/test_docs_tables.py --write  (rewrites the quoted tables in place)")
    for page in PAGES:
        old = page.read_text(encoding="utf-8")
        new = refresh_page(old)
        if new != old:
            page.write_text(new, encoding="utf-8")
            print(f"updated {page.relative_to(ROOT)}")
