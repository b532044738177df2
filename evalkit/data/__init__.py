"""Fine-tuning training data: read (examples), validate (check), rewrite definitions (shorten) and
price (estimate) a chat fine-tuning JSONL file."""
from .check import CheckReport, Problem, check_examples
from .estimate import Estimate, default_epochs, estimate, training_price
from .examples import Example, read_examples, read_valid_examples
from .shorten import shorten_examples

__all__ = ["CheckReport", "Estimate", "Example", "Problem", "check_examples", "default_epochs", "estimate",
           "read_examples", "read_valid_examples", "shorten_examples", "training_price"]
