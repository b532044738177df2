"""evalkit: evaluate LLM function calling. The command line is `evalkit`; in Python,
`evalkit.load(RUN_DIR)` returns a run as a pandas DataFrame (pandas is imported only then)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas


def load(run_dir: Any) -> "pandas.DataFrame":
    """One row per case x variant x repeat: verdict, reason, calls, tokens, latency, variant settings."""
    from .analysis.tidy import load as load_run

    return load_run(run_dir)


__all__ = ["load"]
