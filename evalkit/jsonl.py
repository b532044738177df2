"""Reading JSON-lines files (cases, training data, BFCL data) with line numbers for errors."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from .errors import InputError


def read_text(path: Path, what: str, error: type[InputError] = InputError, field: str | None = None) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(str(path), f"{what} not found", field=field) from None
    except (OSError, UnicodeDecodeError) as e:
        raise error(str(path), f"cannot read {what}: {getattr(e, 'strerror', None) or e}", field=field) from None


def parse_lines(text: str) -> Iterator[tuple[int, Any]]:
    """(line number, value) per non-blank line; a line that is not JSON yields the error message."""
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            yield lineno, json.loads(line)
        except json.JSONDecodeError as e:
            yield lineno, JsonLineError(f"not valid JSON ({e.msg} at column {e.colno})")


class JsonLineError(str):
    """The message for a line that is not JSON (a distinct type so it is never mistaken for data)."""


def read_jsonl(path: Path, what: str, error: type[InputError] = InputError,
               field: str | None = None) -> Iterator[tuple[int, Any]]:
    """(line number, value) per non-blank line; the first line that is not JSON is an error."""
    for lineno, value in parse_lines(read_text(path, what, error, field)):
        if isinstance(value, JsonLineError):
            raise error(str(path), value, line=lineno)
        yield lineno, value
