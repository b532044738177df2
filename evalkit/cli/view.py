"""`evalkit view [DIR]`: browse a results directory on localhost."""
from __future__ import annotations

import argparse
import os
import sys
import threading
import webbrowser
from pathlib import Path

from ..errors import InputError

HELP = """\
Serve DIR (default results/) on http://127.0.0.1 (this machine only): an index of every run under
it, newest first (suite, date, variants with accuracy; a directory that cannot be read is listed
with the reason), each run's report.html as it is on disk (rendered on demand when a run has
none), and the comparison of any two runs picked on the index, the same page as
`evalkit report A B`. Opens a browser when one is available; Ctrl-C stops the server."""


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("view", help="browse a results directory in the browser", description=HELP,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("dir", nargs="?", type=Path, default=Path("results"), metavar="DIR",
                   help="the results directory (default: results/)")
    p.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: 0, a free one)")
    p.add_argument("--no-browser", action="store_true", help="print the URL only")
    p.set_defaults(func=run)


def has_browser() -> bool:
    """A browser can open on this machine: a desktop session, or one named in $BROWSER."""
    if os.environ.get("BROWSER"):
        return True
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run(args: argparse.Namespace) -> int:
    from ..report.serve import serve
    if not args.dir.is_dir():
        raise InputError(str(args.dir), "no such results directory (evalkit run writes into results/)")
    if not 0 <= args.port <= 65535:
        raise InputError(None, f"--port {args.port}: expected 0 to 65535")
    server = serve(args.dir, args.port)
    try:
        print(f"evalkit view: serving {args.dir.resolve()} at {server.url} (Ctrl-C stops)", flush=True)
        if not args.no_browser and has_browser():
            try:
                webbrowser.open(server.url)
            except Exception:  # noqa: BLE001, S110 (no usable browser after all: the URL is printed)
                pass
        threading.Event().wait()  # until Ctrl-C, or SIGTERM (delivered as Ctrl-C)
    except KeyboardInterrupt:  # the way to stop a viewer, not an interrupted piece of work
        print("evalkit view: stopped", file=sys.stderr)
    finally:
        server.stop()
    return 0
