"""The cases x variants data the page's script draws the grid and the detail panel from.

Two pieces, so that a report of 100,000 results stays small and opens fast:
- the grid (`#evalkit-data`, JSON): what the grid and its filters need, one array per column
  (case id, prompt, tags; per result its case, variant, repeat, verdict and reason), with
  repeated strings stored once;
- the detail (`#evalkit-detail`): everything else the panel shows (calls, text, prompt
  messages, function definitions, tokens, raw response), also column-wise, as JSON
  compressed with zlib and written in base64. The page unpacks it the first time a cell is
  opened (DecompressionStream), so nothing of it is parsed or drawn before then.
The grid JSON has <, > and & written as \\u003c, \\u003e and \\u0026 so no case text can close
the script element (base64 has none of them); the script only ever puts text on the page
through textContent.
"""
from __future__ import annotations

import base64
import json
import zlib
from typing import Any, Mapping, Sequence

import orjson
from markupsafe import Markup

from ..jsontext import dumps as standard_dumps

RAW_LIMIT = 20_000  # characters of a raw response kept in the page
FORMAT = 2  # the layout of the two pieces; bump when it changes


def _json_bytes(value: Any) -> bytes:
    """Compact JSON (UTF-8) for the page. orjson is ~5x faster than json.dumps here (the report's
    largest cost at 100,000 results); what it refuses (a lone surrogate, a non-string key, a huge
    int) goes through evalkit.jsontext, which also turns non-finite numbers into strings where
    orjson writes null. Either way the browser's JSON.parse reads it."""
    try:
        return orjson.dumps(value, default=str)
    except (TypeError, orjson.JSONEncodeError):
        return standard_dumps(value).encode("utf-8")


def _json(value: Any) -> str:
    return _json_bytes(value).decode("utf-8")


def script_json(data: Any) -> Markup:
    text = _json(data)
    for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return Markup(text)


def last_user(messages: Sequence[Mapping[str, Any]]) -> str:
    users = [m.get("content") for m in messages if m.get("role") == "user"]
    text = users[-1] if users else ""
    return text if isinstance(text, str) else json.dumps(text, ensure_ascii=False)


def _raws_json(raws: Sequence[Any], chunk: int = 32) -> bytes:
    """The raw responses as the items of a JSON array, each cut past RAW_LIMIT. Encoded a chunk
    at a time: a chunk whose text is within the limit cannot hold a raw past it."""
    parts = []
    for at in range(0, len(raws), chunk):
        part = raws[at:at + chunk]
        data = _json_bytes(part)  # UTF-8: at least as many bytes as characters
        parts.append(data[1:-1] if len(data) <= RAW_LIMIT else
                     b",".join(b"null" if raw is None else _raw_json(raw).encode("utf-8") for raw in part))
    return b",".join(p for p in parts if p)


def _raw_json(raw: Any) -> str:
    """The raw response as JSON text, cut (into a JSON string saying so) past RAW_LIMIT."""
    text = _json(raw)
    if len(text) <= RAW_LIMIT:
        return text
    return json.dumps(text[:RAW_LIMIT] + f"… ({len(text):,} characters, cut)", ensure_ascii=False)


def _messages_key(msgs: Sequence[Any]) -> Any:
    """A hashable stand-in for a prompt, to store each distinct prompt once. Plain text messages
    (the common case) key on their items; anything else on its JSON text."""
    try:
        return tuple(tuple(m.items()) for m in msgs)
    except (AttributeError, TypeError):
        return json.dumps(msgs, sort_keys=True, ensure_ascii=False, default=str)


def _full_keys(records: Sequence[Mapping[str, Any]], functions: Mapping[str, Any]) -> dict[str, str | None]:
    """Per case id, the functions.json key of its full definitions, when the run recorded them."""
    fulls = [k for k in functions if k.startswith("full:")]
    recorded = {sha: "full:" + str(sha) in functions for sha in {r.get("functions_sha") for r in records}}
    out: dict[str, str | None] = {}
    for r in records:
        sha = r.get("functions_sha")
        if recorded[sha]:
            out.setdefault(r["case_id"], "full:" + str(sha))
    default = fulls[0] if len(fulls) == 1 else None
    return out if default is None else {**dict.fromkeys((r["case_id"] for r in records), default), **out}


class _Prompts:
    """Each distinct prompt (a result's messages) stored once, by index. Results of one case
    mostly share it, so a prompt is first compared with those already seen for its case."""

    def __init__(self) -> None:
        self.values: list[Any] = []
        self._by_case: dict[str, list[int]] = {}
        self._by_key: dict[Any, int] = {}

    def __call__(self, case: str, msgs: Any) -> int:
        seen = self._by_case.setdefault(case, [])
        for i in seen:
            if self.values[i] == msgs:
                return i
        key = _messages_key(msgs)  # the same prompt may come with another case
        i = self._by_key.get(key)
        if i is None:
            i = self._by_key[key] = len(self.values)
            self.values.append(msgs)
        seen.append(i)
        return i


class _Strings:
    """A table of distinct strings; a column holds their indexes (-1 for none)."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.values: list[str] = []

    def __call__(self, text: Any) -> int:
        if text is None or text == "":
            return -1
        text = str(text)
        i = self.index.get(text)
        if i is None:
            i = self.index[text] = len(self.values)
            self.values.append(text)
        return i


def case_payload(variants: Sequence[str], records: Sequence[Mapping[str, Any]],
                 functions: Mapping[str, Any], case_order: Sequence[str] = (),
                 verdicts: Sequence[str] = ()) -> tuple[dict[str, Any], str]:
    """(grid JSON object, detail as base64 of zlib-compressed JSON). Results are listed by
    repeat, so a cell's attempts come in order; cases in `case_order`, then as first seen."""
    vindex = {v: i for i, v in enumerate(variants)}
    verdict_index = {v: i for i, v in enumerate(verdicts)}
    verdict_names = list(verdicts)
    rows = sorted((r for r in records if r["variant"] in vindex), key=lambda r: r.get("repeat", 0))
    case_index: dict[str, int] = {c: i for i, c in enumerate(dict.fromkeys(case_order))}
    first: dict[str, Mapping[str, Any]] = {}
    for r in rows:
        cid = r["case_id"]
        if cid not in first:
            first[cid] = r
            case_index.setdefault(cid, len(case_index))
    ids = [c for c in case_index if c in first]  # cases of case_order with no result are left out
    case_index = {c: i for i, c in enumerate(ids)}
    full = _full_keys(rows, functions)

    reasons = _Strings()
    prompts = _Prompts()
    for verdict in dict.fromkeys(r["verdict"] for r in rows):
        if verdict not in verdict_index:
            verdict_index[verdict] = len(verdict_names)
            verdict_names.append(verdict)
    res_case = [case_index[r["case_id"]] for r in rows]
    res_v = [vindex[r["variant"]] for r in rows]
    res_r = [r.get("repeat", 0) for r in rows]
    res_verdict = [verdict_index[r["verdict"]] for r in rows]
    res_reason = [reasons(r.get("reason")) for r in rows]
    res_m = [prompts(r["case_id"], r.get("messages") or []) for r in rows]
    message_list = prompts.values
    fn_tokens: dict[str, int] = {}
    for r in rows:
        sha = r.get("functions_sha")
        if sha and sha not in fn_tokens:
            tokens = r.get("tokens")
            if tokens and tokens.get("functions") is not None:
                fn_tokens[sha] = tokens["functions"]
    for sha, tokens in list(fn_tokens.items()):
        if "full:" + sha in functions:  # this variant sent the full definitions: same count
            fn_tokens["full:" + sha] = tokens

    cases = [first[c] for c in ids]
    grid = {
        "format": FORMAT,
        "variants": list(variants),
        "verdict_names": verdict_names,
        "cases": {"id": ids, "prompt": [last_user(r.get("messages") or []) for r in cases],
                  "tags": [r.get("tags") or 0 for r in cases],
                  "call": [1 if r.get("should_call", True) else 0 for r in cases]},
        "results": {"case": res_case, "v": res_v, "r": res_r, "verdict": res_verdict, "reason": res_reason},
        "reasons": reasons.values,
    }
    used = {r.get("functions_sha") for r in rows} | {full.get(c) for c in ids}
    detail = {
        "results": {
            "calls": [r.get("calls") or None for r in rows], "content": [r.get("content") for r in rows],
            "m": res_m, "fn": [r.get("functions_sha") for r in rows], "tok": [r.get("tokens") for r in rows],
            "usage": [r.get("usage") for r in rows], "lat": [r.get("latency_s") for r in rows],
            "error": [r.get("error") for r in rows], "model": [r.get("model") for r in rows],
            "api": [r.get("api") for r in rows]},
        "cases": {"expected": [r.get("expected") for r in cases], "full": [full.get(c) for c in ids]},
        "messages": message_list,
        "functions": {k: v for k, v in functions.items() if k in used},
        "fn_tokens": fn_tokens,
    }
    data = b'{"raw":[' + _raws_json([r.get("raw") for r in rows]) + b"]," + _json_bytes(detail)[1:]
    return grid, base64.b64encode(zlib.compress(data, 1)).decode("ascii")


def read_detail(blob: str) -> dict[str, Any]:
    """The detail piece back as JSON (what the page's script unpacks)."""
    return json.loads(zlib.decompress(base64.b64decode(blob)).decode("utf-8"))
