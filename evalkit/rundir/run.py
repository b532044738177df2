"""A run directory read back as one typed `Run`: `open_run(path)` is how report, gate, trials,
export and cost see a run, and `read_info` is how resume reads what the run was.

Each file is validated once, here (result lines in rundir/results.py), and a malformed or
missing one is a single `InputError` naming the file, the line when there is one, and the field:

  results.jsonl   required, at least one result          -> `Run.records`
  run.json        optional (older, hand-made runs)        -> `Run.info` (a `RunInfo`)
  summary.json    optional (a run killed before the end)  -> `Run.summary`, None when absent
  functions.json  optional                                -> `Run.functions` (sha -> definitions sent)

run.json is the run's snapshot of what later commands need: each variant's settings
(`VariantInfo`), the case order, the options it started with, its identity (rundir/identity.py),
and the price table and `tco:` settings it was priced with, so `evalkit report` and
`evalkit cost RUN_DIR` never read the suite file again.
"""
from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from ..errors import InputError
from .results import FUNCTIONS, INFO, RESULTS, SUMMARY, read_results


class _Record(BaseModel):
    # extra keys are kept: a newer evalkit may record more than this one reads
    model_config = ConfigDict(extra="allow", frozen=True)


class VariantInfo(_Record):
    """A variant as the run recorded it (never connection secrets): what pricing, trials and the
    export need to know about it without the suite."""

    name: str = ""
    provider: str | None = None
    model: str | None = None
    base_model: str | None = None
    tokenizer: str | None = None
    adapter: str | None = None
    functions: str | None = None
    api: str | None = None
    trial: dict[str, Any] | None = None
    batch: bool = False

    @classmethod
    def of(cls, name: str, data: Mapping[str, Any] | None) -> VariantInfo:
        """From a summary's or run.json's per-variant mapping (unknown keys ignored)."""
        known = {k: v for k, v in (data or {}).items() if k in cls.model_fields and k != "name"}
        try:
            return cls(name=name, **known)
        except ValidationError:  # a summary's free-form entry: keep what is well-typed
            return cls(name=name, **{k: v for k, v in known.items() if _fits(cls, k, v)})


def _fits(cls: type[BaseModel], key: str, value: Any) -> bool:
    try:
        cls.model_validate({key: value})
        return True
    except ValidationError:
        return False


class RunInfo(_Record):
    """run.json."""

    suite: str | None = None
    suite_path: str | None = None  # where the suite was, for `--resume` only
    suite_sha: str | None = None
    identity: dict[str, str] | None = None
    created: str | None = None
    variants: dict[str, VariantInfo] = {}
    cases: list[str] = []
    options: dict[str, Any] | None = None
    prices: dict[str, Any] | None = None  # the price table used: shipped prices + the suite's `prices:`
    tco: dict[str, Any] | None = None  # the suite's `tco:` section

    @field_validator("cases", mode="before")
    @classmethod
    def _case_ids(cls, v: Any) -> Any:
        return [str(x) if isinstance(x, int) and not isinstance(x, bool) else x for x in v] \
            if isinstance(v, list) else v

    @field_validator("variants", mode="before")
    @classmethod
    def _named(cls, v: Any) -> Any:
        return {k: {**x, "name": k} if isinstance(x, dict) else x for k, x in v.items()} \
            if isinstance(v, dict) else v


@dataclass(frozen=True)
class Run:
    path: Path
    info: RunInfo
    records: tuple[Mapping[str, Any], ...]
    summary: Mapping[str, Any] | None = None  # summary.json; analysis.metrics.run_summary fills a gap
    functions: Mapping[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.resolve().name or str(self.path)

    @property
    def suite(self) -> str | None:
        return self.info.suite

    @property
    def suite_path(self) -> str | None:
        return self.info.suite_path

    def variant(self, name: str) -> VariantInfo:
        """The variant's recorded settings (from run.json, else from summary.json)."""
        if name in self.info.variants:
            return self.info.variants[name]
        return VariantInfo.of(name, ((self.summary or {}).get("variants") or {}).get(name))


def _json_file(path: Path, required: bool) -> Any:
    if not path.is_file():
        if required:
            raise InputError(str(path), f"no {path.name} here: is this an evalkit run directory?")
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(str(path), f"corrupt {path.name} ({e.msg})", line=e.lineno) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(str(path), f"cannot read {path.name} ({e})") from None


def _object(path: Path, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InputError(str(path), f"expected a JSON object, got {type(data).__name__}")
    return data


def _pydantic_error(path: Path, e: ValidationError) -> InputError:
    err = e.errors()[0]
    where = ".".join(str(x) for x in err["loc"])
    return InputError(str(path), err["msg"], field=where or None)


def read_info(run_dir: str | Path, required: bool = False) -> RunInfo:
    """run.json as a `RunInfo` (empty when the run has none and it is not `required`)."""
    path = Path(run_dir) / INFO
    data = _json_file(path, required)
    if data is None:
        return RunInfo()
    try:
        return RunInfo.model_validate(_object(path, data))
    except ValidationError as e:
        raise _pydantic_error(path, e) from None


def _summary(path: Path) -> dict[str, Any] | None:
    data = _json_file(path, False)
    if data is None:
        return None
    data = _object(path, data)
    variants = data.get("variants")
    if not isinstance(variants, dict) or not all(isinstance(m, dict) for m in variants.values()):
        raise InputError(str(path), "expected an object of variants, each an object of metrics", field="variants")
    return data


def open_run(run_dir: str | Path, *, summary: Mapping[str, Any] | None = None,
             records: Sequence[Mapping[str, Any]] | None = None) -> Run:
    """The run in `run_dir`, every file validated. `summary`/`records` are for a caller that
    holds them already (the runner, right after writing them) and skip re-reading those files."""
    path = Path(run_dir)
    if not path.is_dir():
        raise InputError(str(path), "run directory not found")
    rows = tuple(records) if records is not None else tuple(read_results(path))
    if not rows:
        raise InputError(str(path / RESULTS), "no results in this run")
    functions = _json_file(path / FUNCTIONS, False)
    return Run(path=path, info=read_info(path), records=rows,
               summary=summary if summary is not None else _summary(path / SUMMARY),
               functions=_object(path / FUNCTIONS, functions) if functions is not None else {})


__all__ = ["Run", "RunInfo", "VariantInfo", "open_run", "read_info"]
