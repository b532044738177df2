"""Money: per-request cost of each variant and the total cost of ownership of a fine-tune.

A fine-tuned deployment pays training (once, amortised over `amortize_days`) and, on Azure,
hosting per hour, but may send shorter prompts. Its daily cost at R requests/day is
`R * cost_per_request + fixed_per_day`; it beats the baseline above the break-even
R* = (fixed_ft - fixed_base) / (per_request_base - per_request_ft), or never when it saves
nothing per request. Pure functions over small dataclasses; the price table is YAML
(evalkit/prices.yaml, overridable per suite under `prices:`). A run records the table it was
priced with and its `tco:` settings in run.json (`cost_snapshot`), and `run_costs` prices the
run from that record, whatever the suite file says today.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, Sequence

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import InputError, SuiteError
from ..providers import provider_traits
from ..rundir.results import INFO
from ..rundir.run import Run
from ..suite.sections import PricesSpec, TcoSpec


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FineTunedPrice(_Strict):
    input: float = Field(ge=0)
    output: float = Field(ge=0)
    training: float = Field(default=0.0, ge=0)  # USD per 1M trained tokens
    hosting_per_hour: float = Field(default=0.0, ge=0)


class ModelPrice(_Strict):
    input: float = Field(ge=0)  # USD per 1M prompt tokens
    output: float = Field(ge=0)  # USD per 1M completion tokens
    cached_input: float | None = Field(default=None, ge=0)
    fine_tuned: FineTunedPrice | None = None
    source: str | None = None  # the page this price is from, when not the table's main source


class PriceTable(_Strict):
    source: str
    date: str
    currency: str = "USD"
    models: dict[str, ModelPrice]


def default_prices() -> PriceTable:
    text = (resources.files("evalkit") / "prices.yaml").read_text(encoding="utf-8")
    return PriceTable.model_validate(yaml.safe_load(text))


def price_source(table: PriceTable, key: str) -> str:
    """Where the price under `key` (a `UnitPrice.key`) is published: the model's own `source:`,
    else the table's first source."""
    model = table.models.get(key.removesuffix(" (fine-tuned)"))
    return (model.source if model and model.source else table.source.split(" (")[0]).strip()


def merge_prices(base: PriceTable, override: PricesSpec | None, where: str | None = None) -> PriceTable:
    """The shipped table with a suite's `prices:` applied field by field."""
    if override is None:
        return base
    models = {k: v.model_dump(exclude_none=True) for k, v in base.models.items()}
    for key, fields in override.models.items():
        merged = {**models.get(key, {}), **fields}
        if isinstance(fields.get("fine_tuned"), Mapping) and key in models:
            merged["fine_tuned"] = {**models[key].get("fine_tuned", {}), **fields["fine_tuned"]}
        try:
            ModelPrice.model_validate(merged)
        except ValidationError as e:
            err = e.errors()[0]
            loc = ".".join(str(x) for x in err["loc"])
            raise SuiteError(where, f"{err['msg']}" + (f" ({loc})" if loc else ""),
                             field=f"prices.models.{key}") from None
        models[key] = merged
    return PriceTable(source=override.source or base.source + " (with suite overrides)",
                      date=override.date or base.date, currency=base.currency,
                      models={k: ModelPrice.model_validate(v) for k, v in models.items()})


# ---- prices of a variant -----------------------------------------------------------------

def is_fine_tuned(model: str) -> bool:
    return model.startswith("ft:") or ".ft-" in model


def _base_name(model: str) -> str:
    if model.startswith("ft:"):
        return model.split(":")[1]
    return model.split(".ft-")[0]


def _lookup(table: PriceTable, name: str, provider: str | None) -> tuple[str, ModelPrice] | None:
    spellings = [name, name.replace("gpt-35", "gpt-3.5")]
    prefixes = [f"{provider}/", ""] if provider else [""]
    for prefix in prefixes:
        for spelling in spellings:
            if prefix + spelling in table.models:
                return prefix + spelling, table.models[prefix + spelling]
        for spelling in spellings:
            keys = [k for k in table.models if k.startswith(prefix) and (prefix + spelling).startswith(k)]
            keys = [k for k in keys if prefix or "/" not in k]
            if keys:
                best = max(keys, key=len)
                return best, table.models[best]
    return None


@dataclass(frozen=True)
class UnitPrice:
    key: str  # the price-table entry used
    input: float
    output: float
    training: float = 0.0
    hosting_per_hour: float = 0.0
    fine_tuned: bool = False


def unit_price(table: PriceTable, variant: Any) -> UnitPrice | None:
    """Prices for a variant: its deployment/model name first (a suite may price a deployment
    by name), then its `base_model`; fine-tuned variants use their base's `fine_tuned:` prices."""
    provider = getattr(variant, "provider", None)
    names = [n for n in (getattr(variant, "model", None), getattr(variant, "base_model", None)) if n]
    # a `trial:` block or a LoRA adapter marks a fine-tuned variant even when an Azure deployment
    # name does not say so
    fine = (any(is_fine_tuned(n) for n in names) or bool(getattr(variant, "adapter", None))
            or bool(getattr(variant, "trial", None)))
    for name in names:
        hit = _lookup(table, name, provider)
        if hit is None and is_fine_tuned(name):
            hit = _lookup(table, _base_name(name), provider)
        if hit is None:
            continue
        key, price = hit
        if fine and price.fine_tuned:
            ft = price.fine_tuned
            return UnitPrice(f"{key} (fine-tuned)", ft.input, ft.output, ft.training, ft.hosting_per_hour, True)
        return UnitPrice(key, price.input, price.output, fine_tuned=fine)
    return None


# ---- cost of a variant -------------------------------------------------------------------

@dataclass(frozen=True)
class VariantCost:
    variant: str
    price: UnitPrice
    prompt_tokens: float
    completion_tokens: float
    training_tokens: float = 0.0
    hosting_hours_per_day: float = 0.0
    amortize_days: float = 30.0

    @property
    def per_request(self) -> float:
        return (self.prompt_tokens * self.price.input + self.completion_tokens * self.price.output) / 1e6

    @property
    def per_1k_requests(self) -> float:
        return 1000 * self.per_request

    @property
    def training_cost(self) -> float:
        return self.training_tokens * self.price.training / 1e6

    @property
    def fixed_per_day(self) -> float:
        """Hosting for the day plus the training cost spread over `amortize_days`."""
        return (self.price.hosting_per_hour * self.hosting_hours_per_day
                + self.training_cost / self.amortize_days)

    def daily(self, requests_per_day: float) -> float:
        return requests_per_day * self.per_request + self.fixed_per_day


@dataclass(frozen=True)
class BreakEven:
    """When `candidate` is cheaper than `baseline` per day: above/below `requests_per_day`,
    always, or never."""

    kind: Literal["above", "below", "always", "never"]
    requests_per_day: float | None = None

    def describe(self, candidate: str, baseline: str) -> str:
        if self.kind == "never":
            return f"{candidate} is never cheaper than {baseline}, at any number of requests per day"
        if self.kind == "always":
            return f"{candidate} is cheaper than {baseline} at every number of requests per day"
        word = "above" if self.kind == "above" else "below"
        return f"{candidate} is cheaper than {baseline} {word} {self.requests_per_day:,.0f} requests/day"


def break_even(baseline: VariantCost, candidate: VariantCost) -> BreakEven:
    """Solve candidate.daily(R) < baseline.daily(R) for R >= 0."""
    saving = baseline.per_request - candidate.per_request  # per request, by switching
    extra = candidate.fixed_per_day - baseline.fixed_per_day  # per day, by switching
    if math.isclose(saving, 0.0, abs_tol=1e-15):
        return BreakEven("always") if extra < 0 else BreakEven("never")
    point = extra / saving
    if saving > 0:
        return BreakEven("always") if point <= 0 else BreakEven("above", point)
    return BreakEven("never") if point <= 0 else BreakEven("below", point)


def requests_grid(points: Iterable[float] = (), lo: float = 10, hi: float = 1e6) -> list[float]:
    """Log-spaced requests/day from lo to hi (4 per decade), plus the given points."""
    grid = {round(10 ** (math.log10(lo) + i / 4), 6) for i in range(int(4 * math.log10(hi / lo)) + 1)}
    return sorted(grid | {float(p) for p in points if p and p > 0})


def tco_series(costs: list[VariantCost], requests_per_day: Iterable[float],
               baseline: str | None = None, candidate: str | None = None) -> dict[str, Any]:
    """Chart data: daily cost of each variant at each requests/day, and the break-even."""
    xs = [float(x) for x in requests_per_day]
    out: dict[str, Any] = {
        "requests_per_day": xs,
        "series": {c.variant: [c.daily(x) for x in xs] for c in costs},
        "fixed_per_day": {c.variant: c.fixed_per_day for c in costs},
        "per_request": {c.variant: c.per_request for c in costs},
    }
    by_name = {c.variant: c for c in costs}
    if baseline in by_name and candidate in by_name:
        be = break_even(by_name[baseline], by_name[candidate])
        out["break_even"] = {"baseline": baseline, "candidate": candidate, "kind": be.kind,
                             "requests_per_day": be.requests_per_day,
                             "text": be.describe(candidate, baseline)}
    return out


@dataclass
class CostReport:
    """Everything `evalkit cost` prints; `tco` is `tco_series` output (or None)."""

    prices: PriceTable
    costs: list[VariantCost]
    unpriced: dict[str, str] = field(default_factory=dict)  # variant -> why
    tco: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)
    # Prompt-token means of every variant that has one, priced or not, and the variant sending the
    # full definitions they compare against (a local model's full->short saving has no price).
    prompt_tokens: dict[str, float] = field(default_factory=dict)
    reference: str | None = None


# ---- a suite's costs ---------------------------------------------------------------------

DEFAULT_COMPLETION_TOKENS = 20.0  # a function call's arguments or a short clarifying question


@dataclass(frozen=True)
class _Pricing:
    """What pricing a set of variants needs: from a suite as it is, or from a run's record."""

    variants: Sequence[Any]  # VariantSpec or rundir.run.VariantInfo: name, provider, model, ...
    table: PriceTable
    tco: TcoSpec
    base_dir: Path | None  # where tco.training_file is relative to
    where: str | None  # the file to name in an error
    strict: bool  # a suite: a missing training file is an error; a run: a note


def _training_tokens(pricing: _Pricing, variant: Any, notes: list[str]) -> float:
    tco = pricing.tco
    trial = getattr(variant, "trial", None) or {}
    if tco.training_tokens is not None:
        return float(tco.training_tokens)
    if trial.get("trained_tokens"):
        return float(trial["trained_tokens"])
    if not tco.training_file:
        notes.append(f"no training tokens known for {variant.name} (set tco.training_tokens, "
                     f"tco.training_file or trial.trained_tokens): training cost counted as 0")
        return 0.0
    import json

    from .tokens import count_training_example, encoding_for_variant

    path = (pricing.base_dir or Path(".")) / tco.training_file
    if not path.is_file():
        if pricing.strict:
            raise SuiteError(pricing.where, f"training file {path} not found", field="tco.training_file")
        notes.append(f"training file {path} is not there any more: training cost counted as 0")
        return 0.0
    encoding = encoding_for_variant(variant)
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    per_epoch = sum(count_training_example(json.loads(line), encoding) for line in lines)
    epochs = tco.n_epochs or trial.get("n_epochs")
    if not epochs:
        epochs = 3
        notes.append("training epochs unknown (set tco.n_epochs or trial.n_epochs): assumed 3")
    notes.append(f"training: {len(lines)} examples x {epochs} epochs = {per_epoch * epochs:,} tokens")
    return float(per_epoch * epochs)


def suite_costs(suite: Any, prompt_tokens: Mapping[str, float | None],
                completion_tokens: Mapping[str, float | None] | None = None) -> CostReport:
    """Per-variant cost and the TCO comparison of a suite as it is now, from token means."""
    spec = suite.spec
    pricing = _Pricing(suite.variants, merge_prices(default_prices(), spec.prices, suite.path),
                       spec.tco or TcoSpec(), Path(suite.path).parent, suite.path, strict=True)
    return _costs(pricing, prompt_tokens, completion_tokens)


def cost_snapshot(suite: Any) -> dict[str, Any]:
    """What run.json records so a run is priced as it was run: the price table (shipped prices
    with the suite's `prices:` applied) and the suite's `tco:` section."""
    spec = suite.spec
    table = merge_prices(default_prices(), spec.prices, suite.path)
    return {"prices": table.model_dump(mode="json"),
            "tco": spec.tco.model_dump(mode="json") if spec.tco else None}


def token_means(summary: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Per variant, the mean prompt tokens (API-reported, else counted) and completion tokens."""
    prompt, completion = {}, {}
    for name, m in summary.get("variants", {}).items():
        prompt[name] = m.get("api_prompt_tokens") if m.get("api_prompt_tokens") is not None else m.get("prompt_tokens")
        completion[name] = m.get("completion_tokens")
    return prompt, completion


def _recorded(model: type[BaseModel], data: Any, where: str, key: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        raise InputError(where, err["msg"], field=".".join([key, *map(str, err["loc"])])) from None


def run_costs(run: Run, summary: Mapping[str, Any]) -> CostReport:
    """A run's costs from what it recorded (run.json's price table, `tco:` and variant
    settings) and its measured token means; the suite file is never read."""
    where = str(run.path / INFO)
    notes = []
    table = _recorded(PriceTable, run.info.prices, where, "prices") if run.info.prices is not None \
        else default_prices()
    tco = _recorded(TcoSpec, run.info.tco or {}, where, "tco")
    if run.info.prices is None:
        notes.append("this run did not record its prices: priced with the shipped table "
                     f"({table.source.strip()}, {table.date})")
    suite_path = run.info.suite_path
    pricing = _Pricing([run.variant(name) for name in summary.get("variants", {})], table, tco,
                       Path(suite_path).parent if suite_path else None, where, strict=False)
    report = _costs(pricing, *token_means(summary))
    report.notes[:0] = notes
    return report


def _costs(pricing: _Pricing, prompt_tokens: Mapping[str, float | None],
           completion_tokens: Mapping[str, float | None] | None = None) -> CostReport:
    tco, table = pricing.tco, pricing.table
    report = CostReport(prices=table, costs=[])
    report.prompt_tokens = {v.name: float(prompt_tokens[v.name]) for v in pricing.variants
                            if prompt_tokens.get(v.name) is not None}
    report.reference = next((v.name for v in pricing.variants
                             if getattr(v, "functions", None) == "full" and v.name in report.prompt_tokens), None)
    for v in pricing.variants:
        price = unit_price(table, v)
        prompt = prompt_tokens.get(v.name)
        if price is None and provider_traits(v.provider).local:
            report.unpriced[v.name] = "runs on this machine: no per-token price (price it under prices.models)"
            continue
        if price is None:
            report.unpriced[v.name] = f"no price for model '{v.base_model or v.model}': add it under prices.models"
            continue
        if prompt is None:
            report.unpriced[v.name] = "no prompt-token count"
            continue
        completion = (completion_tokens or {}).get(v.name)
        if completion is None:
            completion = tco.completion_tokens if tco.completion_tokens is not None else DEFAULT_COMPLETION_TOKENS
        fine = price.fine_tuned
        report.costs.append(VariantCost(
            v.name, price, float(prompt), float(completion),
            training_tokens=_training_tokens(pricing, v, report.notes) if fine else 0.0,
            hosting_hours_per_day=tco.hosting_hours_per_day if fine else 0.0,
            amortize_days=tco.amortize_days))
    baseline, candidate = _pair(pricing, report.costs)
    if baseline and candidate:
        by_name = {c.variant: c for c in report.costs}
        point = break_even(by_name[baseline], by_name[candidate]).requests_per_day
        grid = tco.requests_per_day or requests_grid([point or 0])
        report.tco = tco_series(report.costs, grid, baseline, candidate)
    return report


def _pair(pricing: _Pricing, costs: list[VariantCost]) -> tuple[str | None, str | None]:
    tco = pricing.tco
    names = {c.variant: c for c in costs}
    for field_name, value in (("tco.baseline", tco.baseline), ("tco.candidate", tco.candidate)):
        if value and value not in {v.name for v in pricing.variants} and pricing.strict:
            raise SuiteError(pricing.where, f"no variant named '{value}'", field=field_name)
    baseline = tco.baseline or next((c.variant for c in costs if not c.price.fine_tuned), None)
    candidate = tco.candidate or next((c.variant for c in costs if c.price.fine_tuned), None)
    if baseline not in names or candidate not in names or baseline == candidate:
        return None, None
    return baseline, candidate
