"""YAML loading that remembers where every value came from, so errors can name a line."""
from __future__ import annotations

from typing import Any

import yaml

from ..errors import SuiteError
from ..jsonl import MAX_DEPTH

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


# A suite is a few thousand values; even a 10,000-case inline suite stays far below this. An alias
# bomb (each level nine aliases of the one before) passes it within a few lines of YAML.
MAX_VALUES = 2_000_000


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_nesting(text: str, path: str) -> None:
    """Nesting depth from the event stream, before anything recursive (libyaml's composer, the
    constructor) sees the document: 100,000 nested brackets would otherwise overflow the C stack."""
    depth = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_DEPTH:
                raise SuiteError(path, f"nested deeper than {MAX_DEPTH} levels", line=event.start_mark.line + 1)
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _check_expansion(root: yaml.Node, path: str) -> None:
    """Size and depth of the document as aliases expand it, in time linear in the distinct nodes
    (each alias target is measured once); a recursive alias is an error."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        nid = id(node)
        if finished:
            kids = _children(node)
            size[nid] = 1 + sum(size[id(k)] for k in kids)
            depth[nid] = 1 + max((depth[id(k)] for k in kids), default=0)
            open_.discard(nid)
            line = node.start_mark.line + 1
            if size[nid] > MAX_VALUES:
                raise SuiteError(path, f"aliases expand this value to more than {MAX_VALUES:,} values", line=line)
            if depth[nid] > MAX_DEPTH:
                raise SuiteError(path, f"aliases nest this value deeper than {MAX_DEPTH} levels", line=line)
            continue
        if nid in size:
            continue
        if nid in open_:
            raise SuiteError(path, "an alias refers to a value that contains it (recursive alias)",
                             line=node.start_mark.line + 1)
        open_.add(nid)
        stack.append((node, True))
        stack.extend((k, False) for k in _children(node) if id(k) not in size)


def _walk(root: yaml.Node, path: str) -> dict[Path_, int]:
    """The line of every key path, and duplicate keys as errors. A node reached again through an
    alias is not walked again: paths inside it resolve to the alias (see `line_of`)."""
    lines: dict[Path_, int] = {}
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, Path_]] = [(root, ())]
    while stack:
        node, where = stack.pop()
        lines.setdefault(where, node.start_mark.line + 1)
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key, value in node.value:
                if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                    continue
                k, line = key.value, key.start_mark.line + 1
                if (key.tag, k) in first:
                    raise SuiteError(path, f"duplicate key '{k}' (first at line {first[(key.tag, k)]})", line=line,
                                     field=dotted((*where, k)))
                first[(key.tag, k)] = line
                lines[(*where, k)] = line
                stack.append((value, (*where, k)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*where, i)) for i, item in enumerate(node.value))
    return lines


def load_yaml_with_lines(text: str, path: str) -> tuple[Any, dict[Path_, int]]:
    """Parse YAML; return the data and a map from key path (('cases', 3, 'expect')) to line.
    Bounded: nesting, alias expansion and recursive aliases are errors with a line, as are
    duplicate keys (YAML would silently keep the last)."""
    try:
        _check_nesting(text, path)
        node = yaml.compose(text, Loader=_LOADER)
        lines: dict[Path_, int] = {}
        if node is not None:
            _check_expansion(node, path)
            lines = _walk(node, path)
        data = _construct(node)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        raise SuiteError(path, f"invalid YAML: {e.problem or e}", line=line) from None
    except yaml.YAMLError as e:
        raise SuiteError(path, f"invalid YAML: {e}") from None
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


def read_yaml_file(path: Any, shown: str, what: str) -> tuple[Any, dict[Path_, int]]:
    """Read and parse a YAML (or JSON) file with its line map; a missing or unreadable file is one
    SuiteError naming `what` it is ("suite file", "tool file")."""
    from pathlib import Path

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SuiteError(shown, f"{what} not found") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SuiteError(shown, f"cannot read {what}: {e}") from None
    return load_yaml_with_lines(text, shown)
