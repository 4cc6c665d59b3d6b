"""Signed push of status changes to a platform's notification URL: signatures checked independently
(hmac + hashlib, and a hand-built HMAC-SM3), retries with growing waits against a receiver that fails
then recovers, bounded attempts, ordering per certificate, concurrency of bulk changes, redelivery."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn
from cryptography.hazmat.primitives import hashes

from conformance.simulator.client import SimulatorClient
from conformance.simulator.core import Simulator
from conformance.simulator.push import PushPolicy
from conformance.simulator.server import SimulatorServer, bind_socket, uvicorn_config

SECRET = "push-secret-456"


class Receiver:
    """A platform's notification endpoint on loopback: records every request; answers what it is told."""

    def __init__(self, answer: Callable[[int, dict[str, Any]], int] | None = None, delay: float = 0.0) -> None:
        self.answer = answer or (lambda n, doc: 200)
        self.delay = delay
        self.received: list[dict[str, Any]] = []
        self.in_flight = 0
        self.peak_in_flight = 0        # most requests held open at once: concurrency without a clock
        self._lock = threading.Lock()
        self._sock = bind_socket("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._server = uvicorn.Server(uvicorn_config(self.app))
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)

    async def app(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        qs = scope["query_string"].decode()
        with self._lock:
            n = len(self.received)
            doc = json.loads(body)
            self.received.append({"at": time.monotonic(), "path": scope["raw_path"].decode() + (f"?{qs}" if qs else ""),
                                  "headers": {k.decode(): v.decode() for k, v in scope["headers"]}, "body": body,
                                  "doc": doc})
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        if self.delay:
            await asyncio.sleep(self.delay)
        status = self.answer(n, doc)
        with self._lock:
            self.in_flight -= 1
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    def __enter__(self) -> Receiver:
        self._thread.start()
        deadline = time.monotonic() + 5
        while not self._server.started and time.monotonic() < deadline:
            time.sleep(0.005)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(5)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.01)
        raise AssertionError(f"{len(self.received)} of {count} pushes arrived in {timeout} s")


def wait_pushes(sim: Simulator, count: int, timeout: float = 10.0, **filters: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pushes = sim.pushes(**filters)
        if len(pushes) >= count:
            return pushes
        time.sleep(0.01)
    raise AssertionError(f"{len(sim.pushes(**filters))} of {count} push attempts captured in {timeout} s")


def wait_idle(sim: Simulator, timeout: float = 10.0) -> None:
    """Until no delivery is pending: after that, no further attempt can come."""
    deadline = time.monotonic() + timeout
    while sim.pusher.pending() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not sim.pusher.pending(), "deliveries still pending"


def sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def hmac_sm3(key: bytes, message: bytes) -> str:
    key = key.ljust(64, b"\0")
    return sm3(bytes(k ^ 0x5C for k in key) + sm3(bytes(k ^ 0x36 for k in key) + message)).hex()


def expected_signature(request: dict[str, Any], alg: str = "HMAC-SHA256") -> str:
    h = request["headers"]
    message = "\n".join(["POST", request["path"], h["x-regulator-timestamp"], h["x-regulator-nonce"],
                         hashlib.sha256(request["body"]).hexdigest()]).encode()
    if alg == "HMAC-SM3":
        return hmac_sm3(SECRET.encode(), message)
    return hmac.new(SECRET.encode(), message, hashlib.sha256).hexdigest()


@pytest.fixture
def sim() -> Iterator[Simulator]:
    s = Simulator(seed=31)
    yield s
    s.close()


def test_push_is_signed_over_the_notification_path(sim: Simulator) -> None:
    with Receiver() as receiver:
        sim.register_platform("mall", SECRET, receiver.url + "/ccc/v1/notifications?tenant=a%20b")
        cert = sim.issue_certificate(product_code="0701")
        event = sim.set_status(cert["certificateNo"], "REVOKED", reason="撤销")
        (request,) = receiver.wait_for(1)
    assert request["path"] == "/ccc/v1/notifications?tenant=a%20b"
    assert request["doc"] == event
    assert "x-signature-alg" not in request["headers"]
    assert request["headers"]["x-regulator-signature"] == expected_signature(request)
    (attempt,) = wait_pushes(sim, 1)
    assert (attempt["eventId"], attempt["attempt"], attempt["status"], attempt["accepted"], attempt["error"]) == \
        (event["eventId"], 1, 200, True, None)


def test_push_with_sm3(sim: Simulator) -> None:
    with Receiver() as receiver:
        sim.register_platform("mall", SECRET, receiver.url + "/notify", signature_alg="HMAC-SM3")
        cert = sim.issue_certificate(product_code="0701")
        sim.set_status(cert["certificateNo"], "SUSPENDED")
        (request,) = receiver.wait_for(1)
    assert request["headers"]["x-signature-alg"] == "HMAC-SM3"
    assert request["headers"]["x-regulator-signature"] == expected_signature(request, "HMAC-SM3")


def test_retries_with_backoff_until_the_platform_recovers(sim: Simulator) -> None:
    with Receiver(answer=lambda n, doc: 503 if n < 3 else 200) as receiver:
        sim.register_platform("mall", SECRET, receiver.url + "/notify")
        cert = sim.issue_certificate(product_code="0701")
        event = sim.set_status(cert["certificateNo"], "REVOKED")
        arrivals = receiver.wait_for(4)
        attempts = wait_pushes(sim, 4, event_id=event["eventId"])
    assert [a["attempt"] for a in attempts] == [1, 2, 3, 4]
    assert [a["status"] for a in attempts] == [503, 503, 503, 200]
    assert [a["accepted"] for a in attempts] == [False, False, False, True]
    assert [a["nextRetrySeconds"] for a in attempts] == [0.2, 0.4, 0.8, None]
    gaps = [b["at"] - a["at"] for a, b in itertools.pairwise(arrivals)]
    for gap, wait in zip(gaps, (0.2, 0.4, 0.8), strict=True):
        assert wait - 0.02 <= gap < wait + 1.0, gaps
    assert len({a["headers"]["x-regulator-nonce"] for a in arrivals}) == 4  # each attempt signed afresh
    assert all(a["doc"] == event for a in arrivals)
    wait_idle(sim)
    assert len(receiver.received) == 4  # accepted: no more attempts


def test_attempts_are_bounded_when_nobody_answers() -> None:
    sock = bind_socket("127.0.0.1", 0)  # a port nobody serves once closed: connection refused
    port = sock.getsockname()[1]
    sock.close()
    sim = Simulator(push_policy=PushPolicy(initial_backoff=0.01, max_backoff=0.02, max_attempts=3, timeout=1.0))
    try:
        sim.register_platform("mall", SECRET, f"http://127.0.0.1:{port}/notify")
        cert = sim.issue_certificate(product_code="0701")
        sim.set_status(cert["certificateNo"], "REVOKED")
        wait_pushes(sim, 3)
        wait_idle(sim)
        attempts = sim.pushes()
    finally:
        sim.close()
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert all(a["status"] is None and a["error"] and not a["accepted"] for a in attempts)


def test_one_certificate_in_sequence_order_even_across_retries(sim: Simulator) -> None:
    with Receiver(answer=lambda n, doc: 503 if n == 0 else 200) as receiver:
        sim.register_platform("mall", SECRET, receiver.url + "/notify")
        cert = sim.issue_certificate(product_code="0701")
        suspended = sim.set_status(cert["certificateNo"], "SUSPENDED")
        lifted = sim.set_status(cert["certificateNo"], "VALID")
        arrivals = receiver.wait_for(3)
    assert [a["doc"]["eventId"] for a in arrivals] == [suspended["eventId"], suspended["eventId"], lifted["eventId"]]


def test_bulk_change_pushes_concurrently(sim: Simulator) -> None:
    # Concurrency is shown by what the receiver saw — several pushes held open at the same moment —
    # not by a wall-clock bound, which a busy CI machine breaks (a serial pusher peaks at 1).
    count, delay = 60, 0.5
    with Receiver(delay=delay) as receiver:
        sim.register_platform("mall", SECRET, receiver.url + "/notify")
        certs = sim.issue_certificates(count, statuses=["VALID"])
        events = sim.set_statuses([(c["certificateNo"], "REVOKED") for c in certs], reason="批量撤销")
        arrivals = receiver.wait_for(count, timeout=30.0)
        wait_pushes(sim, count)
    assert len(arrivals) == count
    assert receiver.peak_in_flight >= 8, f"at most {receiver.peak_in_flight} pushes open at once: not concurrent"
    assert {a["doc"]["eventId"] for a in arrivals} == {e["eventId"] for e in events}


def test_redeliver_in_the_given_order(sim: Simulator) -> None:
    with Receiver() as receiver:
        sim.register_platform("mall", SECRET, receiver.url + "/notify")
        cert = sim.issue_certificate(product_code="0701")
        e1 = sim.set_status(cert["certificateNo"], "SUSPENDED", push=False)
        e2 = sim.set_status(cert["certificateNo"], "VALID", push=False)
        e3 = sim.set_status(cert["certificateNo"], "REVOKED", push=False)
        attempts = sim.redeliver([e3["eventId"], e1["eventId"], e2["eventId"], e1["eventId"]])
        arrivals = receiver.wait_for(4)
    order = [e3["eventId"], e1["eventId"], e2["eventId"], e1["eventId"]]
    assert [a["doc"]["eventId"] for a in arrivals] == order
    assert [a["eventId"] for a in attempts] == order
    assert all(a["redelivery"] and a["accepted"] for a in attempts)


def test_set_status_and_redeliver_over_http() -> None:
    with Receiver() as receiver, SimulatorServer() as server, SimulatorClient(server.url) as client:
        client.register_platform("mall", SECRET, receiver.url + "/notify")
        cert = client.issue_certificate(product_code="0701")
        event = client.set_status(cert["certificateNo"], "CANCELLED", reason="注销")
        receiver.wait_for(1)
        attempts = client.redeliver([event["eventId"], event["eventId"]])
        arrivals = receiver.wait_for(3)
        deadline = time.monotonic() + 5
        while len(client.pushes(certificate_no=cert["certificateNo"])) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        pushes = client.pushes(certificate_no=cert["certificateNo"])
    assert [a["doc"]["eventId"] for a in arrivals] == [event["eventId"]] * 3
    assert [a["redelivery"] for a in attempts] == [True, True]
    assert [p["redelivery"] for p in pushes] == [False, True, True]
    assert SECRET not in json.dumps(pushes)
