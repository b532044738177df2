"""The cases x variants data the page's script draws the grid and the detail panel from.

It travels as JSON inside <script type="application/json">, with <, > and & written as \\u003c,
\\u003e and \\u0026 so no case text can close the script element; the script only ever puts
it on the page through textContent. Repeated text (prompts, function definitions) is stored once.
"""
from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from markupsafe import Markup

RAW_LIMIT = 20_000  # characters of a raw response kept in the page


def script_json(data: Any) -> Markup:
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, escape)
    return Markup(text)


def last_user(messages: Sequence[Mapping[str, Any]]) -> str:
    users = [m.get("content") for m in messages if m.get("role") == "user"]
    text = users[-1] if users else ""
    return text if isinstance(text, str) else json.dumps(text, ensure_ascii=False)


def _raw(raw: Any) -> Any:
    if raw is None:
        return None
    text = json.dumps(raw, ensure_ascii=False, default=str)
    return raw if len(text) <= RAW_LIMIT else text[:RAW_LIMIT] + f"… ({len(text):,} characters, cut)"


def _compact(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None and v != [] and v != {}}


def _full_keys(records: Sequence[Mapping[str, Any]], functions: Mapping[str, Any]) -> dict[str, str | None]:
    """Per case id, the functions.json key of its full definitions, when the run recorded them."""
    fulls = [k for k in functions if k.startswith("full:")]
    out: dict[str, str | None] = {}
    for r in records:
        key = "full:" + str(r.get("functions_sha"))
        if key in functions:
            out[r["case_id"]] = key
    default = fulls[0] if len(fulls) == 1 else None
    return {r["case_id"]: out.get(r["case_id"], default) for r in records}


def case_payload(variants: Sequence[str], records: Sequence[Mapping[str, Any]],
                 functions: Mapping[str, Any], case_order: Sequence[str] = ()) -> dict[str, Any]:
    vindex = {v: i for i, v in enumerate(variants)}
    messages: dict[str, int] = {}
    message_list: list[Any] = []
    fn_tokens: dict[str, int] = {}
    cases: dict[str, dict[str, Any]] = {c: {} for c in case_order}
    results = []
    full = _full_keys(records, functions)
    ordered = sorted(records, key=lambda r: r.get("repeat", 0))
    for r in ordered:
        if r["variant"] not in vindex:
            continue
        msgs = r.get("messages") or []
        key = json.dumps(msgs, sort_keys=True, ensure_ascii=False, default=str)
        if key not in messages:
            messages[key] = len(message_list)
            message_list.append(msgs)
        sha = r.get("functions_sha")
        tokens = r.get("tokens") or {}
        if sha and tokens.get("functions") is not None:
            fn_tokens.setdefault(sha, tokens["functions"])
        case = cases.setdefault(r["case_id"], {})
        if "id" not in case:
            case.update(_compact({"id": r["case_id"], "prompt": last_user(msgs), "tags": r.get("tags"),
                                  "call": bool(r.get("should_call", True)), "expected": r.get("expected"),
                                  "full": full.get(r["case_id"])}))
            case["cells"] = [[] for _ in variants]
        case["cells"][vindex[r["variant"]]].append(len(results))
        results.append(_compact({
            "v": vindex[r["variant"]], "r": r.get("repeat", 0), "verdict": r["verdict"], "reason": r.get("reason"),
            "calls": r.get("calls"), "content": r.get("content"), "m": messages[key], "fn": sha,
            "tok": r.get("tokens"), "usage": r.get("usage"), "lat": r.get("latency_s"), "error": r.get("error"),
            "model": r.get("model"), "api": r.get("api"), "raw": _raw(r.get("raw"))}))
    for sha, tokens in list(fn_tokens.items()):
        if "full:" + sha in functions:  # this variant sent the full definitions: same count
            fn_tokens["full:" + sha] = tokens
    used = {r.get("fn") for r in results} | {c.get("full") for c in cases.values()}
    return {
        "variants": list(variants),
        "cases": [c for c in cases.values() if "id" in c],
        "results": results,
        "messages": message_list,
        "functions": {k: v for k, v in functions.items() if k in used},
        "fn_tokens": fn_tokens,
    }
