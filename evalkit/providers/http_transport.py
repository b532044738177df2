"""A lean HTTP/1.1 keep-alive transport for openai-python's http client.

Why: at 64 requests in flight the default connection pool (httpcore) rescans every pooled
connection on each request and polls its socket; on a 2-core machine that alone costs more than a
millisecond per request. This transport keeps a plain stack of idle asyncio streams per origin and
writes each request in one send. Everything above it stays openai-python's own: request building,
headers, Azure deployment URLs, retries with backoff and retry-after, status errors. It speaks
only HTTP/1.1 (TLS included) and raises httpx's own exception types, which openai-python maps to
APITimeoutError / APIConnectionError and retries.

Whichever client is used (this one, or openai-python's default with its proxy support),
`AttemptsMixin` sits at `send`, the one call every attempt of openai-python's retry loop makes: a
hard deadline per attempt (the whole response, however slowly it trickles in), and the run's retry
budget for every kind of failure (timeouts and refused connections too, not only 429/5xx).
"""
from __future__ import annotations

import asyncio
import functools
import ssl
from collections import defaultdict
from typing import Any

import openai

from .ratelimit import RetryBudget, is_retryable

try:  # openai-python >= 3 ships its own httpx fork
    import httpx2 as httpx
except ImportError:  # pragma: no cover - older openai-python
    import httpx  # type: ignore[no-redef]

MAX_HEADER_BYTES = 64 * 1024


class _Connection:
    __slots__ = ("reader", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader, self.writer = reader, writer

    def usable(self) -> bool:
        return not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


def _timeouts(request: httpx.Request) -> tuple[float | None, float | None]:
    t = request.extensions.get("timeout") or {}
    return t.get("connect"), t.get("read")


def _encode_head(request: httpx.Request, body: bytes) -> bytes:
    target = request.url.raw_path
    lines = [request.method.encode() + b" " + target + b" HTTP/1.1"]
    has_length = False
    for name, value in request.headers.raw:
        lname = name.lower()
        if lname == b"content-length":
            has_length = True
        elif lname == b"transfer-encoding":
            continue  # the body is sent whole, with a length
        lines.append(name + b": " + value)
    if not has_length and (body or request.method not in ("GET", "HEAD")):
        lines.append(b"content-length: " + str(len(body)).encode())
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _parse_head(head: bytes) -> tuple[int, list[tuple[bytes, bytes]]]:
    status_line, *header_lines = head[:-4].split(b"\r\n")
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
        raise httpx.RemoteProtocolError(f"malformed status line {status_line[:80]!r}")
    headers = []
    for line in header_lines:
        name, sep, value = line.partition(b":")
        if not sep:
            raise httpx.RemoteProtocolError(f"malformed header line {line[:80]!r}")
        headers.append((name.strip(), value.strip()))
    return int(parts[1]), headers


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size = int(size_line.split(b";", 1)[0].strip(), 16)
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return bytes(out)
        out += await reader.readexactly(size)
        await reader.readexactly(2)


@functools.cache
def _tls_context(verify: bool) -> ssl.SSLContext:
    """One default TLS context per process, built at the first https connection: loading the CA
    store takes ~70 ms, which a run of thousands of variants (a transport each) paid per variant."""
    context = ssl.create_default_context()
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


class LeanTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 with keep-alive; one pool of idle connections per (scheme, host, port)."""

    def __init__(self, verify: ssl.SSLContext | bool = True, max_idle: int = 256):
        self._idle: dict[tuple[str, str, int], list[_Connection]] = defaultdict(list)
        self._max_idle = max_idle
        self._verify = verify

    async def _connect(self, origin: tuple[str, str, int], timeout: float | None) -> _Connection:
        scheme, host, port = origin
        tls = None
        if scheme == "https":
            tls = self._verify if isinstance(self._verify, ssl.SSLContext) else _tls_context(bool(self._verify))
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(host, port, ssl=tls, limit=MAX_HEADER_BYTES,
                                                               server_hostname=host if tls else None)
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out") from None
        except (OSError, ssl.SSLError) as e:
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {e}") from None
        return _Connection(reader, writer)

    def _checkout(self, origin: tuple[str, str, int]) -> _Connection | None:
        idle = self._idle[origin]
        while idle:
            conn = idle.pop()
            if conn.usable():
                return conn
            conn.close()
        return None

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        connect_timeout, read_timeout = _timeouts(request)
        body = await request.aread()
        head = _encode_head(request, body)
        reused = self._checkout(origin)
        conn = reused or await self._connect(origin, connect_timeout)
        try:
            status, headers, content, keep = await self._exchange(conn, request.method, head + body, read_timeout)
        except (httpx.RemoteProtocolError, httpx.ReadError):
            conn.close()
            if reused is None:
                raise
            # a pooled connection the server had already closed: one fresh attempt, as httpcore does
            conn = await self._connect(origin, connect_timeout)
            try:
                status, headers, content, keep = await self._exchange(conn, request.method, head + body,
                                                                      read_timeout)
            except BaseException:
                conn.close()
                raise
        except BaseException:
            conn.close()
            raise
        if keep and len(self._idle[origin]) < self._max_idle:
            self._idle[origin].append(conn)
        else:
            conn.close()
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(content),
                              extensions={"http_version": b"HTTP/1.1"}, request=request)

    async def _exchange(self, conn: _Connection, method: str, data: bytes,
                        read_timeout: float | None) -> tuple[int, list[tuple[bytes, bytes]], bytes, bool]:
        try:
            conn.writer.write(data)
            async with asyncio.timeout(read_timeout):
                head = await conn.reader.readuntil(b"\r\n\r\n")
                status, headers = _parse_head(head)
                lower = {k.lower(): v for k, v in headers}
                keep = lower.get(b"connection", b"").lower() != b"close"
                if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
                    content = b""
                elif b"chunked" in lower.get(b"transfer-encoding", b"").lower():
                    content = await _read_chunked(conn.reader)
                elif b"content-length" in lower:
                    content = await conn.reader.readexactly(int(lower[b"content-length"]))
                else:
                    content, keep = await conn.reader.read(), False
        except TimeoutError:
            raise httpx.ReadTimeout("timed out waiting for the response") from None
        except asyncio.IncompleteReadError:
            raise httpx.RemoteProtocolError("server closed the connection mid-response") from None
        except asyncio.LimitOverrunError:
            raise httpx.RemoteProtocolError("response headers too large") from None
        except (ConnectionError, OSError) as e:
            raise httpx.ReadError(f"connection failed: {e}") from None
        except ValueError as e:
            raise httpx.RemoteProtocolError(f"malformed response: {e}") from None
        return status, headers, content, keep

    async def aclose(self) -> None:
        for idle in self._idle.values():
            for conn in idle:
                conn.close()
        self._idle.clear()


def lean_http_client(timeout: Any, verify: ssl.SSLContext | bool = True) -> LeanClient:
    """The http_client handed to AsyncOpenAI: httpx's client API over the lean transport."""
    return LeanClient(transport=LeanTransport(verify=verify), timeout=timeout, follow_redirects=True)


class AttemptFailed(openai.APIConnectionError):
    """An attempt that got no response, when no retry follows: says what, where and how often.
    An OpenAIError, so openai-python raises it as it is instead of retrying or rewording it."""

    def __init__(self, message: str, request: httpx.Request, timed_out: bool):
        super().__init__(message=message, request=request)
        self.timed_out = timed_out


_NO_RESPONSE = (httpx.TransportError, ssl.SSLError, OSError, EOFError)


class AttemptsMixin:
    """`send` with a per-attempt deadline and the retry budget (see the module docstring)."""

    deadline: float | None = None
    budget: RetryBudget | None = None
    max_retries: int = 0

    def limit_attempts(self, deadline: float | None, budget: RetryBudget | None, max_retries: int) -> Any:
        self.deadline, self.budget, self.max_retries = deadline, budget, max_retries
        return self

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        try:
            attempt = int(request.headers.get("x-stainless-retry-count", "0"))
        except ValueError:
            attempt = 0
        if attempt == 0 and self.budget is not None:
            self.budget.requests += 1
        retry_left = attempt < self.max_retries
        error: BaseException
        try:
            async with asyncio.timeout(self.deadline):
                response = await super().send(request, **kwargs)  # type: ignore[misc]
        except TimeoutError:
            error, failure, timed_out = httpx.ReadTimeout("deadline"), \
                f"no complete response within {self.deadline:g} s", True
        except httpx.TimeoutException as e:
            error, failure, timed_out = e, _cause(e) or "timed out", True
        except _NO_RESPONSE as e:
            error, failure, timed_out = e, _cause(e), False
        else:
            if (retry_left and self.budget is not None and is_retryable(response.status_code)
                    and "x-should-retry" not in response.headers and not self.budget.allow()):
                response.headers["x-should-retry"] = "false"  # openai-python's own switch
            return response
        if retry_left and (self.budget is None or self.budget.allow()):
            raise error  # openai-python retries it, with its backoff
        attempts = f"{attempt + 1} attempt{'s' if attempt else ''}"
        spent = ", the run's retry budget is spent" if retry_left else ""
        raise AttemptFailed(f"{request.method} {request.url}: {failure} ({attempts}{spent})", request,
                            timed_out) from None


def _cause(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


class LeanClient(AttemptsMixin, httpx.AsyncClient):
    pass


class DefaultClient(AttemptsMixin, openai.DefaultAsyncHttpxClient):  # type: ignore[misc, valid-type]
    pass
