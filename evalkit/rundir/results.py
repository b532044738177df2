"""The run directory: results.jsonl (one line per case x variant x repeat), summary.json, report.html.

A result line is plain JSON so users can open it with jq or pandas; `Result` is its typed form.
Everything written here is standard JSON in UTF-8 (evalkit/jsontext.py: no bare NaN, no lone
surrogates) with every credential scrubbed (evalkit/secrets.py).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import orjson

from .. import jsontext, secrets
from ..gcpause import paused_gc
from ..errors import InputError
from ..scoring import VERDICTS
from ..suite.model import AnyOf, Expectation

RESULTS = "results.jsonl"
SUMMARY = "summary.json"
REPORT = "report.html"
FUNCTIONS = "functions.json"
INFO = "run.json"  # what the run was: suite, variants' settings, identity, prices; rundir/run.py reads it


def expectation_json(expect: Expectation) -> dict[str, Any]:
    def value(v: Any) -> Any:
        return {"any_of": list(v.values), "optional": v.optional} if isinstance(v, AnyOf) else v

    return {
        "refuse": expect.refuse,
        "calls": [{"name": c.name, "arguments": None if c.arguments is None else
                   {k: value(v) for k, v in c.arguments.items()}} for c in expect.calls],
    }


@dataclass
class Result:
    case_id: str
    variant: str
    repeat: int
    verdict: str
    reason: str
    should_call: bool
    expected: dict[str, Any]
    calls: list[dict[str, Any]]
    content: str | None
    messages: list[dict[str, Any]]
    functions_sha: str
    model: str
    api: str
    usage: dict[str, Any] | None = None
    tokens: dict[str, Any] | None = None
    latency_s: float | None = None
    error: str | None = None
    raw: Any = None
    tags: list[str] = field(default_factory=list)
    name_correct: bool | None = None
    cached: bool = False  # replayed from the response cache, no request made
    batch: bool = False  # answered through the Batch API (50% price)

    def to_line(self) -> str:
        # a shallow dict: json.dumps walks the nested values itself (asdict's deep copy cost ~0.1 ms/case)
        record: dict[str, Any] = self.__dict__
        try:
            line = jsontext.dumps(record)
        except RecursionError:  # a raw response nested deeper than the encoder goes: keep the verdict
            record = {**record, "raw": {"unrecorded": "the raw response nests too deep to store"}}
            line = jsontext.dumps(record)
        if secrets.found(line):
            line = jsontext.dumps(secrets.scrub_value(record))
        return line


class ResultsWriter:
    """Appends one line per finished result and flushes, so a killed run keeps what it finished.
    Each write is whole lines: a failure (disk full) leaves at worst one torn line at the end,
    which resume cuts."""

    def __init__(self, path: Path):
        self.path = path
        self._f = open(path, "ab")

    def write(self, results: Iterable[Result]) -> None:
        data = "".join(r.to_line() + "\n" for r in results).encode("utf-8")
        self._f.write(data)
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()


def read_results(run_dir: Path) -> list[dict[str, Any]]:
    """Load results.jsonl; a torn last line (killed mid-write) is skipped, other bad lines are errors."""
    with paused_gc():
        return list(iter_results(run_dir))


def _parse(line: str) -> Any:
    """One result line. orjson reads standard JSON twice as fast as json.loads; what it refuses
    (a line that is not standard JSON, or an int past 64 bits) is read by json.loads, which gives
    the error message, or the value as evalkit always read it."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)


def iter_results(run_dir: Path) -> Iterator[dict[str, Any]]:
    """results.jsonl one checked record at a time (what `read_results` lists), so a reader that
    only aggregates never holds the whole file or every record."""
    path = Path(run_dir) / RESULTS
    if not path.is_file():
        raise InputError(str(path), "no results.jsonl here: is this an evalkit run directory?")
    with path.open(encoding="utf-8") as f:
        lines = enumerate(f, 1)
        pending = next(lines, None)
        while pending is not None:
            i, line = pending
            pending = next(lines, None)
            if not line.strip():
                continue
            try:
                rec = _parse(line)
            except json.JSONDecodeError as e:
                if pending is None:
                    break  # torn final write of a killed run
                raise InputError(str(path), f"corrupt result line ({e.msg})", line=i) from None
            if not isinstance(rec, dict) or not {"case_id", "variant", "verdict"} <= rec.keys():
                raise InputError(str(path), "result line lacks case_id/variant/verdict", line=i)
            yield check_record(rec, path, i)


# Fields every reader relies on, with the JSON types `Result` writes them as (None allowed where listed).
_TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "variant": ((str,), "a string"),
    "repeat": ((int,), "an integer"),
    "should_call": ((bool,), "true or false"),
    "name_correct": ((bool, type(None)), "true, false or null"),
    "calls": ((list,), "a list"),
    "tags": ((list,), "a list"),
    "usage": ((dict, type(None)), "an object or null"),
    "tokens": ((dict, type(None)), "an object or null"),
    "latency_s": ((int, float, type(None)), "a number or null"),
}
_REQUIRED = ("should_call",)
_VERDICTS = frozenset(VERDICTS)


def check_record(rec: dict[str, Any], path: Path, line: int) -> dict[str, Any]:
    """Validate one result line once, here, so no later stage re-checks or trips over it."""
    if rec["verdict"] not in _VERDICTS:
        raise InputError(str(path), f"unknown verdict {rec['verdict']!r} (expected one of "
                         f"{', '.join(VERDICTS)})", line=line, field="verdict")
    if isinstance(rec["case_id"], bool) or not isinstance(rec["case_id"], (str, int)):
        raise InputError(str(path), "expected a string", line=line, field="case_id")
    rec["case_id"] = str(rec["case_id"])
    for key in _REQUIRED:
        if key not in rec:
            raise InputError(str(path), "missing", line=line, field=key)
    for key, (types, what) in _TYPES.items():
        if key in rec:
            value = rec[key]
            if not isinstance(value, types) or (value is True or value is False) and bool not in types:
                raise InputError(str(path), f"expected {what}, got {json.dumps(value)[:40]}", line=line, field=key)
    return rec


def read_json(path: Path, what: str) -> Any:
    if not path.is_file():
        raise InputError(str(path), f"no {what} here")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(str(path), f"corrupt {what} ({e.msg})", line=e.lineno) from None


def write_json(path: Path, data: Any) -> None:
    """Atomically (write, then rename): standard JSON, credentials scrubbed."""
    text = jsontext.dumps(data, indent=2)
    if secrets.found(text):
        text = jsontext.dumps(secrets.scrub_value(data), indent=2)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)
