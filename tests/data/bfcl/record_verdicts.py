"""Record BFCL's own verdicts for a set of model outputs on the vendored sample (a maintainer's tool,
not a test: it needs the bfcl-eval wheel, which the tests never do).

    pip download --no-deps bfcl-eval==2026.3.23 -d /tmp/bfcl && unzip /tmp/bfcl/*.whl -d /tmp/bfcl/whl
    python tests/data/bfcl/record_verdicts.py /tmp/bfcl/whl

For every sampled entry it builds model outputs (the first acceptable answer, the last one, optional
arguments left out, a wrong value, a missing argument, upper-cased strings, ...) in the shape BFCL's
OpenAI FC handler records them ([{name: arguments JSON text}], or the reply text when there is no
tool call), runs BFCL's unmodified `ast_checker` (loaded from the wheel; its model-config import is
replaced by a stub meaning "OpenAI-style names: dots become underscores") and BFCL's relevance rule,
and writes each output with BFCL's verdict to model_outputs.jsonl. No BFCL code is copied here.
"""
from __future__ import annotations

import ast
import copy
import json
import sys
import types
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parents[2]))
from evalkit.interop.bfcl import acceptable, tool_name  # noqa: E402


def load_bfcl(wheel: Path) -> types.SimpleNamespace:
    pkg = wheel / "bfcl_eval"

    def module(name: str, path: Path | None = None, **attrs) -> types.ModuleType:
        mod = types.ModuleType(name)
        sys.modules[name] = mod
        if path is not None:
            exec(compile(path.read_text(), str(path), "exec"), mod.__dict__)
        mod.__dict__.update(attrs)
        return mod

    for name in ("bfcl_eval", "bfcl_eval.constants", "bfcl_eval.eval_checker", "bfcl_eval.eval_checker.ast_eval",
                 "bfcl_eval.eval_checker.ast_eval.type_convertor"):
        module(name)
    module("bfcl_eval.constants.enums", pkg / "constants/enums.py")
    module("bfcl_eval.constants.type_mappings", pkg / "constants/type_mappings.py")
    module("bfcl_eval.constants.model_config",
           MODEL_CONFIG_MAPPING=defaultdict(lambda: types.SimpleNamespace(underscore_to_dot=True)))
    conv = pkg / "eval_checker/ast_eval/type_convertor"
    module("bfcl_eval.eval_checker.ast_eval.type_convertor.java_type_converter", conv / "java_type_converter.py")
    module("bfcl_eval.eval_checker.ast_eval.type_convertor.js_type_converter", conv / "js_type_converter.py")
    checker = module("bfcl_eval.eval_checker.ast_eval.ast_checker", pkg / "eval_checker/ast_eval/ast_checker.py")
    # Two small helpers of bfcl_eval/utils.py (whose imports are heavy): take just those functions.
    tree = ast.parse((pkg / "utils.py").read_text())
    wanted = [n for n in tree.body if isinstance(n, ast.FunctionDef)
              and n.name in ("is_function_calling_format_output", "is_empty_output")]
    helpers: dict = {}
    exec(compile(ast.Module(body=wanted, type_ignores=[]), "bfcl_eval/utils.py", "exec"), helpers)
    lang = sys.modules["bfcl_eval.constants.enums"].Language.PYTHON
    return types.SimpleNamespace(ast_checker=checker.ast_checker, language=lang,
                                 is_format=helpers["is_function_calling_format_output"],
                                 is_empty=helpers["is_empty_output"])


def decode_fc(result):
    """As BFCL's OpenAI FC decode_ast: [{name: json text}] -> [{name: dict}]; a reply text raises."""
    decoded = []
    for call in result:
        name = list(call.keys())[0]
        decoded.append({name: json.loads(call[name])})
    return decoded


def bfcl_verdict(bfcl, entry, answer, category, result) -> tuple[bool, str]:
    """BFCL's eval_runner logic for one entry: relevance rule, or decode + format check + ast_checker."""
    if category.endswith("irrelevance"):
        try:
            has_call = not bfcl.is_empty(decode_fc(result))
        except Exception:
            has_call = False
        return not has_call, "irrelevance_error:decoder_success" if has_call else ""
    try:
        decoded = decode_fc(result)
    except Exception:
        return False, "ast_decoder:decoder_failed"
    if not bfcl.is_format(decoded):
        return False, "ast_decoder:decoder_wrong_output_format"
    out = bfcl.ast_checker(entry["function"], decoded, answer["ground_truth"], bfcl.language, category, "gpt")
    return out["valid"], "" if out["valid"] else out.get("error_type", "")


# ---- model outputs ---------------------------------------------------------------------------

def _function(entry, name):
    return next(f for f in entry["function"] if f["name"] == name)


def _args(entry, name, args, pick):
    props = _function(entry, name)["parameters"].get("properties", {})
    out = {}
    for arg, values in args.items():
        options, optional = acceptable(values, props.get(arg, {}))
        if options and not (optional and pick == "minimal"):
            out[arg] = options[-1] if pick == "last" else options[0]
    return out


def _wrong(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return "zz" + value
    if isinstance(value, list):
        return value + value[:1] if value else ["zz"]
    return {}


def calls_for(entry, answer, pick="first"):
    return [(name, _args(entry, name, args, pick)) for c in answer["ground_truth"] for name, args in c.items()]


def fc(calls):
    return [{tool_name(n): json.dumps(a)} for n, a in calls]


def _variants(entry, answer, name, args, rest):
    """Outputs that change one argument of the first call."""
    props = _function(entry, name)["parameters"].get("properties", {})
    for i, (arg, value) in enumerate(args.items()):
        schema = props.get(arg, {})
        change = lambda v: fc([(name, {**args, arg: v})] + rest)  # noqa: E731
        if i == 0:
            yield f"wrong_value:{arg}", change(_wrong(value))
        if isinstance(value, str) and value.upper() != value:
            yield f"upper_case:{arg}", change(value.upper())
        if isinstance(value, str) and " " in value:
            yield f"no_spaces:{arg}", change(value.replace(" ", ""))
        if schema.get("type") == "float" and isinstance(value, float) and value.is_integer():
            yield f"int_for_float:{arg}", change(int(value))
        if schema.get("type") == "integer" and isinstance(value, int) and not isinstance(value, bool):
            yield f"float_for_int:{arg}", change(float(value))
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            yield f"number_as_string:{arg}", change(str(value))
    required = _function(entry, name)["parameters"].get("required") or []
    present = [r for r in required if r in args]
    if present:
        yield f"missing_required:{present[0]}", fc([(name, {k: v for k, v in args.items() if k != present[0]})] + rest)
    answered = answer["ground_truth"][0][name]
    for arg, schema in props.items():
        if "default" in schema and arg not in answered:
            yield f"declared_default:{arg}", fc([(name, {**args, arg: schema["default"]})] + rest)
            break


def outputs(entry, answer, category):
    """(label, BFCL-recorded result) pairs for one entry."""
    if category.endswith("irrelevance"):
        first = entry["function"][0]["name"]
        yield "text", "I cannot help with that using the available functions."
        yield "call", fc([(first, {})])
        yield "call_invalid_json", [{tool_name(first): '{"x": '}]
        return
    exact = calls_for(entry, answer)
    yield "exact", fc(exact)
    if calls_for(entry, answer, "last") != exact:
        yield "last_options", fc(calls_for(entry, answer, "last"))
    if calls_for(entry, answer, "minimal") != exact:
        yield "optional_left_out", fc(calls_for(entry, answer, "minimal"))
    yield "text", "Could you tell me more?"
    yield "invalid_json", [{tool_name(exact[0][0]): json.dumps(exact[0][1])[:-1]}] + fc(exact[1:])
    yield "extra_call", fc(exact + exact[:1])
    if any("." in n for n, _ in exact):
        yield "dotted_name", [{n: json.dumps(a)} for n, a in exact]
    if len(exact) > 1:
        yield "reversed_order", fc(exact[::-1])
        for j in range(1, len(exact)):  # BFCL matches parallel calls greedily, in answer order
            if exact[j][0] == exact[0][0]:
                yield f"moved_first:{j}", fc([exact[j]] + exact[:j] + exact[j + 1:])
        yield "one_call_missing", fc(exact[:-1])
    others = [f["name"] for f in entry["function"] if f["name"] != exact[0][0]]
    if others and len(exact) == 1:
        yield "other_function", fc([(others[0], exact[0][1])])
    yield from _variants(entry, answer, exact[0][0], exact[0][1], exact[1:])


def main(wheel: str) -> None:
    bfcl = load_bfcl(Path(wheel))
    rows = []
    for qpath in sorted(HERE.glob("BFCL_v*_*.json")):
        category = qpath.stem.split("_", 2)[2]
        answers = {}
        if not category.endswith("irrelevance"):
            lines = (HERE / "possible_answer" / qpath.name).read_text().splitlines()
            answers = {a["id"]: a for a in map(json.loads, lines)}
        for entry in map(json.loads, qpath.read_text().splitlines()):
            answer = answers.get(entry["id"])
            for label, result in outputs(entry, answer, category):
                valid, error_type = bfcl_verdict(bfcl, copy.deepcopy(entry), copy.deepcopy(answer), category, result)
                rows.append({"id": entry["id"], "category": category, "label": label, "result": result,
                             "bfcl_valid": valid, "bfcl_error_type": error_type})
    (HERE / "model_outputs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    print(f"{len(rows)} outputs, {sum(r['bfcl_valid'] for r in rows)} valid by BFCL")


if __name__ == "__main__":
    main(sys.argv[1])
