"""A lean loopback OpenAI-compatible server for benchmarks: every chat completion is answered after
a fixed delay with one `get_price` tool call. asyncio protocol, HTTP/1.1 keep-alive, no framework,
so its own CPU cost stays far below the clients it measures.

  python benchmarks/loopback_server.py --latency 0.2 [--port 0] [--symbol ACME]

Prints `PORT <n>` on stdout once listening; counts requests and prints `REQUESTS <n>` on SIGTERM.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys


def reply_bytes(symbol: str) -> bytes:
    body = json.dumps({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "stub-model",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": None,
            "tool_calls": [{"id": "call_0", "type": "function",
                            "function": {"name": "get_price", "arguments": json.dumps({"symbol": symbol})}}]}}],
        "usage": {"prompt_tokens": 60, "completion_tokens": 9, "total_tokens": 69},
    }).encode()
    head = (f"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
            "connection: keep-alive\r\n\r\n").encode()
    return head + body


class Server(asyncio.Protocol):
    count = 0

    def __init__(self, latency: float, reply: bytes):
        self.latency, self.reply = latency, reply
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        loop = asyncio.get_running_loop()
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end].lower()
            length = 0
            i = head.find(b"content-length:")
            if i >= 0:
                length = int(head[i + 15:head.find(b"\r\n", i) if head.find(b"\r\n", i) > 0 else None].strip())
            if len(self.buf) < end + 4 + length:
                return
            self.buf = self.buf[end + 4 + length:]
            Server.count += 1
            loop.call_later(self.latency, self._send)

    def _send(self) -> None:
        if self.transport and not self.transport.is_closing():
            self.transport.write(self.reply)


async def serve(port: int, latency: float, symbol: str) -> None:
    loop = asyncio.get_running_loop()
    reply = reply_bytes(symbol)
    server = await loop.create_server(lambda: Server(latency, reply), "127.0.0.1", port, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    print(f"REQUESTS {Server.count}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--latency", type=float, default=0.2)
    p.add_argument("--symbol", default="ACME")
    a = p.parse_args()
    asyncio.run(serve(a.port, a.latency, a.symbol))


if __name__ == "__main__":
    sys.exit(main())
