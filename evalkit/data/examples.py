"""Reading a fine-tuning JSONL file: one example per non-blank line, each remembering its line."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ..errors import InputError
from ..jsonl import JsonLineError, parse_lines, read_text
from ..suite.functions import to_tools


@dataclass(frozen=True)
class Example:
    line: int
    data: Any  # the parsed JSON value (a dict when the line is well-formed)


@dataclass(frozen=True)
class Unparsed:
    line: int
    message: str


def read_examples(path: Path) -> tuple[list[Example], list[Unparsed]]:
    """Every line parsed; lines that are not JSON are returned separately so a check can report
    all of them (not just the first)."""
    examples, bad = [], []
    for lineno, value in parse_lines(read_text(path, "training file")):
        if isinstance(value, JsonLineError):
            bad.append(Unparsed(lineno, value))
        else:
            examples.append(Example(lineno, value))
    return examples, bad


def read_valid_examples(path: Path) -> list[Example]:
    """For the tools that rewrite or count: the first malformed line is an error."""
    examples, bad = read_examples(path)
    if bad:
        raise InputError(str(path), bad[0].message + " (run `evalkit data check` for all problems)", line=bad[0].line)
    for ex in examples:
        if not isinstance(ex.data, Mapping) or not isinstance(ex.data.get("messages"), list):
            raise InputError(str(path), "expected a JSON object with a `messages` list "
                             "(run `evalkit data check` for all problems)", line=ex.line)
    return examples


def definitions(example: Mapping[str, Any]) -> tuple[dict[str, Any], ...] | None:
    """The example's function definitions in `tools` shape (None when it carries none)."""
    for key in ("tools", "functions"):
        value = example.get(key)
        if isinstance(value, list):
            return to_tools(d for d in value if isinstance(d, Mapping))
    return None


def canonical(value: Any) -> str:
    """Key order never matters: compare JSON with sorted keys."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def line_ranges(lines: list[int]) -> str:
    """[1, 2, 3, 7, 9, 10] -> "1-3, 7, 9-10"."""
    out: list[str] = []
    for n in sorted(lines):
        if out and n == int(out[-1].split("-")[-1]) + 1:
            out[-1] = f"{out[-1].split('-')[0]}-{n}"
        else:
            out.append(str(n))
    return ", ".join(out)
