"""Highlighted examples: the choice of examples, the shading (HTML and LaTeX), and a real tiny trained
run's report whose ``examples.html`` shades each token by the weight the model gives it."""

from __future__ import annotations

import html
import json
import math
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from matplotlib import image as plt_image

from attnbench.analysis.checkpoint import analyze, load_trained
from attnbench.analysis.examples import Candidate, informative
from attnbench.data.batching import collate
from attnbench.reporting.examples import (
    AlignmentExample,
    ShadedExample,
    alphas,
    alternate,
    render_html,
    render_tex,
    rgba,
    tex_colour,
    tex_escape,
)
from attnbench.reporting.heatmaps import rebuild_run
from attnbench.reporting.report import write_report
from attnbench.train import run

from .helpers import compose_config

NEEDLE = [
    "data=needle", "data.synthetic.length=10", "data.synthetic.num_train=48", "data.synthetic.num_val=8",
    "data.synthetic.num_test=16", "data.max_length=10", "trainer=cpu", "trainer.max_epochs=2",
    "model.embedding_dim=8", "encoder=bilstm", "encoder.hidden_size=8", "attention=additive",
    "attention.hidden_size=8", "callbacks.rich_progress_bar=null",
    "logger=csv", "seed=3",
]  # fmt: skip
SPAN = re.compile(
    r'<span class="tok[^"]*" data-score="([^"]+)"[^>]*background:rgba\((\d+),(\d+),(\d+),([\d.]+)\)">([^<]*)</span>'
)


def test_informative_takes_the_corners_of_correctness_and_tau_first() -> None:
    pool = [
        Candidate(0, True, 0.9, 0.5),
        Candidate(1, True, 0.8, -0.2),
        Candidate(2, False, 0.6, 0.7),
        Candidate(3, False, 0.95, 0.1),
        Candidate(4, True, 0.7, 0.9),
        Candidate(5, False, 0.5, math.nan),
        Candidate(6, True, 0.7, 0.3),
    ]
    picks = informative(pool, 7)
    assert [i for i, _ in picks] == [4, 1, 2, 3, 0, 6, 5]
    assert picks[0][1] == "correct, most faithful by τ" and picks[3][1] == "wrong, least faithful by τ"
    assert [i for i, _ in informative(pool, 2)] == [4, 1]


def test_alternate_takes_right_and_wrong_in_turn_in_the_order_given() -> None:
    def shaded(index: int, right: bool) -> ShadedExample:
        return ShadedExample(index, ["a"], {"attention": [1.0]}, "x", "x" if right else "y", 0.5)

    pool = [shaded(0, False), shaded(1, True), shaded(2, False), shaded(3, False), shaded(4, True)]
    assert [e.index for e in alternate(pool, 4)] == [1, 0, 4, 2]
    assert [e.index for e in alternate(pool, 9)] == [1, 0, 4, 2, 3]  # the wrong ones fill in when the right run out
    assert [e.index for e in alternate(pool[2:4], 2)] == [2, 3]


def test_a_tokens_shade_is_its_score_over_the_examples_largest() -> None:
    assert alphas([0.1, 0.4, -0.2, 0.0]) == [0.25, 1.0, 0.5, 0.0]
    assert alphas([0.0, 0.0]) == [0.0, 0.0]
    example = ShadedExample(
        7, ["a", "<b>", "c"], {"attention": [0.1, 0.4, 0.2], "ig": [0.5, -1.0, 0.0]}, "x", "y", 0.61
    )
    page = render_html("t", [example])
    spans = SPAN.findall(page)
    assert [(s[5], s[4]) for s in spans] == [
        ("a", "0.250"), ("&lt;b&gt;", "1.000"), ("c", "0.500"), ("a", "0.500"), ("&lt;b&gt;", "1.000"), ("c", "0.000")
    ]  # fmt: skip
    assert spans[0][1:4] == ("217", "26", "26") and spans[4][1:4] == ("230", "120", "0")  # negative IG: orange
    assert "p = 0.610" in page and 'class="wrong"' in page
    assert rgba("attention", 0.3, 0.5) == "rgba(217,26,26,0.500)"
    tex = render_tex([example])
    assert r"\colorbox[rgb]{0.851,0.102,0.102}{\strut <b>}" in tex  # the largest weight: the full colour
    assert tex_colour("attention", 0.1, 0.25) == "0.963,0.775,0.775"
    assert tex_escape("a_b 50% τ×2 é 漢 {x}") == r"a\_b 50\% $\tau$$\times$2 é ? \{x\}"


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is not installed")
def test_examples_tex_compiles(tmp_path: Path) -> None:
    example = ShadedExample(1, ["a_b", "50%", "τ"], {"attention": [0.1, 0.4, 0.2]}, "x", "x", 0.9, 0.5, [1], "τ high")
    (tmp_path / "examples.tex").write_text(render_tex([example]))
    proc = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "examples.tex"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout[-2000:]


@pytest.fixture(scope="session")  # once per worker, however xdist interleaves modules
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real tiny run (needle task, BiLSTM + additive attention, 2 epochs) in its sweep directory."""
    sweep = tmp_path_factory.mktemp("examples-sweep")
    run(compose_config(NEEDLE, output_dir=sweep / "0"))
    return sweep


def page_rows(page: str) -> dict[int, dict[str, list[tuple[str, float, float]]]]:
    """example index → measure → (token, score, alpha) per token, read back from examples.html."""
    out: dict[int, dict[str, list[tuple[str, float, float]]]] = {}
    for block in page.split('<div class="example" id="example')[1:]:
        index = int(block.split('"', 1)[0])
        rows = re.findall(r'data-measure="(\w+)">(.*?)</div>', block)
        out[index] = {
            m: [(html.unescape(t), float(s), float(a)) for s, *_, a, t in SPAN.findall(body)] for m, body in rows
        }
    return out


def test_the_report_shades_each_token_by_the_models_own_weight(trained: Path, tmp_path: Path) -> None:
    summary = write_report([trained], tmp_path / "out", log_wandb=False)
    out = tmp_path / "out"
    assert {"examples.html", "examples.tex"} <= set(summary["files"])
    assert 'href="examples.html"' in (out / "index.html").read_text()
    assert "shaded by its attention weight, beside gradient×input" in (out / "index.html").read_text()
    page = (out / "examples.html").read_text()
    shown = page_rows(page)
    assert 4 <= len(shown) <= 6 and all(list(rows) == ["attention", "gradient", "loo", "ig"] for rows in shown.values())
    # the weights the trained classifier itself gives the test examples, batch by batch
    cfg = compose_config(NEEDLE, output_dir=trained / "0")
    ckpt = next((trained / "0").rglob("*.ckpt"))
    model, dm = load_trained(cfg, ckpt)
    model.eval()
    weights: dict[int, list[float]] = {}
    with torch.no_grad():
        for batch in dm.test_dataloader():
            out_batch = model.run_batch(batch)
            for row, index in enumerate(batch.index.tolist()):
                weights[index] = out_batch.weights[row, 0, : int(batch.lengths[row])].tolist()
    tokenizer = dm.tokenizer
    for index, rows in shown.items():
        attention = rows["attention"]
        expected = weights[index]
        assert [t for t, _, _ in attention] == [tokenizer.id_to_token(int(i)) for i in dm.datasets["test"].ids[index]]
        assert [s for _, s, _ in attention] == pytest.approx(expected, rel=1e-4, abs=1e-6)
        assert [a for _, _, a in attention] == pytest.approx([w / max(expected) for w in expected], abs=6e-4)
    # the needle task's deciding token is outlined
    assert page.count('class="tok deciding"') == 4 * len(shown)


S2S = [
    "task=seq2seq", "trainer=cpu", "trainer.max_epochs=2", "data.generate.length=[3,5]", "data.generate.num_train=48",
    "data.generate.num_val=8", "data.generate.num_test=8", "data.batch_size=16", "model.embedding_dim=16",
    "encoder.hidden_size=8", "decoder.hidden_size=16", "callbacks.rich_progress_bar=null", "logger=none",
    "attention=dot",
]  # fmt: skip


def test_a_seq2seq_report_shades_the_source_for_each_output_token(tmp_path: Path) -> None:
    run(compose_config(S2S, output_dir=tmp_path / "sweep" / "0"))
    summary = write_report([tmp_path / "sweep"], tmp_path / "out", log_wandb=False)
    assert "examples.html" in summary["files"]
    assert "for each output token, the source tokens shaded" in (tmp_path / "out" / "index.html").read_text()
    page = (tmp_path / "out" / "examples.html").read_text()
    blocks = page.split('<div class="example" id="pair')[1:]
    assert len(blocks) == 6 and all('<img src="data:image/png;base64,' in b for b in blocks)
    # the weights the task gives: decode the first test batch again, as the report did
    record = json.loads((tmp_path / "sweep" / "0" / "run.json").read_text())
    model, dm = rebuild_run({**record, "_path": "run.json"}, Path(record["checkpoint"]))
    batch = next(iter(dm.test_dataloader()))
    with torch.no_grad():
        decoded = model.decode_with_weights(batch)
    for block in blocks:
        index = int(block.split('"', 1)[0])
        i = batch.index.tolist().index(index)
        n, k = int(batch.source_lengths[i]), int(decoded.lengths[i])
        rows = re.findall(r'data-output="(\d+)">(.*?)</div>', block)
        assert len(rows) == k
        for j, body in rows:
            spans = SPAN.findall(body)
            expected = decoded.weights[i, int(j), :n].tolist()
            assert [float(s[0]) for s in spans] == pytest.approx(expected, rel=1e-4, abs=1e-6)
            assert [float(s[4]) for s in spans] == pytest.approx([w / max(expected) for w in expected], abs=6e-4)
            assert [html.unescape(s[5]) for s in spans] == [
                dm.source_vocab.tokens[t] for t in batch.source[i, :n].tolist()
            ]


KERAS_PAIRS = [
    "experiment=keras_conv1d", "data=pair_recall", "data.synthetic.length=[8,12]", "data.synthetic.num_keys=8",
    "data.synthetic.num_train=64", "data.synthetic.num_val=8", "data.synthetic.num_test=12", "data.max_length=12",
    "model.embedding_dim=8", "model.filters=8", "trainer=cpu", "trainer.max_epochs=1",
    "callbacks.rich_progress_bar=null", "logger=none", "seed=2",
]  # fmt: skip


def test_a_text_pair_report_shades_the_document_by_the_keras_models_attention(tmp_path: Path) -> None:
    """Text pairs (which the analyses do not take): the document shaded by the weights the Keras model
    gives it, the query beside it, the query key's value outlined; shortest documents first, correct and
    wrong in turn."""
    run(compose_config(KERAS_PAIRS, output_dir=tmp_path / "sweep" / "0", tiny=False))
    summary = write_report([tmp_path / "sweep"], tmp_path / "out", log_wandb=False)
    assert {"examples.html", "examples.tex"} <= set(summary["files"])
    index = (tmp_path / "out" / "index.html").read_text()
    assert "(text pairs: attention alone)" in index and "gradient×input" not in index
    page = (tmp_path / "out" / "examples.html").read_text()
    shown = page_rows(page)
    assert len(shown) == 6 and all(list(rows) == ["attention"] for rows in shown.values())
    record = json.loads((tmp_path / "sweep" / "0" / "run.json").read_text())
    model, dm = rebuild_run({**record, "_path": "run.json"}, Path(record["checkpoint"]))
    test, gold = dm.datasets["test"], dm.example_meta["test"]["gold"]
    outputs = {}
    with torch.no_grad():  # every test example alone (the pool holds all 24)
        for i in range(len(test)):
            out = model.model.run_batch(collate([test[i]]))
            outputs[i] = (out.weights[0, 0].tolist(), out.logits.softmax(-1)[0])
    for index, rows in shown.items():
        expected, probs = outputs[index]
        assert [t for t, _, _ in rows["attention"]] == [dm.tokenizer.id_to_token(int(i)) for i in test.pair_ids[index]]
        assert [s for _, s, _ in rows["attention"]] == pytest.approx(expected, rel=1e-4, abs=1e-6)
        block = page.split(f'<div class="example" id="example{index}">', 1)[1].split('<div class="example"', 1)[0]
        query = dm.tokenizer.id_to_token(int(test.ids[index][0]))
        assert f'<div class="meta context">query: {query}</div>' in block
        outlined = re.findall(r'<span class="tok deciding"[^>]*>([^<]*)</span>', block)
        value = rows["attention"][int(gold[index])][0]
        assert outlined == [value] and rows["attention"][int(gold[index]) - 1][0] == query  # key, then its value
        assert f"(p = {float(probs.max()):.3f})" in block

    # the choice: shortest documents first, then the most probable; correct and wrong in turn
    def ranked(correct: bool) -> list[int]:
        group = [i for i in outputs if (int(outputs[i][1].argmax()) == int(test.labels[i])) == correct]
        return sorted(group, key=lambda i: (len(test.pair_ids[i]), -float(outputs[i][1].max()), i))

    right, wrong, expected_order = ranked(True), ranked(False), []
    while len(expected_order) < 6:
        for group in (right, wrong):
            if group and len(expected_order) < 6:
                expected_order.append(group.pop(0))
    assert list(shown) == expected_order
    assert "query: " in (tmp_path / "out" / "examples.tex").read_text()


def test_analyze_writes_examples_for_a_checkpoint(trained: Path) -> None:
    ckpt = next((trained / "0").rglob("*.ckpt"))
    before = json.loads((trained / "0" / "run.json").read_text())
    cfg = compose_config([f"ckpt_path={ckpt}", "examples=3"], output_dir=trained / "analyze", config_name="analyze")
    done = analyze(cfg)
    assert done.summary == {}, "examples alone measure nothing"
    assert sorted(p.name for p in done.written) == ["examples.html", "examples.tex"]
    page = (trained / "0" / "analysis" / "examples.html").read_text()
    assert (
        page.count('<div class="example"') == 3
        and "\\colorbox" in (trained / "0" / "analysis" / "examples.tex").read_text()
    )
    assert json.loads((trained / "0" / "run.json").read_text())["metrics"] == before["metrics"]


def test_examples_html_shows_the_shading_in_headless_chromium(trained: Path, tmp_path: Path, chromium: str) -> None:
    write_report([trained], tmp_path, log_wandb=False)
    shot = tmp_path / "examples.png"
    proc = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
         "--window-size=1200,1000", f"--screenshot={shot}", (tmp_path / "examples.html").as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert shot.is_file(), proc.stderr[-2000:]
    pixels = (plt_image.imread(shot)[..., :3] * 255).round().astype(int)  # [H, W, 3]
    # each example's most attended token is drawn in the full attention colour, a lighter one in a tint of it
    full = (abs(pixels - (217, 26, 26)).max(-1) <= 2).sum()
    assert full > 200, "no token in the full attention colour"
    tinted = ((pixels[..., 0] > 225) & (pixels[..., 1] < 225) & (abs(pixels[..., 1] - pixels[..., 2]) <= 3)).sum()
    assert tinted > 200, "no token in a lighter shade of the attention colour"


def test_the_examples_page_goes_to_wandb_as_html(trained: Path, tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    shutil.copytree(trained / "0", sweep / "0")
    record = json.loads((sweep / "0" / "run.json").read_text())
    record["config"]["logger"] = {"wandb": {"project": "examples-test", "mode": "offline"}}  # as a W&B run records it
    (sweep / "0" / "run.json").write_text(json.dumps(record))
    summary = write_report([sweep], tmp_path / "out", log_wandb=True)
    assert "examples.html" in summary["files"]
    logged = list((sweep / "wandb").glob("offline-run-*/files/media/html/examples_*.html"))
    assert len(logged) == 1, sorted(p.relative_to(sweep).as_posix() for p in (sweep / "wandb").rglob("*"))[:40]
    assert 'data-measure="attention"' in logged[0].read_text()


def test_examples_measure_leave_one_out_as_the_runs_analyses_did() -> None:
    from omegaconf import OmegaConf

    from attnbench.analysis.context import Settings, settings_of
    from attnbench.config.analysis import AnalysisConfig

    node = OmegaConf.create({"loo": "tvd", "chunk": 8, "ig_steps": 5, "device": "cpu"})
    assert settings_of(node, 3) == Settings(3, 8, 5, "tvd")  # a DictConfig (attnbench-analyze)
    assert settings_of({"loo": "tvd"}, 2) == Settings(2, AnalysisConfig.chunk, AnalysisConfig.ig_steps, "tvd")
    assert settings_of(None, 1) == Settings(1) and Settings(1).loo != "tvd"  # run.json without analyses


def test_every_committed_study_page_links_its_highlighted_examples() -> None:
    """Issue 23's bar for the committed results: every study page (results/<name>/index.html; all of them
    have attention runs) links an examples page that exists, is self-contained and shades examples."""
    results = Path(__file__).resolve().parents[1] / "results"
    pages = sorted(results.glob("*/index.html"))
    assert len(pages) >= 9, pages
    for page in pages:
        examples = page.parent / "examples.html"
        assert '<a href="examples.html">' in page.read_text(encoding="utf-8"), page
        assert examples.is_file() and (page.parent / "examples.tex").is_file(), page.parent.name
        text = examples.read_text(encoding="utf-8")
        assert text.count('class="example"') >= 3 and "background:rgba(" in text, examples
        assert not re.search(r'(src|href)="(?!data:|#|examples\.tex)[^"]+"', text), f"{examples} links a file"


def test_hovering_a_token_shows_its_measure_and_raw_score(tmp_path: Path, chromium: str) -> None:
    """The page's one script gives the hovered token its tooltip (no ``title`` per token): a classifier
    row's measure label, an alignment row's "attention", and the raw score."""
    shaded = ShadedExample(3, ["a", "b"], {"attention": [0.25, 0.75], "gradient": [-0.5, 0.125]}, "x", "x", 0.9)
    aligned = AlignmentExample(4, ["s", "t"], ["o"], [[0.375, 0.625]], "o", True)
    probe = """<script>
    const tips = [...document.querySelectorAll(".tok[data-score]")].map((t) => {
      t.dispatchEvent(new MouseEvent("mouseover", {bubbles: true}));
      return t.title;
    });
    document.body.insertAdjacentHTML("beforeend", `<pre id="tips">${tips.join("|")}</pre>`);
    </script>"""
    page = tmp_path / "page.html"
    page.write_text(render_html("t", [shaded, aligned]).replace("</body>", probe + "</body>"), encoding="utf-8")
    assert " title=" not in render_html("t", [shaded, aligned])
    proc = subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--dump-dom",
         page.as_uri()], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    tips = re.findall(r'<pre id="tips">([^<]*)</pre>', proc.stdout)[-1]  # the first: the probe's own source
    assert tips.split("|") == [
        "attention 0.25", "attention 0.75", "gradient×input -0.5", "gradient×input 0.125",
        "attention 0.375", "attention 0.625",
    ]  # fmt: skip
