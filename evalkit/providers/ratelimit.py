"""Keeping a run inside what an endpoint allows: requests/tokens per minute, and a retry budget.

`RateLimiter` is a token bucket per variant (requests and, optionally, estimated tokens per minute),
awaited before each request. `RetryBudget` caps retries across a whole run: openai-python retries
each request on its own (429, 5xx, timeouts, connection errors, honouring retry-after /
retry-after-ms), and without a cap a dead or hung endpoint turns every request into max_retries
slow attempts. Every retry of every kind draws on the budget; it is enforced where each attempt is
sent (evalkit/providers/http_transport.py `AttemptsMixin`): a retryable response over the budget
is marked `x-should-retry: false`, which openai-python obeys, and a timeout or connection failure
over it is raised as final.
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

RETRYABLE = frozenset({408, 409, 429})


class RateLimiter:
    """Requests and tokens per minute as two token buckets that refill continuously."""

    def __init__(self, requests_per_minute: float | None = None, tokens_per_minute: float | None = None):
        self.rpm, self.tpm = requests_per_minute, tokens_per_minute
        now = time.monotonic()
        # start with a small burst allowance so a run does not stall on its first second
        self._req = requests_per_minute / 60.0 if requests_per_minute else 0.0
        self._tok = tokens_per_minute / 60.0 if tokens_per_minute else 0.0
        self._stamp = now
        self._lock = asyncio.Lock()

    @property
    def active(self) -> bool:
        return bool(self.rpm or self.tpm)

    def _refill(self, now: float) -> None:
        dt = now - self._stamp
        self._stamp = now
        if self.rpm:
            self._req = min(self.rpm / 60.0 + 1.0, self._req + dt * self.rpm / 60.0)
        if self.tpm:
            self._tok = min(self.tpm / 60.0 + 1.0, self._tok + dt * self.tpm / 60.0)

    def wait_time(self, tokens: int, now: float) -> float:
        """Seconds until one request of `tokens` tokens fits (0: it fits now). Pure given the state."""
        self._refill(now)
        waits = [0.0]
        if self.rpm and self._req < 1.0:
            waits.append((1.0 - self._req) * 60.0 / self.rpm)
        if self.tpm:
            need = min(float(tokens), self.tpm / 60.0)  # a request larger than a second's worth still runs
            if self._tok < need:
                waits.append((need - self._tok) * 60.0 / self.tpm)
        return max(waits)

    async def acquire(self, tokens: int = 0) -> None:
        if not self.active:
            return
        async with self._lock:  # FIFO: whoever waits longest goes first
            while (delay := self.wait_time(tokens, time.monotonic())) > 0:
                await asyncio.sleep(delay)
            if self.rpm:
                self._req -= 1.0
            if self.tpm:
                self._tok -= min(float(tokens), self.tpm / 60.0)


@dataclass
class RetryBudget:
    """At most `minimum + ratio * requests` retries in a run (a retry budget in the Finagle sense)."""

    minimum: int = 100
    ratio: float = 0.5
    requests: int = 0
    retries: int = 0
    refused: int = field(default=0)

    def allow(self) -> bool:
        if self.retries < self.minimum + self.ratio * self.requests:
            self.retries += 1
            return True
        self.refused += 1
        return False


def is_retryable(status: int) -> bool:
    return status in RETRYABLE or status >= 500
