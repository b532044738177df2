"""`evalkit cache`: the response cache (evalkit/run/cache.py) — where it is, how big, clear it."""
from __future__ import annotations

import argparse

# The cache file's name, for the help text without importing the cache (checked against it in the tests).
FILENAME = "responses.sqlite"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cache", help="show or clear the response cache",
                       description="Temperature-0 responses are cached in "
                                   f"$EVALKIT_CACHE_DIR/{FILENAME} (default ~/.cache/evalkit/), keyed by "
                                   "the exact request; a rerun of an unchanged suite makes no requests.")
    p.add_argument("action", choices=["info", "clear"], help="info: path and entry count; clear: delete all")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..run.cache import ResponseCache, cache_dir
    path = cache_dir() / FILENAME
    if not path.exists():
        print(f"{path}: empty (no cache file yet)")
        return 0
    cache = ResponseCache(path)
    try:
        if args.action == "clear":
            print(f"{path}: removed {cache.clear()} cached responses")
        else:
            print(f"{path}: {cache.count()} cached responses, {path.stat().st_size / 1e6:.1f} MB")
    finally:
        cache.close()
    return 0
