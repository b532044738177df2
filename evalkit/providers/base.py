"""The one provider interface: a prepared chat request in, a completion out.

Every provider (OpenAI-compatible HTTP, Azure, the embedded local model, plugins) implements
`Provider`. Requests are built once by the runner, before any I/O; providers never see suites.
"""
from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

from ..types import ChatRequest, Completion, ToolCall, Usage, WireFormat

PromptCounter = Callable[[ChatRequest], int]


@runtime_checkable
class Provider(Protocol):
    """Async, safe to call concurrently. Raise `evalkit.errors.ProviderError` on a final failure.

    Optional capabilities, declared as attributes; a provider without one gets the default:

    - `count_prompt_tokens(request) -> int`: the prompt tokens of exactly what this provider
      would send, counted with the model's own tokenizer, without loading weights and without
      any request (default None: evalkit counts with tiktoken and OpenAI's prompt rules).
      Creating the provider must stay cheap for this: `evalkit tokens` creates one to count.
    """

    async def complete(self, request: ChatRequest) -> Completion: ...

    async def aclose(self) -> None: ...


def prompt_counter(provider: object) -> PromptCounter | None:
    """The provider's own prompt-token counter, or None (the declared default)."""
    counter = getattr(provider, "count_prompt_tokens", None)
    return counter if callable(counter) else None


__all__ = ["ChatRequest", "Completion", "PromptCounter", "Provider", "ToolCall", "Usage", "WireFormat",
           "prompt_counter"]
