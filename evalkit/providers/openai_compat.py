"""OpenAI, Azure OpenAI and any OpenAI-compatible endpoint, through openai-python.

Both wire formats: `tools`/`tool_calls` and the legacy `functions`/`function_call`. Retries and
timeouts are openai-python's own (it honours retry-after / retry-after-ms); we only pass its options
through, plus a run-wide retry budget it obeys (evalkit/providers/ratelimit.py).

The hot path is kept lean without leaving openai-python: the request goes through the client's
public `post()` (same URL building, Azure deployment paths, headers, retries and status errors as
`chat.completions.create`), the response body is parsed with `json.loads` instead of into pydantic
models, and connections come from a small keep-alive transport (evalkit/providers/http_transport.py)
instead of httpcore's pool. Measured on 2 cores at 64 in flight: ~2.4 ms -> ~0.65 ms CPU per request.
Set `options: {http_client: default}` on a variant (or any *_PROXY variable) to use openai-python's
own http client. Either way `timeout` is a hard deadline per attempt and every retry draws on the
run's retry budget (evalkit/providers/http_transport.py `AttemptsMixin`).

Whatever a server sends, `complete` returns a well-typed Completion or raises ProviderError with a
one-line reason (and the body, when there was one, as `raw`): never anything else. Configured
keys and echoed credentials never reach a reason or `raw` (evalkit/secrets.py).
"""
from __future__ import annotations

import os
import urllib.request
from pathlib import Path
from typing import Any

import openai
from pydantic import ValidationError

from .. import jsontext, secrets
from ..errors import ConfigError, ProviderError
from ..suite.functions import to_legacy_functions
from ..suite.model import VariantSpec
from ..suite.plugins import OpenAIOptions
from .base import (
    ChatRequest,
    Completion,
    Provider,
    ToolCall,
    Usage,
    credential_fingerprint,
)
from .http_transport import AttemptFailed, DefaultClient, httpx, lean_http_client
from .ratelimit import RetryBudget

DEFAULT_MAX_RETRIES = 4
DEFAULT_TIMEOUT = 60.0
DEFAULT_RETRY_BUDGET, DEFAULT_RETRY_BUDGET_RATIO = 100, 0.5


def options_of(variant: VariantSpec) -> OpenAIOptions:
    """The variant's `options:` read with this provider's own model (a loaded suite has passed
    it already; a variant built in code is checked here)."""
    try:
        return OpenAIOptions.model_validate(variant.options)
    except ValidationError as e:
        err = e.errors()[0]
        raise ConfigError(f"variant '{variant.name}': options.{'.'.join(map(str, err['loc']))}: {err['msg']}") from None


def _env(name: str | None) -> str | None:
    return os.environ.get(name) or None if name else None


def _key(variant: VariantSpec, default_env: str, needed: bool) -> str:
    env_name = variant.api_key_env or default_env
    secrets.register_environment()
    key = _env(env_name)
    if key:
        secrets.register(key)
        return key
    if variant.api_key_env or needed:
        raise ConfigError(f"variant '{variant.name}': no API key: set the environment variable {env_name}"
                          + ("" if variant.api_key_env else " (or name another with `api_key_env`)"))
    return "not-needed"  # an OpenAI-compatible server that takes no key


def is_azure(variant: VariantSpec) -> bool:
    return variant.provider == "azure" or bool(variant.azure_endpoint)


def _http_client(variant: VariantSpec, budget: RetryBudget | None, max_retries: int) -> httpx.AsyncClient:
    timeout = variant.timeout or DEFAULT_TIMEOUT
    if options_of(variant).http_client == "default" or urllib.request.getproxies():
        client = DefaultClient(timeout=timeout)  # openai-python's own client, proxies and all
    else:
        client = lean_http_client(timeout)
    return client.limit_attempts(timeout, budget, max_retries)


def retry_budget(variant: VariantSpec) -> RetryBudget:
    options = options_of(variant)
    return RetryBudget(minimum=DEFAULT_RETRY_BUDGET if options.retry_budget is None else options.retry_budget,
                       ratio=DEFAULT_RETRY_BUDGET_RATIO if options.retry_budget_ratio is None
                       else options.retry_budget_ratio)


def make_client(variant: VariantSpec, budget: RetryBudget | None = None) -> openai.AsyncOpenAI:
    """The one client per variant; fails before any request when the connection is incomplete."""
    max_retries = options_of(variant).max_retries
    max_retries = DEFAULT_MAX_RETRIES if max_retries is None else max_retries
    opts: dict[str, Any] = {"max_retries": max_retries, "timeout": variant.timeout or DEFAULT_TIMEOUT,
                            "http_client": _http_client(variant, budget, max_retries)}
    if is_azure(variant):
        endpoint = variant.azure_endpoint or _env("AZURE_OPENAI_ENDPOINT")
        version = variant.api_version or _env("OPENAI_API_VERSION")
        if not endpoint and not variant.base_url:
            raise ConfigError(f"variant '{variant.name}': Azure needs an endpoint: set `azure_endpoint` "
                              "or AZURE_OPENAI_ENDPOINT")
        if not version:
            raise ConfigError(f"variant '{variant.name}': Azure needs an API version: set `api_version` "
                              "or OPENAI_API_VERSION")
        key = _key(variant, "AZURE_OPENAI_API_KEY", needed=True)
        where = {"base_url": variant.base_url} if variant.base_url else {"azure_endpoint": endpoint}
        return openai.AsyncAzureOpenAI(api_key=key, api_version=version, **where, **opts)
    base_url = variant.base_url or _env("OPENAI_BASE_URL")
    key = _key(variant, "OPENAI_API_KEY", needed=base_url is None)
    return openai.AsyncOpenAI(api_key=key, base_url=base_url, **opts)


def request_params(request: ChatRequest) -> dict[str, Any]:
    params: dict[str, Any] = {"model": request.model, "messages": list(request.messages)}
    if request.tools:
        if request.api == "functions":
            params["functions"] = to_legacy_functions(request.tools)
        else:
            params["tools"] = list(request.tools)
    if request.temperature is not None:
        params["temperature"] = request.temperature
    if request.max_tokens is not None:
        params["max_tokens"] = request.max_tokens
    params.update(request.extra)
    return params


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


def _kind(value: Any) -> str:
    return {str: "a string", bool: "a boolean", int: "a number", float: "a number", list: "a list",
            dict: "an object", type(None): "missing or null"}.get(type(value), type(value).__name__)


def _malformed(where: str, value: Any, expected: str, body: Any) -> ProviderError:
    return ProviderError(f"malformed response: {where} is {_kind(value)}, expected {expected}", raw=body)


def _count(value: Any) -> int | None:
    """A token count, or None: usage is informational, so a garbled count is dropped, not fatal."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and value.is_integer() and value >= 0:
        return int(value)
    return None


def _content(value: Any, body: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(p, dict) and isinstance(p.get("text"), str) for p in value):
        return "".join(p["text"] for p in value)  # content as a list of text parts
    raise _malformed("choices[0].message.content", value, "a string or null", body)


def _call(fn: Any, call_id: Any, where: str, body: Any) -> ToolCall:
    if not isinstance(fn, dict):
        raise _malformed(where, fn, "an object", body)
    name, arguments = fn.get("name"), fn.get("arguments")
    if not isinstance(name, str):
        raise _malformed(f"{where}.name", name, "a string", body)
    if arguments is None:
        arguments = ""
    elif not isinstance(arguments, str):  # some servers send the object itself; scoring judges its JSON
        arguments = jsontext.dumps(arguments)
    return ToolCall(name, arguments, call_id if isinstance(call_id, str) else None)


def to_completion(data: Any) -> Completion:
    """A chat completion body (the JSON object) -> a well-typed Completion, or ProviderError naming
    the first field that breaks the chat completion shape. `raw` keeps the body, nulls dropped."""
    if hasattr(data, "model_dump"):  # a typed ChatCompletion from openai-python
        data = data.model_dump(mode="json")
    if not isinstance(data, dict):
        raise _malformed("the response", data, "a JSON object", data)
    choices = data.get("choices")
    if not choices:
        error = data.get("error")
        if error:
            message = error.get("message", error) if isinstance(error, dict) else error
            raise ProviderError(f"error in response: {_reason(message)}", raw=data)
        raise ProviderError("response has no choices", raw=data)
    if not isinstance(choices, list):
        raise _malformed("choices", choices, "a list", data)
    choice = choices[0]
    if not isinstance(choice, dict):
        raise _malformed("choices[0]", choice, "an object", data)
    message = choice.get("message")
    if not isinstance(message, dict):
        raise _malformed("choices[0].message", message, "an object", data)
    tool_calls = message.get("tool_calls") or []
    if not isinstance(tool_calls, list):
        raise _malformed("choices[0].message.tool_calls", tool_calls, "a list", data)
    calls = []
    for i, tc in enumerate(tool_calls):
        where = f"choices[0].message.tool_calls[{i}]"
        if not isinstance(tc, dict):
            raise _malformed(where, tc, "an object", data)
        calls.append(_call(tc.get("function"), tc.get("id"), where + ".function", data))
    legacy = message.get("function_call")
    if not calls and legacy is not None:
        calls.append(_call(legacy, None, "choices[0].message.function_call", data))
    content = _content(message.get("content"), data)
    usage = None
    u = data.get("usage")
    if isinstance(u, dict):
        details = u.get("prompt_tokens_details")
        usage = Usage(_count(u.get("prompt_tokens")), _count(u.get("completion_tokens")),
                      _count(details.get("cached_tokens")) if isinstance(details, dict) else None)
    finish = choice.get("finish_reason")
    return Completion(content, tuple(calls), usage, _drop_none(data), finish if isinstance(finish, str) else None)


def parse_body(content: bytes | str) -> Completion:
    """Response bytes -> Completion (standard JSON values, credentials scrubbed) or ProviderError."""
    try:
        data = jsontext.loads_body(content)
    except ValueError as e:
        raise ProviderError(f"response is not JSON: {_reason(e)}") from None
    except RecursionError:
        raise ProviderError("response is not usable: its JSON nests too deep to parse") from None
    text = content.decode("utf-8", "replace") if isinstance(content, bytes) else content
    if secrets.found(text):
        data = secrets.scrub_value(data)
    return to_completion(data)


def _status_body(e: openai.APIStatusError) -> Any:
    """The error response's body as sent (JSON, else its text), for the result's `raw`."""
    try:
        content = e.response.content
    except Exception:  # a streamed or closed response: openai-python's parsed body is all there is
        return None if e.body is None else secrets.scrub_value(jsontext.standard(e.body))
    try:
        body = jsontext.loads_body(content)
    except (ValueError, RecursionError):
        body = jsontext.standard(content[:2000].decode("utf-8", "replace"))
    return secrets.scrub_value(body)


def connection_reason(e: openai.APIConnectionError) -> str:
    """What failed, where and why: the URL and the underlying cause, never a bare 'Connection error.'"""
    if isinstance(e, AttemptFailed):
        kind = "Timeout" if e.timed_out else "Connection error"
        return f"{kind}: {_reason(e.message)}"
    cause = e.__cause__
    why = f"{type(cause).__name__}: {cause}" if cause is not None and str(cause) else e.message
    where = f"{e.request.method} {e.request.url}: " if getattr(e, "request", None) is not None else ""
    kind = "Timeout" if isinstance(e, openai.APITimeoutError) else "Connection error"
    return f"{kind}: {_reason(where + why)}"


class OpenAIProvider(Provider):
    handles_timeout = True  # the client's own per-attempt timeout (variant `timeout`) applies
    supports_batch = True  # the Batch API (evalkit/run/batch.py), through the methods below

    def __init__(self, client: openai.AsyncOpenAI, budget: RetryBudget | None = None):
        self.client = client
        self.budget = budget

    @property
    def endpoint(self) -> str:
        """Where requests go (part of the response-cache key); never the key."""
        return str(self.client.base_url)

    @property
    def request_query(self) -> dict[str, Any]:
        return dict(self.client.default_query)  # Azure: the api-version every request carries

    @property
    def credential_id(self) -> str | None:
        return credential_fingerprint(self.client.api_key)

    async def complete(self, request: ChatRequest) -> Completion:
        try:
            # client.post is openai-python's documented call for raw requests: same retries/errors
            resp = await self.client.post("/chat/completions", body=request_params(request),
                                          cast_to=httpx.Response)
        except openai.APIStatusError as e:
            said = e.message.removeprefix(f"Error code: {e.status_code} - ")  # the status is said already
            raise ProviderError(f"HTTP {e.status_code}: {_reason(said)}", raw=_status_body(e)) from None
        except openai.APIConnectionError as e:
            raise ProviderError(connection_reason(e)) from None
        except openai.APIError as e:
            raise ProviderError(f"{type(e).__name__}: {_reason(e)}") from None
        return parse_body(resp.content)

    # ---- the Batch API ------------------------------------------------------------------------

    @property
    def batch_url(self) -> str:
        return "/chat/completions" if isinstance(self.client, openai.AsyncAzureOpenAI) else "/v1/chat/completions"

    async def _batch_call(self, what: str, call: Any) -> Any:
        try:
            return await call
        except openai.APIStatusError as e:
            if e.status_code in (404, 405, 501):
                raise ConfigError(f"{self.endpoint} has no Batch API (HTTP {e.status_code} on {what}): "
                                  "run without --batch") from None
            raise ProviderError(f"batch: {what}: HTTP {e.status_code}: {_reason(e.message)}") from None
        except openai.APIConnectionError as e:
            raise ProviderError(f"batch: {what}: {connection_reason(e)}") from None
        except openai.APIError as e:
            raise ProviderError(f"batch: {what}: {type(e).__name__}: {_reason(e)}") from None

    async def submit_batch(self, name: str, data: bytes) -> dict[str, Any]:
        """Upload the requests (batch JSONL) and create the batch: {"batch_id", "input_file_id"}."""
        f = await self._batch_call("upload the requests file", self.client.files.create(
            file=(f"{name}.jsonl", data, "application/jsonl"), purpose="batch"))
        b = await self._batch_call("create the batch", self.client.batches.create(
            input_file_id=f.id, endpoint=self.batch_url, completion_window="24h",
            metadata={"evalkit_variant": name[:512]}))
        return {"batch_id": b.id, "input_file_id": f.id}

    async def batch_status(self, batch_id: str) -> dict[str, Any]:
        """{"status", "done", "total", "errors", "output_file_id", "error_file_id"} of one batch."""
        b = await self._batch_call("poll the batch", self.client.batches.retrieve(batch_id))
        counts = b.request_counts
        errors = "; ".join(e.message or e.code or "" for e in (b.errors.data or [])) if b.errors else ""
        return {"status": b.status, "done": counts.completed + counts.failed if counts else None,
                "total": counts.total if counts else None, "errors": _reason(errors) if errors else "",
                "output_file_id": b.output_file_id, "error_file_id": b.error_file_id}

    async def file_text(self, file_id: str | None) -> str:
        if not file_id:
            return ""
        return (await self._batch_call("download a result file", self.client.files.content(file_id))).text

    async def aclose(self) -> None:
        await self.client.close()


def _reason(text: Any) -> str:
    """One line, credentials scrubbed first (a cut could leave a key's prefix unrecognised)."""
    return _short(secrets.scrub(str(text)))


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= 200 else text[:197] + "..."


def create(variant: VariantSpec, *, base_dir: Path | None = None) -> OpenAIProvider:
    budget = retry_budget(variant)
    return OpenAIProvider(make_client(variant, budget), budget)
