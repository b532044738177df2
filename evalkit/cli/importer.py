"""`evalkit import bfcl PATH -o SUITE`: turn data from other tools into an evalkit suite.
(The module is not called `import`, a Python keyword.)"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import InputError

# evalkit.interop.bfcl.CATEGORIES, spelled here so that `--help` imports no suite model (tests check they match).
CATEGORIES = ("simple_python", "multiple", "parallel", "parallel_multiple", "irrelevance",
              "live_simple", "live_multiple", "live_parallel", "live_parallel_multiple", "live_irrelevance")

HELP = """\
Import questions and answers from another benchmark as an evalkit suite.

  evalkit import bfcl PATH [--category simple_python,multiple,...] -o suites/bfcl.yaml

PATH is a BFCL data directory (BFCL_v4_<category>.json with possible_answer/ beside it, e.g. the
`bfcl_eval/data` folder of the bfcl-eval wheel) or one such file. Acceptable values become
`any_of`, "" marks an argument that may be left out, parallel answers become several expected calls,
irrelevance becomes `expect: refuse`, and the suite uses BFCL's string matching
(`string_match: bfcl`). Entries whose ground truth contradicts their own schema are skipped and listed.
Categories: """ + ", ".join(CATEGORIES)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("import", help="import a BFCL benchmark as a suite", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    kinds = p.add_subparsers(dest="kind", metavar="SOURCE")
    b = kinds.add_parser("bfcl", help="Berkeley Function Calling Leaderboard data", description=HELP,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("path", type=Path, metavar="PATH", help="BFCL data directory or BFCL_v<N>_<category>.json")
    b.add_argument("--category", metavar="LIST", help="comma-separated categories (default: all found)")
    b.add_argument("-o", "--out", type=Path, required=True, metavar="SUITE", help="suite YAML to write")
    b.add_argument("--name", help="suite name (default: the output file's stem)")
    b.add_argument("--provider", default="openai", help="provider of the suite's one variant (default openai)")
    b.add_argument("--model", default="gpt-4o-mini", help="model of the suite's one variant (default gpt-4o-mini)")
    b.add_argument("--limit", type=int, metavar="N", help="at most N entries per category")
    b.set_defaults(func=run_bfcl)
    p.set_defaults(func=lambda args: _no_source(p))


def _no_source(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def run_bfcl(args: argparse.Namespace) -> int:
    from ..interop.bfcl import dump_suite, import_bfcl, parse_categories
    if args.limit is not None and args.limit < 1:
        raise InputError(None, "--limit must be at least 1")
    variant = {"name": "base", "provider": args.provider, "model": args.model}
    imported = import_bfcl(args.path, parse_categories(args.category), name=args.name or args.out.stem,
                           variant=variant, limit=args.limit)
    if not imported.suite["cases"]:
        raise InputError(str(args.path), "no entry could be imported")
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(dump_suite(imported.suite), encoding="utf-8")
    except OSError as e:
        raise InputError(str(args.out), f"cannot write the suite: {e.strerror}") from None
    for case_id, reason in imported.skipped:
        print(f"skipped {case_id}: {reason}", file=sys.stderr)
    counts = ", ".join(f"{c} {n}" for c, n in imported.counts.items())
    print(f"wrote {args.out}: {len(imported.suite['cases'])} cases ({counts}); "
          f"{len(imported.skipped)} skipped")
    return 0
