"""End-to-end mode (`execute: true`): run the model's calls with the suite's Python tools, send the
results back as tool messages and let the model give its final answer, as a function-calling app does in production.

`ExecutingProvider` wraps any provider, so the runner is unchanged: the completion it returns has
the first step's calls (what the expectation judges) and the whole trajectory in `raw`:
`{"response", "trajectory": [{step, calls, results}], "final_answer", "messages"}` (`results` null:
the round bound was reached and those calls were not run). Verdicts are scoring's (evalkit/scoring).
Only functions declared in the suite are ever executed, with arguments valid against their full
schema, each under a timeout; anything else is answered with an error result, not run.

Each tool call runs in a daemon thread of its own: a tool that never returns is abandoned at its
timeout and cannot keep evalkit alive after the run (asyncio's worker threads would: the run's
event loop waits for them on exit).
"""
from __future__ import annotations

import asyncio
import importlib.util
import json
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Mapping

from ..errors import SuiteError
from ..providers.base import ChatRequest, Completion, Provider, ToolCall
from ..scoring import execution_refusal
from ..suite.model import Suite

MAX_STEPS = 5  # tool rounds per case before giving up on a final answer
TOOL_TIMEOUT_S = 10.0  # a tools module may set TIMEOUT


@dataclass(frozen=True)
class Tools:
    functions: dict[str, dict[str, Any]]  # declared (full) definitions by name
    implementations: dict[str, Callable[..., Any]]
    timeout: float = TOOL_TIMEOUT_S


def declared_functions(suite: Suite) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for tools in (suite.functions, *(c.functions or () for c in suite.cases)):
        for tool in tools:
            out.setdefault(tool["function"]["name"], tool["function"])
    return out


def _import(path: Path, suite_path: str) -> ModuleType:
    if not path.is_file():
        raise SuiteError(suite_path, f"tools module '{path}' not found", field="tools_module")
    spec = importlib.util.spec_from_file_location(f"evalkit_tools_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except Exception as e:  # the user's module: any failure is a configuration error
        raise SuiteError(suite_path, f"tools module '{path}' failed to load: {type(e).__name__}: {e}",
                         field="tools_module") from None
    return module


def load_tools(suite: Suite) -> Tools | None:
    """The suite's tools when it executes calls, else None. Every declared function needs an
    implementation: a module-level `TOOLS = {name: callable}`, or a function of the same name."""
    if not suite.spec.execute:
        return None
    if not suite.spec.tools_module:
        raise SuiteError(suite.path, "`execute: true` needs `tools_module` (a Python file of tool functions)",
                         field="tools_module")
    module = _import(Path(suite.path).parent / suite.spec.tools_module, suite.path)
    declared = declared_functions(suite)
    table = getattr(module, "TOOLS", None)
    impl = dict(table) if isinstance(table, Mapping) else \
        {n: getattr(module, n) for n in declared if callable(getattr(module, n, None))}
    missing = [n for n in declared if not callable(impl.get(n))]
    if missing:
        raise SuiteError(suite.path, f"tools module '{suite.spec.tools_module}' does not implement "
                                     f"{', '.join(missing)}", field="tools_module")
    timeout = getattr(module, "TIMEOUT", TOOL_TIMEOUT_S)
    return Tools(declared, {n: impl[n] for n in declared}, float(timeout))


async def run_call(tools: Tools, call: ToolCall) -> tuple[Any, str | None]:
    """(result sent back to the model, error or None). Never runs an undeclared function or one
    whose arguments break its schema; a tool still running at the timeout is abandoned."""
    reason = execution_refusal(call.name, call.arguments, tools.functions)
    if reason:
        return {"error": reason}, reason
    args = json.loads(call.arguments) if isinstance(call.arguments, str) and call.arguments.strip() else {}
    try:
        value = await asyncio.wait_for(_in_daemon_thread(tools.implementations[call.name], args), tools.timeout)
    except asyncio.TimeoutError:
        reason = f"{call.name} timed out after {tools.timeout:g} s"
        return {"error": reason}, reason
    except Exception as e:  # the tool's own failure is the model's to handle, as in the real app
        reason = f"{call.name} raised {type(e).__name__}: {e}"
        return {"error": reason}, reason
    return value, None


def _in_daemon_thread(fn: Callable[..., Any], kwargs: dict[str, Any]) -> asyncio.Future:
    """fn(**kwargs) in a daemon thread; the future settles when it returns or raises."""
    loop = asyncio.get_running_loop()
    future = loop.create_future()

    def settle(value: Any, error: BaseException | None) -> None:
        if not future.done():
            future.set_exception(error) if error is not None else future.set_result(value)

    def target() -> None:
        try:
            value, error = fn(**kwargs), None
        except BaseException as e:  # noqa: BLE001 - SystemExit in a tool is the tool's failure too
            value, error = None, e if isinstance(e, Exception) else RuntimeError(f"{type(e).__name__}: {e}")
        try:
            loop.call_soon_threadsafe(settle, value, error)
        except RuntimeError:  # the run ended (loop closed) before this abandoned tool returned
            pass

    threading.Thread(target=target, name=f"evalkit-tool-{getattr(fn, '__name__', 'call')}", daemon=True).start()
    return future


def assistant_message(completion: Completion, ids: list[str], api: str) -> dict[str, Any]:
    if api == "functions":
        call = completion.calls[0]
        return {"role": "assistant", "content": completion.content,
                "function_call": {"name": call.name, "arguments": call.arguments}}
    return {"role": "assistant", "content": completion.content,
            "tool_calls": [{"id": i, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
                           for i, c in zip(ids, completion.calls)]}


def result_messages(calls: tuple[ToolCall, ...], ids: list[str], results: list[Any], api: str) -> list[dict]:
    text = [json.dumps(r, ensure_ascii=False, default=str) for r in results]
    if api == "functions":  # the legacy format carries one call per turn
        return [{"role": "function", "name": calls[0].name, "content": text[0]}]
    return [{"role": "tool", "tool_call_id": i, "content": t} for i, t in zip(ids, text)]


class ExecutingProvider(Provider):
    """Wraps a provider: executes each round of calls and asks again, up to `max_steps` rounds.
    It declares what the inner provider declares, except the Batch API (which cannot run tools
    between steps)."""

    def __init__(self, inner: Provider, tools: Tools, max_steps: int = MAX_STEPS):
        self.inner, self.tools, self.max_steps = inner, tools, max_steps
        self.handles_timeout, self.count_prompt_tokens = inner.handles_timeout, inner.count_prompt_tokens
        self.endpoint, self.request_query, self.credential_id = inner.endpoint, inner.request_query, inner.credential_id

    async def complete(self, request: ChatRequest) -> Completion:
        first = await self.inner.complete(request)
        current, messages, trajectory = first, list(request.messages), []
        while current.calls and len(trajectory) < self.max_steps:
            calls = current.calls if request.api == "tools" else current.calls[:1]
            step = len(trajectory) + 1
            ids = [c.id or f"call_{step}_{i}" for i, c in enumerate(calls)]
            outcomes = [await run_call(self.tools, c) for c in calls]
            trajectory.append({"step": step, "calls": [{"name": c.name, "arguments": c.arguments} for c in calls],
                               "results": [r for r, _ in outcomes]})
            messages += [assistant_message(replace(current, calls=calls), ids, request.api),
                         *result_messages(calls, ids, [r for r, _ in outcomes], request.api)]
            current = await self.inner.complete(replace(request, messages=tuple(messages)))
        if current.calls:  # the bound was reached: these calls are recorded, not run
            trajectory.append({"step": len(trajectory) + 1, "calls": [{"name": c.name, "arguments": c.arguments}
                                                                       for c in current.calls],
                               "results": None,
                               "reason": f"no final answer after {self.max_steps} tool rounds"})
        raw = {"response": first.raw, "trajectory": trajectory,
               "final_answer": None if current.calls else current.content,
               "messages": messages[len(request.messages):]}
        return Completion(first.content, first.calls, first.usage, raw, first.finish_reason)

    async def aclose(self) -> None:
        await self.inner.aclose()


def executing_providers(suite: Suite, providers: dict[str, Provider]) -> dict[str, Provider]:
    """The runner's one hook: wrap every provider when the suite executes calls."""
    tools = load_tools(suite)
    if tools is None:
        return providers
    return {name: ExecutingProvider(p, tools) for name, p in providers.items()}


__all__ = ["ExecutingProvider", "Tools", "executing_providers", "load_tools", "run_call", "MAX_STEPS"]
