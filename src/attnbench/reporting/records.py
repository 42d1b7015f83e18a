"""Collect ``run.json`` records and read values and names out of them."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from attnbench.runtime.record import RUN_FILE

Record = dict[str, Any]  # one parsed run.json, plus "_path": where it was read from


def collect(dirs: list[Path]) -> list[Record]:
    """Every current ``run.json`` under ``dirs`` (earlier records kept in ``.previous/`` are ignored).

    An unreadable file becomes a failed record, so a report counts it instead of crashing on it."""
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
                record = {"status": "failed", "error": f"unreadable run.json: {err}", "config": {}, "unreadable": True}
            record["_path"] = str(path)
            records.append(record)
    return records


def lookup(record: Record, key: str) -> Any:
    """A value of a run: a metric (``test/acc``), ``timings/fit_s``, ``memory/peak_rss_mb``, ``params``,
    ``epochs``, a Hydra group choice (``data``) or a dotted config key (``data.synthetic.length``)."""
    if "/" in key:
        section, name = key.split("/", 1)
        if section in ("timings", "memory"):  # run.json nests them: timings/train_examples_per_s
            return (record.get(section) or {}).get(name)
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


def is_tfidf(config: dict[str, Any]) -> bool:
    """Whether the run is the classical TF-IDF baseline (no encoder, no attention)."""
    return "tfidf" in str((config.get("model") or {}).get("_target_", "")).lower()


def describe(config: dict[str, Any]) -> str:
    """A readable model name: ``BiLSTM + additive attention`` / ``BiLSTM (last-state pooling)``."""
    enc = {"bilstm": "BiLSTM", "conv1d": "Conv1D"}.get(config["encoder"]["name"], config["encoder"]["name"])
    att = config["attention"]
    if att["name"] == "none":
        mode = config["pooling"]["mode"]
        return f"{enc} ({'last-state' if mode == 'last' else mode} pooling)"
    hops = f", {att['hops']} hops" if att.get("hops", 1) > 1 else ""
    return f"{enc} + {att['score']} attention{hops}"


def model_name(record: Record) -> str:
    """The study variant's label, else a description of the model (``BiLSTM + additive attention``)."""
    config = record.get("config") or {}
    study = config.get("study") or {}
    if study.get("label"):
        return str(study["label"])
    try:
        return "TF-IDF + logistic regression" if is_tfidf(config) else describe(config)
    except (KeyError, TypeError):
        return "?"


def run_labels(records: list[Record]) -> list[str]:
    """Row labels of ad-hoc runs: the model name, plus the overrides (other than seeds) that tell apart
    runs whose model names are equal."""

    def swept(r: Record) -> tuple[str, ...]:
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
