"""`evalkit` command line: thin argparse wiring; each command group lives in its own module with
`register(subparsers)`. Errors the user can fix become one line on stderr and exit code 2.

Signals and pipes are handled here, once for every command:
- Ctrl-C exits 130 and SIGTERM (what CI sends when a job is cancelled) exits 143; both stop a run
  the same way, keeping every finished result and printing the `--resume` line.
- Output piped into a reader that stops early (`evalkit tokens SUITE --json | head -1`) ends the
  command quietly with 141 (128 + SIGPIPE, what a shell reports for a program killed by the pipe).
"""
from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

from ..errors import EvalkitError

# Command-group modules, in the order `evalkit --help` lists them.
COMMANDS = ["init", "run", "report", "view", "gate", "tokens", "cost", "trials", "data", "finetune", "importer",
            "export", "cache"]

EXIT_INTERRUPTED = 130  # Ctrl-C
EXIT_TERMINATED = 143  # SIGTERM
EXIT_BROKEN_PIPE = 141

DESCRIPTION = """\
Evaluate LLM function calling. A suite (YAML) declares function definitions, variants
(model x provider x full/short definitions) and test cases; evalkit runs every variant over
every case, scores each call (right function? right arguments? refused when it should?),
and writes results.jsonl, summary.json and a self-contained report.html.

Start with:  evalkit run suites/stocks.yaml

Exit codes: 0 ok, 1 gate regression or incomplete run (evalkit gate, run --baseline),
2 bad input or configuration, 3 provider errors over --max-error-rate, 4 a run that recorded
fewer results than planned, 130 interrupted (Ctrl-C), 141 output pipe closed early,
143 terminated (SIGTERM). Environment variables: see the README."""


def version() -> str:
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("evalkit")
    except PackageNotFoundError:
        return "unknown (not installed)"


class _Version(argparse.Action):
    """--version, looked up only when asked for: reading the installed metadata scans every
    distribution in site-packages, which would otherwise be paid by every command."""

    def __call__(self, parser: argparse.ArgumentParser, *args: object) -> None:
        print(f"evalkit {version()}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evalkit", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=_Version, nargs=0, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").register(sub)
    return parser


class _Termination:
    """SIGTERM delivered as Ctrl-C: whatever SIGINT would do at this moment (asyncio.run cancels
    its main task, plain code gets KeyboardInterrupt), so a run stops through the same path and
    keeps its results. Remembers that it happened, for the exit code."""

    def __init__(self) -> None:
        self.received = False
        self.previous = None

    def __enter__(self) -> _Termination:
        try:
            self.previous = signal.signal(signal.SIGTERM, self._handle)
        except ValueError:  # not the main thread (an embedding application): leave signals alone
            self.previous = None
        return self

    def __exit__(self, *exc: object) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGTERM, self.previous)

    def _handle(self, signum: int, frame: object) -> None:
        self.received = True
        on_sigint = signal.getsignal(signal.SIGINT)
        if callable(on_sigint):
            on_sigint(signal.SIGINT, frame)
        else:  # SIGINT ignored (a background job of a script): still stop
            raise KeyboardInterrupt

    def code(self, code: int) -> int:
        return EXIT_TERMINATED if self.received and code == EXIT_INTERRUPTED else code


def _quiet_broken_pipe() -> int:
    """The reader went away: point stdout at devnull so the interpreter's final flush cannot
    raise again, and exit like a program stopped by SIGPIPE."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout is not a real file (captured in-process)
        pass
    return EXIT_BROKEN_PIPE


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    with _Termination() as term:
        try:
            code = int(args.func(args) or 0)
            sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit
            return code
        except BrokenPipeError:
            return _quiet_broken_pipe()
        except EvalkitError as e:
            message = str(e)
            if term.received:  # the run's own words say Ctrl-C; say what really stopped it
                message = message.replace("interrupted:", "terminated (SIGTERM):", 1)
            print(f"evalkit: error: {message}", file=sys.stderr)
            return term.code(e.exit_code)
        except KeyboardInterrupt:
            print("evalkit: terminated" if term.received else "evalkit: interrupted", file=sys.stderr)
            return term.code(EXIT_INTERRUPTED)


if __name__ == "__main__":
    sys.exit(main())
