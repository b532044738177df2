"""`evalkit view`'s web pages: the index of a results directory, each run's report as it is on disk
(rendered on demand when the run has none), and the comparison of any two runs, rendered with the
same code as `evalkit report A B`.

`ResultsSite.page` maps a request path to a response and knows nothing of HTTP; `serve` wraps it in
the standard library's threading HTTP server, bound to 127.0.0.1 only.
"""
from __future__ import annotations

import sys
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from markupsafe import escape

from ..errors import ConfigError, EvalkitError
from ..rundir.results import REPORT
from ..rundir.run import open_run
from . import _ENV, _asset, render_report
from .index import MARKERS, list_runs

# The pages are self-contained: forbid every fetch, so a page can never reach the network.
CSP = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; "
       "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")


@dataclass(frozen=True)
class Page:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"


def _message(status: HTTPStatus, text: str) -> Page:
    html = (f"<!doctype html><meta charset='utf-8'><title>{status.value} {status.phrase}</title>"
            f"<body style='font: 14px system-ui, sans-serif; margin: 2rem'><h1>{status.value} {status.phrase}</h1>"
            f"<p>{escape(text)}</p><p><a href='/'>all runs</a></p></body>")
    return Page(status.value, html.encode("utf-8"))


class ResultsSite:
    def __init__(self, root: Path):
        self.root = Path(root).resolve()

    def run_dir(self, rel: str) -> Path | None:
        """The run directory a URL names, only if it lies inside the results directory."""
        d = (self.root / rel).resolve()
        if not d.is_relative_to(self.root) or not d.is_dir():
            return None
        return d if any((d / m).is_file() for m in MARKERS) else None

    def page(self, target: str) -> Page:
        url = urlsplit(target)
        path = unquote(url.path)
        try:
            if path in ("/", "/index.html"):
                return self.index()
            if path == "/compare":
                query = parse_qs(url.query)
                return self.compare(query.get("a", [""])[0], query.get("b", [""])[0])
            if path.startswith("/runs/") and path.endswith("/" + REPORT):
                return self.report(path[len("/runs/"):-len("/" + REPORT)])
            if path == "/favicon.ico":
                return Page(HTTPStatus.NO_CONTENT.value, b"")
            return _message(HTTPStatus.NOT_FOUND, f"nothing at {path}")
        except EvalkitError as e:  # a run that cannot be read: say which and why
            return _message(HTTPStatus.UNPROCESSABLE_ENTITY, str(e).replace(str(self.root) + "/", ""))

    def index(self) -> Page:
        runs = list_runs(self.root)
        readable = [i for i, e in enumerate(runs) if not e.problem]
        html = _ENV.get_template("index.html.j2").render(
            root=str(self.root), runs=runs, css=_asset("report.css"),
            default_b=readable[0] if readable else None, default_a=readable[1] if len(readable) > 1 else None,
            generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"))
        return Page(HTTPStatus.OK.value, html.encode("utf-8"))

    def report(self, rel: str) -> Page:
        d = self.run_dir(rel)
        if d is None:
            return _message(HTTPStatus.NOT_FOUND, f"no run directory {rel} in this results directory")
        if (d / REPORT).is_file():
            return Page(HTTPStatus.OK.value, (d / REPORT).read_bytes())
        return Page(HTTPStatus.OK.value, render_report([open_run(d)]).encode("utf-8"))

    def compare(self, a: str, b: str) -> Page:
        if not a or not b:
            return _message(HTTPStatus.BAD_REQUEST, "pick two runs: A (before) and B (after)")
        dirs = [self.run_dir(a), self.run_dir(b)]
        for rel, d in zip((a, b), dirs):
            if d is None:
                return _message(HTTPStatus.NOT_FOUND, f"no run directory {rel} in this results directory")
        return Page(HTTPStatus.OK.value, render_report([open_run(d) for d in dirs]).encode("utf-8"))


class _Requests(BaseHTTPRequestHandler):
    site: ResultsSite  # set per server by `serve`
    server_version = "evalkit-view"

    def do_GET(self) -> None:
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0]
        if host not in ("127.0.0.1", "localhost", "[::1]"):
            # another site's page that resolved its own name to this machine must not read the results
            page = _message(HTTPStatus.FORBIDDEN, "evalkit view answers only to 127.0.0.1 and localhost")
        else:
            try:
                page = self.site.page(self.path)
            except Exception as e:  # noqa: BLE001 (one bad page must not stop the server; say what failed)
                page = _message(HTTPStatus.INTERNAL_SERVER_ERROR, f"{type(e).__name__}: {e}")
                print(f"evalkit view: {self.path}: {type(e).__name__}: {e}", file=sys.stderr)
        self.send_response(page.status)
        self.send_header("Content-Type", page.content_type)
        self.send_header("Content-Length", str(len(page.body)))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(page.body)

    def log_message(self, format: str, *args: object) -> None:
        pass  # one line per request would bury the URL the user needs


class ResultsServer(ThreadingHTTPServer):
    daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def serve(root: Path, port: int = 0) -> ResultsServer:
    """Start serving root on 127.0.0.1 in a background thread; port 0 picks a free port."""
    requests = type("Requests", (_Requests,), {"site": ResultsSite(root)})
    try:
        server = ResultsServer(("127.0.0.1", port), requests)
    except OSError as e:
        raise ConfigError(f"cannot listen on 127.0.0.1:{port} ({e.strerror}); --port 0 picks a free port") from None
    threading.Thread(target=server.serve_forever, name="evalkit-view", daemon=True).start()
    return server
