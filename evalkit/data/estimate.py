"""`evalkit data estimate`: tokens per example, epochs, billed training tokens and their cost.

The rules are those of OpenAI's chat fine-tuning data-preparation recipe: an example longer than
the per-example cap (16,385 tokens) is truncated to it, so it bills the cap; without `--epochs`
the job trains 3 epochs, more for small files (to reach ~100 example passes, at most 25) and
fewer for large ones (to stay near 25,000 passes, at least 1). Billed tokens = epochs x the
file's (capped) tokens. Tokens are counted with evalkit.analysis.tokens; prices come from evalkit.analysis.cost.
"""
from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Sequence

from ..analysis.cost import PriceTable, default_prices, unit_price

MAX_TOKENS_PER_EXAMPLE = 16_385
TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25


def default_epochs(n_examples: int) -> int:
    """The epochs a job trains when none are given."""
    if n_examples <= 0:
        return TARGET_EPOCHS
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    if n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return TARGET_EPOCHS


def epochs_rule(n_examples: int) -> str:
    epochs = default_epochs(n_examples)
    if n_examples * TARGET_EPOCHS < MIN_TARGET_EXAMPLES:
        return (f"{n_examples} examples x {TARGET_EPOCHS} < {MIN_TARGET_EXAMPLES}: "
                f"min({MAX_DEFAULT_EPOCHS}, {MIN_TARGET_EXAMPLES} // {n_examples}) = {epochs} epochs")
    if n_examples * TARGET_EPOCHS > MAX_TARGET_EXAMPLES:
        return (f"{n_examples} examples x {TARGET_EPOCHS} > {MAX_TARGET_EXAMPLES}: "
                f"max({MIN_DEFAULT_EPOCHS}, {MAX_TARGET_EXAMPLES} // {n_examples}) = {epochs} epochs")
    return f"default {TARGET_EPOCHS} epochs"


def training_price(model: str, provider: str | None = None, prices: PriceTable | None = None) -> tuple[str, float] | None:
    """(price-table key, USD per 1M trained tokens) of fine-tuning `model`, or None if unpriced."""
    # A fine-tuned version of `model` is what training produces: price it as one.
    as_fine_tuned = SimpleNamespace(provider=provider, model=None, base_model=model, adapter="training")
    price = unit_price(prices or default_prices(), as_fine_tuned)
    if price is None or not price.fine_tuned or not price.training:
        return None
    return price.key, price.training


@dataclass(frozen=True)
class Estimate:
    lengths: tuple[int, ...]  # tokens per example, uncapped
    epochs: int
    epochs_given: bool
    price_key: str | None
    price_per_1m: float | None

    @property
    def n_examples(self) -> int:
        return len(self.lengths)

    @property
    def over_cap(self) -> list[int]:
        """Indexes of examples longer than the cap (truncated, billed at the cap)."""
        return [i for i, n in enumerate(self.lengths) if n > MAX_TOKENS_PER_EXAMPLE]

    @property
    def billed_per_epoch(self) -> int:
        return sum(min(MAX_TOKENS_PER_EXAMPLE, n) for n in self.lengths)

    @property
    def billed_tokens(self) -> int:
        return self.epochs * self.billed_per_epoch

    @property
    def cost(self) -> float | None:
        return None if self.price_per_1m is None else self.billed_tokens * self.price_per_1m / 1e6


def estimate(lengths: Sequence[int], epochs: int | None = None, price: tuple[str, float] | None = None) -> Estimate:
    return Estimate(tuple(lengths), epochs if epochs else default_epochs(len(lengths)), bool(epochs),
                    price[0] if price else None, price[1] if price else None)
