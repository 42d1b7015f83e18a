"""The alignment heatmap PNG."""

from __future__ import annotations

from pathlib import Path

from attnbench.runtime.alignment_heatmaps import draw_alignment


def test_draw_alignment_writes_a_png(tmp_path: Path) -> None:
    path = tmp_path / "plots" / "test0.png"
    draw_alignment(list("abc "), list("cba"), [[0, 0, 1, 0], [0, 1, 0, 0], [1, 0, 0, 0]], "reverse", path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
