"""Real-world schemas scored keyword by keyword: pydantic-generated models (Optional, enums, nested
models, discriminated unions), MCP servers' inputSchema, OpenAI strict-mode tools, BFCL function
docs; expectations checked at load; tool files in every shape people have; the short transform at
every depth."""
from __future__ import annotations

import json
import time
from enum import Enum
from typing import Literal, Optional, Union

import pytest
from conftest import TEST_DATA as DATA
from pydantic import BaseModel, Field

from evalkit.errors import SuiteError
from evalkit.providers.base import Completion, ToolCall
from evalkit.scoring import decide
from evalkit.scoring.arguments import arguments_error
from evalkit.suite import load_suite
from evalkit.suite.functions import read_tool_file, shorten, strip_descriptions
from evalkit.suite.model import AnyOf, Expectation, ExpectedCall
from evalkit.suite.schema import validator_for


def score(tools, name, args, expected=None):
    completion = Completion(None, (ToolCall(name, args if isinstance(args, str) else json.dumps(args)),))
    return decide(Expectation((ExpectedCall(name, expected),)), completion, tools)


# ---- pydantic models, as frameworks generate tool schemas --------------------------------

class Unit(str, Enum):
    celsius = "celsius"
    fahrenheit = "fahrenheit"


class Line(BaseModel):
    sku: str = Field(pattern=r"^[A-Z]{3}-\d+$", description="Stock keeping unit")
    qty: int = Field(ge=1, le=99)


class Address(BaseModel):
    city: str
    zip: Optional[str] = None  # noqa: UP045 - spelled as users write it


class Cat(BaseModel):
    pet_type: Literal["cat"]
    meows: int


class Dog(BaseModel):
    pet_type: Literal["dog"]
    barks: float


class PlaceOrder(BaseModel):
    """Place an order for delivery."""

    items: list[Line] = Field(min_length=1)
    unit: Unit = Unit.celsius
    limit: Optional[int] = None  # noqa: UP045
    ship_to: Optional[Address] = None  # noqa: UP045
    pet: Union[Cat, Dog] = Field(discriminator="pet_type")  # noqa: UP007
    note: str = Field(default="", max_length=20)


PYDANTIC = ({"type": "function", "function": {"name": "place_order", "description": PlaceOrder.__doc__,
                                               "parameters": PlaceOrder.model_json_schema()}},)
GOOD_ORDER = {"items": [{"sku": "ABC-1", "qty": 2}], "pet": {"pet_type": "cat", "meows": 3}}


def test_pydantic_schema_has_the_shapes_we_mean_to_test():
    schema = PlaceOrder.model_json_schema()
    assert "$defs" in schema and {"Line", "Unit", "Address", "Cat", "Dog"} <= set(schema["$defs"])
    assert schema["properties"]["limit"] == {"anyOf": [{"type": "integer"}, {"type": "null"}],
                                             "default": None, "title": "Limit"}
    assert "oneOf" in schema["properties"]["pet"]


@pytest.mark.parametrize("change, verdict, reason", [
    ({}, "correct", None),
    ({"limit": 10}, "correct", None),
    ({"limit": None}, "correct", None),  # Optional given explicitly as null: its declared default
    ({"limit": "ten"}, "wrong_arguments", "limit: expected integer or null, got string 'ten'"),
    ({"limit": 2.5}, "wrong_arguments", "limit: expected integer or null"),
    ({"unit": "kelvin"}, "wrong_arguments", "unit: 'kelvin' is not one of [\"celsius\", \"fahrenheit\"]"),
    ({"unit": "celsius"}, "correct", None),  # the declared default, given explicitly
    ({"items": [{"sku": "ABC-1", "qty": 0}]}, "wrong_arguments", "items[0].qty: 0 is less than the minimum of 1"),
    ({"items": [{"sku": "ABC-1", "qty": 100}]}, "wrong_arguments", "items[0].qty: 100 is greater than the maximum of 99"),
    ({"items": [{"sku": "abc", "qty": 1}]}, "wrong_arguments", "items[0].sku: 'abc' does not match"),
    ({"items": [{"sku": "ABC-1"}]}, "wrong_arguments", "items[0]: 'qty' is a required property"),
    ({"items": []}, "wrong_arguments", "items: [] should be non-empty"),
    ({"ship_to": {"zip": "1000"}}, "wrong_arguments", "ship_to: 'city' is a required property"),
    ({"ship_to": {"city": "Bern", "zip": None}}, "correct", None),  # nested Optional default
    ({"ship_to": None}, "correct", None),
    ({"pet": {"pet_type": "dog", "barks": 1}}, "correct", None),  # an integer where a number is expected
    ({"pet": {"pet_type": "dog", "barks": "1"}}, "wrong_arguments", "pet"),  # "1" is not 1
    ({"pet": {"pet_type": "cat", "meows": 3.0}}, "wrong_arguments", "pet"),  # a float is not an integer
    ({"pet": {"pet_type": "fish"}}, "wrong_arguments", "pet"),  # matches no oneOf branch
    ({"note": "x" * 21}, "wrong_arguments", "note: 'xxxxxxxxxxxxxxxxxxxxx' is too long"),
    ({"colour": "red"}, "wrong_arguments", "argument `colour` is not in the schema"),
])
def test_pydantic_model_keywords(change, verdict, reason):
    args = {**GOOD_ORDER, **change}
    v = score(PYDANTIC, "place_order", args)
    assert v.verdict == verdict, v.reason
    if reason:
        assert reason in v.reason and "\n" not in v.reason


def test_missing_required_argument_is_named():
    v = score(PYDANTIC, "place_order", {"items": GOOD_ORDER["items"]})
    assert (v.verdict, v.reason) == ("wrong_arguments", "missing required argument `pet`")


# ---- MCP servers' tools/list ----------------------------------------------------------------

MCP = read_tool_file(DATA / "schemas" / "mcp_tools_list.json")
EDIT = {"path": "/tmp/a.txt", "edits": [{"oldText": "a", "newText": "b"}]}


@pytest.mark.parametrize("name, args, verdict, reason", [
    ("edit_file", EDIT, "correct", None),
    ("edit_file", {**EDIT, "dryRun": False}, "correct", None),
    ("edit_file", {**EDIT, "dryRun": "no"}, "wrong_arguments", "dryRun: expected boolean, got string 'no'"),
    ("edit_file", {**EDIT, "edits": [{"oldText": "a"}]}, "wrong_arguments", "edits[0]: 'newText' is a required property"),
    ("edit_file", {**EDIT, "edits": [{"oldText": "a", "newText": "b", "why": 1}]}, "wrong_arguments",
     "edits[0]: Additional properties are not allowed ('why' was unexpected)"),
    ("edit_file", {**EDIT, "force": True}, "wrong_arguments", "force"),
    ("search_files", {"path": "/", "pattern": "*.py", "excludePatterns": []}, "correct", None),
    ("search_files", {"path": "/", "pattern": "*.py", "excludePatterns": [3]}, "wrong_arguments",
     "excludePatterns[0]: expected string, got integer 3"),
    ("create_entities", {"entities": [{"name": "a", "entityType": "t", "observations": ["x"]}]}, "correct", None),
    ("create_entities", {"entities": [{"name": "a", "entityType": "t"}]}, "wrong_arguments",
     "entities[0]: 'observations' is a required property"),
    ("create_entities", {"entities": [{"name": "a", "entityType": "t", "observations": ["x"], "extra": 1}]},
     "correct", None),  # nested objects without additionalProperties: false are open
    ("sampleLLM", {"prompt": "hi", "maxTokens": 100}, "correct", None),
    ("sampleLLM", {"prompt": "hi", "maxTokens": 100.0}, "correct", None),
    ("annotatedMessage", {"messageType": "warning"}, "wrong_arguments", "messageType: 'warning' is not one of"),
    ("set_shape", {"shape": {"kind": "circle", "radius": 2}}, "correct", None),
    ("set_shape", {"shape": {"kind": "circle", "radius": 0}}, "wrong_arguments", "shape"),  # exclusiveMinimum
    ("set_shape", {"shape": {"kind": "rect", "width": 1}}, "wrong_arguments", "shape"),
    ("set_shape", {"shape": {"kind": "circle", "radius": 1}, "color": "red"}, "wrong_arguments",
     "color: 'red' does not match '^#[0-9a-fA-F]{6}$'"),
    ("set_shape", {"shape": {"kind": "circle", "radius": 1}, "color": "#00ff00"}, "correct", None),
])
def test_mcp_input_schemas(name, args, verdict, reason):
    v = score(MCP, name, args)
    assert v.verdict == verdict, v.reason
    if reason:
        assert reason in v.reason


# ---- OpenAI strict mode --------------------------------------------------------------------

STRICT = read_tool_file(DATA / "schemas" / "strict_tools.json")
ORDER = {"status": "pending", "placed_after": None, "items": [{"sku": "a", "qty": 1}]}


@pytest.mark.parametrize("name, args, verdict, reason", [
    ("get_weather", {"location": "Bogotá, Colombia", "units": None}, "correct", None),
    ("get_weather", {"location": "Bogotá, Colombia", "units": "celsius"}, "correct", None),
    ("get_weather", {"location": "Bogotá, Colombia"}, "wrong_arguments", "missing required argument `units`"),
    ("get_weather", {"location": "Bogotá", "units": "kelvin"}, "wrong_arguments", "units: 'kelvin' is not one of"),
    ("query_orders", ORDER, "correct", None),
    ("query_orders", {**ORDER, "items": []}, "wrong_arguments", "items: [] should be non-empty"),
    ("query_orders", {**ORDER, "items": [{"sku": "a", "qty": 1}] * 6}, "wrong_arguments", "items: "),
    ("query_orders", {**ORDER, "items": [{"sku": "a", "qty": 0}]}, "wrong_arguments",
     "items[0].qty: 0 is less than the minimum of 1"),  # through $ref into $defs
    ("query_orders", {**ORDER, "items": [{"sku": "a", "qty": 1, "gift": True}]}, "wrong_arguments",
     "items[0]: Additional properties are not allowed"),
    ("query_orders", {**ORDER, "placed_after": 20240101}, "wrong_arguments",
     "placed_after: expected string or null, got integer 20240101"),
])
def test_strict_mode_schemas(name, args, verdict, reason):
    v = score(STRICT, name, args)
    assert v.verdict == verdict, v.reason
    if reason:
        assert reason in v.reason


# ---- every other keyword -------------------------------------------------------------------

@pytest.mark.parametrize("schema, good, bad, reason", [
    ({"type": "number", "multipleOf": 0.5}, 1.5, 1.2, "is not a multiple of 0.5"),
    ({"type": "integer", "exclusiveMaximum": 10}, 9, 10, "is greater than or equal to the maximum of 10"),
    ({"type": "string", "minLength": 2}, "ab", "a", "is too short"),
    ({"const": "v1"}, "v1", "v2", "expected 'v1', got 'v2'"),
    ({"type": "array", "uniqueItems": True}, [1, 2], [1, 1], "has non-unique elements"),
    ({"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]}, ["a", 1], ["a", "b"],
     "x[1]: expected integer"),
    ({"type": "array", "contains": {"const": 3}}, [1, 3], [1, 2], "does not contain items matching"),
    ({"type": "object", "propertyNames": {"pattern": "^[a-z]+$"}}, {"ab": 1}, {"AB": 1}, "does not match"),
    ({"type": "object", "dependentRequired": {"a": ["b"]}}, {"a": 1, "b": 2}, {"a": 1}, "'b' is a dependency of 'a'"),
    ({"type": "object", "minProperties": 1}, {"a": 1}, {}, "should be non-empty"),
    ({"not": {"type": "null"}}, 1, None, "should not be valid"),
    ({"allOf": [{"type": "integer"}, {"minimum": 0}]}, 1, -1, "is less than the minimum of 0"),
    ({"if": {"type": "string"}, "then": {"minLength": 3}}, "abc", "ab", "is too short"),
    ({"type": ["string", "null"]}, None, 0, "expected string or null, got integer 0"),
    ({"oneOf": [{"type": "integer"}, {"type": "number"}]}, 1.5, 1, "x"),  # 1 matches both branches
    ({"type": "float"}, 1.5, None, None),  # unknown type names constrain nothing
    ({"type": "string", "format": "date"}, "Jan 15, 2021", None, None),  # format is an annotation
])
def test_keyword(schema, good, bad, reason):
    params = {"type": "object", "properties": {"x": schema}}
    assert arguments_error({"x": good}, None, params) is None
    if reason is None:
        return
    got = arguments_error({"x": bad}, None, params)
    assert got is not None and reason in got and got.startswith("x"), got


def test_top_level_additional_properties_rules():
    open_ = {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": True}
    assert arguments_error({"a": "x", "b": 1}, None, open_) is None
    typed = {"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": {"type": "integer"}}
    assert arguments_error({"a": "x", "b": 1}, None, typed) is None
    assert arguments_error({"a": "x", "b": "y"}, None, typed) == "b: expected integer, got string 'y'"
    # without a word on extra keys, a top-level argument the schema does not declare is made up
    assert arguments_error({"a": "x", "b": 1}, None, {"type": "object", "properties": {"a": {}}}) == \
        "argument `b` is not in the schema"


def test_declared_default_outside_the_schema_is_accepted_only_when_optional():
    params = {"type": "object", "properties": {"unit": {"type": "string", "enum": ["s", "ms"], "default": "N/A"},
                                               "tag": {"type": "string", "default": None}},
              "required": []}
    assert arguments_error({"unit": "N/A", "tag": None}, None, params) is None
    assert arguments_error({"unit": "x"}, None, params) is not None
    required = {**params, "required": ["unit"]}
    assert arguments_error({"unit": "N/A"}, None, required) is not None


def test_unresolvable_reference_is_one_line():
    params = {"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}}
    reason = arguments_error({"a": 1}, None, params)
    assert reason.startswith("the schema cannot be checked") and "\n" not in reason


def test_long_values_stay_on_one_short_line():
    params = {"type": "object", "properties": {"a": {"type": "object", "properties": {"b": {"enum": [1]}}}}}
    reason = arguments_error({"a": {"b": "x\n" * 500}}, None, params)
    assert reason.startswith("a.b: ") and "\n" not in reason and len(reason) <= 200


def test_expected_values_still_matched_as_before():
    v = score(PYDANTIC, "place_order", GOOD_ORDER, {"items": AnyOf(([{"sku": "ABC-1", "qty": 2.0}],)),
                                                    "pet": {"pet_type": "cat", "meows": 3}})
    assert v.verdict == "correct"
    v = score(PYDANTIC, "place_order", GOOD_ORDER, {"items": [{"sku": "ABC-2", "qty": 2}],
                                                    "pet": {"pet_type": "cat", "meows": 3}})
    assert v.verdict == "wrong_arguments" and v.reason.startswith("argument `items`: expected")


def test_invalid_arguments_verdict_is_for_non_objects_only():
    assert score(MCP, "edit_file", "[1, 2]").verdict == "invalid_arguments"
    assert score(MCP, "edit_file", "{path: x}").verdict == "invalid_arguments"


def test_validator_compiled_once_per_schema():
    params = PYDANTIC[0]["function"]["parameters"]
    assert validator_for(params) is validator_for(params)
    assert validator_for(json.loads(json.dumps(params))) is validator_for(params)  # an equal copy
    start = time.perf_counter()
    for _ in range(2000):
        score(PYDANTIC, "place_order", GOOD_ORDER)
    assert time.perf_counter() - start < 5  # ~0.1 ms each; compiling every time is ~10x slower


# ---- BFCL function docs --------------------------------------------------------------------

def test_bfcl_nested_function_docs(tmp_path):
    from evalkit.interop.bfcl import dump_suite, import_bfcl

    path = tmp_path / "bfcl.yaml"
    path.write_text(dump_suite(import_bfcl(DATA / "bfcl").suite))
    cases = {c.id: c for c in load_suite(path).cases}
    case = cases["live_multiple_64-26-0"]  # uber_eat_order: items is an array of objects
    fn = next(t["function"] for t in case.functions if t["function"]["name"] == "uber_eat_order")
    args = {"restaurant_id": "McDonald's", "items": [{"item_id": "burger123", "quantity": 5}]}
    assert arguments_error(args, None, fn["parameters"]) is None
    bad = {"restaurant_id": "McDonald's", "items": [{"item_id": "burger123", "quantity": "5"}]}
    assert arguments_error(bad, None, fn["parameters"]).startswith("items[0].quantity: expected integer")


# ---- expectations checked at load ----------------------------------------------------------

SUITE = """\
name: s
functions_from: tools.json
variants: [{name: v, model: gpt-4o}]
cases:
  - id: ok
    user: hi
    expect: {call: get_weather, arguments: {location: Bern, units: celsius}}
  - id: bad
    user: hi
    expect:
      call: get_weather
      arguments: {location: Bern, units: %s}
"""


def test_expected_value_the_schema_forbids_is_a_load_error(tmp_path):
    (tmp_path / "tools.json").write_text((DATA / "schemas" / "strict_tools.json").read_text())
    (tmp_path / "s.yaml").write_text(SUITE % "null")
    assert len(load_suite(tmp_path / "s.yaml").cases) == 2  # null is allowed (nullable enum)
    (tmp_path / "s.yaml").write_text(SUITE % "kelvin")
    with pytest.raises(SuiteError) as e:
        load_suite(tmp_path / "s.yaml")
    assert str(e.value).startswith(f"{tmp_path / 's.yaml'}:8: field 'expect.arguments.units': expected value "
                                   f"'kelvin' of 'get_weather' is forbidden by its schema (units: 'kelvin' is not one of")
    (tmp_path / "s.yaml").write_text(SUITE % "{any_of: [celsius, kelvin]}")
    with pytest.raises(SuiteError, match="'kelvin'"):
        load_suite(tmp_path / "s.yaml")


def test_expected_value_in_a_cases_file_is_checked_too(tmp_path):
    (tmp_path / "tools.json").write_text((DATA / "schemas" / "strict_tools.json").read_text())
    line = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": [
        {"id": "1", "type": "function", "function": {"name": "query_orders", "arguments": json.dumps(
            {**ORDER, "items": [{"sku": "a", "qty": 0}]})}}]}]}
    (tmp_path / "cases.jsonl").write_text(json.dumps({"messages": [{"role": "user", "content": "x"},
                                                                   {"role": "assistant", "content": "ok"}]})
                                          + "\n" + json.dumps(line) + "\n")
    (tmp_path / "s.yaml").write_text("name: s\nfunctions_from: tools.json\nvariants: [{name: v, model: gpt-4o}]\n"
                                     "cases_from: cases.jsonl\n")
    with pytest.raises(SuiteError, match=r"cases.jsonl:2: field 'expect.arguments.items'.*items\[0\]\.qty: 0 is less"):
        load_suite(tmp_path / "s.yaml")


# ---- tool files ----------------------------------------------------------------------------

def test_every_tool_file_shape_becomes_the_tools_shape(tmp_path):
    anthropic = read_tool_file(DATA / "schemas" / "anthropic_tools.yaml")
    assert anthropic[0] == {"type": "function", "function": {
        "name": "get_stock_price", "description": "Retrieves the current stock price for a given ticker symbol.",
        "parameters": {"type": "object", "properties": {"ticker": {
            "type": "string", "description": "The stock ticker symbol, e.g. AAPL for Apple Inc."}},
            "required": ["ticker"]}}}
    assert MCP[0]["function"]["parameters"]["required"] == ["path", "edits"]
    assert STRICT[0]["function"]["strict"] is True
    legacy = tmp_path / "legacy.json"
    legacy.write_text(json.dumps({"functions": [{"name": "f", "parameters": {"type": "object", "properties": {}}}]}))
    assert read_tool_file(legacy) == ({"type": "function", "function": {
        "name": "f", "parameters": {"type": "object", "properties": {}}}},)
    rpc = tmp_path / "rpc.json"
    rpc.write_text(json.dumps({"jsonrpc": "2.0", "id": 1, "result": {"tools": [
        {"name": "ping", "inputSchema": {"type": "object"}, "annotations": {"readOnlyHint": True}}]}}))
    assert read_tool_file(rpc) == ({"type": "function", "function": {"name": "ping", "parameters": {"type": "object"}}},)


def test_tool_file_errors_name_file_line_and_field(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("tools:\n  - name: ok\n    inputSchema: {type: object}\n  - description: no name\n")
    with pytest.raises(SuiteError) as e:
        read_tool_file(bad)
    assert str(e.value) == f"{bad}:4: field 'tools[1]': a tool needs a non-empty `name` (OpenAI tools, " \
                           f"legacy functions, an MCP tools/list result or Anthropic tools)"
    bad.write_text("{not: json: at all")
    with pytest.raises(SuiteError, match="bad.yaml:1: invalid YAML"):
        read_tool_file(bad)
    bad.write_text('{"servers": []}')
    with pytest.raises(SuiteError, match="expected a list of tools, or a mapping with a `tools` list"):
        read_tool_file(bad)
    (tmp_path / "s.yaml").write_text("name: s\nfunctions_from: [missing.json]\nvariants: [{name: v}]\n"
                                     "cases: [{id: a, user: hi, expect: refuse}]\n")
    with pytest.raises(SuiteError, match=r"s.yaml:2: field 'functions_from\[0\]': tool file 'missing.json' not found"):
        load_suite(tmp_path / "s.yaml")


def test_functions_from_joins_the_suites_functions(tmp_path):
    (tmp_path / "mcp.json").write_text((DATA / "schemas" / "mcp_tools_list.json").read_text())
    (tmp_path / "s.yaml").write_text(
        "name: s\nfunctions: [{name: own, parameters: {type: object, properties: {}}}]\n"
        "functions_from: mcp.json\nvariants: [{name: v, model: gpt-4o}]\n"
        "cases: [{id: a, user: hi, expect: {call: edit_file, arguments: {path: /a, edits: []}}}]\n")
    suite = load_suite(tmp_path / "s.yaml")
    assert [t["function"]["name"] for t in suite.functions][:2] == ["own", "edit_file"]
    (tmp_path / "s.yaml").write_text((tmp_path / "s.yaml").read_text().replace("own", "edit_file"))
    with pytest.raises(SuiteError, match="'edit_file' is defined twice"):
        load_suite(tmp_path / "s.yaml")


# ---- the short transform at every depth ----------------------------------------------------

def test_strip_descriptions_everywhere_but_not_properties_named_description():
    schema = {"description": "top", "type": "object", "$defs": {"D": {"description": "d", "type": "string"}},
              "properties": {"description": {"type": "string", "description": "a property called description"},
                             "list": {"type": "array", "items": {"description": "i", "type": "object",
                                                                 "properties": {"x": {"description": "deep"}}}},
                             "either": {"anyOf": [{"description": "b1"}, {"$ref": "#/$defs/D"}]}}}
    out = strip_descriptions(schema)
    assert "description" not in json.dumps(out).replace('"description": {"type"', "")
    assert out["properties"]["description"] == {"type": "string"}
    assert out["properties"]["list"]["items"]["properties"]["x"] == {}
    assert out["$defs"]["D"] == {"type": "string"}
    assert schema["properties"]["list"]["items"]["description"] == "i"  # the source is untouched


def test_short_with_keep_required(tmp_path):
    short = shorten(PYDANTIC)
    params = short[0]["function"]["parameters"]
    assert params["properties"] == {} and "required" not in params and "$defs" not in params
    assert "description" not in short[0]["function"]
    kept = shorten(PYDANTIC, keep_required=True)[0]["function"]["parameters"]
    assert kept["required"] == ["items", "pet"]
    (tmp_path / "s.yaml").write_text(
        "name: s\nfunctions: [{name: f, description: d, parameters: {type: object, properties: "
        "{a: {type: string, description: x}}, required: [a]}}]\n"
        "transforms: {terse: {base: short, keep_required: true}, lean: {strip_descriptions: true}}\n"
        "variants: [{name: v, model: gpt-4o, functions: terse}]\ncases: [{id: a, user: hi, expect: refuse}]\n")
    from evalkit.run.prepare import prepare

    suite = load_suite(tmp_path / "s.yaml")
    sent = prepare(suite, list(suite.variants), list(suite.cases))[0].request.tools[0]["function"]
    assert sent == {"name": "f", "parameters": {"type": "object", "properties": {}, "required": ["a"]}}


@pytest.mark.parametrize("schema, problem", [
    ({"type": "object", "properties": {"a": {"type": "integer", "minimum": "5"}}},
     "properties.a.minimum: '5' is not of type 'number'"),
    ({"type": "object", "properties": {"a": {"type": "string"}}, "required": "a"},
     "required: 'a' is not of type 'array'"),
    ({"type": "object", "properties": {"a": {"type": "string", "pattern": "(["}}},
     "properties.a.pattern: '([' is not a regular expression"),
])
def test_a_schema_that_cannot_check_arguments_is_a_load_error(tmp_path, schema, problem):
    (tmp_path / "s.yaml").write_text(
        "name: s\nfunctions:\n  - name: f\n    parameters: " + json.dumps(schema) +
        "\nvariants: [{name: v, model: gpt-4o}]\ncases: [{id: a, user: hi, expect: refuse}]\n")
    with pytest.raises(SuiteError) as e:
        load_suite(tmp_path / "s.yaml")
    assert f"field 'functions[0].parameters': the schema of 'f' is not valid JSON Schema: {problem}" in str(e.value)


def test_unknown_type_names_still_load():
    from evalkit.suite.schema import schema_problem

    assert schema_problem({"type": "object", "properties": {"a": {"type": "float"}, "b": {"type": ["string", "dict"]}}}) is None


def test_deeply_nested_arguments_are_one_line_not_a_crash():
    params = {"type": "object", "properties": {"t": {"$ref": "#/$defs/node"}},
              "$defs": {"node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/node"}}}}}
    value = {}
    for _ in range(3000):
        value = {"child": value}
    reason = arguments_error({"t": value}, None, params)
    assert reason is None or "\n" not in reason


def test_a_schema_keeps_the_draft_its_dollar_schema_names():
    draft7 = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object", "properties": {
        "point": {"type": "array", "items": [{"type": "number"}, {"type": "string"}]}}}  # a draft-07 tuple
    from evalkit.suite.schema import schema_problem

    assert schema_problem(draft7) is None
    assert arguments_error({"point": [1, "a"]}, None, draft7) is None
    assert arguments_error({"point": ["a", "a"]}, None, draft7) == "point[0]: expected number, got string 'a'"
    draft4 = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object",
              "properties": {"n": {"type": "number", "minimum": 0, "exclusiveMinimum": True}}}
    assert arguments_error({"n": 0}, None, draft4) == "n: 0 is less than or equal to the minimum of 0"
    assert arguments_error({"n": 3.0}, None, {**draft4, "properties": {"n": {"type": "integer"}}}) is not None
