"""Provider registry. Built-ins and plugins take the same path: the `evalkit.providers` entry-point
group (a plugin package declares `myprov = "pkg.module:create"`). `create(variant, base_dir=...)`
returns an object implementing `evalkit.providers.base.Provider`."""
from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from pathlib import Path

from ..errors import ConfigError
from ..suite.model import VariantSpec
from .base import ChatRequest, Completion, Provider, ToolCall, Usage

# Also listed in pyproject.toml; kept here so a source checkout that is not installed still works.
BUILTIN = {
    "openai": "evalkit.providers.openai_compat:create",
    "azure": "evalkit.providers.openai_compat:create",
    "local": "evalkit.providers.local:create",
}


def registry() -> dict[str, str]:
    found = {ep.name: ep.value for ep in entry_points(group="evalkit.providers")}
    return {**BUILTIN, **found}


def create_provider(variant: VariantSpec, base_dir: Path) -> Provider:
    known = registry()
    target = known.get(variant.provider)
    if target is None:
        raise ConfigError(f"variant '{variant.name}': unknown provider '{variant.provider}' "
                          f"(known: {', '.join(sorted(known))})")
    module, _, attr = target.partition(":")
    try:
        factory = getattr(importlib.import_module(module), attr)
    except ImportError as e:
        raise ConfigError(f"variant '{variant.name}': provider '{variant.provider}' cannot be loaded: {e}") from None
    return factory(variant, base_dir=base_dir)


__all__ = ["ChatRequest", "Completion", "Provider", "ToolCall", "Usage", "create_provider", "registry"]
