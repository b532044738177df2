"""`evalkit data check|shorten|estimate`: fine-tuning training data tools."""
from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import InputError

HELP = """\
Fine-tuning training data (the OpenAI chat fine-tuning JSONL format: one {"messages": [...],
"tools": [...]} object per line).
  check     the format checks of OpenAI's data-preparation recipe, fewer than 100 examples,
            should-refuse share, duplicates; with --suite also test questions leaking into
            training, call arguments against the suite's full schema, and definitions that
            differ from the ones the suite's fine-tuned variant sends (with a diff).
            Exit 2 when there are errors.
  shorten   rewrite every example's definitions with a suite transform (e.g. short), so
            training and inference send the same definitions.
  estimate  tokens per example (16,385-token cap), epochs (given, or the default rule),
            billed training tokens and their cost (evalkit/prices.yaml)."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="check, shorten and price fine-tuning training data", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    cmds = p.add_subparsers(dest="data_command", metavar="{check,shorten,estimate}", required=True)
    c = cmds.add_parser("check", help="validate a training file (exit 2 on errors)")
    c.add_argument("file", type=Path, metavar="FILE")
    c.add_argument("--suite", type=Path, metavar="SUITE", help="also check against this suite")
    c.add_argument("--variant", metavar="NAME",
                   help="the variant whose definitions training must match (default: the first fine-tuned)")
    c.set_defaults(func=run_check)
    s = cmds.add_parser("shorten", help="rewrite the definitions with a suite transform")
    s.add_argument("file", type=Path, metavar="FILE")
    s.add_argument("--suite", type=Path, metavar="SUITE", required=True)
    s.add_argument("--functions", default="short", metavar="NAME", help="full, short or a suite transform (default short)")
    s.add_argument("-o", "--out", "--output", dest="output", type=Path, metavar="OUT", required=True,
                   help="training JSONL to write (--output is the old spelling)")
    s.set_defaults(func=run_shorten)
    e = cmds.add_parser("estimate", help="tokens, epochs, billed tokens and training cost")
    e.add_argument("file", type=Path, metavar="FILE")
    e.add_argument("--model", required=True, metavar="M", help="the base model to fine-tune (tokenizer and price)")
    e.add_argument("--epochs", type=int, metavar="N", help="epochs (default: the API's rule for the file's size)")
    e.add_argument("--provider", choices=["openai", "azure"], default="openai",
                   help="price as this provider's list price (default openai)")
    e.set_defaults(func=run_estimate)


def run_check(args: argparse.Namespace) -> int:
    from ..data import check_examples, read_examples
    from ..suite import load_suite
    suite = load_suite(args.suite) if args.suite else None
    if args.variant and not suite:
        raise InputError(None, "--variant needs --suite")
    examples, unparsed = read_examples(args.file)
    report = check_examples(examples, unparsed, suite, args.variant)
    for p in report.problems:
        where = f"{args.file}:{p.line}" if p.line is not None else str(args.file)
        print(f"{where}: {p.level}: {p.message} [{p.code}]")
        if p.detail:
            print("\n".join("    " + line for line in p.detail.splitlines()))
    share = f"{100 * report.n_refuse / report.n:.0f}%" if report.n else "–"
    print(f"{args.file}: {report.n} examples, {report.n_refuse} should-refuse ({share}); "
          f"{report.errors} error(s), {report.warnings} warning(s)")
    return 2 if report.errors else 0


def run_shorten(args: argparse.Namespace) -> int:
    from ..data import read_valid_examples, shorten_examples
    from ..data.shorten import write_jsonl
    from ..suite import load_suite
    suite = load_suite(args.suite)
    examples = read_valid_examples(args.file)
    lines = shorten_examples(examples, suite, args.functions, where=str(args.file))
    write_jsonl(args.output, lines)
    print(f"wrote {len(lines)} examples to {args.output} with the suite's '{args.functions}' definitions")
    return 0


def run_estimate(args: argparse.Namespace) -> int:
    from ..analysis.cost import default_prices, price_source
    from ..analysis.tokens import count_training_example, encoding_for
    from ..data import estimate, read_valid_examples, training_price
    from ..data.estimate import MAX_TOKENS_PER_EXAMPLE, epochs_rule
    if args.epochs is not None and args.epochs < 1:
        raise InputError(None, "--epochs must be at least 1", field="--epochs")
    encoding = encoding_for(args.model)
    examples = read_valid_examples(args.file)
    if not examples:
        raise InputError(str(args.file), "no examples in the file")
    lengths = [count_training_example(ex.data, encoding) for ex in examples]
    prices = default_prices()
    est = estimate(lengths, args.epochs, training_price(args.model, args.provider, prices))
    print(f"examples         {est.n_examples}  ({encoding.name} tokens)")
    print(f"tokens/example   min {min(lengths):,}, mean {sum(lengths) / len(lengths):,.1f}, max {max(lengths):,}")
    over = est.over_cap
    if over:
        shown = ", ".join(f"line {examples[i].line} ({lengths[i]:,})" for i in over[:5])
        print(f"over the cap     {len(over)} example(s) longer than {MAX_TOKENS_PER_EXAMPLE:,} tokens are "
              f"truncated to it: {shown}")
    rule = "given" if est.epochs_given else epochs_rule(est.n_examples)
    print(f"epochs           {est.epochs} ({rule})")
    print(f"billed tokens    {est.epochs} x {est.billed_per_epoch:,} = {est.billed_tokens:,}")
    if est.cost is None:
        print(f"training cost    unknown: no training price for '{args.model}' in evalkit/prices.yaml")
    else:
        print(f"training cost    ${est.cost:,.2f}  ({est.price_key}: ${est.price_per_1m:.2f} per 1M trained "
              f"tokens; prices of {prices.date}, {price_source(prices, est.price_key)})")
    return 0
