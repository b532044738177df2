"""A loopback OpenAI-compatible server for tests: scripted chat completions in both wire formats,
the Azure deployment path included. Records every request it receives."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

Reply = dict[str, Any]


def tool_reply(*calls: tuple[str, Any], content: str | None = None) -> Reply:
    return {"tool_calls": [(n, a if isinstance(a, str) else json.dumps(a)) for n, a in calls], "content": content}


def function_reply(name: str, arguments: Any) -> Reply:
    return {"function_call": (name, arguments if isinstance(arguments, str) else json.dumps(arguments))}


def text_reply(content: str) -> Reply:
    return {"content": content}


def completion_body(reply: Reply, model: str, prompt_tokens: int = 42) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": reply.get("content")}
    finish = "stop"
    if reply.get("tool_calls"):
        message["tool_calls"] = [{"id": f"call_{i}", "type": "function",
                                  "function": {"name": n, "arguments": a}}
                                 for i, (n, a) in enumerate(reply["tool_calls"])]
        finish = "tool_calls"
    if reply.get("function_call"):
        n, a = reply["function_call"]
        message["function_call"] = {"name": n, "arguments": a}
        finish = "function_call"
    return {"id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": 7, "total_tokens": prompt_tokens + 7}}


def last_user(body: dict[str, Any]) -> str:
    users = [m.get("content") for m in body.get("messages", []) if m.get("role") == "user"]
    return users[-1] if users else ""


class FakeServer:
    """`responder(body, path)` returns a Reply, or {"status": int, "body": ...} for an HTTP error."""

    def __init__(self, responder: Callable[[dict[str, Any], str], Reply]):
        self.responder = responder
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server.lock:
                    server.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                reply = server.responder(body, self.path)
                if "status" in reply:
                    self._send(reply["status"], reply.get("body", {"error": {"message": "scripted failure"}}),
                               reply.get("headers", {}))
                    return
                self._send(200, completion_body(reply, body.get("model", "m")))

            def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self) -> "FakeServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def scripted(script: dict[str, Reply], default: Reply | None = None) -> Callable[[dict[str, Any], str], Reply]:
    """Reply by the last user message; `default` otherwise (plain text)."""
    return lambda body, path: script.get(last_user(body), default or text_reply("I don't know."))


GET_PRICE = ("{name: get_price, %sparameters: {type: object, properties: {symbol: {type: string}}, "
             "required: [symbol]}}")


def price_suite(tmp_path, name: str, variants: list[str], n: int, description: str | None = None):
    """Write a suite of n cases `price i?` -> get_price(symbol=Si); `variants` are YAML flow maps."""
    cases = "\n".join(f"  - {{id: c{i}, user: 'price {i}?', expect: {{call: get_price, arguments: {{symbol: S{i}}}}}}}"
                      for i in range(n))
    function = GET_PRICE % (f"description: {description}, " if description else "")
    p = tmp_path / "suite.yaml"
    p.write_text(f"name: {name}\nfunctions:\n  - type: function\n    function: {function}\nvariants:\n"
                 + "".join(f"  - {v}\n" for v in variants) + f"cases:\n{cases}\n")
    return p
