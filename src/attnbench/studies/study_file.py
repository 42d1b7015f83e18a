"""Study files, ``experiments/<name>.yaml``: the question, the sweep and the table it produces::

    description: ...
    question: ...
    overrides: [data=bbc_news, trainer.max_epochs=6]   # every run
    seeds: [1, 2, 3]
    variants:                                         # the table's rows
      bilstm_last: {label: "BiLSTM (last state)", overrides: [encoder=bilstm, attention=none, pooling=last]}
      bilstm_additive: {label: "BiLSTM + additive", overrides: [encoder=bilstm, attention=additive]}
    grid: {data.synthetic.length: [25, 50, 100]}      # optional, crossed with variants × seeds
    table: {rows: variant, columns: data.synthetic.length, metric: test/acc, baseline: bilstm_last}
    plots: [bar, length]                              # optional (default: bar, plus length with a grid)
    published: {source: ..., metric: ..., values: {variant: {column: value}},     # optional
                rows: {"label of a setting not run here": {column: value}}}

``table.labels`` renames columns in this study's table (``{test/acc: exact match}``; else the label
registry's, :mod:`attnbench.reporting.labels`), ``table.directions`` sets a metric's direction
(``higher``, ``lower`` or ``none``: no bold) where the registry's does not fit. ``table.extra``
(without a grid) lists the columns shown beside the metrics, never marked best or tested (default:
train time and parameters). A study is not a preset: presets are
``conf/experiment/<name>.yaml``, chosen with ``experiment=<name>`` in a run's (or a variant's)
overrides.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from attnbench.reporting.statistics import DEFAULT_EXTRA

STUDY_KEYS = {"description", "question", "overrides", "seeds", "variants", "grid", "table", "plots", "published"}
TABLE_KEYS = {
    "rows",
    "columns",
    "metric",
    "metrics",
    "extra",
    "baseline",
    "higher_is_better",
    "title",
    "labels",
    "directions",
}
DIRECTIONS = ("higher", "lower", "none")
PLOTS = ("bar", "length", "heatmaps", "permutation", "examples")  # permutation: analysis=[permutation] runs


class StudyError(ValueError):
    """A study file or study command that cannot work; the message names the file, key and fix."""


@dataclass
class Variant:
    """One row of the study: its id (a directory name), its label and the overrides that make it."""

    id: str
    label: str
    overrides: list[str]


@dataclass
class Job:
    """One run of the study: a variant, a seed and a grid cell (grid key → value)."""

    variant: str
    seed: int
    cell: dict[str, Any]

    @property
    def dir_name(self) -> str:
        """``<variant>/<key=value,...,seed=S>``: the directory the sweep's subdir pattern gives this job."""
        parts = [f"{k}={override_value(self.cell[k])}" for k in sorted(self.cell)]
        return f"{self.variant}/" + ",".join([*parts, f"seed={self.seed}"])


@dataclass
class Study:
    """A checked study file."""

    name: str
    path: Path
    description: str
    question: str
    overrides: list[str]
    seeds: list[int]
    variants: dict[str, Variant]
    grid: dict[str, list[Any]] = field(default_factory=dict)
    columns: str | None = None  # a grid key, or None: the metrics are the columns
    metrics: list[str] = field(default_factory=lambda: ["test/acc"])
    extra: list[str] = field(default_factory=lambda: list(DEFAULT_EXTRA))
    baseline: str | None = None
    labels: dict[str, str] = field(default_factory=dict)  # metric key → its header in this table
    directions: dict[str, str] = field(default_factory=dict)  # metric key → higher | lower | none
    title: str | None = None
    plots: list[str] = field(default_factory=list)
    published: dict[str, Any] | None = None
    left_out: list[str] = field(default_factory=list)  # variant ids of the file not run (``--variants``)

    @property
    def num_runs(self) -> int:
        n = len(self.variants) * len(self.seeds)
        for values in self.grid.values():
            n *= len(values)
        return n

    def rows(self) -> list[tuple[str, str]]:
        """(variant id, label) of every variant: the table's rows, in the study file's order."""
        return [(v.id, v.label) for v in self.variants.values()]

    def expected_jobs(self) -> list[Job]:
        """Every (variant, seed, grid cell) of the study, in sweep order."""
        cells = [dict(zip(self.grid, combo, strict=True)) for combo in itertools.product(*self.grid.values())]
        return [Job(v, s, c) for v in self.variants for s in self.seeds for c in cells]


def select_variants(study: Study, spec: str) -> Study:
    """``study`` with only the variants ``spec`` names (``--variants a,b``; the file's order is kept):
    its runs, its table's rows and its published values. The table's baseline must be among them."""
    ids = [v.strip() for v in spec.split(",") if v.strip()]
    unknown = [v for v in ids if v not in study.variants]
    if not ids or unknown:
        raise StudyError(
            f"--variants {spec}: {', '.join(unknown) or 'no variant'} is not a variant of {study.path}; "
            f"give some of: {','.join(study.variants)}"
        )
    if study.baseline and study.baseline not in ids:
        raise StudyError(
            f"--variants {spec}: the table's baseline {study.baseline!r} (table.baseline in {study.path}) "
            "is tested against, so it must be among them"
        )
    published = study.published
    if published:
        values = {k: v for k, v in (published.get("values") or {}).items() if k in ids}
        published = {**published, "values": values} if values or published.get("rows") else None
    return replace(
        study,
        variants={k: v for k, v in study.variants.items() if k in ids},
        published=published,
        left_out=[k for k in study.variants if k not in ids],
    )


def override_value(v: Any) -> str:
    """A value as Hydra's override grammar writes it (``true``, ``[1,2]``) — also in job directory names."""
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, list):
        return "[" + ",".join(override_value(x) for x in v) + "]"
    return str(v)


def experiments_dir() -> Path:
    """``experiments/`` of the repository (or ``$ATTNBENCH_EXPERIMENTS``)."""
    env = os.environ.get("ATTNBENCH_EXPERIMENTS")
    if env:
        return Path(env)
    here = Path.cwd() / "experiments"
    # src/attnbench/studies/study_file.py → the repository root is three folders up from the package
    return here if here.is_dir() else Path(__file__).resolve().parents[3] / "experiments"


def available_studies() -> list[str]:
    return sorted(p.stem for p in experiments_dir().glob("*.yaml"))


def load_study(name_or_path: str | Path) -> Study:
    """Read and check a study file: ``experiments/<name>.yaml`` or a path to a YAML file."""
    path = _study_path(name_or_path)
    raw = _read_mapping(path)
    where = f"{path}:"
    seeds = raw.get("seeds", [42])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise StudyError(f"{where} seeds must be a non-empty list of integers, got {seeds!r}")
    variants = _variants(raw.get("variants"), where)
    grid = raw.get("grid") or {}
    if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
        raise StudyError(f"{where} grid maps an override key to a non-empty list of values, got {grid!r}")
    table = _table(raw.get("table") or {}, grid, variants, where)
    plots = raw.get("plots")
    if plots is None:
        plots = ["bar", "heatmaps", "examples"] + (["length"] if table["columns"] else [])
    bad = sorted(set(plots) - set(PLOTS))
    if bad:
        raise StudyError(f"{where} plots {bad} unknown; use {list(PLOTS)}")
    published = raw.get("published")
    if published is not None:
        _check_published(published, variants, where)
        published = _as_published(published, path)
    return Study(
        name=path.stem,
        path=path,
        description=str(raw.get("description", "")).strip(),
        question=str(raw.get("question", "")).strip(),
        overrides=_str_list(raw.get("overrides"), f"{where} overrides"),
        seeds=seeds,
        variants=variants,
        grid={str(k): list(v) for k, v in grid.items()},
        plots=list(plots),
        published=published,
        **table,
    )


def _study_path(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = experiments_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        raise StudyError(
            f"no study file {path}; available studies: {', '.join(available_studies()) or 'none'} "
            f"(in {experiments_dir()})"
        )
    return path


def _read_mapping(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise StudyError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise StudyError(f"{path}: a study file is a mapping with keys {sorted(STUDY_KEYS)}")
    unknown = sorted(set(raw) - STUDY_KEYS)
    if unknown:
        raise StudyError(f"{path}: unknown key(s) {unknown}; accepted: {sorted(STUDY_KEYS)}")
    return raw


def _str_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise StudyError(f"{where} must be a list of Hydra overrides (strings), got {value!r}")
    return list(value)


def _variants(raw: Any, where: str) -> dict[str, Variant]:
    if not isinstance(raw, dict) or not raw:
        raise StudyError(f"{where} variants must map variant ids to {{label, overrides}}")
    variants = {}
    for vid, spec in raw.items():
        if not isinstance(vid, str) or not vid.replace("_", "").replace("-", "").isalnum():
            raise StudyError(f"{where} variant id {vid!r}: use letters, digits, '_' or '-' (it names a directory)")
        spec = spec or {}
        if not isinstance(spec, dict) or set(spec) - {"label", "overrides"}:
            raise StudyError(f"{where} variants.{vid} takes label and overrides, got {spec!r}")
        overrides = _str_list(spec.get("overrides"), f"{where} variants.{vid}.overrides")
        variants[vid] = Variant(vid, str(spec.get("label", vid)), overrides)
    return variants


def _table(table: Any, grid: dict[str, Any], variants: dict[str, Variant], where: str) -> dict[str, Any]:
    """The ``table:`` section, checked, as :class:`Study` fields."""
    if not isinstance(table, dict) or set(table) - TABLE_KEYS:
        got = sorted(table) if isinstance(table, dict) else table
        raise StudyError(f"{where} table takes {sorted(TABLE_KEYS)}, got {got!r}")
    if table.get("rows", "variant") != "variant":
        raise StudyError(f"{where} table.rows: only 'variant' (the study's variants are the rows)")
    columns = table.get("columns")
    if columns is not None and columns not in grid:
        raise StudyError(f"{where} table.columns={columns!r} is not a grid key; grid keys: {sorted(grid)}")
    if grid and (columns is None or len(grid) > 1):
        # the runs of every other grid value would share one cell: one seed from L = 20, another from L = 10
        raise StudyError(
            f"{where} grid {sorted(grid)} needs table.columns naming its one key (each grid value a column); "
            "a grid of several keys, or one without table.columns, would put runs of different values in one "
            "cell: sweep one key per study, or make the other values variants"
        )
    metrics = table.get("metrics") or [table.get("metric", "test/acc")]
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    baseline = table.get("baseline")
    if baseline is not None and baseline not in variants:
        raise StudyError(f"{where} table.baseline={baseline!r} is not a variant; variants: {sorted(variants)}")
    extra = table.get("extra", DEFAULT_EXTRA)
    if not isinstance(extra, list) or not all(isinstance(e, str) for e in extra):
        raise StudyError(f"{where} table.extra lists run values (timings/fit_s, epochs, params, ...), got {extra!r}")
    return {
        "columns": columns,
        "metrics": metrics,
        "extra": list(extra),
        "baseline": baseline,
        "labels": _str_map(table.get("labels"), f"{where} table.labels", None),
        "directions": _directions(table, metrics, where),
        "title": table.get("title"),
    }


def _str_map(value: Any, where: str, allowed: tuple[str, ...] | None) -> dict[str, str]:
    """A mapping of metric keys to strings (to one of ``allowed`` when given)."""
    value = value or {}
    ok = isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
    if not ok or (allowed and set(value.values()) - set(allowed)):
        want = " | ".join(allowed) if allowed else "a label"
        raise StudyError(f"{where} maps metric keys to {want}, got {value!r}")
    return {str(k): v for k, v in value.items()}


def _directions(table: dict[str, Any], metrics: list[str], where: str) -> dict[str, str]:
    """``table.directions`` (metric → higher | lower | none); the older ``higher_is_better: false``
    means the first metric's lower is better."""
    directions = _str_map(table.get("directions"), f"{where} table.directions", DIRECTIONS)
    if table.get("higher_is_better") is False:
        directions.setdefault(metrics[0], "lower")
    return directions


class PublishedValue(float):
    """A published number that keeps the digits it was written with (``0.140`` prints ``0.140``)."""

    text: str

    def __new__(cls, value: float, text: str) -> PublishedValue:
        obj = super().__new__(cls, value)
        obj.text = text
        return obj


def _as_published(published: dict[str, Any], path: Path) -> dict[str, Any]:
    """``published`` with its numbers as :class:`PublishedValue`, their text read from the YAML source."""
    node = yaml.compose(path.read_text())
    pub = _child(node, "published")
    out = dict(published)
    for section in ("values", "rows"):
        sec = _child(pub, section)
        out[section] = {
            row: {
                col: PublishedValue(v, _scalar_text(_child(_child(sec, row), col), v))
                if isinstance(v, int | float) and not isinstance(v, bool)
                else v
                for col, v in (cells or {}).items()
            }
            for row, cells in (published.get(section) or {}).items()
        }
    return out


def _child(node: Any, key: str) -> Any:
    """The value node of ``key`` in a YAML mapping node (None when absent)."""
    if not isinstance(node, yaml.MappingNode):
        return None
    return next((v for k, v in node.value if isinstance(k, yaml.ScalarNode) and str(k.value) == str(key)), None)


def _scalar_text(node: Any, value: float) -> str:
    return str(node.value) if isinstance(node, yaml.ScalarNode) else f"{value:g}"


def _check_published(published: Any, variants: dict[str, Any], where: str) -> None:
    """``published``: ``values`` maps variant ids to {column: value}; ``rows`` (optional) maps labels of
    settings the study does not run (other datasets, say) to {column: value}. One of the two is needed."""
    if not isinstance(published, dict):
        raise StudyError(f"{where} published: a mapping with source, metric, values and/or rows")
    values, rows = published.get("values", {}), published.get("rows", {})
    if not isinstance(values, dict) or set(values) - set(variants):
        raise StudyError(
            f"{where} published.values maps variant ids to {{column: value}}; variants: {sorted(variants)}"
        )
    if not isinstance(rows, dict) or not all(isinstance(v, dict) for v in rows.values()):
        raise StudyError(f"{where} published.rows maps row labels (settings not run here) to {{column: value}}")
    if not values and not rows:
        raise StudyError(f"{where} published: give values (per variant id) or rows (per label), or leave it out")
