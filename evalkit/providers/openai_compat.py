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
own http client.
"""
from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import openai

from ..errors import ConfigError, ProviderError
from ..suite.functions import to_legacy_functions
from ..suite.model import VariantSpec
from .base import ChatRequest, Completion, ToolCall, Usage
from .http_transport import httpx, lean_http_client
from .ratelimit import RetryBudget, budget_hooks

DEFAULT_MAX_RETRIES = 4
DEFAULT_TIMEOUT = 60.0


def _env(name: str | None) -> str | None:
    return os.environ.get(name) or None if name else None


def _key(variant: VariantSpec, default_env: str, needed: bool) -> str:
    env_name = variant.api_key_env or default_env
    key = _env(env_name)
    if key:
        return key
    if variant.api_key_env or needed:
        raise ConfigError(f"variant '{variant.name}': no API key: set the environment variable {env_name}"
                          + ("" if variant.api_key_env else " (or name another with `api_key_env`)"))
    return "not-needed"  # an OpenAI-compatible server that takes no key


def is_azure(variant: VariantSpec) -> bool:
    return variant.provider == "azure" or bool(variant.azure_endpoint)


def _http_client(variant: VariantSpec, budget: RetryBudget | None) -> httpx.AsyncClient | None:
    hooks = budget_hooks(budget) if budget is not None else {}
    timeout = variant.timeout or DEFAULT_TIMEOUT
    if variant.options.get("http_client", "lean") == "default" or urllib.request.getproxies():
        if not hooks:
            return None  # openai-python's own client, proxies and all
        return openai.DefaultAsyncHttpxClient(timeout=timeout, event_hooks=hooks)
    client = lean_http_client(timeout)
    client.event_hooks = hooks
    return client


def retry_budget(variant: VariantSpec) -> RetryBudget:
    return RetryBudget(minimum=int(variant.options.get("retry_budget", 100)),
                       ratio=float(variant.options.get("retry_budget_ratio", 0.5)))


def make_client(variant: VariantSpec, budget: RetryBudget | None = None) -> openai.AsyncOpenAI:
    """The one client per variant; fails before any request when the connection is incomplete."""
    opts: dict[str, Any] = {"max_retries": int(variant.options.get("max_retries", DEFAULT_MAX_RETRIES)),
                            "timeout": variant.timeout or DEFAULT_TIMEOUT}
    http_client = _http_client(variant, budget)
    if http_client is not None:
        opts["http_client"] = http_client
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


def to_completion(data: Any) -> Completion:
    """A chat completion body (the JSON object) -> Completion. `raw` keeps the body, nulls dropped."""
    if hasattr(data, "model_dump"):  # a typed ChatCompletion from openai-python
        data = data.model_dump(mode="json")
    choices = data.get("choices") if isinstance(data, dict) else None
    if not choices or not isinstance(choices[0], dict):
        raise ProviderError("response has no choices")
    choice = choices[0]
    message = choice.get("message") or {}
    calls = []
    for tc in message.get("tool_calls") or []:
        fn = tc.get("function") if isinstance(tc, dict) else None
        if isinstance(fn, dict):
            calls.append(ToolCall(fn.get("name") or "", fn.get("arguments") or "", tc.get("id")))
    legacy = message.get("function_call")
    if not calls and isinstance(legacy, dict):
        calls.append(ToolCall(legacy.get("name") or "", legacy.get("arguments") or ""))
    usage = None
    u = data.get("usage")
    if isinstance(u, dict):
        details = u.get("prompt_tokens_details") or {}
        usage = Usage(u.get("prompt_tokens"), u.get("completion_tokens"),
                      details.get("cached_tokens") if isinstance(details, dict) else None)
    return Completion(message.get("content"), tuple(calls), usage, _drop_none(data), choice.get("finish_reason"))


class OpenAIProvider:
    handles_timeout = True  # the client's own per-attempt timeout (variant `timeout`) applies

    def __init__(self, client: openai.AsyncOpenAI, budget: RetryBudget | None = None):
        self.client = client
        self.budget = budget

    @property
    def endpoint(self) -> str:
        """Where requests go (part of the response-cache key); never the key."""
        return str(self.client.base_url)

    async def complete(self, request: ChatRequest) -> Completion:
        try:
            # client.post is openai-python's documented call for raw requests: same retries/errors
            resp = await self.client.post("/chat/completions", body=request_params(request),
                                          cast_to=httpx.Response)
            data = json.loads(resp.content)
        except openai.APIStatusError as e:
            raise ProviderError(f"HTTP {e.status_code}: {_short(e.message)}") from None
        except openai.APIError as e:
            raise ProviderError(f"{type(e).__name__}: {_short(str(e))}") from None
        except ValueError as e:
            raise ProviderError(f"response is not JSON: {_short(str(e))}") from None
        return to_completion(data)

    async def aclose(self) -> None:
        await self.client.close()


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= 200 else text[:197] + "..."


def create(variant: VariantSpec, *, base_dir: Path | None = None) -> OpenAIProvider:
    budget = retry_budget(variant)
    return OpenAIProvider(make_client(variant, budget), budget)
