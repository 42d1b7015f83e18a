"""The study's static report page, ``index.html``: the table, the figures, how to reproduce them."""

from __future__ import annotations

import html
from pathlib import Path

from attnbench.reporting.spec import StudySpec
from attnbench.reporting.statistics import Table
from attnbench.reporting.tables import to_html_table

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
    """An <img> of ``path`` (relative to the page in ``out``) with its caption."""
    rel = path.relative_to(out).as_posix()
    return (
        f'<figure><img src="{html.escape(rel)}" alt="{html.escape(caption)}">'
        f'<figcaption class="note">{html.escape(caption)}</figcaption></figure>'
    )


def render_page(table: Table, study: StudySpec | None, figures: list[str], command: str, manifest_text: str) -> str:
    """The whole page; ``figures`` are :func:`figure_html` snippets, in order."""
    return PAGE.format(
        title=html.escape(table.title),
        description=html.escape(study.description if study else ""),
        question=html.escape(study.question if study else "(ad-hoc runs)"),
        table=to_html_table(table),
        footnote=html.escape(table.footnote()),
        figures="\n".join(figures),
        command=html.escape(command),
        manifest=html.escape(manifest_text),
    )
