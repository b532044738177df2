"""A fault-injecting loopback chat-completions server. Each request's behaviour is chosen by the
first word of its last user message (`fault_suite` writes cases `"<fault> <i>"`), so one run can
hold every hostile answer at once. Faults work at the byte level: malformed bodies, a connection
closed mid-body, a response trickled a byte at a time, a hang, 429/5xx with and without
retry-after, and a server that echoes the credentials it was sent.

A fault named `<fault>*N` (e.g. `r429*2`) misbehaves on the first N attempts for that message and
then answers correctly, so retries can be observed."""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

from fakeserver import completion_body, last_user, tool_reply

DEEP = 100_000  # far past what json.loads (or any recursive parser) will nest


def good_body(body: dict[str, Any], i: str) -> dict[str, Any]:
    return completion_body(tool_reply(("get_price", {"symbol": f"S{i}"})), body.get("model", "m"))


def _with_message(body: dict[str, Any], i: str, **fields: Any) -> dict[str, Any]:
    out = good_body(body, i)
    out["choices"][0]["message"].update(fields)
    return out


def _call(body: dict[str, Any], i: str, name: Any, arguments: Any) -> dict[str, Any]:
    return _with_message(body, i, tool_calls=[{"id": "c", "type": "function",
                                               "function": {"name": name, "arguments": arguments}}])


# fault name -> (body, headers) -> bytes of a 200 body. Bodies are bytes so they can break JSON.
BODIES: dict[str, Callable[[dict[str, Any], str, dict[str, str]], bytes]] = {
    "ok": lambda b, i, h: json.dumps(good_body(b, i)).encode(),
    # "\udc00" as the JSON escape a server would send (Python's json.dumps writes exactly that)
    "surrogate": lambda b, i, h: json.dumps(_with_message(b, i, content="odd \udc00 text")).encode(),
    "surrogate_args": lambda b, i, h: json.dumps(_call(b, i, "get_price", '{"symbol": "S\udc00"}')).encode(),
    "content_object": lambda b, i, h: json.dumps(_with_message(b, i, content={"text": "hi"})).encode(),
    "name_number": lambda b, i, h: json.dumps(_call(b, i, 42, "{}")).encode(),
    "args_object": lambda b, i, h: json.dumps(_call(b, i, "get_price", {"symbol": f"S{i}"})).encode(),
    "args_number": lambda b, i, h: json.dumps(_call(b, i, "get_price", 7)).encode(),
    "deep_args": lambda b, i, h: json.dumps(_call(b, i, "get_price", "[" * DEEP + "]" * DEEP)).encode(),
    "deep_body": lambda b, i, h: json.dumps(good_body(b, i))[:-1].encode() + b', "x": '
                                 + b"[" * DEEP + b"]" * DEEP + b"}",
    "message_string": lambda b, i, h: json.dumps({"choices": [{"index": 0, "message": "hello"}]}).encode(),
    "no_message": lambda b, i, h: json.dumps({"choices": [{"index": 0, "finish_reason": "stop"}]}).encode(),
    "no_choices": lambda b, i, h: b'{"id": "x", "object": "chat.completion"}',
    "tool_calls_string": lambda b, i, h: json.dumps(_with_message(b, i, tool_calls="get_price")).encode(),
    "usage_text": lambda b, i, h: json.dumps({**good_body(b, i), "usage": {"prompt_tokens": "lots",
                                                                           "completion_tokens": [1]}}).encode(),
    "nan_args": lambda b, i, h: json.dumps(_call(b, i, "get_price", '{"symbol": NaN}')).encode(),
    "nan_body": lambda b, i, h: json.dumps(good_body(b, i)).replace('"prompt_tokens": 42',
                                                                    '"prompt_tokens": NaN').encode(),
    "not_json": lambda b, i, h: b"hello, I am not JSON",
    "array_body": lambda b, i, h: b"[1, 2, 3]",
    "error_200": lambda b, i, h: json.dumps({"error": {"message": "model overloaded"}}).encode(),
    # a 200 whose text carries the credentials the server was sent
    "echo_200": lambda b, i, h: json.dumps(_with_message(
        b, i, content=f"you sent {h.get('authorization', '')} and api-key={h.get('api-key', '')}")).encode(),
}


def parse_marker(user: str) -> tuple[str, int, str]:
    """'r429*2 7' -> ('r429', 2, '7')"""
    word, _, i = user.partition(" ")
    name, _, times = word.partition("*")
    return name, int(times) if times else 1 << 30, i.rstrip("?")


class FaultServer:
    def __init__(self, hang_s: float = 30.0, trickle_s: float = 0.1):
        self.hang_s, self.trickle_s = hang_s, trickle_s
        self.requests: list[dict[str, Any]] = []
        self.attempts: dict[str, int] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))) or b"{}")
                headers = {k.lower(): v for k, v in self.headers.items()}
                user = last_user(body)
                with server.lock:
                    server.requests.append({"path": self.path, "headers": headers, "user": user})
                    n = server.attempts[user] = server.attempts.get(user, 0) + 1
                name, times, i = parse_marker(user)
                if n > times:
                    name = "ok"
                server.respond(self, name, body, i, headers)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def respond(self, h: BaseHTTPRequestHandler, name: str, body: dict[str, Any], i: str,
                headers: dict[str, str]) -> None:
        if name in BODIES:
            return self._send(h, 200, BODIES[name](body, i, headers))
        if name in ("r429", "r429_bare", "r500", "r500_bare", "r503"):
            status = int(name[1:4])
            extra = {} if name.endswith("_bare") else {"retry-after-ms": "10", "retry-after": "0.01"}
            return self._send(h, status, json.dumps({"error": {"message": f"scripted {status}"}}).encode(), extra)
        if name == "echo_401":  # what some gateways do: quote the credential back in the error
            said = f"Incorrect API key provided: {headers.get('authorization', '')}; api-key: {headers.get('api-key', '')}"
            return self._send(h, 401, json.dumps({"error": {"message": said, "type": "invalid_request_error"}}).encode())
        if name == "hang":
            self.stop.wait(self.hang_s)
            return self._close(h)
        if name == "close_mid_body":
            data = json.dumps(good_body(body, i)).encode()
            self._head(h, 200, len(data))
            h.wfile.write(data[: len(data) // 2])
            h.wfile.flush()
            return self._close(h)
        if name == "close_before":
            return self._close(h)
        if name == "trickle":  # every byte arrives before any read timeout, the whole never in time
            data = json.dumps(good_body(body, i)).encode()
            self._head(h, 200, len(data))
            for k in range(len(data)):
                if self.stop.wait(self.trickle_s):
                    break
                try:
                    h.wfile.write(data[k:k + 1])
                    h.wfile.flush()
                except OSError:
                    break
            return self._close(h)
        raise ValueError(f"unknown fault {name!r}")

    @staticmethod
    def _head(h: BaseHTTPRequestHandler, status: int, length: int, extra: dict[str, str] | None = None) -> None:
        h.send_response(status)
        h.send_header("content-type", "application/json")
        h.send_header("content-length", str(length))
        for k, v in (extra or {}).items():
            h.send_header(k, v)
        h.end_headers()

    def _send(self, h: BaseHTTPRequestHandler, status: int, data: bytes, extra: dict[str, str] | None = None) -> None:
        self._head(h, status, len(data), extra)
        h.wfile.write(data)

    @staticmethod
    def _close(h: BaseHTTPRequestHandler) -> None:
        h.close_connection = True
        try:
            h.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "FaultServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop.set()  # releases hanging and trickling handlers
        self.httpd.shutdown()
        self.httpd.server_close()


GET_PRICE = ("{name: get_price, description: Price of a stock, parameters: {type: object, "
             "properties: {symbol: {type: string}}, required: [symbol]}}")


def fault_suite(tmp_path, url: str, faults: list[str], variant: str = "", repeats: int = 1,
                variants: dict[str, str] | None = None, name: str = "suite.yaml"):
    """One case per fault, `<fault> <i>` -> get_price(symbol=S<i>). `variant` is YAML flow-map
    fields for the one variant `v` (`timeout: 0.3, options: {max_retries: 0}`); `variants` maps
    several variant names to their own fields (a `base_url` there replaces the server's)."""
    cases = "\n".join(f"  - {{id: c{i}, user: '{f} {i}', expect: {{call: get_price, arguments: {{symbol: S{i}}}}}}}"
                      for i, f in enumerate(faults))
    vs = ""
    for v, extra in (variants or {"v": variant}).items():
        where = "" if "base_url" in extra else f'base_url: "{url}/v1", '
        vs += f"  - {{name: {v}, model: m, {where}{extra}}}\n".replace(", }", "}")
    p = tmp_path / name
    p.write_text(f"name: faults\nrepeats: {repeats}\nfunctions:\n  - type: function\n    function: {GET_PRICE}\n"
                 f"variants:\n{vs}cases:\n{cases}\n")
    return p
