"""A small keep-alive HTTP/1.1 client for one origin: the regulator.

Why not httpx: every listing decision costs one regulator call, and at hundreds of calls a second
httpx's connection-pool bookkeeping (it inspects every pooled socket on every request) cost more CPU
than the rest of the decision together. The regulator is one origin speaking plain HTTP/1.1 and
JSON, so a pool of persistent connections with h11 (the HTTP/1.1 state machine uvicorn and httpcore
use) is all that is needed. The caller bounds each exchange with its own timeout; a connection
interrupted mid-exchange is closed, never reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import h11

# Servers close idle keep-alive connections (uvicorn after 5 s); stop reusing ours a little before,
# so that a request is rarely written into a connection the server is closing at that moment.
IDLE_REUSE_SECONDS = 4.0
READ_CHUNK = 65536


class HttpError(Exception):
    """No HTTP answer: the connection failed, was refused, or closed without a complete response."""


class _ClosedBeforeAnswer(HttpError):
    """The server closed the connection before sending a single byte of the answer."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]    # lower-case names; a repeated header keeps its last value
    body: bytes


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = time.monotonic()

    def reusable(self) -> bool:
        return (not self.writer.is_closing() and not self.reader.at_eof()
                and time.monotonic() - self.idle_since < IDLE_REUSE_SECONDS)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()

    async def exchange(self, request: h11.Request, body: bytes) -> HttpResponse:
        """One request and its response."""
        data = self.h11.send(request) or b""
        if body:
            data += self.h11.send(h11.Data(data=body)) or b""
        data += self.h11.send(h11.EndOfMessage()) or b""
        status, headers, chunks, received = 0, {}, [], False
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise _ClosedBeforeAnswer(f"the connection was closed ({exc})") from exc
        while True:
            event = self.h11.next_event()
            if event is h11.NEED_DATA:
                try:
                    chunk = await self.reader.read(READ_CHUNK)
                except ConnectionResetError as exc:
                    if received:
                        raise
                    raise _ClosedBeforeAnswer("the connection was reset before an answer") from exc
                if not chunk and not received:
                    raise _ClosedBeforeAnswer("the server closed the connection without an answer")
                received = True
                self.h11.receive_data(chunk)   # b"" tells h11 the server closed the connection
                continue
            if isinstance(event, h11.Response):
                status = event.status_code
                headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in event.headers}
            elif isinstance(event, h11.Data):
                chunks.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return HttpResponse(status, headers, b"".join(chunks))
            elif isinstance(event, h11.ConnectionClosed):
                raise HttpError("the server closed the connection mid-answer")
            # InformationalResponse (1xx) needs nothing: the final response follows.

    def recycle(self) -> bool:
        """Ready the connection for its next request; False when it cannot be kept."""
        if self.h11.our_state is h11.DONE and self.h11.their_state is h11.DONE:
            self.h11.start_next_cycle()
            self.idle_since = time.monotonic()
            return True
        return False


class HttpClient:
    """Requests to one origin over up to ``max_connections`` persistent connections."""

    def __init__(self, base_url: str, max_connections: int) -> None:
        url = urlsplit(base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"{base_url!r} is not an http(s) URL")
        self.host = url.hostname
        self.port = url.port or (443 if url.scheme == "https" else 80)
        self.prefix = url.path.rstrip("/")
        default_port = self.port == (443 if url.scheme == "https" else 80)
        shown_host = f"[{self.host}]" if ":" in self.host else self.host
        self.host_header = shown_host if default_port else f"{shown_host}:{self.port}"
        self.ssl = ssl.create_default_context() if url.scheme == "https" else None
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(max_connections)

    def target(self, path: str, query: str = "") -> str:
        """The request target as sent: the base URL's path prefix, the path, and ``?query`` if any."""
        return f"{self.prefix}{path}?{query}" if query else f"{self.prefix}{path}"

    async def request(self, method: str, target: str, headers: dict[str, str], body: bytes,
                      timeout: float) -> HttpResponse:
        """Send one request; HttpError when no complete answer arrives, TimeoutError after ``timeout``.

        The timeout starts when a connection slot is free: a call waiting for its turn behind a
        burst is not counted against the regulator.
        """
        async with self._slots, asyncio.timeout(timeout):
            return await self._request(method, target, headers, body)

    async def _request(self, method: str, target: str, headers: dict[str, str], body: bytes) -> HttpResponse:
        request = h11.Request(method=method, target=target, headers=[
            ("Host", self.host_header), ("Content-Length", str(len(body))), *headers.items()])
        for _ in range(2):
            conn, reused = await self._connection()
            try:
                response = await conn.exchange(request, body)
            except (HttpError, OSError, h11.ProtocolError) as exc:
                conn.close()
                # A reused connection that the server had closed before reading: the request never
                # reached it, so one retry on a fresh connection is safe.
                if reused and isinstance(exc, _ClosedBeforeAnswer):
                    continue
                raise HttpError(f"{type(exc).__name__}: {exc}") from exc
            except BaseException:
                conn.close()   # cancelled (timeout) mid-exchange: the connection is in an unknown state
                raise
            if conn.recycle():
                self._idle.append(conn)
            else:
                conn.close()
            return response
        raise HttpError("the server closed the connection without an answer")

    async def _connection(self) -> tuple[_Connection, bool]:
        while self._idle:
            conn = self._idle.pop()
            if conn.reusable():
                return conn, True
            conn.close()
        try:
            reader, writer = await asyncio.open_connection(
                self.host, self.port, ssl=self.ssl, server_hostname=self.host if self.ssl else None,
                limit=READ_CHUNK)
        except OSError as exc:
            raise HttpError(f"cannot connect to {self.host}:{self.port} ({exc.strerror or exc})") from exc
        return _Connection(reader, writer), False

    async def close(self) -> None:
        while self._idle:
            self._idle.pop().close()
