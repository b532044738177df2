"""Property: whatever body a server sends (random JSON, random tool-call shapes, hostile strings,
non-finite numbers, deep nesting), the provider's parsing, scoring and recording yield exactly one
standard-JSON result line per request and no exception escapes."""
import json
import tempfile
from pathlib import Path

from faultserver import fault_suite
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evalkit.errors import ProviderError
from evalkit.providers.openai_compat import parse_body
from evalkit.run.dispatch import Job, Outcome
from evalkit.run.prepare import prepare
from evalkit.run.runner import Recorder
from evalkit.rundir.results import ResultsWriter
from evalkit.suite import load_suite

_DIR = Path(tempfile.mkdtemp(prefix="evalkit-prop-"))
SUITE = load_suite(fault_suite(_DIR, "http://127.0.0.1:9", ["ok", "ok"], "options: {max_retries: 0}"))
PREPARED = prepare(SUITE, list(SUITE.variants), list(SUITE.cases))

hostile_text = st.one_of(st.text(max_size=20), st.sampled_from(
    ["\udc00", "\ud800x", "NaN", "", "{", "null", "\x00", "Bearer sk-abcdefgh12345678", "\u2028"]))
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    hostile_text)
json_values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(hostile_text, inner, max_size=4)), max_leaves=12)
arguments = st.one_of(json_values, hostile_text, st.just('{"symbol": NaN}'), st.just('{"symbol": "S0"}'),
                      st.integers(1, 3000).map(lambda n: "[" * n + "]" * n))
function = st.fixed_dictionaries({}, optional={"name": st.one_of(st.just("get_price"), json_values),
                                               "arguments": arguments})
tool_call = st.one_of(json_values, st.fixed_dictionaries({}, optional={
    "id": json_values, "type": st.just("function"), "function": st.one_of(function, json_values)}))
message = st.one_of(json_values, st.fixed_dictionaries({}, optional={
    "role": st.just("assistant"), "content": json_values, "tool_calls": st.one_of(st.lists(tool_call, max_size=3),
                                                                                   json_values),
    "function_call": st.one_of(function, json_values)}))
choice = st.one_of(json_values, st.fixed_dictionaries({}, optional={
    "message": message, "finish_reason": json_values}))
usage = st.one_of(json_values, st.fixed_dictionaries({}, optional={
    "prompt_tokens": json_values, "completion_tokens": json_values, "prompt_tokens_details": json_values}))
body = st.one_of(json_values, st.fixed_dictionaries({}, optional={
    "choices": st.one_of(st.lists(choice, min_size=1, max_size=2), json_values), "usage": usage,
    "error": json_values}))


def encode(value, deep: int) -> bytes:
    """The body as a server would send it: Python's json writes NaN/Infinity bare and surrogates escaped."""
    text = json.dumps(value, allow_nan=True)
    if deep:  # nesting beyond any parser's reach, spliced into an object
        text = text[:-1] + (", " if len(text) > 2 else "") + '"deep": ' + "[" * deep + "]" * deep + "}" \
            if text.startswith("{") else "[" * deep + "]" * deep
    return text.encode("utf-8", "surrogatepass")


def _reject(constant):
    raise ValueError(constant)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(bodies=st.lists(st.tuples(body, st.sampled_from([0, 0, 0, 50_000])), min_size=1, max_size=6),
       raw_bytes=st.lists(st.binary(max_size=40), max_size=2))
def test_any_body_becomes_exactly_one_standard_result(bodies, raw_bytes):
    payloads = [encode(b, deep) for b, deep in bodies] + raw_bytes
    outcomes = []
    for k, payload in enumerate(payloads):
        job = Job(PREPARED[k % len(PREPARED)], k)  # distinct keys: one repeat index per request
        try:
            completion = parse_body(payload)
        except ProviderError as e:  # the only exception parsing may raise
            outcomes.append(Outcome(job, None, str(e), 0.0, raw=e.raw))
        else:
            outcomes.append(Outcome(job, completion, None, 0.0))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results.jsonl"
        writer = ResultsWriter(path)
        recorder = Recorder(SUITE, writer, {v.name: (lambda request: None) for v in SUITE.variants}, None, None)
        for o in outcomes:
            recorder.add(o)
        recorder.flush()
        writer.close()
        lines = path.read_bytes().decode("utf-8").splitlines()
    assert len(lines) == len(payloads) == recorder.written
    rows = [json.loads(line, parse_constant=_reject) for line in lines]
    assert sorted(r["repeat"] for r in rows) == list(range(len(payloads)))
    for r in rows:
        assert r["verdict"] in ("correct", "wrong_function", "wrong_arguments", "invalid_arguments",
                                "wrong_call_count", "over_refusal", "error")
        assert r["reason"] and "\n" not in r["reason"]
        assert "sk-abcdefgh12345678" not in json.dumps(r)
