"""What a report is drawn from: one run directory, or several compared side by side.

Comparing runs matches cases by id and prefixes each variant with its run's name ("A/base+full"),
so two runs of the same suite (say, before and after a prompt change) read as one wider table.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

from ..analysis.metrics import by_variant, pairwise
from ..rundir.results import FUNCTIONS, SUMMARY, read_json, read_results


@dataclass(frozen=True)
class Run:
    name: str
    path: Path
    summary: Mapping[str, Any]
    records: Sequence[Mapping[str, Any]]
    functions: Mapping[str, Any] = field(default_factory=dict)  # functions.json: sha -> definitions
    info: Mapping[str, Any] = field(default_factory=dict)  # run.json


@dataclass(frozen=True)
class Comparison:
    """Variants of every run, in order; `runs` keeps each run with its own (unprefixed) names."""

    title: str
    runs: tuple[Run, ...]
    variants: dict[str, dict[str, Any]]  # display name -> summary metrics
    pairs: list[dict[str, Any]]
    records: list[Mapping[str, Any]]  # variant renamed to the display name
    functions: dict[str, Any]
    prefixes: dict[str, str]  # display variant name -> run name ("" for a single run)
    run_names: tuple[str, ...] = ()  # the prefix of each run ("" for a single run)
    notes: list[str] = field(default_factory=list)


def _optional_json(path: Path) -> dict[str, Any]:
    """functions.json / run.json are extras: an older or hand-made run may lack them."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def open_run(run_dir: Path, summary: Mapping[str, Any] | None = None,
             records: Sequence[Mapping[str, Any]] | None = None) -> Run:
    run_dir = Path(run_dir)
    return Run(
        name=run_dir.resolve().name or str(run_dir),
        path=run_dir,
        summary=summary if summary is not None else read_json(run_dir / SUMMARY, "summary.json"),
        records=records if records is not None else read_results(run_dir),
        functions=_optional_json(run_dir / FUNCTIONS),
        info=_optional_json(run_dir / "run.json"),
    )


def _unique_names(runs: Sequence[Run]) -> list[str]:
    names: list[str] = []
    for i, run in enumerate(runs, 1):
        name = run.name
        while name in names:
            name = f"{run.name}#{i}"
            i += 1
        names.append(name)
    return names


def combine(runs: Sequence[Run]) -> Comparison:
    if len(runs) == 1:
        run = runs[0]
        suite = run.info.get("suite") or run.name
        return Comparison(
            title=f"{suite}: {run.name}", runs=tuple(runs), variants=dict(run.summary.get("variants", {})),
            pairs=list(run.summary.get("pairs", [])), records=list(run.records),
            functions=dict(run.functions), prefixes={v: "" for v in run.summary.get("variants", {})},
            run_names=("",))
    names = _unique_names(runs)
    variants: dict[str, dict[str, Any]] = {}
    records: list[Mapping[str, Any]] = []
    functions: dict[str, Any] = {}
    prefixes: dict[str, str] = {}
    for prefix, run in zip(names, runs):
        for name, metrics in run.summary.get("variants", {}).items():
            variants[f"{prefix}/{name}"] = dict(metrics)
            prefixes[f"{prefix}/{name}"] = prefix
        records += [{**r, "variant": f"{prefix}/{r['variant']}"} for r in run.records]
        functions.update(run.functions)  # keys are content hashes: the same key means the same text
    groups = by_variant(records)
    order = [v for v in variants if v in groups]
    case_sets = [{r["case_id"] for r in run.records} for run in runs]
    shared = set.intersection(*case_sets) if case_sets else set()
    notes = []
    if any(len(s) != len(shared) for s in case_sets):
        notes.append(f"{len(shared)} case ids are in every run; paired tests use only the cases both "
                     "variants scored, the headline numbers each run's own cases")
    return Comparison(
        title="comparison of " + ", ".join(names), runs=tuple(runs), variants=variants,
        pairs=pairwise({v: groups[v] for v in order}), records=records, functions=functions,
        prefixes=prefixes, run_names=tuple(names), notes=notes)
