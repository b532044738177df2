"""The records that cross stage boundaries: a prepared chat request, the calls and usage a provider
returns. Plain frozen dataclasses, no dependencies: every layer may import them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

WireFormat = Literal["tools", "functions"]


@dataclass(frozen=True)
class ChatRequest:
    """Exactly what is sent for one case x variant. `tools` is always in the OpenAI `tools` shape;
    a provider speaking the legacy wire format (`api == "functions"`) converts it."""

    model: str
    messages: tuple[dict[str, Any], ...]
    tools: tuple[dict[str, Any], ...] = ()
    api: WireFormat = "tools"
    temperature: float | None = 0.0
    max_tokens: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ToolCall:
    """A call as the model emitted it. `arguments` is the raw text; scoring parses it."""

    name: str
    arguments: str
    id: str | None = None


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cached_tokens: int | None = None


@dataclass(frozen=True)
class Completion:
    content: str | None
    calls: tuple[ToolCall, ...] = ()
    usage: Usage | None = None
    raw: Any = None  # JSON-serialisable provider payload, stored in results.jsonl
    finish_reason: str | None = None
    # Service time measured by the provider itself, without time spent queued inside it (a local
    # model batching requests); when set, results report it instead of the wall time of the call.
    latency_s: float | None = None
    # The weights that answered, when the provider knows them better than the request's `model`
    # (the local provider: default model and adapter); results record it instead.
    model: str | None = None
