"""YAML loading that remembers where every value came from, so errors can name a line."""
from __future__ import annotations

from typing import Any

import yaml

from ..errors import SuiteError

Path_ = tuple[Any, ...]
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: ~10x faster


def _construct(node: yaml.Node | None) -> Any:
    """Build Python data from an already composed node (parse once, keep the marks)."""
    if node is None:
        return None
    loader = _LOADER("")
    try:
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _walk(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            k = key.value
            lines[(*path, k)] = key.start_mark.line + 1
            _walk(value, (*path, k), lines)
            lines[(*path, k)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines)


def load_yaml_with_lines(text: str, path: str) -> tuple[Any, dict[Path_, int]]:
    """Parse YAML; return the data and a map from key path (('cases', 3, 'expect')) to line."""
    try:
        node = yaml.compose(text, Loader=_LOADER)
        data = _construct(node)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        raise SuiteError(path, f"invalid YAML: {e.problem or e}", line=line) from None
    except yaml.YAMLError as e:
        raise SuiteError(path, f"invalid YAML: {e}") from None
    lines: dict[Path_, int] = {}
    if node is not None:
        _walk(node, (), lines)
    return data, lines


def line_of(lines: dict[Path_, int], loc: Path_) -> int | None:
    """The line of the deepest known prefix of `loc`."""
    loc = tuple(loc)
    while loc:
        if loc in lines:
            return lines[loc]
        loc = loc[:-1]
    return lines.get(())


def dotted(loc: Path_) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
