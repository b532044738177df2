"""What a report is drawn from: one run directory, or several compared side by side.

Comparing runs matches cases by id and prefixes each variant with its run's name ("A/base+full"),
so two runs of the same suite (say, before and after a prompt change) read as one wider table.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

from ..analysis.metrics import by_variant, pairwise, run_summary
from ..rundir.run import Run, open_run


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
    # a run killed before summary.json is summarised from its results, once, for every section
    runs = [run if run.summary is not None else replace(run, summary=run_summary(run)) for run in runs]
    summaries = [run.summary for run in runs]
    if len(runs) == 1:
        run, summary = runs[0], summaries[0]
        suite = run.info.suite or run.name
        return Comparison(
            title=f"{suite}: {run.name}", runs=tuple(runs), variants=dict(summary.get("variants", {})),
            pairs=list(summary.get("pairs", [])), records=list(run.records),
            functions=dict(run.functions), prefixes={v: "" for v in summary.get("variants", {})},
            run_names=("",))
    names = _unique_names(runs)
    variants: dict[str, dict[str, Any]] = {}
    records: list[Mapping[str, Any]] = []
    functions: dict[str, Any] = {}
    prefixes: dict[str, str] = {}
    for prefix, run, summary in zip(names, runs, summaries):
        for name, metrics in summary.get("variants", {}).items():
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


__all__ = ["Comparison", "Run", "combine", "open_run"]
