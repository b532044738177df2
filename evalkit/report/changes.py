"""What changed between runs: for every variant both runs have, accuracy before → after on the
cases both scored, the difference with its interval, the exact McNemar p, and the cases that flipped
(correct → wrong first, since a regression is what a reader must not miss).

The first run is the baseline; every later run is compared with it. The paired unit is the same as
everywhere else in evalkit (analysis.metrics.case_outcomes): one outcome per case, the majority of
its scored attempts with repeats; a flip shows the verdicts of the case's first scored attempts.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..analysis.metrics import case_outcomes
from ..analysis.stats import PairedDifference, paired_difference
from .runs import Comparison, Run

ALPHA = 0.05
FLIP_LIMIT = 200  # rows of the flips table per pair of runs; the grid's filter shows them all


@dataclass(frozen=True)
class Flip:
    case_id: str
    variant: str  # the variant's name in both runs
    after_name: str  # its display name in the comparison, for the link into the grid
    before: str  # verdict
    after: str
    reason: str | None  # why the wrong side was wrong
    regression: bool  # correct before, wrong after


@dataclass(frozen=True)
class VariantChange:
    variant: str
    before_name: str
    after_name: str
    diff: PairedDifference
    regressions: int
    fixes: int
    other_changes: int  # wrong both times, but with another verdict
    before_run: Mapping[str, Any]  # each run's own summary metrics (all of its cases)
    after_run: Mapping[str, Any]

    @property
    def significant(self) -> bool:
        return self.diff.test.p_value < ALPHA

    @property
    def direction(self) -> str:
        d = self.diff.delta
        if d is None or not self.significant:
            return "same"
        return "better" if d > 0 else "worse"

    @property
    def same_cases(self) -> bool:
        """True when the shared cases are all the cases each run scored for the variant."""
        n = self.diff.test.n
        return self.before_run.get("accuracy_n") == n and self.after_run.get("accuracy_n") == n


@dataclass(frozen=True)
class RunChange:
    before: str  # run display names
    after: str
    variants: list[VariantChange]
    flips: list[Flip]  # regressions first, then fixes; at most FLIP_LIMIT
    n_flips: int
    flipped: tuple[str, ...] = ()  # every case id that flipped, for the grid's filter
    only_before: list[str] = field(default_factory=list)  # variants in one run only
    only_after: list[str] = field(default_factory=list)


def first_attempts(records: Sequence[Mapping[str, Any]], variant: str) -> dict[str, Mapping[str, Any]]:
    """Per case id, the variant's first attempt that did not error."""
    out: dict[str, Mapping[str, Any]] = {}
    for r in sorted((r for r in records if r["variant"] == variant), key=lambda r: r.get("repeat", 0)):
        if r["verdict"] != "error" and r["case_id"] not in out:
            out[r["case_id"]] = r
    return out


def _matches(before: Run, after: Run) -> list[tuple[str, str]]:
    """Variant pairs by name; two single-variant runs pair whatever their names."""
    a, b = list(before.summary.get("variants", {})), list(after.summary.get("variants", {}))
    pairs = [(name, name) for name in b if name in a]
    if not pairs and len(a) == 1 and len(b) == 1:
        pairs = [(a[0], b[0])]
    return pairs


def variant_change(before: Run, after: Run, names: tuple[str, str], prefixes: tuple[str, str],
                   case_order: Sequence[str]) -> tuple[VariantChange, list[Flip]]:
    old, new = first_attempts(before.records, names[0]), first_attempts(after.records, names[1])
    old_ok = case_outcomes([r for r in before.records if r["variant"] == names[0]], "accuracy")
    new_ok = case_outcomes([r for r in after.records if r["variant"] == names[1]], "accuracy")
    rank = {c: i for i, c in enumerate(case_order)}
    shared = sorted(old.keys() & new.keys(), key=lambda c: (rank.get(c, len(rank)), c))
    counts = {(True, True): 0, (True, False): 0, (False, True): 0, (False, False): 0}
    flips, other = [], 0
    after_name = f"{prefixes[1]}/{names[1]}"
    label = names[1] if names[0] == names[1] else f"{names[0]} → {names[1]}"
    for case in shared:
        was, now = old_ok[case], new_ok[case]
        counts[(was, now)] += 1
        if was != now:
            wrong = new[case] if was else old[case]
            flips.append(Flip(case, label, after_name, old[case]["verdict"], new[case]["verdict"],
                              wrong.get("reason"), regression=was))
        elif not was and old[case]["verdict"] != new[case]["verdict"]:
            other += 1
    diff = paired_difference(counts[(True, True)], counts[(True, False)], counts[(False, True)],
                             counts[(False, False)])
    change = VariantChange(label, f"{prefixes[0]}/{names[0]}", after_name, diff,
                           regressions=counts[(True, False)], fixes=counts[(False, True)], other_changes=other,
                           before_run=before.summary["variants"][names[0]],
                           after_run=after.summary["variants"][names[1]])
    return change, flips


def run_changes(comparison: Comparison) -> list[RunChange]:
    """Every later run against the first; empty for a single run."""
    runs, prefixes = comparison.runs, comparison.run_names
    if len(runs) < 2:
        return []
    base, base_prefix = runs[0], prefixes[0]
    case_order = list(base.info.cases)
    out = []
    for run, prefix in zip(runs[1:], prefixes[1:]):
        pairs = _matches(base, run)
        changes, flips = [], []
        for names in pairs:
            change, fl = variant_change(base, run, names, (base_prefix, prefix), case_order)
            changes.append(change)
            flips += fl
        flips.sort(key=lambda f: not f.regression)  # stable: variant order, then case order
        matched_a, matched_b = {a for a, _ in pairs}, {b for _, b in pairs}
        out.append(RunChange(
            before=base_prefix, after=prefix, variants=changes, flips=flips[:FLIP_LIMIT], n_flips=len(flips),
            flipped=tuple(dict.fromkeys(f.case_id for f in flips)),
            only_before=[v for v in base.summary.get("variants", {}) if v not in matched_a],
            only_after=[v for v in run.summary.get("variants", {}) if v not in matched_b]))
    return out



def signed(x: float) -> str:
    """Percentage points with a real minus sign: +6.5, −15.2."""
    return f"{100 * x:+.1f}".replace("-", "−")


def _pp(x: float) -> str:
    return signed(x) + " pp"


def change_sentence(change: RunChange, p_text) -> str:
    """One plain line: which variants changed significantly, or that none did."""
    if not change.variants:
        return f"No variant of {change.before} is in {change.after}: nothing to pair."
    worse = [v for v in change.variants if v.direction == "worse"]
    better = [v for v in change.variants if v.direction == "better"]
    parts = [f"{v.variant} got significantly {v.direction} ({_pp(v.diff.delta)}, exact McNemar "
             f"{p_text(v.diff.test.p_value)})" for v in worse + better]
    if parts:
        text = "; ".join(parts) + "."
        rest = len(change.variants) - len(parts)
        return text + (f" The other {rest} variant(s) show no significant change." if rest else "")
    moved = [v for v in change.variants if v.regressions or v.fixes]
    if not moved:
        return "No case changed between correct and wrong for any variant."
    return ("No variant changed significantly: every difference here could be chance on these cases "
            f"(exact McNemar p ≥ {ALPHA}).")


def delta_bar(diff: PairedDifference, scale: float, width: int = 120) -> dict[str, float] | None:
    """Geometry of the difference's interval on a track from −scale to +scale, zero in the middle."""
    if diff.delta is None or diff.low is None or not scale:
        return None

    def x(v: float) -> float:
        return round(width / 2 + max(-1.0, min(1.0, v / scale)) * width / 2, 1)

    return {"width": width, "zero": width / 2, "lo": x(diff.low), "w": max(1.0, x(diff.high) - x(diff.low)),
            "x": x(diff.delta)}


def bar_scale(changes: Sequence[RunChange]) -> float:
    """One scale for every row: the widest interval bound, rounded up to 10 points."""
    bound = max((max(abs(v.diff.low), abs(v.diff.high)) for c in changes for v in c.variants
                 if v.diff.low is not None), default=0.0)
    return min(1.0, max(0.1, -(-bound * 10 // 1) / 10))
