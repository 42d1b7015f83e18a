"""Named studies: ``experiments/<name>.yaml`` → one Hydra multirun → tables, plots, a report page.

``attnbench-study <name> [hydra overrides] [--launcher joblib|basic|submitit_local|submitit_slurm|ray]
[--jobs N] [--out DIR]`` runs a study. A study file names the question, the sweep and the table::

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
    published: {source: ..., metric: ..., values: {variant: {column: value}}}   # optional

How the sweep is built: each variant becomes an option of a generated config group ``study_variant``
(``<sweep dir>/.study/conf/study_variant/<id>.yaml``, a ``# @package _global_`` file that overrides
groups and sets keys), so the whole study is one real multirun over
``+study_variant=<ids> seed=<seeds> <grid key>=<values>``: launchers run it in parallel, on SLURM, on Ray.
Every job's directory is ``<sweep dir>/<variant>/<grid cell,seed>``, fixed by the study, and jobs run with
``skip_completed=true``: running the study again skips runs that completed with the same resolved
config (hash) and re-runs failed, interrupted (resuming from ``last.ckpt``) or missing ones.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger(__name__)

LAUNCHERS = ("basic", "joblib", "submitit_local", "submitit_slurm", "ray")
VARIANT_GROUP = "study_variant"
STUDY_KEYS = {"description", "question", "overrides", "seeds", "variants", "grid", "table", "plots", "published"}
TABLE_KEYS = {"rows", "columns", "metric", "metrics", "baseline", "higher_is_better", "title"}
PLOTS = ("bar", "length", "heatmaps")


class StudyError(ValueError):
    """A study file or study command that cannot work; the message names the file, key and fix."""


@dataclass
class Variant:
    id: str
    label: str
    overrides: list[str]


@dataclass
class Study:
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
    baseline: str | None = None
    higher_is_better: bool = True
    title: str | None = None
    plots: list[str] = field(default_factory=list)
    published: dict[str, Any] | None = None

    @property
    def num_runs(self) -> int:
        n = len(self.variants) * len(self.seeds)
        for values in self.grid.values():
            n *= len(values)
        return n


# ---- study files ----------------------------------------------------------------------------------


def experiments_dir() -> Path:
    """``experiments/`` of the repository (or ``$ATTNBENCH_EXPERIMENTS``)."""
    env = os.environ.get("ATTNBENCH_EXPERIMENTS")
    if env:
        return Path(env)
    here = Path.cwd() / "experiments"
    return here if here.is_dir() else Path(__file__).resolve().parents[2] / "experiments"


def available_studies() -> list[str]:
    return sorted(p.stem for p in experiments_dir().glob("*.yaml"))


def _str_list(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise StudyError(f"{where} must be a list of Hydra overrides (strings), got {value!r}")
    return list(value)


def load_study(name_or_path: str | Path) -> Study:
    """Read and check a study file: ``experiments/<name>.yaml`` or a path to a YAML file."""
    path = Path(name_or_path)
    if path.suffix not in (".yaml", ".yml"):
        path = experiments_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        raise StudyError(
            f"no study file {path}; available studies: {', '.join(available_studies()) or 'none'} "
            f"(in {experiments_dir()})"
        )
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise StudyError(f"{path}: not valid YAML: {err}") from None
    if not isinstance(raw, dict):
        raise StudyError(f"{path}: a study file is a mapping with keys {sorted(STUDY_KEYS)}")
    unknown = sorted(set(raw) - STUDY_KEYS)
    if unknown:
        raise StudyError(f"{path}: unknown key(s) {unknown}; accepted: {sorted(STUDY_KEYS)}")
    where = f"{path}:"
    seeds = raw.get("seeds", [42])
    if not isinstance(seeds, list) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise StudyError(f"{where} seeds must be a non-empty list of integers, got {seeds!r}")
    variants_raw = raw.get("variants")
    if not isinstance(variants_raw, dict) or not variants_raw:
        raise StudyError(f"{where} variants must map variant ids to {{label, overrides}}")
    variants = {}
    for vid, spec in variants_raw.items():
        if not isinstance(vid, str) or not vid.replace("_", "").replace("-", "").isalnum():
            raise StudyError(f"{where} variant id {vid!r}: use letters, digits, '_' or '-' (it names a directory)")
        spec = spec or {}
        if not isinstance(spec, dict) or set(spec) - {"label", "overrides"}:
            raise StudyError(f"{where} variants.{vid} takes label and overrides, got {spec!r}")
        variants[vid] = Variant(
            vid, str(spec.get("label", vid)), _str_list(spec.get("overrides"), f"{where} variants.{vid}.overrides")
        )
    grid = raw.get("grid") or {}
    if not isinstance(grid, dict) or not all(isinstance(v, list) and v for v in grid.values()):
        raise StudyError(f"{where} grid maps an override key to a non-empty list of values, got {grid!r}")
    table = raw.get("table") or {}
    if not isinstance(table, dict) or set(table) - TABLE_KEYS:
        raise StudyError(
            f"{where} table takes {sorted(TABLE_KEYS)}, got {sorted(table) if isinstance(table, dict) else table!r}"
        )
    if table.get("rows", "variant") != "variant":
        raise StudyError(f"{where} table.rows: only 'variant' (the study's variants are the rows)")
    columns = table.get("columns")
    if columns is not None and columns not in grid:
        raise StudyError(f"{where} table.columns={columns!r} is not a grid key; grid keys: {sorted(grid)}")
    metrics = table.get("metrics") or [table.get("metric", "test/acc")]
    metrics = [metrics] if isinstance(metrics, str) else list(metrics)
    baseline = table.get("baseline")
    if baseline is not None and baseline not in variants:
        raise StudyError(f"{where} table.baseline={baseline!r} is not a variant; variants: {sorted(variants)}")
    plots = raw.get("plots")
    if plots is None:
        plots = ["bar", "heatmaps"] + (["length"] if columns else [])
    bad = sorted(set(plots) - set(PLOTS))
    if bad:
        raise StudyError(f"{where} plots {bad} unknown; use {list(PLOTS)}")
    published = raw.get("published")
    if published is not None:
        values = published.get("values") if isinstance(published, dict) else None
        if not isinstance(values, dict) or set(values) - set(variants):
            raise StudyError(
                f"{where} published.values maps variant ids to {{column: value}}; variants: {sorted(variants)}"
            )
    return Study(
        name=path.stem,
        path=path,
        description=str(raw.get("description", "")).strip(),
        question=str(raw.get("question", "")).strip(),
        overrides=_str_list(raw.get("overrides"), f"{where} overrides"),
        seeds=seeds,
        variants=variants,
        grid={str(k): list(v) for k, v in grid.items()},
        columns=columns,
        metrics=metrics,
        baseline=baseline,
        higher_is_better=bool(table.get("higher_is_better", True)),
        title=table.get("title"),
        plots=list(plots),
        published=published,
    )


# ---- the generated variant configs ----------------------------------------------------------------


def _group_names() -> set[str]:
    from attnbench.config import config_dir

    return {p.name for p in config_dir().iterdir() if p.is_dir()}


def variant_config(study: Study, variant: Variant) -> dict[str, Any]:
    """The ``# @package _global_`` config of one variant: group choices as defaults overrides, keys as values."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    groups = _group_names()
    defaults: list[Any] = []
    values: dict[str, Any] = {}
    try:
        parsed = OverridesParser.create().parse_overrides(variant.overrides)
    except Exception as err:
        raise StudyError(f"{study.path}: variants.{variant.id}.overrides: {err}") from None
    for o in parsed:
        key = o.key_or_group
        if o.is_delete() or o.is_sweep_override():
            raise StudyError(
                f"{study.path}: variants.{variant.id}: {o.input_line!r}: a variant sets one value per key "
                "(put sweeps in grid or seeds; deletions are not supported)"
            )
        value = o.value()
        if key.split("@")[0] in groups and "." not in key:
            defaults.append({f"override /{key}": value})
        else:
            node = values
            *parents, leaf = key.split(".")
            for p in parents:
                node = node.setdefault(p, {})
            node[leaf] = value
    study_node = {
        "name": study.name,
        "variant": variant.id,
        "label": variant.label,
        "run_name": job_dir_pattern(study).replace("${study.variant}", variant.id),
    }
    return {"defaults": [*defaults, "_self_"], **values, "study": study_node}


def write_variant_configs(study: Study, conf_dir: Path) -> None:
    group = conf_dir / VARIANT_GROUP
    group.mkdir(parents=True, exist_ok=True)
    for variant in study.variants.values():
        text = "# @package _global_\n# generated by attnbench-study from " + str(study.path) + "\n"
        text += yaml.safe_dump(variant_config(study, variant), sort_keys=False)
        target = group / f"{variant.id}.yaml"
        if not target.exists() or target.read_text() != text:
            target.write_text(text)


def _override_value(v: Any) -> str:
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, list):
        return "[" + ",".join(_override_value(x) for x in v) + "]"
    return str(v)


def sweep_overrides(study: Study, sweep_dir: Path, user: list[str], launcher: str, jobs: int) -> list[str]:
    """The multirun's command-line overrides (after ``-m``)."""
    conf_dir = sweep_dir.resolve() / ".study" / "conf"
    out = [
        *study.overrides,
        f"+{VARIANT_GROUP}={','.join(study.variants)}",
        f"seed={','.join(map(str, study.seeds))}",
        *[f"{k}={','.join(_override_value(v) for v in vals)}" for k, vals in study.grid.items()],
        "skip_completed=true",
        f"hydra.searchpath=[file://{conf_dir}]",
        f"hydra.sweep.dir={sweep_dir.resolve()}",
        f'hydra.sweep.subdir="{job_dir_pattern(study)}"',
        *user,
    ]
    if launcher != "basic":
        out.append(f"hydra/launcher={'slurm' if launcher == 'submitit_slurm' else launcher}")
    if launcher == "joblib":
        out.append(f"hydra.launcher.n_jobs={jobs}")
    local = launcher in ("basic", "joblib", "submitit_local", "ray")
    if local and not any(u.startswith("torch_threads=") for u in user):
        # submitit's local executor starts every run at once: they share the cores all together
        out.append(f"torch_threads={threads_per_job(study.num_runs if launcher == 'submitit_local' else jobs)}")
    return out


def threads_per_job(jobs: int) -> int:
    """Parallel jobs on one machine split its cores: torch threads per job = cores // jobs (at least 1)."""
    return max(1, (os.cpu_count() or 1) // max(1, jobs))


def job_dir_pattern(study: Study) -> str:
    """``${study.variant}/<grid key>=${...},seed=${seed}``: each job's directory, fixed by what it runs."""
    groups = _group_names()
    parts = [f"{k}=${{{'hydra:runtime.choices.' + k if k in groups else k}}}" for k in sorted(study.grid)]
    return "${study.variant}/" + ",".join([*parts, "seed=${seed}"])


def expected_jobs(study: Study) -> list[dict[str, Any]]:
    """Every (variant, seed, grid cell) of the study, in sweep order."""
    import itertools

    cells = [dict(zip(study.grid, combo, strict=True)) for combo in itertools.product(*study.grid.values())]
    return [{"variant": v, "seed": s, "cell": c} for v in study.variants for s in study.seeds for c in cells]


def job_dir_name(job: dict[str, Any]) -> str:
    """``<variant>/<key=value,...,seed=S>``: the directory :func:`job_dir_pattern` gives this job."""
    parts = [f"{k}={_override_value(job['cell'][k])}" for k in sorted(job["cell"])]
    return f"{job['variant']}/" + ",".join([*parts, f"seed={job['seed']}"])


# ---- running --------------------------------------------------------------------------------------


def job_status(sweep_dir: Path, job: dict[str, Any]) -> str:
    """completed | failed | running (interrupted) | missing, from the job directory's run.json."""
    path = sweep_dir / job_dir_name(job) / "run.json"
    if not path.is_file():
        return "missing"
    try:
        return json.loads(path.read_text()).get("status", "failed")
    except (OSError, ValueError):
        return "failed"


def job_overrides(study: Study, job: dict[str, Any], user: list[str]) -> list[str]:
    """The task overrides of one job, as the multirun gives them to it."""
    return [
        *study.overrides,
        f"+{VARIANT_GROUP}={job['variant']}",
        f"seed={job['seed']}",
        *[f"{k}={_override_value(v)}" for k, v in job["cell"].items()],
        *user,
    ]


def done_jobs(study: Study, sweep_dir: Path, user: list[str]) -> set[str]:
    """Jobs whose directory holds a completed run of exactly the config this call would run: each job is
    composed here (as the multirun will compose it) and its config hash compared with the record's."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from attnbench.config import config_dir, config_hash, register_configs

    register_configs()
    conf = sweep_dir.resolve() / ".study" / "conf"
    done = set()
    GlobalHydra.instance().clear()
    composed: dict[str, Any] = {}  # one composition per (variant, cell); the seed is set on a copy
    try:
        with initialize_config_dir(str(config_dir()), version_base="1.3"):
            for job in expected_jobs(study):
                name = job_dir_name(job)
                if job_status(sweep_dir, job) != "completed":
                    continue
                try:
                    key = json.dumps([job["variant"], job["cell"]], sort_keys=True, default=str)
                    if key not in composed:
                        overrides = [
                            *job_overrides(study, {**job, "seed": 0}, user),
                            f"hydra.searchpath=[file://{conf}]",
                        ]
                        composed[key] = compose("config", overrides=overrides)
                    cfg = composed[key].copy()
                    cfg.seed = job["seed"]
                    record = json.loads((sweep_dir / name / "run.json").read_text())
                    digest = config_hash(cfg)
                    if record.get("config_hash") == digest or config_hash(record.get("config") or {}) == digest:
                        done.add(name)
                except Exception:  # cannot tell here: the run itself decides
                    continue
    finally:
        GlobalHydra.instance().clear()
    return done


def run_study(study: Study, sweep_dir: Path, user: list[str], launcher: str, jobs: int) -> dict[str, Any]:
    """Launch the study's multirun (skipping completed runs); returns counts and the wall time."""
    if launcher not in LAUNCHERS:
        raise StudyError(f"--launcher {launcher}: use one of {list(LAUNCHERS)}")
    if launcher == "ray":
        try:
            import hydra_plugins.hydra_ray_launcher  # noqa: F401
        except ImportError:
            raise StudyError("--launcher ray needs the Ray launcher: pip install -e '.[ray]'") from None
    sweep_dir.mkdir(parents=True, exist_ok=True)
    write_variant_configs(study, sweep_dir.resolve() / ".study" / "conf")
    jobs_all = expected_jobs(study)
    done = done_jobs(study, sweep_dir, user)
    overrides = sweep_overrides(study, sweep_dir, user, launcher, jobs)
    cmd = [sys.executable, "-m", "attnbench.train", "-m", *overrides]
    log.info(
        "%s: %d runs, %d done with this config (skipped), %d to run",
        study.name,
        len(jobs_all),
        len(done),
        len(jobs_all) - len(done),
    )
    started = time.perf_counter()
    rc = 0
    if len(done) < len(jobs_all):  # one multirun over the whole grid: the jobs already done skip themselves
        with open(sweep_dir / "study.log", "a") as fh:
            fh.write(f"\n# {time.strftime('%Y-%m-%d %H:%M:%S')}: {shlex.join(cmd)}\n")
            fh.flush()
            rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, check=False).returncode
    wall = time.perf_counter() - started
    after = {job_dir_name(j): job_status(sweep_dir, j) for j in jobs_all}
    info = {
        "runs": len(jobs_all),
        "completed": sum(s == "completed" for s in after.values()),
        "failed": sorted(k for k, s in after.items() if s != "completed"),
        "reused": len(done),
        "multirun_exit_code": rc,
        "wall_s": wall,
        "launcher": launcher,
        "jobs": jobs,
        "command": "attnbench-train -m " + shlex.join(overrides),
    }
    history = sweep_dir / "study_history.jsonl"
    lines = history.read_text().splitlines() if history.is_file() else []
    earlier = [json.loads(line) for line in lines if line.strip()]
    with open(history, "a") as fh:
        fh.write(json.dumps({"time": time.strftime("%Y-%m-%d %H:%M:%S"), **info}) + "\n")
    # every call on this sweep dir: a study finished in several goes shows what each cost (a call before a
    # change of the study file ran runs that the later call replaced)
    calls = [*earlier, {"time": time.strftime("%Y-%m-%d %H:%M:%S"), **info}]
    info["calls"] = "; ".join(
        f"{h['time']}: {h.get('wall_s', 0.0):.0f} s, ran {h.get('runs', 0) - h.get('reused', 0)} of {h.get('runs', 0)}"
        for h in calls
    )
    return info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="attnbench-study",
        description="Run a named study (experiments/<name>.yaml) and write its results.",
        epilog=f"Studies: {', '.join(available_studies())}",
    )
    p.add_argument("name", help="study name (experiments/<name>.yaml) or a study YAML file")
    p.add_argument("overrides", nargs="*", help="Hydra overrides for every run, e.g. trainer.max_epochs=2")
    p.add_argument("--launcher", default="joblib", choices=LAUNCHERS, help="Hydra launcher (default: joblib)")
    p.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="parallel jobs (default: min(2, cores) with joblib, else 1); torch threads per job = cores / jobs",
    )
    p.add_argument("--out", default=None, help="results directory (default: results/<name>)")
    p.add_argument(
        "--sweep-dir",
        default=None,
        help="where the runs go (default: logs/studies/<name>); the same directory resumes the study",
    )
    p.add_argument("--no-run", action="store_true", help="only aggregate the runs already in the sweep dir")
    p.add_argument(
        "--no-wandb",
        action="store_true",
        help="do not log the aggregated table to W&B (the runs' own logger is an override: logger=csv, logger=none)",
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from attnbench.aggregate import print_summary, write_report

    try:
        study = load_study(args.name)
        jobs = args.jobs or (min(2, os.cpu_count() or 1) if args.launcher == "joblib" else 1)
        if jobs < 1:
            raise StudyError(f"--jobs {jobs}: give 1 or more")
        sweep_dir = Path(
            args.sweep_dir or Path(os.environ.get("ATTNBENCH_ROOT", ".")) / "logs" / "studies" / study.name
        )
        out = Path(args.out or Path("results") / study.name)
        if args.no_run:
            info = {"runs": study.num_runs, "wall_s": 0.0, "launcher": "none (--no-run)", "jobs": 0}
        else:
            print(f"attnbench-study {study.name}: {study.num_runs} runs → {sweep_dir}", flush=True)
            info = run_study(study, sweep_dir, args.overrides, args.launcher, jobs)
            print(
                f"  {info['completed']}/{info['runs']} completed ({info['reused']} reused), "
                f"wall {info['wall_s']:.0f} s; log: {sweep_dir / 'study.log'}",
                flush=True,
            )
        command = "attnbench-study " + shlex.join([*sys.argv[1:]] if argv is None else argv)
        summary = write_report(
            [sweep_dir], out, study=study, command=command, run_info=info, log_wandb=not args.no_wandb
        )
    except StudyError as err:
        print(f"attnbench-study: {err}", file=sys.stderr)
        return 2
    except FileNotFoundError as err:  # the multirun failed before any run started
        tail = (sweep_dir / "study.log").read_text().splitlines()[-15:] if (sweep_dir / "study.log").is_file() else []
        print(f"attnbench-study: {err}. The end of {sweep_dir / 'study.log'}:\n" + "\n".join(tail), file=sys.stderr)
        return 1
    return print_summary(summary, out)


if __name__ == "__main__":
    sys.exit(main())
