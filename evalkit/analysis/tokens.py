"""Prompt-token counting for chat requests: messages and function definitions, with tiktoken.

The API renders function definitions (sent as `tools` or as legacy `functions`) into a hidden
system block written as TypeScript, the rendering hmarr/openai-chat-tokens worked out against the
API (`formatFunctionDefinitions`):

    namespace functions {

    // Get the current weather in a given location
    type get_current_weather = (_: {
    // The city and state, e.g. San Francisco, CA
    location: string,
    unit?: "celsius" | "fahrenheit",
    field number one?: {
      yes?: "Yes" | "No",
    },
    limit?: number | null,
    tags?: string[],
    }) => any;

    } // namespace functions

Types: string, number (also for integer), boolean, null; a string or number `enum` as a union of
literals; `anyOf` as a union of its branches; an object as a nested block indented two spaces;
an array as `T[]` (`any[]` without `items`); anything else `any`. Property names are written as
they are, identifiers or not; `const`, bounds, patterns and `$ref` are not rendered. A property's
description is a `//` line above it, but the legacy `functions` rendering drops the descriptions
of nested objects' properties (hmarr's "descriptions at depth" vectors: 46 and 96 tokens), while
on `tools` they are counted (pamelafox's Azure gpt-35-turbo 2024 vectors, which need them).

We count that rendering plus the chat overhead the OpenAI cookbook documents (3 tokens per message,
+1 per `name`, +3 priming the reply) and the adjustments hmarr found against the API (+9 for the
functions block, the first system message gains a trailing newline, -4 when a system message
exists because the block shares it; `function_call` "none" +1, a named one 4 + the name). This
reproduces every published vector we know exactly: the cookbook's weather example (105 on
gpt-3.5-turbo / gpt-4, 101 on gpt-4o), its message example (129 / 124) and all 36 of hmarr's
API-measured vectors: nested objects, `anyOf` of objects and of a const and a number, arrays of
objects, enums, descriptions at depth, a property named "field number one", function messages,
`function_call` (tests/data/token_vectors.json). The cookbook's own `num_tokens_for_tools`
constants are a linear fit of this rendering: they agree on the weather example but miss most of
the nested ones. On pamelafox's 2024 `tools` vectors we over-count by at most 3 tokens.

Not validated against the API (no published vectors): `tool_calls` / `tool` messages (counted as
their legacy `function_call` / `function` equivalents), `oneOf`/`allOf`/`$ref` (rendered as `any`)
and o-series prompts (counted like gpt-4o).
"""
from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import tiktoken
from tiktoken.model import encoding_name_for_model

from ..errors import ConfigError, EvalkitError
from ..providers import create_provider
from ..providers.base import ChatRequest, PromptCounter, prompt_counter
from .tokenizer_files import get_encoding

TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3
FUNCTIONS_BLOCK = 9  # the functions block's own framing
SYSTEM_SHARED = -4  # the block reuses an existing system message's framing
FUNCTION_CALL = 3  # an assistant message's function_call framing
FUNCTION_ROLE = -2  # a function-result message is cheaper than its role + name suggest

@dataclass(frozen=True)
class TokenCount:
    """`prompt`: the whole prompt as the API bills it. `functions`: the part the function
    definitions add (prompt with them minus prompt without them)."""

    prompt: int
    functions: int

    @property
    def messages(self) -> int:
        return self.prompt - self.functions


# ---- which encoding ----------------------------------------------------------------------

def encoding_name(model_or_name: str) -> str:
    """Encoding name for a tiktoken encoding name, a model name, an Azure spelling
    (gpt-35-turbo...) or a fine-tuned name (`ft:BASE:org::id` -> BASE)."""
    name = model_or_name.strip()
    if name in tiktoken.list_encoding_names():
        return name
    if name.startswith("ft:"):
        name = name.split(":")[1]
    try:
        return encoding_name_for_model(name)
    except KeyError:
        raise ConfigError(
            f"no tiktoken encoding known for model '{model_or_name}': set the variant's "
            f"'base_model:' (e.g. gpt-35-turbo-0613) or 'tokenizer:' (cl100k_base, o200k_base)"
        ) from None


def encoding_for(model_or_name: str) -> tiktoken.Encoding:
    return get_encoding(encoding_name(model_or_name))


def encoding_for_variant(variant: Any) -> tiktoken.Encoding:
    """The tiktoken encoding to count a variant's prompts with; `tokenizer:` wins, then
    `base_model:` (the model behind an Azure deployment name), then `model:`."""
    if getattr(variant, "tokenizer", None):
        return encoding_for(variant.tokenizer)
    name = getattr(variant, "base_model", None) or getattr(variant, "model", None)
    if not name:
        raise ConfigError(f"variant '{getattr(variant, 'name', '?')}' has no model to pick a "
                          f"tokenizer from: set 'tokenizer:' or 'base_model:'")
    return encoding_for(name)


# ---- text counts -------------------------------------------------------------------------

@lru_cache(maxsize=1 << 16)
def _count(encoding: tiktoken.Encoding, text: str) -> int:
    # Special-token text in user content is counted as plain text, as the API does.
    return len(encoding.encode(text, disallowed_special=()))


def text_tokens(encoding: tiktoken.Encoding, text: str | None) -> int:
    return _count(encoding, text) if text else 0


def _content_text(content: Any) -> str:
    """Message content as text: a string, or the text parts of a content-part list."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
    return json.dumps(content)


# ---- function definitions ----------------------------------------------------------------

def _enum_value(value: Any) -> str:
    """An enum member as the TypeScript literal the API writes (no JSON escaping)."""
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # JavaScript prints 1.0 as 1
    return "null" if value is None else str(value)


def _type(schema: Mapping[str, Any], indent: int, nested: bool) -> str:
    if isinstance(schema.get("anyOf"), list):
        return " | ".join(_type(s if isinstance(s, Mapping) else {}, indent, nested) for s in schema["anyOf"])
    kind = schema.get("type")
    enum = schema.get("enum")
    if kind in ("string", "number", "integer") and isinstance(enum, list) and enum:
        return " | ".join(_enum_value(v) for v in enum)
    if kind == "integer":
        return "number"
    if kind in ("string", "number", "boolean", "null"):
        return kind
    if kind == "object":
        return "\n".join(["{", _properties(schema, indent + 2, nested), "}"])
    if kind == "array":
        items = schema.get("items")
        return f"{_type(items, indent, nested)}[]" if isinstance(items, Mapping) else "any[]"
    return "any"


def _properties(schema: Mapping[str, Any], indent: int, nested: bool) -> str:
    """An object's properties, one a line. Descriptions of nested objects' properties only with
    `nested` (see the module docstring: the legacy rendering drops them)."""
    required = set(schema.get("required") or ())
    lines = []
    for name, prop in (schema.get("properties") or {}).items():
        prop = prop if isinstance(prop, Mapping) else {}
        if prop.get("description") and (indent < 2 or nested):
            lines.append(f"// {prop['description']}")
        optional = "" if name in required else "?"
        lines.append(f"{name}{optional}: {_type(prop, indent, nested)},")
    return "\n".join(" " * indent + line for line in lines)


def render_functions(functions: Iterable[Mapping[str, Any]], *, nested_descriptions: bool = False) -> str:
    """The TypeScript text the API puts in the prompt for these definitions (legacy shape)."""
    lines = ["namespace functions {", ""]
    for fn in functions:
        if fn.get("description"):
            lines.append(f"// {fn['description']}")
        params = fn.get("parameters") or {}
        if params.get("properties"):
            lines += [f"type {fn['name']} = (_: {{", _properties(params, 0, nested_descriptions), "}) => any;"]
        else:
            lines.append(f"type {fn['name']} = () => any;")
        lines.append("")
    lines.append("} // namespace functions")
    return "\n".join(lines)


def _legacy(tools: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [t["function"] if "function" in t else t for t in tools]


# Requests of one variant share one tools tuple (see prepare.py): key by identity, keep the
# tuple alive in the value so its id cannot be reused while cached.
_definitions_cache: dict[tuple[str, int, str], tuple[tuple, int]] = {}


def definitions_tokens(tools: tuple[Mapping[str, Any], ...], encoding: tiktoken.Encoding,
                       api: str = "tools") -> int:
    """Tokens of the rendered definitions block, framing included (0 for no definitions)."""
    if not tools:
        return 0
    key = (encoding.name, id(tools), api)
    hit = _definitions_cache.get(key)
    if hit is not None and hit[0] is tools:
        return hit[1]
    text = render_functions(_legacy(tools), nested_descriptions=api == "tools")
    count = _count(encoding, text) + FUNCTIONS_BLOCK
    if len(_definitions_cache) > 4096:
        _definitions_cache.clear()
    _definitions_cache[key] = (tools, count)
    return count


# ---- messages and requests ---------------------------------------------------------------

def _call_tokens(encoding: tiktoken.Encoding, call: Mapping[str, Any]) -> int:
    return (text_tokens(encoding, call.get("name")) + text_tokens(encoding, call.get("arguments"))
            + FUNCTION_CALL)


def message_tokens(message: Mapping[str, Any], encoding: tiktoken.Encoding) -> int:
    """One message: role, content, name, and any calls it carries, with its framing."""
    role = message.get("role", "")
    tokens = (TOKENS_PER_MESSAGE + text_tokens(encoding, role)
              + text_tokens(encoding, _content_text(message.get("content"))))
    if message.get("name"):
        tokens += text_tokens(encoding, message["name"]) + TOKENS_PER_NAME
    if message.get("function_call"):
        tokens += _call_tokens(encoding, message["function_call"])
    for call in message.get("tool_calls") or ():
        tokens += _call_tokens(encoding, call.get("function") or {})
    if role in ("function", "tool"):
        tokens += FUNCTION_ROLE
    return tokens


def messages_tokens(messages: Iterable[Mapping[str, Any]], encoding: tiktoken.Encoding) -> int:
    """A prompt without function definitions: its messages plus the reply priming."""
    return REPLY_PRIMING + sum(message_tokens(m, encoding) for m in messages)


def _shared_system(messages: Iterable[Mapping[str, Any]], encoding: tiktoken.Encoding) -> int:
    """With definitions present, the first system message gains a trailing newline and the
    definitions block shares its framing."""
    for message in messages:
        if message.get("role") == "system":
            text = _content_text(message.get("content"))
            return text_tokens(encoding, text + "\n") - text_tokens(encoding, text) + SYSTEM_SHARED
    return 0


def _choice_tokens(encoding: tiktoken.Encoding, choice: Any) -> int:
    """Forcing or forbidding calls: "none" costs 1; a named `tool_choice` 7 + the name; a named
    legacy `function_call` 4 + the name; "auto" / "required" nothing."""
    if choice == "none":
        return 1
    if not isinstance(choice, Mapping):
        return 0
    if "function" in choice:
        return 7 + text_tokens(encoding, choice["function"].get("name"))
    return 4 + text_tokens(encoding, choice.get("name"))


def count_request(request: ChatRequest, encoding: tiktoken.Encoding) -> TokenCount:
    """Prompt tokens of exactly what is sent. Same rules for `api: tools` and `api: functions`:
    the API renders both into the same text; only the message shapes differ."""
    without = messages_tokens(request.messages, encoding)
    if not request.tools:
        return TokenCount(prompt=without, functions=0)
    choice = request.extra.get("tool_choice", request.extra.get("function_call"))
    functions = (definitions_tokens(request.tools, encoding, request.api) + _shared_system(request.messages, encoding)
                 + _choice_tokens(encoding, choice))
    return TokenCount(prompt=without + functions, functions=functions)


def count_training_example(example: Mapping[str, Any], encoding: tiktoken.Encoding) -> int:
    """Tokens of one fine-tuning JSONL line (all its messages, the answer included, and its
    definitions): what training bills per epoch."""
    tools = tuple(example.get("tools") or ({"type": "function", "function": f}
                                           for f in example.get("functions") or ()))
    request = ChatRequest(model="", messages=tuple(example.get("messages") or ()), tools=tools)
    return count_request(request, encoding).prompt


# ---- a suite's requests ------------------------------------------------------------------

@dataclass(frozen=True)
class VariantTokens:
    """Counted prompt tokens of one variant's requests, per case id. `encoding` names what
    counted them (a tiktoken encoding, or OWN_TOKENIZER); None with a `reason` when nothing could."""

    variant: str
    encoding: str | None
    prompt: dict[str, int]
    functions: dict[str, int]
    reason: str | None = None


OWN_TOKENIZER = "model's own"  # counted by the provider with its model's tokenizer


def _close(provider: Any) -> None:
    try:
        asyncio.run(provider.aclose())
    except Exception:  # noqa: BLE001 - closing an unused client: nothing the user can act on
        pass


def provider_counter(variant: Any, base_dir: Path) -> tuple[PromptCounter | None, str | None]:
    """(the variant's provider's own counter, None) when its provider declares one; else (None,
    why not, or None when it simply has none). Providers are cheap to create (no weights, no
    request); one that cannot be created here (a missing API key) counts with tiktoken."""
    try:
        provider = create_provider(variant, base_dir)
    except ConfigError as e:
        return None, str(e)
    counter = prompt_counter(provider)
    if counter is None:
        _close(provider)
    return counter, None


def _own_counts(counter: PromptCounter, request: ChatRequest) -> TokenCount:
    prompt = counter(request)
    return TokenCount(prompt, prompt - counter(replace(request, tools=())) if request.tools else 0)


def count_prepared(prepared: Iterable[Any], base_dir: Path | None = None) -> dict[str, VariantTokens]:
    """Count `prepare()`'s requests (no model calls), grouped by variant in order. With
    `base_dir` (the suite's directory), a provider that counts with its model's own tokenizer
    (Provider.count_prompt_tokens) does, unless the variant names a `tokenizer:`."""
    by_variant: dict[str, list[Any]] = {}
    for p in prepared:
        by_variant.setdefault(p.variant.name, []).append(p)
    out = {}
    for name, items in by_variant.items():
        variant = items[0].variant
        own, why = (None, None)
        if base_dir is not None and not getattr(variant, "tokenizer", None):
            own, why = provider_counter(variant, base_dir)
        label, reason, counts = None, None, {}
        try:
            if own is not None:
                label = OWN_TOKENIZER
                counts = {p.case.id: _own_counts(own, p.request) for p in items}
            else:
                encoding = encoding_for_variant(variant)
                label = encoding.name
                counts = {p.case.id: count_request(p.request, encoding) for p in items}
        except EvalkitError as e:
            label, counts = None, {}
            reason = f"{e} (nor could its provider be asked to count: {why})" if why else str(e)
        out[name] = VariantTokens(name, label, {k: c.prompt for k, c in counts.items()},
                                  {k: c.functions for k, c in counts.items()}, reason)
    return out


# ---- per-result accounting (the runner's hook) and the check against the API's usage -----

def request_counter(variant: Any, provider: Any = None) -> Callable[[ChatRequest], dict[str, Any] | None]:
    """What the runner stores as a result's `tokens`: counted prompt tokens, the function-
    definition share and what counted them. The provider's own counter when it declares one
    (and the variant names no `tokenizer:`), else tiktoken; counts nothing (None) when neither can."""
    own = prompt_counter(provider) if provider is not None and not getattr(variant, "tokenizer", None) else None
    if own is not None:
        def count_own(request: ChatRequest) -> dict[str, Any]:
            c = _own_counts(own, request)
            return {"prompt": c.prompt, "functions": c.functions, "counter": "model"}

        return count_own
    try:
        encoding = encoding_for_variant(variant)
    except ConfigError:
        return lambda request: None

    def count(request: ChatRequest) -> dict[str, Any]:
        c = count_request(request, encoding)
        return {"prompt": c.prompt, "functions": c.functions, "counter": encoding.name}

    return count


# Our rules over-count some schemas by up to 3 tokens on newer models (tests/analysis/test_tokens.py);
# more than that, or 3%, on average means the wrong encoding or rules.
MISMATCH_TOKENS = 3
MISMATCH_SHARE = 0.03


def usage_check(records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Counted vs API-reported prompt tokens over the results that have both: mean difference
    (API minus counted), largest absolute difference, and a flag when they disagree."""
    pairs = [((r.get("usage") or {}).get("prompt_tokens"), (r.get("tokens") or {}).get("prompt"))
             for r in records]
    diffs = [api - counted for api, counted in pairs if api is not None and counted is not None]
    if not diffs:
        return {"api_prompt_tokens_diff": None, "api_prompt_tokens_diff_max": None,
                "token_count_mismatch": None}
    counted_mean = sum(c for a, c in pairs if a is not None and c is not None) / len(diffs)
    mean_abs = sum(abs(d) for d in diffs) / len(diffs)
    return {"api_prompt_tokens_diff": sum(diffs) / len(diffs),
            "api_prompt_tokens_diff_max": max(diffs, key=abs),
            "token_count_mismatch": mean_abs > max(MISMATCH_TOKENS, MISMATCH_SHARE * counted_mean)}
