"""OpenAI, Azure OpenAI and any OpenAI-compatible endpoint, through openai-python.

Both wire formats: `tools`/`tool_calls` and the legacy `functions`/`function_call`. Retries and
timeouts are openai-python's own (it honours retry-after); we only pass its options through.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import openai

from ..errors import ConfigError, ProviderError
from ..functions import to_legacy_functions
from ..suite.model import VariantSpec
from .base import ChatRequest, Completion, ToolCall, Usage

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


def make_client(variant: VariantSpec) -> openai.AsyncOpenAI:
    """The one client per variant; fails before any request when the connection is incomplete."""
    opts: dict[str, Any] = {"max_retries": int(variant.options.get("max_retries", DEFAULT_MAX_RETRIES)),
                            "timeout": variant.timeout or DEFAULT_TIMEOUT}
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


def to_completion(resp: Any) -> Completion:
    if not getattr(resp, "choices", None):
        raise ProviderError("response has no choices")
    choice = resp.choices[0]
    message = choice.message
    calls = []
    for tc in message.tool_calls or []:
        fn = getattr(tc, "function", None)
        if fn is not None:
            calls.append(ToolCall(fn.name or "", fn.arguments or "", tc.id))
    if not calls and getattr(message, "function_call", None):
        calls.append(ToolCall(message.function_call.name or "", message.function_call.arguments or ""))
    usage = None
    if resp.usage is not None:
        details = getattr(resp.usage, "prompt_tokens_details", None)
        usage = Usage(resp.usage.prompt_tokens, resp.usage.completion_tokens,
                      getattr(details, "cached_tokens", None) if details else None)
    return Completion(message.content, tuple(calls), usage, resp.model_dump(mode="json", exclude_none=True),
                      choice.finish_reason)


class OpenAIProvider:
    def __init__(self, client: openai.AsyncOpenAI):
        self.client = client

    async def complete(self, request: ChatRequest) -> Completion:
        try:
            resp = await self.client.chat.completions.create(**request_params(request))
        except openai.APIStatusError as e:
            raise ProviderError(f"HTTP {e.status_code}: {_short(e.message)}") from None
        except openai.APIError as e:
            raise ProviderError(f"{type(e).__name__}: {_short(str(e))}") from None
        return to_completion(resp)

    async def aclose(self) -> None:
        await self.client.close()


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= 200 else text[:197] + "..."


def create(variant: VariantSpec, *, base_dir: Path | None = None) -> OpenAIProvider:
    return OpenAIProvider(make_client(variant))
