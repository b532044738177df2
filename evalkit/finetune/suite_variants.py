"""Adding variants to a suite YAML file in place: the new variants are appended to (or replace
same-named items of) the `variants:` list as text, so the rest of the file, comments included,
stays as the user wrote it. The result is loaded again before it replaces the file."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping, Sequence

import yaml

from ..errors import SuiteError
from ..suite import load_suite


def _leaves_end(node: yaml.Node) -> yaml.Mark:
    """Where a node's content really ends (a block collection's own end mark lies at the next
    token, after any trailing comments and blank lines)."""
    if isinstance(node, yaml.MappingNode):
        return _leaves_end(node.value[-1][1]) if node.value else node.end_mark
    if isinstance(node, yaml.SequenceNode) and node.flow_style is False and node.value:
        return _leaves_end(node.value[-1])
    return node.end_mark


def _last_line(node: yaml.Node) -> int:
    """0-based index of the last line holding the node's content."""
    end = _leaves_end(node)
    return end.line - 1 if end.column == 0 else end.line


def render_variant(variant: Mapping[str, Any], indent: int) -> list[str]:
    text = yaml.safe_dump([dict(variant)], sort_keys=False, default_flow_style=None, width=110,
                          allow_unicode=True)
    return [" " * indent + line for line in text.splitlines()]


def add_variants(path: Path, variants: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """Append `variants` to the suite's list, replacing items with the same name.
    Returns (added names, replaced names)."""
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    seq = None
    if isinstance(root, yaml.MappingNode):
        seq = next((v for k, v in root.value if k.value == "variants"), None)
    if not isinstance(seq, yaml.SequenceNode) or seq.flow_style or not seq.value:
        raise SuiteError(str(path), "cannot add variants: expected a non-empty block list under `variants:`",
                         field="variants")
    lines = text.splitlines()
    first = lines[seq.value[0].start_mark.line]
    indent = len(first) - len(first.lstrip(" "))
    spans = {}
    for i, item in enumerate(seq.value):
        name = next((v.value for k, v in item.value if k.value == "name"), None) \
            if isinstance(item, yaml.MappingNode) else None
        spans[name] = (item.start_mark.line, _last_line(item))
    added, replaced = [], []
    insert_at = _last_line(seq.value[-1]) + 1
    appended: list[str] = []
    # Replace from the bottom up so earlier spans keep their line numbers.
    replacements = []
    for v in variants:
        rendered = render_variant(v, indent)
        if v["name"] in spans:
            replacements.append((spans[v["name"]], rendered))
            replaced.append(v["name"])
        else:
            appended += rendered
            added.append(v["name"])
    lines[insert_at:insert_at] = appended
    for (start, end), rendered in sorted(replacements, reverse=True):
        lines[start:end + 1] = rendered
    tmp = path.with_name(path.name + ".new.yaml")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    try:
        load_suite(tmp)
    except SuiteError as e:
        tmp.unlink()
        raise SuiteError(str(path), f"the suite would not load with the new variants: {e.message}",
                         field=e.field) from None
    tmp.replace(path)
    return added, replaced
