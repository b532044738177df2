"""Renderings of a `GateResult`: terminal text, a markdown table for a PR comment or
`$GITHUB_STEP_SUMMARY`, and JUnit XML for CI test views."""
from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET

from ..analysis.stats import Rate
from ..metricset import count_text
from ..analysis.table import render_table
from .compare import Check, GateResult, VariantGate, pct

MAX_LISTED = 20  # regressed cases listed per variant in text and markdown (JUnit lists all)


def verdict_line(result: GateResult) -> str:
    failed = [c for v in result.variants for c in v.checks if c.failed]
    if failed:
        what = " (incomplete run)" if result.reason == "incomplete" else ""
        return f"evalkit gate: FAIL{what}: {len(failed)} check(s) failed against baseline {result.baseline}"
    return f"evalkit gate: PASS against baseline {result.baseline}"


def _rate_cell(rate: Rate | None) -> str:
    if rate is None or rate.value is None:
        return "–"
    return f"{pct(rate.value)} ({count_text(rate.k)}/{rate.n})"


def _change_cell(check: Check) -> str:
    if check.change is None:
        return "–"
    return f"{100 * check.change:+.1f}".removesuffix(".0") + " pt"


def _rule_cell(check: Check) -> str:
    if check.rule == "max_drop":
        return f"drop <= {pct(check.limit)}"
    return f"{'>=' if check.rule == 'min' else '<='} {pct(check.limit)}"


def _p_cell(check: Check) -> str:
    return "–" if check.test is None else f"{check.test.p_value:.3g}"


def _rows(result: GateResult) -> list[list[str]]:
    return [[v.name, c.metric, _rule_cell(c), _rate_cell(c.baseline), _rate_cell(c.run), _change_cell(c),
             _p_cell(c), c.status.upper()] for v in result.variants for c in v.checks]


HEADERS = ["variant", "metric", "rule", "baseline", "run", "change", "p", "result"]


def _case_lines(v: VariantGate) -> list[str]:
    regressed = v.regressed
    lines = [f"  {c.case_id}: correct -> {c.verdict}" + (f" ({c.reason})" if c.reason else "")
             for c in regressed[:MAX_LISTED]]
    if len(regressed) > MAX_LISTED:
        lines.append(f"  ... and {len(regressed) - MAX_LISTED} more (all are in the JUnit report)")
    return lines


def _id_list(ids: tuple[str, ...]) -> str:
    shown = ", ".join(ids[:MAX_LISTED])
    return shown + (f", ... ({len(ids)} in all)" if len(ids) > MAX_LISTED else "")


def render_text(result: GateResult) -> str:
    out = [verdict_line(result), "", render_table(HEADERS, _rows(result)), ""]
    for v in result.variants:
        head = f"{v.name}: {v.shared} shared case(s)" + (f", {v.errors} error(s) excluded" if v.errors else "")
        out.append(head)
        out += [f"  {c.status.upper()}  {c.why}" for c in v.checks]
        if v.regressed:
            out.append(f"  {len(v.regressed)} case(s) went from correct to wrong:")
            out += ["  " + line for line in _case_lines(v)]
    out += _membership(result)
    return "\n".join(out).rstrip() + "\n"


def _membership(result: GateResult) -> list[str]:
    out = []
    if result.added:
        out.append(f"cases only in this run (not compared): {_id_list(result.added)}")
    if result.removed:
        out.append(f"cases only in the baseline (not compared): {_id_list(result.removed)}")
    return out + list(result.notes)


_MD_PUNCT = re.compile(r"([\\`*_\[\]|])")


def _md_escape(text: str) -> str:
    """Model output and case ids in a PR comment: HTML escaped (a function named `<script>` is
    shown, never run), markdown punctuation backslashed, kept on one line."""
    return _MD_PUNCT.sub(r"\\\1", html.escape(_xml_safe(str(text)), quote=False)).replace("\n", " ").replace("\r", " ")


def _md_code(text: str) -> str:
    return f"<code>{_md_escape(text)}</code>"


def _md_row(row: list[str]) -> str:
    cells = [_md_escape(c) if i < 2 else c.replace("|", "\\|") for i, c in enumerate(row)]  # name, metric
    return "| " + " | ".join(cells) + " |"


def render_markdown(result: GateResult) -> str:
    mark = ("❌ incomplete run" if result.reason == "incomplete" else "❌ regression") if result.failed \
        else "✅ no regression"
    out = [f"### evalkit gate: {mark}", "",
           f"Run {_md_code(result.run)} against baseline {_md_code(result.baseline)}"
           f" (max drop {pct(result.spec.max_drop)}, alpha {result.spec.alpha:g}).", "",
           "| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    out += [_md_row(row) for row in _rows(result)]
    notes = [f"**{_md_escape(v.name)}**: {_md_escape(c.why)}" for v in result.variants for c in v.checks
             if c.failed or (c.rule == "max_drop" and "not significant" in c.why)]
    if notes:
        out += [""] + [f"- {n}" for n in notes]
    for v in result.variants:
        if v.regressed:
            out += ["", f"<details><summary>{_md_escape(v.name)}: {len(v.regressed)} case(s) went from correct "
                    "to wrong</summary>", ""]
            out += [f"- {_md_code(c.case_id)}: {_md_escape(c.verdict)}" + (f" ({_md_escape(c.reason)})" if c.reason else "")
                    for c in v.regressed[:MAX_LISTED]]
            out += ["", "</details>"]
    member = _membership(result)
    if member:
        out += [""] + [f"- {_md_escape(line)}" for line in member]
    return "\n".join(out) + "\n"


# ---- JUnit XML ---------------------------------------------------------------------------------

# What XML 1.0 allows; anything else (NUL, most control characters, lone surrogates from a model's
# output) would make the whole file unparseable, so it becomes U+FFFD.
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_safe(text: str) -> str:
    return _XML_ILLEGAL.sub("\ufffd", text)


def _sanitise(root: ET.Element) -> None:
    for el in root.iter():
        if el.text:
            el.text = _xml_safe(el.text)
        if el.tail:
            el.tail = _xml_safe(el.tail)
        for k, v in el.attrib.items():
            el.attrib[k] = _xml_safe(v)

def _metric_case(suite: ET.Element, classname: str, check: Check) -> None:
    case = ET.SubElement(suite, "testcase", name=f"metric {check.metric} ({_rule_cell(check)})",
                         classname=classname, time="0")
    if check.status == "fail":
        ET.SubElement(case, "failure", type="regression", message=check.why).text = check.why
    elif check.status == "skip":
        ET.SubElement(case, "skipped", message=check.why)
    else:
        ET.SubElement(case, "system-out").text = check.why


def _variant_suite(root: ET.Element, result: GateResult, v: VariantGate) -> tuple[int, int, int]:
    classname = f"evalkit.{result.suite or 'suite'}.{v.name}"
    suite = ET.SubElement(root, "testsuite", name=v.name)
    props = ET.SubElement(suite, "properties")
    for name, value in (("run", result.run), ("baseline", result.baseline), ("shared_cases", str(v.shared))):
        ET.SubElement(props, "property", name=name, value=value)
    for check in v.checks:
        _metric_case(suite, classname, check)
    for c in v.cases:
        case = ET.SubElement(suite, "testcase", name=f"case {c.case_id}", classname=classname, time="0")
        msg = f"correct in the baseline, {c.verdict} now" + (f": {c.reason}" if c.reason else "")
        if c.regressed and v.failed:
            ET.SubElement(case, "failure", type=c.verdict, message=msg).text = msg
        elif c.regressed:
            ET.SubElement(case, "system-out").text = msg + " (the variant's change is not significant)"
        elif c.verdict == "error":
            ET.SubElement(case, "skipped", message=f"provider error: {c.reason}")
    tests = len(v.checks) + len(v.cases)
    failures = sum(c.failed for c in v.checks) + (len(v.regressed) if v.failed else 0)
    skipped = sum(c.status == "skip" for c in v.checks) + sum(c.verdict == "error" for c in v.cases)
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", str(skipped))
    suite.set("time", "0")
    return tests, failures, skipped


def render_junit(result: GateResult) -> str:
    """A <testsuite> per variant: one <testcase> per gated metric (failure when its rule fired)
    and one per case. A case that went from correct to wrong is a failure when its variant failed
    the gate; in a variant that passed it is noise, so it passes with the change in <system-out>
    (CI systems turn any JUnit failure red, and the gate must not cry wolf)."""
    root = ET.Element("testsuites", name=f"evalkit gate {result.suite or ''}".strip())
    totals = [_variant_suite(root, result, v) for v in result.variants]
    root.set("tests", str(sum(t[0] for t in totals)))
    root.set("failures", str(sum(t[1] for t in totals)))
    root.set("errors", "0")
    root.set("time", "0")
    _sanitise(root)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
