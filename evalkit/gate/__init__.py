"""The CI gate: compare a run with a baseline run and fail only on a real regression.

spec.py    the thresholds (`gate:` section of a suite, overridden by command-line flags)
inputs.py  reading the two run directories
compare.py the pure comparison: shared cases, max-drop AND exact McNemar, absolute floors
output.py  text, markdown and JUnit XML renderings of a `GateResult`

This package's __init__ stays empty on purpose: `suite.model` imports `gate.spec`, and
importing the comparison here would import the suite model back while it is being defined.
"""
