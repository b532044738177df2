"""The one provider interface: a prepared chat request in, a completion out.

Every provider (OpenAI-compatible HTTP, Azure, the embedded local model, plugins) is a `Provider`.
Requests are built once by the runner, before any I/O; providers never see suites. What else a
provider can do is declared here, with the default a provider gets when it declares nothing; the
rest of evalkit reads these declarations and never probes a provider for anything else. What is
known about a provider by its name alone, before one is created (its settings model, whether it
runs locally or speaks the Batch API), is `evalkit.providers.provider_traits`.
"""
from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from typing import Any, Callable

from ..types import ChatRequest, Completion, ToolCall, Usage, WireFormat

PromptCounter = Callable[[ChatRequest], int]

# Every declaration below; a plugin object that does not derive from Provider may still set
# these names (evalkit.providers.create_provider reads them once, when it is created).
CAPABILITIES = ("handles_timeout", "count_prompt_tokens", "endpoint", "request_query", "credential_id",
                "supports_batch")


class Provider(ABC):
    """Async, safe to call concurrently. Raise `evalkit.errors.ProviderError` on a final failure."""

    #: The provider enforces the variant's `timeout` itself (per attempt, or not at all because
    #: waiting is not failing); False: the runner bounds each `complete` call by it.
    handles_timeout: bool = False

    #: `count_prompt_tokens(request) -> int`: the prompt tokens of exactly what this provider
    #: would send, counted with the model's own tokenizer, without loading weights and without
    #: any request. None: evalkit counts with tiktoken and OpenAI's prompt rules. Creating the
    #: provider must stay cheap for this: `evalkit tokens` creates one to count.
    count_prompt_tokens: PromptCounter | None = None

    #: What identifies the responder for the response cache: where requests go, or the weights
    #: that answer. None: the variant's provider settings stand in for it.
    endpoint: str | None = None

    #: A query every request carries that changes what answers (Azure's api-version), for the
    #: response cache; None when there is none.
    request_query: dict[str, Any] | None = None

    #: Tells the credential requests are sent with apart from others (`credential_fingerprint`),
    #: never the credential itself; for the response cache. None: no credential.
    credential_id: str | None = None

    #: The OpenAI Batch API (`evalkit run --batch`) through the four members below.
    supports_batch: bool = False

    @abstractmethod
    async def complete(self, request: ChatRequest) -> Completion: ...

    async def aclose(self) -> None:
        return None

    # ---- the Batch API, when supports_batch ----------------------------------------------------

    @property
    def batch_url(self) -> str:
        """The `url` of each batch request line."""
        raise NotImplementedError(f"{type(self).__name__} does not speak the Batch API")

    async def submit_batch(self, name: str, data: bytes) -> dict[str, Any]:
        """Upload the requests (batch JSONL) and create the batch: {"batch_id", "input_file_id"}."""
        raise NotImplementedError(f"{type(self).__name__} does not speak the Batch API")

    async def batch_status(self, batch_id: str) -> dict[str, Any]:
        """{"status", "done", "total", "errors", "output_file_id", "error_file_id"} of one batch."""
        raise NotImplementedError(f"{type(self).__name__} does not speak the Batch API")

    async def file_text(self, file_id: str | None) -> str:
        """A result file's text ("" for None)."""
        raise NotImplementedError(f"{type(self).__name__} does not speak the Batch API")


def credential_fingerprint(key: Any) -> str | None:
    """Tells two credentials apart without storing either: a truncated sha256, never the key."""
    if not isinstance(key, str) or not key:
        return None
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:12]


def prompt_counter(provider: Provider) -> PromptCounter | None:
    """The provider's own prompt-token counter, or None (the declared default)."""
    return provider.count_prompt_tokens


__all__ = ["CAPABILITIES", "ChatRequest", "Completion", "PromptCounter", "Provider", "ToolCall", "Usage",
           "WireFormat", "credential_fingerprint", "prompt_counter"]
