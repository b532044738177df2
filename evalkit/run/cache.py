"""A content-addressed response cache in one local SQLite file.

Key: sha256 of the exact request (wire format, model, messages, tools, temperature, max_tokens, the
variant's `params`) and of the responder (`endpoint_of`: endpoint, api-version, a fingerprint of the
credential, and in end-to-end mode the tools module's fingerprint) plus the repeat index, so a
rerun of an unchanged suite replays every repeat's own response and makes no request, and any
change to what is sent, to whom, or to what runs the calls is a miss. Only deterministic requests
(temperature 0) are cached. Lookups are done in one query before a run starts and new responses
are stored in batches, so the cache never sits on the request path.

Location: $EVALKIT_CACHE_DIR/responses.sqlite, else $XDG_CACHE_HOME/evalkit/, else ~/.cache/evalkit/.
"""
from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from pathlib import Path
from typing import Any, Iterable

from ..errors import ConfigError
from ..providers.base import ChatRequest, Completion, Provider, ToolCall, Usage

FILENAME = "responses.sqlite"
SCHEMA = """CREATE TABLE IF NOT EXISTS responses (
  key TEXT PRIMARY KEY, completion TEXT NOT NULL, latency_s REAL, created REAL DEFAULT (strftime('%s','now')))"""


def cache_dir() -> Path:
    if os.environ.get("EVALKIT_CACHE_DIR"):
        return Path(os.environ["EVALKIT_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "evalkit"


def cacheable(request: ChatRequest) -> bool:
    return request.temperature == 0


def request_key(request: ChatRequest, endpoint: str, repeat: int) -> str:
    body = {"endpoint": endpoint, "api": request.api, "model": request.model, "messages": request.messages,
            "tools": request.tools, "temperature": request.temperature, "max_tokens": request.max_tokens,
            "extra": request.extra, "repeat": repeat}
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def completion_json(c: Completion) -> str:
    return json.dumps({"content": c.content, "calls": [[t.name, t.arguments, t.id] for t in c.calls],
                       "usage": None if c.usage is None else [c.usage.prompt_tokens, c.usage.completion_tokens,
                                                              c.usage.cached_tokens],
                       "raw": c.raw, "finish_reason": c.finish_reason, "model": c.model},
                      ensure_ascii=False, default=str)


def completion_from_json(text: str) -> Completion:
    d = json.loads(text)
    return Completion(d["content"], tuple(ToolCall(*t) for t in d["calls"]),
                      None if d["usage"] is None else Usage(*d["usage"]), d["raw"], d["finish_reason"],
                      model=d.get("model"))


class ResponseCache:
    def __init__(self, path: Path | None = None):
        self.path = path or cache_dir() / FILENAME
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(SCHEMA)
        except sqlite3.Error as e:
            raise ConfigError(f"response cache {self.path}: {e} (use --no-cache to run without it)") from None

    def get_many(self, keys: Iterable[str]) -> dict[str, tuple[Completion, float | None]]:
        keys = list(dict.fromkeys(keys))
        out: dict[str, tuple[Completion, float | None]] = {}
        for i in range(0, len(keys), 500):  # SQLite's bound-parameter limit
            chunk = keys[i:i + 500]
            rows = self._db.execute(f"SELECT key, completion, latency_s FROM responses WHERE key IN "
                                    f"({','.join('?' * len(chunk))})", chunk)
            for key, text, latency in rows:
                out[key] = (completion_from_json(text), latency)
        return out

    def put_many(self, items: Iterable[tuple[str, Completion, float | None]]) -> None:
        rows = [(k, completion_json(c), lat) for k, c, lat in items]
        if rows:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany("INSERT OR REPLACE INTO responses (key, completion, latency_s) "
                                     "VALUES (?, ?, ?)", rows)

    def count(self) -> int:
        return self._db.execute("SELECT count(*) FROM responses").fetchone()[0]

    def clear(self) -> int:
        n = self.count()
        self._db.execute("DELETE FROM responses")
        self._db.execute("VACUUM")
        return n

    def close(self) -> None:
        self._db.close()


def endpoint_of(provider: Provider, variant: Any, tools_sha: str | None = None) -> str:
    """What identifies the responder: where requests go (the provider's own endpoint when it
    declares one, else its settings), the query every request carries (Azure's api-version), which
    credential answers (different keys may reach different deployments, quotas or fine-tunes) and,
    in end-to-end mode, the tools module that produced the later steps."""
    own = provider.endpoint
    where = own if own is not None else {"provider": variant.provider, "base_url": variant.base_url,
                                         "adapter": variant.adapter, "options": variant.options}
    query = provider.request_query
    return json.dumps({"endpoint": where, "query": None if query is None else dict(query),
                       "credential": provider.credential_id, "execute": tools_sha}, sort_keys=True, default=str)
