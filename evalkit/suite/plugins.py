"""The providers a variant may name, and what each declares about itself before it is created.

A provider is registered by name: the built-ins below, and plugins through the `evalkit.providers`
entry-point group (`myprov = "pkg.module:create"`). Each declares, without being imported:

- its **settings**: a pydantic model (unknown keys are errors) of the variant keys it reads:
  the connection keys (`base_url`, `azure_endpoint`, ...), `adapter`, and its own `options:`;
- its **traits**: needs a `model`, runs on this machine (no per-token price), speaks the Batch API,
  fine-tunes through the OpenAI fine-tuning API.

The suite loader checks every variant against its provider's settings, so a mistyped provider or
option, or a missing model, is a load error with file, line and field. The settings models live
here, beside the rest of the suite format, so checking a suite never imports openai or torch.

A plugin gets the defaults (`PluginSettings`: every connection key, free-form `options`; no
traits), unless its entry point names a `ProviderPlugin` declaring its own.
"""
from __future__ import annotations

import difflib
import importlib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any, Callable, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
)

# Variant keys only some providers read; every other variant key means the same to all of them.
PROVIDER_KEYS = ("base_url", "api_key_env", "azure_endpoint", "api_version", "adapter", "options")


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# Option values left out (None) take the provider's own default.

class OpenAIOptions(_Settings):
    http_client: Literal["lean", "default"] | None = None  # "default": openai-python's own httpx client
    max_retries: StrictInt | None = Field(default=None, ge=0)  # per request, openai-python's retries
    retry_budget: StrictInt | None = Field(default=None, ge=0)  # retries the whole run may always spend
    retry_budget_ratio: float | None = Field(default=None, ge=0)  # ... plus this share of requests sent


class OpenAISettings(_Settings):
    """openai, azure and any OpenAI-compatible endpoint (openai-python)."""

    base_url: str | None = None
    api_key_env: str | None = None
    azure_endpoint: str | None = None
    api_version: str | None = None
    options: OpenAIOptions = Field(default_factory=OpenAIOptions)


class LocalOptions(_Settings):
    guided: StrictBool | None = None  # constrain output to a reply or schema-valid calls
    batch_size: StrictInt | None = Field(default=None, ge=1)  # prompts per generate() call
    max_new_tokens: StrictInt | None = Field(default=None, ge=1)  # cap on generated tokens per prompt
    gather_ms: float | None = Field(default=None, ge=0)  # how long the batcher waits for company
    threads: StrictInt | None = Field(default=None, ge=1)  # torch intra-op threads
    verify_hash: StrictBool | None = None  # check the default weights' sha256 before loading


class LocalSettings(_Settings):
    """The embedded local model (transformers, on this machine)."""

    adapter: str | None = None  # LoRA adapter directory, relative to the suite
    options: LocalOptions = Field(default_factory=LocalOptions)


class PluginSettings(_Settings):
    """A plugin that declares no settings of its own: every provider key, options as given."""

    base_url: str | None = None
    api_key_env: str | None = None
    azure_endpoint: str | None = None
    api_version: str | None = None
    adapter: str | None = None
    options: dict[str, Any] = Field(default_factory=dict)


@dataclass(frozen=True)
class ProviderTraits:
    """What the rest of evalkit may know about a provider by its name alone."""

    needs_model: bool = False  # a variant must name its `model` (or deployment)
    local: bool = False  # answers on this machine: no network, no per-token price
    batch_api: bool = False  # `evalkit run --batch` can send its requests
    fine_tuning_api: bool = False  # its models can be fine-tuned with the OpenAI fine-tuning API


@dataclass(frozen=True)
class ProviderPlugin:
    """A provider's declaration. `create` is the factory `create(variant, *, base_dir)` or its
    "module:attr", imported only when a provider is created."""

    create: str | Callable[..., Any]
    settings: type[BaseModel] = PluginSettings
    traits: ProviderTraits = field(default_factory=ProviderTraits)


_HOSTED = ProviderTraits(needs_model=True, batch_api=True, fine_tuning_api=True)
BUILTIN: dict[str, str | ProviderPlugin] = {
    "openai": ProviderPlugin("evalkit.providers.openai_compat:create", OpenAISettings, _HOSTED),
    "azure": ProviderPlugin("evalkit.providers.openai_compat:create", OpenAISettings, _HOSTED),
    "local": ProviderPlugin("evalkit.providers.local:create", LocalSettings, ProviderTraits(local=True)),
}


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, str]:
    return {ep.name: ep.value for ep in entry_points(group="evalkit.providers")}


def registry() -> dict[str, str | ProviderPlugin]:
    """Every registered provider name -> its declaration or "module:attr". The built-ins keep
    their own declarations (pyproject also lists them as entry points, for other tools)."""
    return {**_entry_points(), **BUILTIN}


@lru_cache(maxsize=64)
def _load(target: str) -> ProviderPlugin:
    module, _, attr = target.partition(":")
    try:
        found = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError):
        return ProviderPlugin(target)  # checked with the defaults; creating it says what is missing
    return found if isinstance(found, ProviderPlugin) else ProviderPlugin(found)


def plugin(name: str) -> ProviderPlugin | None:
    """The declaration of provider `name`, or None when no provider has that name."""
    target = registry().get(name)
    if target is None or isinstance(target, ProviderPlugin):
        return target
    return _load(target)


def provider_traits(name: str) -> ProviderTraits:
    """The traits of provider `name`; an unknown name (a plugin not installed here) has none."""
    declared = plugin(name)
    return declared.traits if declared else ProviderTraits()


@dataclass(frozen=True)
class SettingsProblem:
    message: str
    loc: tuple[str | int, ...]  # within the variant


def settings_problem(variant: Any) -> SettingsProblem | None:
    """What is wrong with a variant's provider settings (a `VariantSpec`), or None."""
    known = registry()
    declared = plugin(variant.provider)
    if declared is None:
        close = difflib.get_close_matches(variant.provider, known, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return SettingsProblem(f"unknown provider '{variant.provider}' (known: {', '.join(sorted(known))}){hint}",
                               ("provider",))
    if declared.traits.needs_model and not variant.model:
        return SettingsProblem(f"provider '{variant.provider}' needs a `model` (the model or deployment name)",
                               ("model",))
    given = {k: getattr(variant, k) for k in PROVIDER_KEYS if k in variant.model_fields_set}
    try:
        declared.settings.model_validate(given)
    except ValidationError as e:
        return _problem(e, declared.settings, variant.provider)
    return None


def _problem(e: ValidationError, model: type[BaseModel], provider: str) -> SettingsProblem:
    err = e.errors()[0]
    loc = tuple(err["loc"])
    if err["type"] == "extra_forbidden":
        if loc[0] == "options":
            options = model.model_fields["options"].annotation
            names = ", ".join(getattr(options, "model_fields", {})) or "none"
            return SettingsProblem(f"unknown option '{loc[-1]}' for provider '{provider}' (its options: {names})",
                                   loc)
        names = ", ".join(k for k in model.model_fields if k != "options")
        return SettingsProblem(f"`{loc[-1]}` is not a setting of provider '{provider}' "
                               f"(its settings: {names or 'none'}, options)", loc)
    return SettingsProblem(f"{err['msg']} (got {err.get('input')!r:.60})", loc)


__all__ = [
    "BUILTIN",
    "PROVIDER_KEYS",
    "LocalOptions",
    "LocalSettings",
    "OpenAIOptions",
    "OpenAISettings",
    "PluginSettings",
    "ProviderPlugin",
    "ProviderTraits",
    "SettingsProblem",
    "plugin",
    "provider_traits",
    "registry",
    "settings_problem",
]
