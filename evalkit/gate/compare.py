"""Compare a run with its baseline: pure, records in, a `GateResult` out.

Cases are matched by id; only the cases both runs scored are compared, so adding or removing
cases never moves a metric by itself (they are listed instead). A gated metric fails only when it
worsens by more than `max_drop` AND an exact McNemar test on the shared cases says the change is
significant at `alpha`: on a 10-case suite one case flipping is 10 points, and noise.

A run that is missing part of the baseline (a variant, a case) or recorded fewer results than it
planned fails with reason "incomplete": an interrupted CI job must not go green on the part it
finished. `allow_partial` gates what is there instead (the completeness checks are then skipped).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .. import metricset
from ..analysis.metrics import by_variant, good_outcomes, rate_of, variant_metrics
from ..analysis.stats import McNemar, Rate, paired, wilson
from ..errors import InputError
from ..rundir.run import Run
from ..suite.sections import GateSpec

EPSILON = 1e-9  # a drop of exactly max_drop is within the limit, float noise aside
COMPLETE_METRIC = "results"  # a completeness check: a floor of 100% on the results recorded


class RunMismatchError(InputError):
    """The run and the baseline are not comparable (other suite, nothing in common)."""


@dataclass(frozen=True)
class Check:
    """One rule applied to one metric of one variant."""

    variant: str
    metric: str
    rule: str  # "max_drop" | "min" | "max"
    limit: float
    status: str  # "pass" | "fail" | "skip"
    why: str
    run: Rate | None = None
    baseline: Rate | None = None
    test: McNemar | None = None  # b: cases that got worse on this metric, c: cases that got better

    @property
    def failed(self) -> bool:
        return self.status == "fail"

    @property
    def change(self) -> float | None:
        """Run minus baseline (a fraction), None when either is undefined."""
        if self.run is None or self.baseline is None or self.run.value is None or self.baseline.value is None:
            return None
        return self.run.value - self.baseline.value


@dataclass(frozen=True)
class CaseOutcome:
    """A case of the run (first scored repeat) next to the same case in the baseline."""

    case_id: str
    verdict: str
    reason: str
    baseline_verdict: str | None  # None: the case is new in this run

    @property
    def regressed(self) -> bool:
        return self.baseline_verdict == "correct" and self.verdict not in ("correct", "error")


@dataclass(frozen=True)
class VariantGate:
    name: str
    shared: int  # case ids both runs have for this variant
    checks: tuple[Check, ...]
    cases: tuple[CaseOutcome, ...]
    errors: int  # run results that errored (excluded from every rate)

    @property
    def failed(self) -> bool:
        return any(c.failed for c in self.checks)

    @property
    def regressed(self) -> tuple[CaseOutcome, ...]:
        return tuple(c for c in self.cases if c.regressed)


@dataclass(frozen=True)
class GateResult:
    run: str
    baseline: str
    suite: str | None
    spec: GateSpec
    variants: tuple[VariantGate, ...]
    added: tuple[str, ...]  # case ids only in the run
    removed: tuple[str, ...]  # case ids only in the baseline
    notes: tuple[str, ...] = ()

    @property
    def failed(self) -> bool:
        return any(v.failed for v in self.variants)

    @property
    def incomplete(self) -> tuple[str, ...]:
        """Why the run does not cover the baseline or its own plan (empty when it does), whether
        or not `allow_partial` let it through."""
        return tuple(c.why for v in self.variants for c in v.checks if c.metric == COMPLETE_METRIC)

    @property
    def reason(self) -> str:
        """pass | incomplete | regression: what decided the exit code."""
        if not self.failed:
            return "pass"
        failed = [c for v in self.variants for c in v.checks if c.failed]
        return "incomplete" if any(c.metric == COMPLETE_METRIC for c in failed) else "regression"

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0


# ---- per-case view of the metrics ---------------------------------------------------------------

def first_scored(records: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Per case id, its first non-error repeat (or its first repeat when every one errored)."""
    out: dict[str, Mapping[str, Any]] = {}
    for r in sorted(records, key=lambda r: r.get("repeat", 0)):
        held = out.get(r["case_id"])
        if held is None or (held["verdict"] == "error" and r["verdict"] != "error"):
            out[r["case_id"]] = r
    return out


def _rate(metrics: Mapping[str, Any], metric: str) -> Rate:
    return rate_of(metrics, metric)


# ---- the rules -------------------------------------------------------------------------------

def pct(x: float) -> str:
    return f"{100 * x:.1f}".removesuffix(".0") + "%"


def points(x: float) -> str:
    return f"{100 * x:.1f}".removesuffix(".0") + " points"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def drop_check(variant: str, metric: str, base: Rate, run: Rate, test: McNemar, spec: GateSpec) -> Check:
    """max_drop AND significance. `test.b` counts cases that got worse, `test.c` better."""
    args = dict(variant=variant, metric=metric, rule="max_drop", limit=spec.max_drop, run=run,
                baseline=base, test=test)
    if base.value is None or run.value is None:
        return Check(status="skip", why=f"{metric}: no shared cases it applies to", **args)
    rise_is_bad = metricset.lower_is_better(metric)
    worse = (run.value - base.value) if rise_is_bad else (base.value - run.value)
    moved = f"{metric} {pct(base.value)} -> {pct(run.value)}"
    counts = (f"McNemar p={test.p_value:.3g}, {_plural(test.b, 'case')} worse, {test.c} better "
              f"of {test.n} shared")
    if worse <= EPSILON:
        return Check(status="pass", why=f"{moved}: no worse ({counts})", **args)
    direction = "rose" if rise_is_bad else "fell"
    if worse - spec.max_drop <= EPSILON:
        return Check(status="pass", why=f"{moved}: {direction} {points(worse)}, within the "
                     f"{points(spec.max_drop)} allowed ({counts})", **args)
    if test.p_value >= spec.alpha:
        return Check(status="pass", why=f"{moved}: {direction} {points(worse)}, more than the "
                     f"{points(spec.max_drop)} allowed, but not significant ({counts}; p >= alpha "
                     f"{spec.alpha:g}): too few cases changed to tell it from noise", **args)
    return Check(status="fail", why=f"{moved}: {direction} {points(worse)}, more than the "
                 f"{points(spec.max_drop)} allowed, and significant ({counts}; p < alpha {spec.alpha:g})",
                 **args)


def bound_check(variant: str, metric: str, rule: str, limit: float, run: Rate) -> Check:
    """An absolute bound on the run's own value: `min` (at least) or `max` (at most)."""
    args = dict(variant=variant, metric=metric, rule=rule, limit=limit, run=run)
    if run.value is None:
        return Check(status="skip", why=f"{metric}: no cases it applies to, {rule} not checked", **args)
    shown = f"{metric} {pct(run.value)} ({run.k}/{run.n}, 95% CI {pct(run.low)}-{pct(run.high)})"
    breached = run.value < limit - EPSILON if rule == "min" else run.value > limit + EPSILON
    if breached:
        side = "under the floor" if rule == "min" else "over the ceiling"
        return Check(status="fail", why=f"{shown} is {side} of {pct(limit)}", **args)
    side = "at or above the floor" if rule == "min" else "at or under the ceiling"
    return Check(status="pass", why=f"{shown} is {side} of {pct(limit)}", **args)


def gate_variant(name: str, base_records: list[Mapping[str, Any]], run_records: list[Mapping[str, Any]],
                 spec: GateSpec) -> VariantGate:
    base_first, run_first = first_scored(base_records), first_scored(run_records)
    shared = base_first.keys() & run_first.keys()
    base_m = variant_metrics([r for r in base_records if r["case_id"] in shared])
    run_m = variant_metrics([r for r in run_records if r["case_id"] in shared])
    checks = []
    for metric in spec.metrics:
        # one outcome per case (a majority of its attempts with repeats): analysis.metrics
        test = paired(good_outcomes([r for r in base_records if r["case_id"] in shared], metric),
                      good_outcomes([r for r in run_records if r["case_id"] in shared], metric))
        checks.append(drop_check(name, metric, _rate(base_m, metric), _rate(run_m, metric), test, spec))
    checks += bound_checks(name, run_records, spec)
    cases = tuple(CaseOutcome(cid, r["verdict"], r.get("reason") or "",
                              base_first[cid]["verdict"] if cid in base_first else None)
                  for cid, r in run_first.items())
    return VariantGate(name, len(shared), tuple(checks), cases,
                       sum(r["verdict"] == "error" for r in run_records))


def bound_checks(name: str, run_records: list[Mapping[str, Any]], spec: GateSpec) -> list[Check]:
    if not (spec.min or spec.max):
        return []
    m = variant_metrics(run_records)
    return ([bound_check(name, metric, "min", v, _rate(m, metric)) for metric, v in spec.min.items()]
            + [bound_check(name, metric, "max", v, _rate(m, metric)) for metric, v in spec.max.items()])


def _keys(records: Iterable[Mapping[str, Any]]) -> set[tuple[str, int]]:
    return {(r["case_id"], int(r.get("repeat", 0))) for r in records}


def completeness_check(variant: str, run_records: list[Mapping[str, Any]] | None,
                       base_records: list[Mapping[str, Any]] | None, planned: int | None,
                       allow_partial: bool) -> Check | None:
    """A failing check when this variant of the run lacks what the baseline has, or recorded
    fewer results than it planned; None when it is complete. Counted in distinct
    (case, repeat) keys."""
    recorded = len(_keys(run_records or []))
    want = max(planned or 0, recorded)
    gaps = []
    if run_records is None:
        gaps.append(f"variant '{variant}' of the baseline is not in this run")
        want = len(_keys(base_records or [])) or 1
    else:
        missing = ({r["case_id"] for r in base_records or []} - {r["case_id"] for r in run_records})
        if missing:
            shown = ", ".join(sorted(missing)[:5]) + (", ..." if len(missing) > 5 else "")
            gaps.append(f"{_plural(len(missing), 'case')} of the baseline missing ({shown})")
        if planned is not None and recorded < planned:
            gaps.append(f"{recorded} of {planned} planned results recorded")
        want = max(want, recorded + len(missing))
    if not gaps:
        return None
    how = ("gated on what is there (--allow-partial)" if allow_partial
           else "finish it with `evalkit run --resume`, or pass --allow-partial to gate what is there")
    return Check(variant=variant, metric=COMPLETE_METRIC, rule="min", limit=1.0,
                 status="skip" if allow_partial else "fail", why=f"incomplete: {'; '.join(gaps)}: {how}",
                 run=wilson(recorded, want))


def compare(run: Run, baseline: Run, spec: GateSpec, *,
            planned: Mapping[str, int] | None = None, allow_partial: bool = False) -> GateResult:
    """`planned`: results the run set out to record per variant (from its run directory), when
    known; a variant short of it is incomplete."""
    if run.suite and baseline.suite and run.suite != baseline.suite:
        raise RunMismatchError(run.path, f"is a run of suite '{run.suite}' but the baseline "
                               f"{baseline.path} is of suite '{baseline.suite}'")
    run_groups, base_groups = by_variant(run.records), by_variant(baseline.records)
    common = [v for v in run_groups if v in base_groups]
    if not common:
        raise RunMismatchError(run.path, f"no variant in common with the baseline {baseline.path} "
                               f"(run: {', '.join(run_groups)}; baseline: {', '.join(base_groups)})")
    run_ids = {r["case_id"] for r in run.records}
    base_ids = {r["case_id"] for r in baseline.records}
    if not run_ids & base_ids:
        raise RunMismatchError(run.path, f"no case id in common with the baseline {baseline.path}: "
                               "are these runs of the same suite?")
    variants = [gate_variant(v, base_groups[v], run_groups[v], spec) for v in common]
    planned = planned or {}
    for i, v in enumerate(variants):
        check = completeness_check(v.name, run_groups[v.name], base_groups[v.name], planned.get(v.name),
                                   allow_partial)
        if check is not None:
            variants[i] = VariantGate(v.name, v.shared, (check, *v.checks), v.cases, v.errors)
    notes = []
    for v in run_groups:
        if v not in base_groups:
            notes.append(f"variant '{v}' is not in the baseline: only its absolute bounds are checked")
            check = completeness_check(v, run_groups[v], [], planned.get(v), allow_partial)
            checks = ([check] if check else []) + bound_checks(v, run_groups[v], spec)
            variants.append(VariantGate(v, 0, tuple(checks),
                                        tuple(CaseOutcome(c, r["verdict"], r.get("reason") or "", None)
                                              for c, r in first_scored(run_groups[v]).items()),
                                        sum(r["verdict"] == "error" for r in run_groups[v])))
    for v in base_groups:
        if v not in run_groups:
            check = completeness_check(v, None, base_groups[v], planned.get(v), allow_partial)
            variants.append(VariantGate(v, 0, (check,) if check else (), (), 0))
    return GateResult(str(run.path), str(baseline.path), run.suite or baseline.suite, spec, tuple(variants),
                      tuple(sorted(run_ids - base_ids)), tuple(sorted(base_ids - run_ids)), tuple(notes))
