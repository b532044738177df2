"""The one provider interface: a prepared chat request in, a completion out.

Every provider (OpenAI-compatible HTTP, Azure, the embedded local model, plugins) implements
`Provider`. Requests are built once by the runner, before any I/O; providers never see suites.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from ..types import ChatRequest, Completion, ToolCall, Usage, WireFormat


@runtime_checkable
class Provider(Protocol):
    """Async, safe to call concurrently. Raise `evalkit.errors.ProviderError` on a final failure."""

    async def complete(self, request: ChatRequest) -> Completion: ...

    async def aclose(self) -> None: ...


__all__ = ["ChatRequest", "Completion", "Provider", "ToolCall", "Usage", "WireFormat"]
