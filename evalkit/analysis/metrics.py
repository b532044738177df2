"""Per-variant metrics from result records. Pure: records in, plain dicts out.

Every rate is an entry of the metric set (evalkit/metricset.py) and is computed here the same way:
error results are left out (a provider failure says nothing about the model), each case's outcome
is the share of its attempts in the metric's denominator that succeeded, and the rate `r` is the
mean over cases, written with `r_n` (cases), `r_k` (sum of the per-case shares: a count without
repeats) and `r_ci` (95%: Wilson, case-level with repeats, see stats.case_rate).

Paired tests (McNemar in the summary, the gate, trials and the report) use one outcome per case:
with repeats a case counts as a success when a strict majority of its attempts are (2 of 3, not
1 of 2), which is its single attempt without repeats.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from itertools import combinations
from statistics import mean
from typing import Any, Iterable, Mapping

from .. import metricset
from ..rundir.run import Run
from ..scoring import VERDICTS
from .stats import (
    Rate,
    case_pass_rates,
    case_rate,
    paired,
    percentile,
    repeat_stats,
    wilson,
)
from .tokens import usage_check


def _rate(out: dict[str, Any], name: str, r: Rate) -> None:
    out[name] = r.value
    out[f"{name}_k"] = r.k
    out[f"{name}_n"] = r.n
    out[f"{name}_ci"] = None if r.low is None else [round(r.low, 6), round(r.high, 6)]


def rate_of(metrics: Mapping[str, Any], name: str) -> Rate:
    """A rate back from a summary's `r`, `r_k`, `r_n` and `r_ci` (missing: an empty rate)."""
    ci = metrics.get(f"{name}_ci")
    k, n = metrics.get(f"{name}_k") or 0, int(metrics.get(f"{name}_n") or 0)
    if ci is None and n:
        return wilson(k, n)
    return Rate(k, n, ci[0] if ci else None, ci[1] if ci else None)


def _groups(records: Iterable[Mapping[str, Any]], fields: tuple[str, ...]
            ) -> list[tuple[Mapping[str, Any], list[str]]]:
    """The scored results grouped by their values of `fields`: (one of them, the case id of
    each, in order). A result whose values cannot be a key (a list) is a group of its own."""
    groups: dict[Any, tuple[Mapping[str, Any], list[str]]] = {}
    singles: list[tuple[Mapping[str, Any], list[str]]] = []
    for r in records:
        if r["verdict"] == "error":
            continue
        key = tuple(map(r.get, fields))
        try:
            group = groups.get(key)
        except TypeError:
            singles.append((r, [r["case_id"]]))
            continue
        if group is None:
            groups[key] = (r, [r["case_id"]])
        else:
            group[1].append(r["case_id"])
    return [*groups.values(), *singles]


def _judged(records: Iterable[Mapping[str, Any]], names: Iterable[str]
            ) -> tuple[list[str], list[tuple[tuple[bool | None, ...], list[str]]]]:
    """(metric names, [(each metric's judgement, the case ids judged so)]). A metric reads only
    its `Metric.reads` fields, so each distinct combination of them is judged once: a run has a
    handful, not one per result."""
    ms = [metricset.get(n) for n in names]
    fields = tuple(dict.fromkeys(f for m in ms for f in m.reads))
    return [m.name for m in ms], [(tuple(m.judge(r) for m in ms), cases) for r, cases in _groups(records, fields)]


def attempts_by_metric(records: Iterable[Mapping[str, Any]], names: Iterable[str]) -> dict[str, dict[str, list[bool]]]:
    """Per metric in `names`, per case id, its success on each scored attempt in its
    denominator, from one pass over `records`."""
    metric_names, judged = _judged(records, names)
    return {name: _attempts(judged, i) for i, name in enumerate(metric_names)}


def _attempts(judged: list[tuple[tuple[bool | None, ...], list[str]]], i: int) -> dict[str, list[bool]]:
    """Per case id, the judgements of metric `i` (of `_judged`) on its attempts."""
    cases: dict[str, list[bool]] = defaultdict(list)
    for verdicts, ids in judged:
        ok = verdicts[i]
        if ok is not None:
            for c in ids:
                cases[c].append(ok)
    return dict(cases)


def case_attempts(records: Iterable[Mapping[str, Any]], metric: str) -> dict[str, list[bool]]:
    """Per case id, the metric's success on each scored attempt in its denominator."""
    return attempts_by_metric(records, [metric])[metric]


def majority(attempts: Mapping[str, list[bool]]) -> dict[str, bool]:
    """Per case, one outcome: a strict majority of its attempts (its only attempt without repeats)."""
    return {c: 2 * sum(xs) > len(xs) for c, xs in attempts.items()}


def case_outcomes(records: Iterable[Mapping[str, Any]], metric: str) -> dict[str, bool]:
    """Per case id, the metric's success as one outcome: a strict majority of its attempts
    (its only attempt without repeats). Errors and cases outside the denominator are left out."""
    return majority(case_attempts(records, metric))


def good_outcomes_by_metric(records: Iterable[Mapping[str, Any]], names: Iterable[str]) -> dict[str, dict[str, bool]]:
    """Per metric in `names`, per case id, did it do the good thing (for a lower-is-better rate
    such as hallucination_rate: avoid it)? The paired unit of the gate, trials and the report;
    all the metrics from one pass over `records`."""
    metric_names, judged = _judged(records, names)
    repeated = sum(len(ids) for _, ids in judged) > len({c for _, ids in judged for c in ids})
    out = {}
    for i, name in enumerate(metric_names):
        flip = metricset.lower_is_better(name)
        if repeated:
            out[name] = {c: hit != flip for c, hit in majority(_attempts(judged, i)).items()}
            continue
        hits: dict[str, bool] = {}  # one attempt per case: its judgement is its outcome
        for verdicts, ids in judged:
            if verdicts[i] is not None:
                hits.update(dict.fromkeys(ids, verdicts[i] != flip))
        out[name] = hits
    return out


def good_outcomes(records: Iterable[Mapping[str, Any]], metric: str) -> dict[str, bool]:
    """`good_outcomes_by_metric` for one metric."""
    return good_outcomes_by_metric(records, [metric])[metric]


def _mean(values: Iterable[float | None]) -> float | None:
    xs = [v for v in values if v is not None]
    return mean(xs) if xs else None


def variant_metrics(records: list[Mapping[str, Any]]) -> dict[str, Any]:
    scored = [r for r in records if r["verdict"] != "error"]
    verdicts = Counter(r["verdict"] for r in records)
    out: dict[str, Any] = {"n": len(records), "n_scored": len(scored), "errors": verdicts.get("error", 0),
                           "cases": len({r["case_id"] for r in scored})}
    for name, attempts in attempts_by_metric(scored, metricset.names()).items():
        _rate(out, name, case_rate(attempts))
    out["verdicts"] = {v: verdicts.get(v, 0) for v in VERDICTS}
    usage = [r.get("usage") or {} for r in records]
    tokens = [r.get("tokens") or {} for r in records]
    out["prompt_tokens"] = _mean(t.get("prompt") for t in tokens)
    out["function_tokens"] = _mean(t.get("functions") for t in tokens)
    out["api_prompt_tokens"] = _mean(u.get("prompt_tokens") for u in usage)
    out["completion_tokens"] = _mean(u.get("completion_tokens") for u in usage)
    out.update(usage_check(records))  # counted vs API-reported prompt tokens, flagged if far apart
    latencies = [r["latency_s"] for r in records if r.get("latency_s") is not None]
    out["latency_p50"] = percentile(latencies, 50)
    out["latency_p95"] = percentile(latencies, 95)
    out.update(repeat_metrics(records))
    return out


def repeat_metrics(records: list[Mapping[str, Any]]) -> dict[str, Any]:
    """With repeats (any case asked more than once): per-case pass rate, pass^k, pass@k, all-correct
    and consistency, from stats.repeat_stats over the scored attempts. Empty without repeats."""
    outcomes: dict[str, list[bool]] = defaultdict(list)
    for r in records:
        if r["verdict"] != "error":
            outcomes[r["case_id"]].append(r["verdict"] == "correct")
    if not any(len(xs) > 1 for xs in outcomes.values()):
        return {}
    s = repeat_stats(outcomes)
    out: dict[str, Any] = {"repeats_k": s.k, "pass_rate": s.pass_rate, "pass_hat_k": s.pass_hat_k,
                           "pass_at_k": s.pass_at_k, "consistency": s.consistency,
                           "case_pass_rates": case_pass_rates(outcomes)}
    _rate(out, "all_correct", s.all_correct)
    return out


def by_variant(records: Iterable[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    groups: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for r in records:
        groups[r["variant"]].append(r)
    return dict(groups)


# Up to this many variants every pair is tested; past it each variant only against the first
# (the reference), so the work and summary.json grow with the variants, not with their square.
ALL_PAIRS_UP_TO = 12


def pairwise(groups: Mapping[str, list[Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """Exact McNemar on accuracy for every pair of variants (or, past ALL_PAIRS_UP_TO variants,
    every variant against the first) on the cases both scored (one outcome per case: the
    majority of its attempts)."""
    correct = {name: case_outcomes(rs, "accuracy") for name, rs in groups.items()}
    names = list(groups)
    pairs = combinations(names, 2) if len(names) <= ALL_PAIRS_UP_TO else ((names[0], b) for b in names[1:])
    out = []
    for a, b in pairs:
        m = paired(correct[a], correct[b])
        out.append({"a": a, "b": b, "a_only_correct": m.b, "b_only_correct": m.c, "n": m.n,
                    "p_value": m.p_value})
    return out


def summarise(records: list[Mapping[str, Any]], variant_info: Mapping[str, Mapping[str, Any]] | None = None,
              order: list[str] | None = None) -> dict[str, Any]:
    groups = by_variant(records)
    names = [n for n in (order or []) if n in groups] + [n for n in groups if n not in (order or [])]
    variants = {}
    for name in names:
        variants[name] = {**(variant_info or {}).get(name, {}), **variant_metrics(groups[name])}
    return {"variants": variants, "pairs": pairwise({n: groups[n] for n in names})}


# What the summary reads of a result: the record's other fields (messages, raw responses, calls)
# are most of its size and are dropped when a run is summarised from its results file.
SUMMARY_FIELDS = ("case_id", "variant", "repeat", "verdict", "should_call", "name_correct", "usage", "tokens",
                  "latency_s")


_ABSENT = object()  # a field the record does not have (unlike one it holds as null)


class SummaryRecord:
    """A result reduced to SUMMARY_FIELDS, read like its record (`r[key]`, `r.get(key)`); asking
    for any other field is a KeyError, so a metric reading more fails loudly instead of summarising
    a None. Strings and small dicts repeated across results are shared."""

    __slots__ = SUMMARY_FIELDS

    def __getitem__(self, key: str) -> Any:
        value = getattr(self, key, _ABSENT) if key in SUMMARY_FIELDS else _ABSENT
        if value is _ABSENT:
            raise KeyError(key)
        return value

    def get(self, key: str, default: Any = None) -> Any:
        if key not in SUMMARY_FIELDS:
            raise KeyError(key)
        value = getattr(self, key)
        return default if value is _ABSENT else value


class SummaryRecords:
    """Results reduced for summarising, one at a time (`add`), then `summarise()`: equal to
    `summarise` over the full records, holding about a tenth of a result each."""

    def __init__(self) -> None:
        self.records: list[SummaryRecord] = []
        self._shared: dict[Any, Any] = {}

    def _share(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._shared.setdefault(value, value)
        if isinstance(value, dict) and all(isinstance(v, (int, float, str, type(None))) for v in value.values()):
            key = ("dict", *sorted(((k, type(v).__name__, v) for k, v in value.items()), key=lambda t: t[0]))
            return self._shared.setdefault(key, value)
        return value

    def add(self, record: Mapping[str, Any]) -> None:
        slim = SummaryRecord()
        for name in SUMMARY_FIELDS:
            setattr(slim, name, self._share(record.get(name, _ABSENT)))
        self.records.append(slim)

    def keys(self) -> Iterable[tuple[str, str, int]]:
        return ((r["variant"], r["case_id"], r.get("repeat", 0)) for r in self.records)

    def summarise(self, variant_info: Mapping[str, Mapping[str, Any]] | None = None,
                  order: list[str] | None = None) -> dict[str, Any]:
        return summarise(self.records, variant_info, order)


def run_summary(run: Run) -> dict[str, Any]:
    """The run's summary.json, or (a run killed before it wrote one) its summary from results."""
    if run.summary is not None:
        return dict(run.summary)
    info = {name: v.model_dump(exclude={"name"} | ({"batch"} if not v.batch else set()), exclude_none=True)
            for name, v in run.info.variants.items()}
    return summarise(list(run.records), info, list(info))
