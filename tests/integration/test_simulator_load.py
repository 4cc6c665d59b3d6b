"""Under concurrency: no capture lost at 1,000 concurrent requests; the change feed has no gap or
duplicate while status changes arrive over /_sim/ as a platform pages through it."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from conformance import signing
from conformance.simulator.client import SimulatorClient
from conformance.simulator.server import SimulatorServer

SECRET = "load-secret-789"
VERIFY = "/api/v1/verifications"
FEED = "/api/v1/status-changes"


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    with SimulatorServer(seed=41) as srv:
        srv.simulator.register_platform("mall", SECRET)
        yield srv


async def raw_post(host: str, port: int, request: bytes) -> tuple[int, bytes]:
    """One HTTP/1.1 exchange on its own connection. Plain asyncio streams rather than httpx: the point is
    1,000 requests in flight at once, and a light client keeps the test about the server."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(request)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                      if line.lower().startswith(b"content-length:"))
        return status, await reader.readexactly(length)
    finally:
        writer.close()


def test_nothing_lost_at_1000_concurrent_requests(server: SimulatorServer) -> None:
    sim = server.simulator
    numbers = [c["certificateNo"] for c in sim.issue_certificates(50, statuses=["VALID"])]
    merchant = f"m-load-{uuid.uuid4().hex[:6]}"
    count = 1000
    host, port = "127.0.0.1", int(server.url.rpartition(":")[2])
    requests: list[tuple[str, bytes]] = []
    for i in range(count):
        doc = {"requestId": str(uuid.uuid4()), "listingId": f"L-{i}", "merchantId": merchant,
               "certificateNo": numbers[i % len(numbers)], "productCode": "0701", "productName": "冰箱"}
        body = json.dumps(doc, ensure_ascii=False).encode()
        headers = signing.make_headers(SECRET, "POST", VERIFY, body).as_platform("mall")
        head = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        raw = (f"POST {VERIFY} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
               f"Content-Length: {len(body)}\r\nConnection: close\r\n{head}\r\n").encode() + body
        requests.append((doc["requestId"], raw))

    async def fire() -> list[tuple[int, bytes]]:
        return await asyncio.gather(*(raw_post(host, port, raw) for _, raw in requests))

    answers = asyncio.run(fire())
    assert [status for status, _ in answers] == [200] * count
    assert {json.loads(body)["requestId"] for _, body in answers} == {rid for rid, _ in requests}
    captures = sim.captures(route="verifications", match={"merchantId": merchant})
    assert len(captures) == count
    assert {c["body"]["requestId"] for c in captures} == {rid for rid, _ in requests}
    assert all(c["signatureValid"] and c["schemaValid"] and c["response"]["status"] == 200 for c in captures)
    seqs = [c["seq"] for c in captures]
    assert seqs == sorted(seqs) and len(set(seqs)) == count


def test_feed_pages_cleanly_while_statuses_change(server: SimulatorServer) -> None:
    sim = server.simulator
    start = len(sim.events())
    numbers = [c["certificateNo"] for c in sim.issue_certificates(30, statuses=["VALID"])]
    changes_per_writer, writers_count = 40, 3

    def writer(index: int) -> None:
        with SimulatorClient(server.url) as client:
            for i in range(changes_per_writer):
                status = "SUSPENDED" if i % 2 == 0 else "VALID"
                client.set_status(numbers[(index * 11 + i) % len(numbers)], status, push=False)

    writers = [threading.Thread(target=writer, args=(w,)) for w in range(writers_count)]
    for w in writers:
        w.start()
    seen: list[int] = []
    cursor = str(start)
    deadline = time.monotonic() + 30
    with httpx.Client(base_url=server.url, trust_env=False) as platform:
        while time.monotonic() < deadline:
            finished = not any(w.is_alive() for w in writers)
            path = f"{FEED}?after={cursor}&limit=5"
            page = platform.get(path, headers=signing.make_headers(SECRET, "GET", path, b"").as_platform("mall"))
            assert page.status_code == 200, page.text
            events = page.json()["events"]
            seen += [e["sequence"] for e in events]
            cursor = page.json()["nextCursor"]
            if finished and not events:
                break
    total = changes_per_writer * writers_count
    assert seen == list(range(start + 1, start + total + 1))
