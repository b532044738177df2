"""`evalkit data shorten`: give every training example the definitions a suite's transform
produces, so training and inference send the same definitions by construction."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from ..errors import InputError
from ..suite.functions import apply_transform, function_names, to_legacy_functions
from ..suite.model import Suite
from .check import calls_of
from .examples import Example, definitions


def shorten_examples(examples: Sequence[Example], suite: Suite, transform: str,
                     where: str = "") -> list[dict[str, Any]]:
    """Replace each example's definitions with the suite's `transform` of its functions. A line
    in the legacy `functions` shape keeps that shape; a line without definitions gains `tools`.
    Calls to functions the suite does not define are errors (the rewrite would hide them)."""
    tools = apply_transform(suite.functions, transform, suite.spec.transforms, where=suite.path)
    known = set(function_names(suite.functions))
    out = []
    for ex in examples:
        own = definitions(ex.data) or ()
        unknown = [n for n in function_names(own) if n not in known]
        unknown += [n for m in ex.data["messages"] if isinstance(m, dict) and m.get("role") == "assistant"
                    for n, _ in calls_of(m) if n not in known]
        if unknown:
            raise InputError(where, f"function '{unknown[0]}' is not defined in the suite {suite.path}",
                             line=ex.line)
        line = dict(ex.data)
        if "functions" in line and "tools" not in line:
            line["functions"] = to_legacy_functions(tools)
        else:
            line["tools"] = [dict(t) for t in tools]
        out.append(line)
    return out


def write_jsonl(path: Path, lines: Sequence[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    tmp.replace(path)
