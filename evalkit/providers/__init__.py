"""Provider registry. Built-ins and plugins take the same path: a name in the `evalkit.providers`
entry-point group (a plugin package declares `myprov = "pkg.module:create"`, or names an
`evalkit.suite.plugins.ProviderPlugin` to declare its settings model and traits as well).
`create_provider(variant, base_dir)` returns an `evalkit.providers.base.Provider`;
`provider_traits(name)` says what is known about a provider without creating one."""
from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..suite.model import VariantSpec
from ..suite.plugins import (
    BUILTIN,
    ProviderPlugin,
    ProviderTraits,
    plugin,
    provider_traits,
    registry,
)
from .base import CAPABILITIES, ChatRequest, Completion, Provider, ToolCall, Usage


class PluginProvider(Provider):
    """A plugin's object that does not derive from `Provider`: the capabilities it sets itself
    (read once, here), the defaults for the rest."""

    def __init__(self, inner: Any, name: str):
        for method in ("complete", "aclose"):
            if not callable(getattr(inner, method, None)):
                raise ConfigError(f"provider '{name}' created a {type(inner).__name__}, which has no "
                                  f"{method}(): a provider implements evalkit.providers.base.Provider")
        self.inner = inner
        for capability in CAPABILITIES:
            if hasattr(inner, capability):
                setattr(self, capability, getattr(inner, capability))

    async def complete(self, request: ChatRequest) -> Completion:
        return await self.inner.complete(request)

    async def aclose(self) -> None:
        await self.inner.aclose()

    @property
    def batch_url(self) -> str:
        return self.inner.batch_url

    async def submit_batch(self, name: str, data: bytes) -> dict[str, Any]:
        return await self.inner.submit_batch(name, data)

    async def batch_status(self, batch_id: str) -> dict[str, Any]:
        return await self.inner.batch_status(batch_id)

    async def file_text(self, file_id: str | None) -> str:
        return await self.inner.file_text(file_id)


def _factory(name: str, declared: ProviderPlugin, variant_name: str) -> Any:
    if callable(declared.create):
        return declared.create
    module, _, attr = declared.create.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except ImportError as e:
        raise ConfigError(f"variant '{variant_name}': provider '{name}' cannot be loaded: {e}") from None
    except AttributeError:
        raise ConfigError(f"variant '{variant_name}': provider '{name}': {module} has no '{attr}'") from None


def create_provider(variant: VariantSpec, base_dir: Path) -> Provider:
    declared = plugin(variant.provider)
    if declared is None:
        raise ConfigError(f"variant '{variant.name}': unknown provider '{variant.provider}' "
                          f"(known: {', '.join(sorted(registry()))})")
    made = _factory(variant.provider, declared, variant.name)(variant, base_dir=base_dir)
    return made if isinstance(made, Provider) else PluginProvider(made, variant.provider)


__all__ = ["BUILTIN", "ChatRequest", "Completion", "PluginProvider", "Provider", "ProviderTraits", "ToolCall",
           "Usage", "create_provider", "provider_traits", "registry"]
