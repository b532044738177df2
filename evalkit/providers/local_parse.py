"""Find the function calls in a local model's free text.

A small model that was never trained on one exact format writes calls in many shapes. The parser
accepts, in this order of preference:

1. ``<tool_call> ... </tool_call>`` blocks (the format `local_prompt` asks for; the closing tag
   may be missing when generation stopped at the token cap), each holding one JSON object or a
   JSON list of objects;
2. fenced code blocks (```` ```json ... ``` ````) holding JSON;
3. bare JSON objects or lists anywhere in the text;
4. Python-style calls ``name(key="value", ...)`` of a function the request offered.

A JSON object is a call when it looks like one of::

    {"name": N, "arguments": {...}}          # also "parameters" / "args" / "params" / "input"
    {"name": N, "arguments": "{...}"}        # arguments as a JSON string (OpenAI wire style)
    {"function": {"name": N, "arguments": ...}}   # also with "type": "function"
    {"function": N, "arguments": ...}
    {"function_call": {...}} / {"tool_calls": [...]} / {"calls": [...]}
    {N: {...}}                               # only when N is an offered function name

A ``<reply>`` block (the answer form `local_prompt` documents next to calls) is no call: its text is
the content. Anything else (plain prose, JSON that is not a call) is no call. A ``<tool_call>`` block whose JSON
cannot be parsed still yields a call when a function name can be read from it, with the raw text as
its arguments, so scoring reports ``invalid_arguments`` rather than a silent refusal.

`arguments` in the result is always text: a JSON object serialised with `json.dumps` when the model
gave an object, or the model's own string otherwise (scoring parses it).
"""
from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any, Iterable

from .local_prompt import REPLY_TAG

_TAG_RE = re.compile(r"<tool_call>\s*(.*?)\s*(?:</tool_call>|<\|im_end\|>|$)", re.S | re.I)
_FENCE_RE = re.compile(r"```[a-zA-Z0-9_-]*\s*\n?(.*?)(?:```|$)", re.S)
_NAME_RE = re.compile(r"""["']?(?:name|function)["']?\s*[:=]\s*["']([A-Za-z_][\w.-]*)["']""")
_ARG_KEYS = ("arguments", "parameters", "args", "params", "input", "kwargs")
_LIST_KEYS = ("tool_calls", "calls", "function_calls", "tools")


@dataclass(frozen=True)
class ParsedCall:
    name: str
    arguments: str  # raw JSON text (or the model's unparseable text)


@dataclass(frozen=True)
class ParseResult:
    calls: tuple[ParsedCall, ...]
    content: str | None  # the text with the call markup removed; None when nothing remains


def parse_calls(text: str, tool_names: Iterable[str] = ()) -> ParseResult:
    """Extract the calls from `text`. `tool_names` (the offered functions) enables the
    `{name: {...}}` and Python-call shapes; JSON shapes with an explicit name need no list."""
    names = frozenset(tool_names)
    text = text or ""
    if text.lstrip().startswith(REPLY_TAG):
        return ParseResult((), _clean(text.lstrip()[len(REPLY_TAG):]))

    # 1. <tool_call> blocks
    if re.search(r"<tool_call>", text, re.I):
        calls: list[ParsedCall] = []
        for m in _TAG_RE.finditer(text):
            body = _strip_fence(m.group(1))
            found = _calls_in_json_text(body, names)
            if found:
                calls.extend(found)
            else:
                name = _NAME_RE.search(body)
                if name:
                    calls.append(ParsedCall(name.group(1), _raw_arguments(body)))
                else:
                    calls.extend(_python_calls(body, names))
        if calls:
            rest = _TAG_RE.sub("", text)
            return ParseResult(tuple(calls), _clean(rest))

    # 2. fenced blocks
    fenced = [m for m in _FENCE_RE.finditer(text) if m.group(1).strip()]
    if fenced:
        calls = []
        for m in fenced:
            calls.extend(_calls_in_json_text(m.group(1), names))
        if calls:
            return ParseResult(tuple(calls), _clean(_FENCE_RE.sub("", text)))

    # 3. bare JSON anywhere
    calls, spans = _scan_json(text, names)
    if calls:
        rest = text
        for start, end in reversed(spans):
            rest = rest[:start] + rest[end:]
        return ParseResult(tuple(calls), _clean(rest))

    # 4. Python-style calls of offered functions
    calls = _python_calls(text, names)
    if calls:
        return ParseResult(tuple(calls), None)

    return ParseResult((), _clean(text))


# ---- helpers -----------------------------------------------------------------------------------

def _clean(text: str) -> str | None:
    text = re.sub(r"</?tool_call>|</?reply>|<\|im_end\|>|<\|endoftext\|>", "", text).strip()
    return text or None


def _strip_fence(body: str) -> str:
    m = re.match(r"\s*```[a-zA-Z0-9_-]*\s*\n?(.*?)(?:```\s*)?$", body, re.S)
    return m.group(1) if m else body


def _calls_in_json_text(text: str, names: frozenset[str]) -> list[ParsedCall]:
    text = text.strip()
    try:
        value = json.loads(text)
    except ValueError:
        value = _MISSING
    if value is not _MISSING:
        return _calls_from_value(value, names)
    calls, _ = _scan_json(text, names)
    return calls


_MISSING = object()


def _scan_json(text: str, names: frozenset[str]) -> tuple[list[ParsedCall], list[tuple[int, int]]]:
    """Decode every top-level JSON object/list in `text`; keep those that are calls."""
    decoder = json.JSONDecoder()
    calls: list[ParsedCall] = []
    spans: list[tuple[int, int]] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch not in "{[":
            i += 1
            continue
        try:
            value, end = decoder.raw_decode(text, i)
        except ValueError:
            value, end = _lenient_decode(text, i)
            if value is _MISSING:
                i += 1
                continue
        found = _calls_from_value(value, names)
        if found:
            calls.extend(found)
            spans.append((i, end))
            i = end
        else:
            i += 1
    return calls, spans


def _lenient_decode(text: str, start: int) -> tuple[Any, int]:
    """Python-literal objects ({'name': 'x'}) and trailing commas, which small models write."""
    depth, quote, j = 0, "", start
    while j < len(text):
        c = text[j]
        if quote:
            if c == "\\":
                j += 1
            elif c == quote:
                quote = ""
        elif c in "\"'":
            quote = c
        elif c in "{[":
            depth += 1
        elif c in "}]":
            depth -= 1
            if depth == 0:
                chunk = text[start:j + 1]
                for candidate in (chunk, re.sub(r",\s*([}\]])", r"\1", chunk)):
                    literal = re.sub(r"\btrue\b", "True", candidate)
                    literal = re.sub(r"\bfalse\b", "False", literal)
                    literal = re.sub(r"\bnull\b", "None", literal)
                    try:
                        return ast.literal_eval(literal), j + 1
                    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
                        continue
                return _MISSING, start
        j += 1
    return _MISSING, start


def _calls_from_value(value: Any, names: frozenset[str]) -> list[ParsedCall]:
    if isinstance(value, list):
        out: list[ParsedCall] = []
        for item in value:
            out.extend(_calls_from_value(item, names))
        return out
    if not isinstance(value, dict):
        return []
    for key in _LIST_KEYS:
        if isinstance(value.get(key), list):
            return _calls_from_value(value[key], names)
    if isinstance(value.get("function_call"), dict):
        return _calls_from_value(value["function_call"], names)
    fn = value.get("function")
    if isinstance(fn, dict) and isinstance(fn.get("name"), str):
        return _calls_from_value(fn, names)
    name = value.get("name")
    if not isinstance(name, str) and isinstance(fn, str):
        name = fn
    if isinstance(name, str) and name.strip():
        args: Any = _MISSING
        for key in _ARG_KEYS:
            if key in value:
                args = value[key]
                break
        if args is _MISSING:
            if "description" in value or "type" in value:
                return []  # an echoed definition, not a call
            args = {}
        if isinstance(args, dict) and args.get("type") == "object" and "properties" in args:
            return []  # the model echoed the tool's JSON schema
        return [ParsedCall(name.strip(), _raw_arguments(args))]
    if names and len(value) == 1:
        (key, args), = value.items()
        if key in names and isinstance(args, dict):
            return [ParsedCall(key, _raw_arguments(args))]
    return []


def _raw_arguments(args: Any) -> str:
    if isinstance(args, str):
        s = args.strip()
        return s if s else "{}"
    if args is None:
        return "{}"
    try:
        return json.dumps(args, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(args)


def _python_calls(text: str, names: frozenset[str]) -> list[ParsedCall]:
    if not names:
        return []
    out: list[ParsedCall] = []
    pattern = re.compile(r"\b(" + "|".join(re.escape(n) for n in sorted(names, key=len, reverse=True))
                         + r")\s*\(")
    for m in pattern.finditer(text):
        depth, j = 0, m.end() - 1
        while j < len(text):
            if text[j] == "(":
                depth += 1
            elif text[j] == ")":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        source = text[m.start():j + 1]
        try:
            node = ast.parse(source.strip(), mode="eval").body
        except SyntaxError:
            continue
        if not isinstance(node, ast.Call):
            continue
        try:
            kwargs = {kw.arg: ast.literal_eval(kw.value) for kw in node.keywords if kw.arg}
            if node.args:
                continue  # positional arguments cannot be mapped to names reliably
        except ValueError:
            continue
        out.append(ParsedCall(m.group(1), json.dumps(kwargs, ensure_ascii=False)))
    return out
