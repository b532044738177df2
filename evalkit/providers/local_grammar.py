"""Guided tool-call decoding for the local provider: the model can only write a reply or calls.

With ``options: {guided: true}`` every generated sequence must match, token by token::

    reply  ::= "<reply>\n" then one or more characters, none of them "<"   (text, never call markup)
    calls  ::= block ("\\n" block)*                             (parallel calls, at most MAX_CALLS)
    block  ::= "<tool_call>\\n" call "\\n</tool_call>"
    call   ::= {"name": "<declared name>", "arguments": <object following that function's schema>}

so it has the shape `local_prompt` documents and LoRA training writes, with `json.dumps`'s default
separators (``", "`` and ``": "``). The arguments follow the schema the variant *sent*: with full
definitions the declared properties in their declared order, required ones present, enum values
only, no undeclared keys (as OpenAI's strict mode and vLLM's tool parsers do); with short definitions
(``"properties": {}``) any JSON object, so a model that does not know the arguments can still write
``{}`` or a wrong key, as it would on an API. The model still decides *whether* to call.

Library: xgrammar (`contrib`-free: a small logits processor below drives its `GrammarMatcher`, one
per batch row, so left-padded micro-batches work and finished rows are left alone). Chosen over
llguidance and outlines-core, which also install here as 1-3 MB wheels: on this CPU it compiles the
stocks grammar in a few milliseconds and adds about 1.5x to plain generation (mask filling is C++,
one bitmask per row), it is the default structured-output backend of vLLM and SGLang (well kept,
frequent releases), and it builds grammars from JSON Schema, EBNF, concatenation and union, which is
all this module needs. Imported only when a variant asks for guided decoding.
"""
from __future__ import annotations

import copy
import json
import threading
from typing import Any, Mapping, Sequence

from .local_prompt import REPLY_TAG

MAX_CALLS = 4  # parallel calls a guided answer may hold
SEPARATORS = (", ", ": ")  # json.dumps defaults: what local_prompt.format_call writes
LIBRARY = "xgrammar"
GRAMMAR_FORMAT = "evalkit-reply-or-calls-v2"  # bump when build_grammar changes what it accepts


# ---- pure: what a call may look like ------------------------------------------------------------

def function_of(tool: Mapping[str, Any]) -> Mapping[str, Any]:
    if tool.get("type") == "function" and isinstance(tool.get("function"), Mapping):
        return tool["function"]
    return tool


def argument_schema(parameters: Mapping[str, Any] | None) -> tuple[dict[str, Any], bool]:
    """(schema, strict) for a function's `arguments`. Declared properties are a closed object
    (strict); none declared (short definitions, or no `parameters`) means any JSON object."""
    schema = copy.deepcopy(dict(parameters or {}))
    schema.setdefault("type", "object")
    if not schema.get("properties"):
        schema = {"type": "object"}
        return schema, False
    return schema, True


def call_prefix(name: str) -> str:
    """The text of a call up to its arguments, exactly as `json.dumps` writes it."""
    return "{" + json.dumps("name") + SEPARATORS[1] + json.dumps(name, ensure_ascii=False) + SEPARATORS[0] \
        + json.dumps("arguments") + SEPARATORS[1]


def grammar_key(tools: Sequence[Mapping[str, Any]]) -> str:
    return json.dumps([function_of(t) for t in tools], sort_keys=True, ensure_ascii=False)


def _ebnf_literal(text: str) -> str:
    return json.dumps(text, ensure_ascii=True)  # EBNF string literals take JSON-style escapes


# ---- xgrammar ----------------------------------------------------------------------------------

def build_grammar(tools: Sequence[Mapping[str, Any]]) -> Any:
    """The xgrammar `Grammar` of a reply-or-calls answer to a request offering `tools`."""
    import xgrammar as xgr

    def literal(text: str) -> Any:
        return xgr.Grammar.from_ebnf("root ::= " + _ebnf_literal(text))

    text = xgr.Grammar.from_ebnf('root ::= [^<] [^<]*')
    functions = [function_of(t) for t in tools if function_of(t).get("name")]
    if not functions:
        return text  # no tools offered: the prompt documents no reply block
    reply = xgr.Grammar.concat(literal(REPLY_TAG + "\n"), text)
    calls = []
    for fn in functions:
        schema, strict = argument_schema(fn.get("parameters"))
        arguments = xgr.Grammar.from_json_schema(schema, any_whitespace=False, separators=SEPARATORS,
                                                 strict_mode=strict)
        calls.append(xgr.Grammar.concat(literal(call_prefix(fn["name"])), arguments, literal("}")))
    call = calls[0] if len(calls) == 1 else xgr.Grammar.union(*calls)
    block = xgr.Grammar.concat(literal("<tool_call>\n"), call, literal("\n</tool_call>"))
    blocks = [block]
    for n in range(2, MAX_CALLS + 1):
        blocks.append(xgr.Grammar.concat(*([block] + [literal("\n"), block] * (n - 1))))
    return xgr.Grammar.union(reply, *blocks)


class Guide:
    """Compiles (and caches) the grammar of each distinct tool list for one tokenizer."""

    def __init__(self, tokenizer: Any, vocab_size: int, stop_token_ids: Sequence[int]):
        import xgrammar as xgr

        info = xgr.TokenizerInfo.from_huggingface(tokenizer, vocab_size=vocab_size,
                                                  stop_token_ids=list(stop_token_ids))
        self._compiler = xgr.GrammarCompiler(info, max_threads=1)
        self._compiled: dict[str, Any] = {}
        self._lock = threading.Lock()
        self.vocab_size = vocab_size

    def compiled(self, tools: Sequence[Mapping[str, Any]]) -> Any:
        key = grammar_key(tools)
        with self._lock:
            grammar = self._compiled.get(key)
            if grammar is None:
                grammar = self._compiler.compile_grammar(build_grammar(tools))
                self._compiled[key] = grammar
            return grammar

    def rows(self, grammars: Sequence[Any]) -> "RowGuide":
        return RowGuide(list(grammars), self.vocab_size)


class RowGuide:
    """One grammar matcher per batch row (`local_generate.greedy_decode`): `mask` constrains the
    logits of the rows still writing, `accept` follows the token each one wrote. A row whose
    grammar has ended (or rejected a token) is no longer masked. One per batch."""

    def __init__(self, grammars: list[Any], vocab_size: int) -> None:
        import xgrammar as xgr

        self._xgr = xgr
        self.matchers = [xgr.GrammarMatcher(g) for g in grammars]
        self.done = [False] * len(grammars)
        self.bitmask = xgr.allocate_token_bitmask(len(grammars), vocab_size)

    def mask(self, rows: Sequence[int], scores: Any) -> None:
        """Mask `scores` in place; its row j is batch row `rows[j]`."""
        for j, row in enumerate(rows):
            m = self.matchers[row]
            if self.done[row] or m.is_terminated():
                self.done[row] = True
                self.bitmask[j] = -1  # all bits set: nothing masked
            else:
                m.fill_next_token_bitmask(self.bitmask, j)
        self._xgr.apply_token_bitmask_inplace(scores, self.bitmask[:len(rows)])

    def accept(self, row: int, token: int) -> None:
        m = self.matchers[row]
        if not self.done[row] and (m.is_terminated() or not m.accept_token(int(token))):
            self.done[row] = True


def library_version() -> str:
    try:
        from importlib.metadata import version

        return f"{LIBRARY} {version(LIBRARY)}"
    except Exception:  # pragma: no cover - not installed
        return LIBRARY
