"""Keeping credentials out of everything evalkit stores or prints.

One scrub for all of it: results.jsonl (raw responses, error reasons), run files, provider error
messages and the lines the CLI prints. Removed: every configured key (each value registered when a
provider reads it, plus OPENAI_API_KEY and AZURE_OPENAI_API_KEY from the environment, taken when a
run or a provider starts: `register_environment`), and any
value after `Bearer ` or an `api-key` / `x-api-key` header name, whoever's key it is (a server that
echoes request headers into an error body). Values shorter than MIN_SECRET characters are not
treated as keys: placeholders such as `x` or `EMPTY` would otherwise erase ordinary text.
"""
from __future__ import annotations

import os
import re
from typing import Any

REDACTED = "[redacted]"
MIN_SECRET = 8
ENV_KEYS = ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY")

_registered: set[str] = set()
_ordered: tuple[str, ...] = ()  # longest first: a key containing another is replaced whole
_HEADER_WORDS = ("bearer", "api-key", "api_key", "apikey")
_HEADER_VALUE = re.compile(
    r"""(?i)(\bbearer\s+|\b(?:x-)?api[-_]?key\b["']?\s*[:=]\s*["']?)([^\s"'\\,;]{4,})""")


def register(value: str | None) -> None:
    """A key some provider sends: never store or print it."""
    global _ordered
    if value and len(value) >= MIN_SECRET and value not in _registered:
        _registered.add(value)
        _ordered = tuple(sorted(_registered, key=len, reverse=True))


def register_environment() -> None:
    """The well-known key variables, whichever provider reads them."""
    for name in ENV_KEYS:
        register(os.environ.get(name))


def _secrets() -> tuple[str, ...]:
    return _ordered


def found(text: str) -> bool:
    """Whether `text` holds anything `scrub` would remove (cheap: substring tests and one search)."""
    if any(s in text for s in _secrets()):
        return True
    low = text.lower()  # a substring prefilter: the header pattern itself is slow on every line
    return any(w in low for w in _HEADER_WORDS) and _HEADER_VALUE.search(text) is not None


def scrub(text: str) -> str:
    for secret in _secrets():
        if secret in text:
            text = text.replace(secret, REDACTED)
    return _HEADER_VALUE.sub(lambda m: m.group(1) + REDACTED, text)


def scrub_value(value: Any) -> Any:
    """`scrub` on every string (keys included) of a JSON-like value; other values unchanged."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub(k) if isinstance(k, str) else k: scrub_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub_value(v) for v in value]
    return value
