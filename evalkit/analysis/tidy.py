"""A run directory as one tidy table: one row per case x variant x repeat, for pandas users.

`evalkit.load(RUN_DIR)` returns it; `evalkit export RUN_DIR --format csv|parquet|jsonl` writes it.
Every column is a scalar (nested values such as calls and expectations are JSON text), so the same
table goes to CSV, Parquet and JSON lines unchanged. pandas is imported here, never by `evalkit`.

Each metric of the metric set (evalkit/metricset.py) is a column too: 1.0 where the row is a
success, 0.0 where it is not, empty where the row is outside the metric's denominator (or an
error), so `df.groupby("variant")["refusal_accuracy"].mean()` is the rate over attempts.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from .. import metricset
from ..errors import ConfigError, InputError
from ..rundir.run import Run, VariantInfo, open_run

if TYPE_CHECKING:
    import pandas

FORMATS = ("csv", "parquet", "jsonl")
# Leading columns, in this order; variant settings and trial hyperparameters follow.
COLUMNS = ("case_id", "variant", "repeat", "verdict", "correct", "reason", "should_call", "hallucinated",
           "over_refused", "name_correct", "n_calls", "called", "expected_calls", "model", "api",
           "prompt_tokens", "completion_tokens", "cached_tokens", "counted_prompt_tokens",
           "counted_function_tokens", "latency_s", "error", "steps", "final_answer", "content", "tags",
           "calls", "expected", "functions_sha", "cached")


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


def _trajectory(raw: Any) -> tuple[int | None, str | None]:
    if isinstance(raw, Mapping) and "trajectory" in raw:
        return len(raw["trajectory"]), raw.get("final_answer")
    return None, None


def row(rec: Mapping[str, Any], variants: Mapping[str, VariantInfo]) -> dict[str, Any]:
    """One results.jsonl record -> one flat row."""
    usage, tokens = rec.get("usage") or {}, rec.get("tokens") or {}
    calls, expected = rec.get("calls") or [], rec.get("expected") or {}
    scored = rec["verdict"] != "error"
    should_call = rec.get("should_call")
    steps, final = _trajectory(rec.get("raw"))
    out = {
        "case_id": rec["case_id"], "variant": rec["variant"], "repeat": rec.get("repeat", 0),
        "verdict": rec["verdict"], "correct": rec["verdict"] == "correct", "reason": rec.get("reason"),
        "should_call": should_call,
        "hallucinated": (bool(calls) if should_call is False else None) if scored else None,
        "over_refused": (not calls if should_call else None) if scored else None,
        "name_correct": rec.get("name_correct"), "n_calls": len(calls),
        "called": ",".join(c.get("name", "") for c in calls),
        "expected_calls": ",".join(c.get("name", "") for c in expected.get("calls") or []),
        "model": rec.get("model"), "api": rec.get("api"),
        "prompt_tokens": usage.get("prompt_tokens"), "completion_tokens": usage.get("completion_tokens"),
        "cached_tokens": usage.get("cached_tokens"), "counted_prompt_tokens": tokens.get("prompt"),
        "counted_function_tokens": tokens.get("functions"), "latency_s": rec.get("latency_s"),
        "error": rec.get("error"), "steps": steps, "final_answer": final, "content": rec.get("content"),
        "tags": ",".join(rec.get("tags") or []), "calls": _json(calls), "expected": _json(expected),
        "functions_sha": rec.get("functions_sha"), "cached": rec.get("cached"),
    }
    for m in metricset.metrics():
        out[m.name] = float(m.success(rec)) if scored and m.counts(rec) else None
    info = variants.get(rec["variant"])
    if info is not None:
        for key in ("provider", "functions", "base_model", "adapter"):
            if getattr(info, key) is not None:
                out[key] = getattr(info, key)
        for key, value in (info.trial or {}).items():
            out[f"trial_{key}"] = value if not isinstance(value, (dict, list)) else _json(value)
    return out


def rows(run: Run | str | Path) -> list[dict[str, Any]]:
    run = run if isinstance(run, Run) else open_run(run)
    variants = {name: run.variant(name) for name in dict.fromkeys(r["variant"] for r in run.records)}
    return [row(r, variants) for r in run.records]


def load(run_dir: Run | str | Path) -> "pandas.DataFrame":
    """The run as a DataFrame: one row per case x variant x repeat, verdict and metrics columns."""
    import pandas

    table = rows(run_dir)
    frame = pandas.DataFrame(table)
    if frame.empty:
        return pandas.DataFrame(columns=list(COLUMNS))
    lead = [c for c in (*COLUMNS, *metricset.names()) if c in frame.columns]
    return frame[lead + [c for c in frame.columns if c not in lead]]


def export(run_dir: str | Path, fmt: str, out: str | Path) -> Path:
    """Write the tidy table as csv, parquet or jsonl (one JSON object per row)."""
    if fmt not in FORMATS:
        raise InputError(None, f"unknown format '{fmt}' (expected {', '.join(FORMATS)})", field="--format")
    frame, out = load(run_dir), Path(out)
    try:
        if fmt == "csv":
            frame.to_csv(out, index=False)
        elif fmt == "jsonl":
            frame.to_json(out, orient="records", lines=True, force_ascii=False)
        else:
            frame.to_parquet(out, index=False)
    except ImportError:
        raise ConfigError("parquet export needs pyarrow: pip install 'evalkit[parquet]' (or pip install pyarrow)") from None
    except OSError as e:
        raise InputError(str(out), f"cannot write: {e.strerror}") from None
    return out
