"""Normalise the several ways of writing an expectation into one `Expectation`."""
from __future__ import annotations

import json
from typing import Any, Mapping

from pydantic import ValidationError

from .model import AnyOf, Expectation, ExpectedCall, ExpectedCallSpec, ExpectSpec
from .schema import show, value_schema_error


class ExpectError(ValueError):
    """Raised with a message and a sub-field; the caller adds file and line."""

    def __init__(self, message: str, field: str = "expect"):
        super().__init__(message)
        self.field = field


def expected_value(value: Any) -> Any:
    """`{any_of: [...]}` (optionally with `optional: true`) becomes AnyOf; anything else a literal."""
    if isinstance(value, Mapping) and "any_of" in value and set(value) <= {"any_of", "optional"}:
        values = value["any_of"]
        if not isinstance(values, list) or not values:
            raise ExpectError("'any_of' must be a non-empty list of acceptable values")
        optional = value.get("optional", False)
        if not isinstance(optional, bool):
            raise ExpectError("'optional' must be true or false")
        return AnyOf(tuple(values), optional)
    return value


def _arguments(args: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if args is None:
        return None
    return {str(k): expected_value(v) for k, v in args.items()}


def _call(spec: ExpectedCallSpec) -> ExpectedCall:
    return ExpectedCall(spec.call, _arguments(spec.arguments))


def _first_error(e: ValidationError, prefix: str) -> ExpectError:
    err = e.errors()[0]
    loc = ".".join(str(p) for p in err["loc"])
    msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
    return ExpectError(f"{msg}", f"{prefix}.{loc}" if loc else prefix)


def parse_expect(raw: Any) -> Expectation:
    """Inline suite forms: `refuse`, `{refuse: true}`, `{call, arguments}`, `{calls: [...]}`,
    or a list of `{call, arguments}` (parallel calls, order-free)."""
    if raw == "refuse":
        return Expectation(())
    if isinstance(raw, list):
        if not raw:
            raise ExpectError("an empty list of calls; write `refuse` to expect no call")
        try:
            return Expectation(tuple(_call(ExpectedCallSpec.model_validate(c)) for c in raw))
        except ValidationError as e:
            raise _first_error(e, "expect") from None
    if not isinstance(raw, Mapping):
        raise ExpectError("expected `refuse`, a mapping {call, arguments}, or a list of calls")
    try:
        spec = ExpectSpec.model_validate(raw)
    except ValidationError as e:
        raise _first_error(e, "expect") from None
    forms = [spec.call is not None, spec.calls is not None, bool(spec.refuse)]
    if sum(forms) != 1:
        raise ExpectError("give exactly one of `call`, `calls` or `refuse: true`")
    if spec.arguments is not None and spec.call is None:
        raise ExpectError("`arguments` belongs with `call`", "expect.arguments")
    extra = dict(answer_contains=tuple(spec.answer_contains or ()), answer_matches=spec.answer_matches)
    if spec.refuse:
        return Expectation((), **extra)
    if spec.call is not None:
        return Expectation((ExpectedCall(spec.call, _arguments(spec.arguments)),), **extra)
    if not spec.calls:
        raise ExpectError("`calls` is empty; write `refuse: true` to expect no call")
    return Expectation(tuple(_call(c) for c in spec.calls), **extra)


def _json_arguments(raw: Any) -> dict[str, Any]:
    if isinstance(raw, str):
        try:
            raw = json.loads(raw) if raw.strip() else {}
        except json.JSONDecodeError as e:
            raise ExpectError(f"arguments are not valid JSON ({e.msg})") from None
    if not isinstance(raw, Mapping):
        raise ExpectError("arguments must be a JSON object")
    return dict(raw)


def expect_from_assistant(message: Mapping[str, Any]) -> Expectation:
    """Fine-tuning JSONL: the last assistant message's tool_calls / function_call, or a refusal."""
    if message.get("tool_calls"):
        calls = []
        for i, tc in enumerate(message["tool_calls"]):
            fn = tc.get("function") if isinstance(tc, Mapping) else None
            if not isinstance(fn, Mapping) or not isinstance(fn.get("name"), str):
                raise ExpectError("each tool call needs function.name", f"tool_calls[{i}].function")
            try:
                calls.append(ExpectedCall(fn["name"], _arguments(_json_arguments(fn.get("arguments", "{}")))))
            except ExpectError as e:
                raise ExpectError(str(e), f"tool_calls[{i}].function.arguments") from None
        return Expectation(tuple(calls))
    fc = message.get("function_call")
    if fc:
        if not isinstance(fc, Mapping) or not isinstance(fc.get("name"), str):
            raise ExpectError("function_call needs a name", "function_call")
        try:
            args = _arguments(_json_arguments(fc.get("arguments", "{}")))
        except ExpectError as e:
            raise ExpectError(str(e), "function_call.arguments") from None
        return Expectation((ExpectedCall(fc["name"], args),))
    return Expectation(())


def forbidden_value(call: ExpectedCall, parameters: Mapping[str, Any]) -> ExpectError | None:
    """An expected argument value that the function's own (full) schema forbids: no model could
    satisfy the case, so it is a load error, not a failing case. Every `any_of` value is checked."""
    for name, want in (call.arguments or {}).items():
        values = want.values if isinstance(want, AnyOf) else (want,)
        for value in values:
            reason = value_schema_error(name, value, parameters)
            if reason:
                return ExpectError(f"expected value {show(value)} of '{call.name}' is forbidden by its "
                                   f"schema ({reason})", f"expect.arguments.{name}")
    return None
