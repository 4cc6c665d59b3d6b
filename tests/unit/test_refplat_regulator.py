"""The platform's regulator client: what counts as a usable answer (RES-03, RES-05), the 429 pause
(RES-04), and its small HTTP/1.1 client against a loopback server that misbehaves on purpose."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from reference_platform.__main__ import parser, settings_from
from reference_platform.http_client import HttpClient, HttpError
from reference_platform.regulator import AnswerKind, CallResult, RegulatorClient

NUMBER = "2021010701123456"


def regulator(tmp_path: Path, url: str = "http://127.0.0.1:9", *faults: str) -> RegulatorClient:
    args = parser().parse_args(["--regulator-url", url, "--platform-id", "p", "--platform-secret", "s",
                                *[a for f in faults for a in ("--fault", f)]])
    return RegulatorClient(settings_from(args, tmp_path / "platform.db"))


REQUEST = {"requestId": str(uuid.uuid4()), "listingId": "L", "merchantId": "m", "certificateNo": NUMBER,
           "productCode": "0701", "productName": "冰箱"}
RECORD = {"certificateNo": NUMBER, "status": "VALID", "statusChangedAt": "2021-01-01T00:00:00+08:00",
          "productCode": "0701", "productName": "冰箱", "models": ["BCD-215"], "brand": "海尔", "applicant": "a",
          "manufacturer": "b", "factory": "c", "certificationBody": "中国质量认证中心", "issueDate": "2021-01-01",
          "expiryDate": "2026-01-01"}


def ok(**changes: Any) -> dict[str, Any]:
    return {"code": "OK", "message": "found", "requestId": REQUEST["requestId"], "certificate": {**RECORD, **changes}}


@pytest.mark.parametrize(("status", "payload", "kind"), [
    (200, ok(), AnswerKind.OK),
    (200, {"code": "NOT_FOUND", "message": "", "requestId": REQUEST["requestId"], "certificate": None},
     AnswerKind.NOT_FOUND),
    (200, ok(status="FROZEN"), AnswerKind.UNKNOWN_STATUS),
    (200, ok(status="PROVISIONAL_2"), AnswerKind.UNKNOWN_STATUS),       # well-formed: open-ended codes
    (200, ok(status="frozen"), AnswerKind.UNAVAILABLE),                # malformed status: schema-invalid
    (200, ok(status="X" * 33), AnswerKind.UNAVAILABLE),
    (None, None, AnswerKind.UNAVAILABLE),                              # timeout, refused, reset
    (503, {"code": "UNAVAILABLE", "message": "down"}, AnswerKind.UNAVAILABLE),
    (429, {"code": "RATE_LIMITED", "message": "slow down"}, AnswerKind.UNAVAILABLE),
    (401, {"code": "AUTH_FAILED", "message": "bad signature"}, AnswerKind.UNAVAILABLE),
    (200, None, AnswerKind.UNAVAILABLE),                               # not JSON
    (200, [ok()], AnswerKind.UNAVAILABLE),
    (200, {**ok(), "certificate": None}, AnswerKind.UNAVAILABLE),      # OK without the record
    (200, ok(models=[]), AnswerKind.UNAVAILABLE),                      # schema-invalid record
    (200, ok(expiryDate="2026-02-30"), AnswerKind.UNAVAILABLE),
    (200, ok(status="FROZEN", models=[]), AnswerKind.UNAVAILABLE),     # unknown status and malformed
    (200, ok(status=5), AnswerKind.UNAVAILABLE),
    (200, {**ok(), "requestId": str(uuid.uuid4())}, AnswerKind.UNAVAILABLE),   # requestId not echoed
    (200, ok(certificateNo="2021010701999999"), AnswerKind.UNAVAILABLE),         # another certificate
    (200, {"code": "NOT_FOUND", "message": "", "requestId": str(uuid.uuid4()), "certificate": None},
     AnswerKind.UNAVAILABLE),
])
def test_answer_classification(tmp_path: Path, status: int | None, payload: Any, kind: AnswerKind) -> None:
    found, certificate, detail = regulator(tmp_path).classify(CallResult(status, payload, None, ""), REQUEST)
    assert found is kind, detail
    assert (certificate is not None) == (kind in (AnswerKind.OK, AnswerKind.UNKNOWN_STATUS))


# -- against a loopback server -------------------------------------------------------------------------
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


async def _serve(handler: Handler) -> tuple[asyncio.Server, str, list[int]]:
    connections: list[int] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(1)
        try:
            await handler(reader, writer, len(connections))
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}", connections


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)
    return head + (await reader.readexactly(length) if length else b"")


def _response(status: int, body: bytes, extra: str = "") -> bytes:
    return f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() \
        + body


def test_keep_alive_reuses_the_connection() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _n: int) -> None:
        with pytest.raises(asyncio.IncompleteReadError):
            while True:
                await _read_request(reader)
                writer.write(_response(200, b"{}"))

    async def run() -> list[int]:
        server, url, connections = await _serve(handler)
        client = HttpClient(url, 4)
        for _ in range(5):
            assert (await client.request("GET", "/x", {}, b"", 2.0)).status == 200
        await client.close()
        server.close()
        return connections

    assert len(asyncio.run(run())) == 1


def test_a_connection_the_server_closed_is_replaced_transparently() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _n: int) -> None:
        await _read_request(reader)
        writer.write(_response(200, b"{}"))   # and close: no keep-alive, without saying so

    async def run() -> list[int]:
        server, url, connections = await _serve(handler)
        client = HttpClient(url, 4)
        for _ in range(3):
            assert (await client.request("POST", "/x", {}, b"{}", 2.0)).status == 200
        server.close()
        return connections

    assert len(asyncio.run(run())) == 3


def test_timeout_and_truncated_answers() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await _read_request(reader)
        if n == 1:
            await asyncio.sleep(5)                                   # hang
        else:
            writer.write(_response(200, b'{"code":"OK"}')[:-5])      # promise more than is sent
            await writer.drain()

    async def run() -> None:
        server, url, _ = await _serve(handler)
        client = HttpClient(url, 4)
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await client.request("GET", "/x", {}, b"", 0.3)
        assert time.monotonic() - started < 1.5
        with pytest.raises(HttpError):
            await client.request("GET", "/x", {}, b"", 2.0)
        server.close()

    asyncio.run(run())


def test_chunked_answers_and_a_path_prefix() -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _n: int) -> None:
        seen.append(await _read_request(reader))
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")

    async def run() -> bytes:
        server, url, _ = await _serve(handler)
        client = HttpClient(url + "/regulator/", 1)
        response = await client.request("GET", client.target("/api/v1/status-changes", "limit=5"), {}, b"", 2.0)
        server.close()
        return response.body

    assert asyncio.run(run()) == b"{}"
    assert seen[0].startswith(b"GET /regulator/api/v1/status-changes?limit=5 HTTP/1.1\r\n")


def test_a_429_pauses_every_call_for_retry_after(tmp_path: Path) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _n: int) -> None:
        await _read_request(reader)
        writer.write(_response(429, b'{"code":"RATE_LIMITED","message":""}', "Retry-After: 1\r\n"))

    async def run(*faults: str) -> tuple[float, float]:
        server, url, _ = await _serve(handler)
        client = regulator(tmp_path, url, *faults)
        answer = await client.verify(dict(REQUEST))
        paused = client.paused_for
        started = time.monotonic()
        await client.status_changes(None, 10)   # waits for the pause first
        server.close()
        assert answer.kind is AnswerKind.UNAVAILABLE
        return paused, time.monotonic() - started

    paused, waited = asyncio.run(run())
    assert 0.5 < paused <= 1.0 and waited >= 0.5
    paused, waited = asyncio.run(run("no-retry-after"))
    assert paused == 0.0 and waited < 0.5


def test_calls_are_signed_with_the_path_as_sent(tmp_path: Path) -> None:
    seen: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _n: int) -> None:
        seen.append(await _read_request(reader))
        writer.write(_response(200, b'{"events":[],"nextCursor":"c"}'))

    async def run() -> None:
        server, url, _ = await _serve(handler)
        await regulator(tmp_path, url).status_changes("a b", 10)
        server.close()

    asyncio.run(run())
    from conformance import signing as harness  # an independent implementation checks the signature

    head = seen[0].decode()
    target = head.split(" ")[1]
    headers = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
    assert target == "/api/v1/status-changes?after=a+b&limit=10"
    assert harness.verify("s", headers["X-Signature"], "GET", target, headers["X-Timestamp"], headers["X-Nonce"], b"")
    assert harness.parse_rfc3339(headers["X-Timestamp"]) is not None


def test_nan_and_infinity_are_not_json(tmp_path: Path) -> None:
    # jsonschema-rs reads NaN as null: such an answer must never reach the schema check.
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, _n: int) -> None:
        await _read_request(reader)
        writer.write(_response(200, b'{"events":[],"nextCursor":NaN}'))

    async def run() -> CallResult:
        server, url, _ = await _serve(handler)
        try:
            return await regulator(tmp_path, url).status_changes(None, 10)
        finally:
            server.close()

    result = asyncio.run(run())
    assert result.status == 200 and result.payload is None and result.detail == "body is not JSON"
