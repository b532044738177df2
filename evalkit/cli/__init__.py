"""`evalkit` command line: thin argparse wiring; each command group lives in its own module with
`register(subparsers)`. Errors the user can fix become one line on stderr and exit code 2."""
from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import EvalkitError

# Command-group modules, in the order `evalkit --help` lists them.
COMMANDS = ["run", "report", "gate", "tokens", "cost", "trials", "data", "finetune", "importer", "export", "cache"]

DESCRIPTION = """\
Evaluate LLM function calling. A suite (YAML) declares function definitions, variants
(model x provider x full/short definitions) and test cases; evalkit runs every variant over
every case, scores each call (right function? right arguments? refused when it should?),
and writes results.jsonl, summary.json and a self-contained report.html.

Start with:  evalkit run suites/stocks.yaml
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evalkit", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except EvalkitError as e:
        print(f"evalkit: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("evalkit: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
