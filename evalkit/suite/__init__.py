"""Suite format: YAML -> typed `Suite` (see model.py for the fields, load.py for the rules)."""
from .load import load_cases_jsonl, load_suite
from .model import AnyOf, Case, Expectation, ExpectedCall, Suite, SuiteSpec, VariantSpec

__all__ = ["load_suite", "load_cases_jsonl", "AnyOf", "Case", "ExpectedCall", "Expectation",
           "Suite", "SuiteSpec", "VariantSpec"]
