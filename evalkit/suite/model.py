"""The suite format (README "The suite format") as pydantic models, and the resolved case types the pipeline uses.

`SuiteSpec` mirrors the YAML exactly (unknown keys are errors). `Case` and `Expectation` are what
the runner and the scorer consume: every case, whether written inline or read from `cases_from`,
ends up as the same frozen dataclass.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .sections import GateSpec, PricesSpec, TcoSpec


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TransformSpec(_Strict):
    """A named function-definition transform: start from `full` or `short`, then drop functions."""

    base: Literal["full", "short"] = "full"
    strip_descriptions: bool | None = None
    empty_properties: bool | None = None
    keep_required: bool = False  # with empty properties: keep the `required` list
    drop: list[str] = Field(default_factory=list)
    keep: list[str] | None = None


class VariantSpec(_Strict):
    """One variant. The keys only some providers read (connection keys, `adapter`, `options`) are
    checked against the provider's own settings model when the suite loads (suite/plugins.py)."""

    name: str = Field(min_length=1)
    provider: str = "openai"
    model: str | None = None
    functions: str = "full"
    base_url: str | None = None
    api_key_env: str | None = None
    azure_endpoint: str | None = None
    api_version: str | None = None
    api: Literal["tools", "functions"] = "tools"
    temperature: float | None = 0.0
    max_tokens: int | None = Field(default=None, gt=0)
    repeats: int | None = Field(default=None, ge=1)
    concurrency: int | None = Field(default=None, ge=1)
    timeout: float | None = Field(default=None, gt=0)
    requests_per_minute: float | None = Field(default=None, gt=0)
    tokens_per_minute: float | None = Field(default=None, gt=0)
    tokenizer: str | None = None  # tiktoken encoding or model name used for counting
    base_model: str | None = None  # e.g. the model behind an Azure deployment name
    adapter: str | None = None  # local provider: LoRA adapter directory (relative to the suite)
    options: dict[str, Any] = Field(default_factory=dict)  # provider-specific settings
    # Request-body keys sent verbatim (tool_choice, parallel_tool_calls, seed, top_p, stop, ...)
    params: dict[str, Any] = Field(default_factory=dict)
    trial: dict[str, Any] | None = None


class ExpectedCallSpec(_Strict):
    call: str = Field(min_length=1)
    arguments: dict[str, Any] | None = None


class ExpectSpec(_Strict):
    """`expect:` as a mapping. The shorthand forms (`refuse`, a list of calls) are normalised first."""

    call: str | None = None
    arguments: dict[str, Any] | None = None
    calls: list[ExpectedCallSpec] | None = None
    refuse: bool | None = None
    answer_contains: list[str] | None = None
    answer_matches: str | None = None


class CaseSpec(_Strict):
    id: str | int
    user: str | None = None
    messages: list[dict[str, Any]] | None = None
    expect: Any
    tags: list[str] = Field(default_factory=list)
    functions: list[dict[str, Any]] | None = None

    @field_validator("id")
    @classmethod
    def _id_text(cls, v: str | int) -> str:
        return str(v)


class SuiteSpec(_Strict):
    name: str = Field(min_length=1)
    description: str | None = None
    system: str | None = None
    functions: list[dict[str, Any]] = Field(default_factory=list)
    functions_from: str | list[str] | None = None  # tool files (OpenAI, legacy, MCP, Anthropic), relative to the suite
    transforms: dict[str, TransformSpec] = Field(default_factory=dict)
    variants: list[VariantSpec] = Field(min_length=1)
    cases: list[CaseSpec] = Field(default_factory=list)
    cases_from: str | list[str] | None = None
    repeats: int = Field(default=1, ge=1)
    concurrency: int | None = Field(default=None, ge=1)
    string_match: Literal["exact", "bfcl"] = "exact"
    tools_module: str | None = None
    execute: bool = False
    gate: GateSpec | None = None
    prices: PricesSpec | None = None
    tco: TcoSpec | None = None


# ---- resolved types -------------------------------------------------------------------------

@dataclass(frozen=True)
class AnyOf:
    """An argument may take any of these values; `optional` also accepts leaving it out."""

    values: tuple[Any, ...]
    optional: bool = False


@dataclass(frozen=True)
class ExpectedCall:
    name: str
    arguments: dict[str, Any] | None  # None: arguments are not checked beyond the schema


@dataclass(frozen=True)
class Expectation:
    calls: tuple[ExpectedCall, ...]  # empty: the model should not call anything (refuse)
    answer_contains: tuple[str, ...] = ()
    answer_matches: str | None = None

    @property
    def refuse(self) -> bool:
        return not self.calls


@dataclass(frozen=True)
class Case:
    id: str
    messages: tuple[dict[str, Any], ...]  # the prompt, system message included
    expect: Expectation
    functions: tuple[dict[str, Any], ...] | None = None  # per-case override, tools shape, full
    tags: tuple[str, ...] = ()
    source: str = ""  # "file:line" the case came from, for error messages and reports
    params: dict[str, Any] = field(default_factory=dict)  # request-body keys the case sets itself


@dataclass(frozen=True)
class Suite:
    spec: SuiteSpec
    path: str
    functions: tuple[dict[str, Any], ...]  # the suite's source definitions, tools shape
    cases: tuple[Case, ...]
    variants: tuple[VariantSpec, ...] = field(default=())

    @property
    def name(self) -> str:
        return self.spec.name
