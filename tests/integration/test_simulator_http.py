"""The simulator served for real: SimulatorServer, the /_sim/ control over HTTP (SimulatorClient), and
every fault kind as a plain httpx client sees it on the wire. Loopback only."""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance import signing
from conformance.simulator.client import SimulatorClient
from conformance.simulator.control import FAULT_KINDS
from conformance.simulator.server import SimulatorServer
from conformance.specs import Specs

SECRET = "mall-secret-123"
VERIFY = "/api/v1/verifications"
FEED = "/api/v1/status-changes"


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    with SimulatorServer(seed=21) as srv:
        yield srv


@pytest.fixture(scope="module")
def client(server: SimulatorServer) -> Iterator[SimulatorClient]:
    with SimulatorClient(server.url) as c:
        c.register_platform("mall", SECRET)
        yield c


def verify(url: str, certificate_no: str, merchant: str, timeout: float = 5.0) -> httpx.Response:
    doc = {"requestId": str(uuid.uuid4()), "listingId": f"L-{merchant}", "merchantId": merchant,
           "certificateNo": certificate_no, "productCode": "0701", "productName": "冰箱"}
    body = json.dumps(doc, ensure_ascii=False).encode()
    headers = signing.make_headers(SECRET, "POST", VERIFY, body).as_platform("mall")
    return httpx.post(url + VERIFY, content=body, headers={**headers, "Content-Type": "application/json"},
                      timeout=timeout, trust_env=False)


def test_server_binds_loopback_and_stops(server: SimulatorServer) -> None:
    assert server.url.startswith("http://127.0.0.1:")
    assert server.simulator.base_url == server.url
    assert httpx.get(server.url + "/_sim/health", trust_env=False).json() == {"status": "ok"}


def test_client_does_what_the_simulator_does(server: SimulatorServer, client: SimulatorClient, specs: Specs) -> None:
    assert client.base_url == server.url
    cert = client.issue_certificate(product_code="0703", models=["KFR-35GW/A1"], brand="凯瑞")
    assert specs.errors("certificate", cert) == []
    assert client.get_certificate(cert["certificateNo"]) == cert == server.simulator.get_certificate(cert["certificateNo"])
    assert client.get_certificate("2000010701000001") is None
    updated = client.update_certificate(cert["certificateNo"], expiryDate="2020-01-01")
    assert updated["expiryDate"] == "2020-01-01"
    event = client.set_status(cert["certificateNo"], "SUSPENDED", reason="抽查", push=False)
    assert specs.errors("status-change-event", event) == []
    assert client.events(cert["certificateNo"]) == [event]
    others = client.issue_certificates(3, statuses=["VALID"], product_codes=["0714"])
    bulk = client.set_statuses([(c["certificateNo"], "REVOKED") for c in others], push=False)
    assert [e["sequence"] for e in bulk] == [event["sequence"] + i for i in (1, 2, 3)]
    with pytest.raises(ValueError, match="status"):
        client.set_status(cert["certificateNo"], "gone")
    with pytest.raises(KeyError):
        client.set_status("2000010701000001", "REVOKED")
    with pytest.raises(ValueError, match="fault kind"):
        client.add_fault("explode")
    with pytest.raises(ValueError, match="no notification URL"):
        client.redeliver([event["eventId"]])
    with pytest.raises(KeyError):
        client.redeliver([str(uuid.uuid4())])


def test_faults_and_captures_over_http(server: SimulatorServer, client: SimulatorClient) -> None:
    cert = client.issue_certificate(product_code="0701")
    fault_id = client.add_fault("http-error", match={"merchantId": "m-http"}, params={"status": 500}, ttl_seconds=60)
    assert [f["faultId"] for f in client.list_faults()] == [fault_id]
    assert verify(server.url, cert["certificateNo"], "m-http").status_code == 500
    client.remove_fault(fault_id)
    assert verify(server.url, cert["certificateNo"], "m-http").status_code == 200
    caps = client.captures(route="verifications", match={"merchantId": "m-http"})
    assert [(c["fault"], c["response"]["status"]) for c in caps] == [("http-error", 500), (None, 200)]
    assert client.captures(match={"merchantId": "m-http"}, after=caps[0]["seq"]) == caps[1:]
    client.add_fault("reset", match={"merchantId": "m-other"})
    client.clear_faults()
    assert client.list_faults() == []


def test_captures_export_is_json_lines(server: SimulatorServer, client: SimulatorClient, tmp_path: Path) -> None:
    cert = client.issue_certificate(product_code="0701")
    verify(server.url, cert["certificateNo"], "m-export")
    response = httpx.get(server.url + "/_sim/captures/export", trust_env=False)
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert lines and all(line["kind"] in ("request", "push") for line in lines)
    assert [line["seq"] for line in lines] == sorted(line["seq"] for line in lines)
    assert any(line.get("body", {}).get("merchantId") == "m-export" for line in lines if line["kind"] == "request")
    assert SECRET not in response.text
    count = client.export_captures(tmp_path / "via-client.jsonl")
    assert count >= len(lines)
    assert server.simulator.export_captures(tmp_path / "in-process.jsonl") >= count


def test_unknown_control_route(server: SimulatorServer) -> None:
    response = httpx.get(server.url + "/_sim/nothing", trust_env=False)
    assert response.status_code == 404
    assert "README" in response.json()["message"]


# -- every fault kind, on the wire --------------------------------------------------------------------
EXPECTED: dict[str, Any] = {
    "latency": {"params": {"seconds": 0.3}},
    "hang": {"params": {"seconds": 10}},
    "http-error": {"params": {"status": 503}},
    "reset": {},
    "malformed-json": {},
    "schema-invalid": {},
    "unknown-status": {},
    "wrong-request-id": {},
    "wrong-certificate": {},
    "rate-limited": {"params": {"retryAfterSeconds": 2}},
    "rate-limit": {"params": {"perSecond": 0.5, "burst": 1}},
    "mutated-answer": {"params": {"op": "remove", "path": "/certificate/status"}},
}


def test_expected_table_covers_every_kind() -> None:
    assert set(EXPECTED) == set(FAULT_KINDS)


def _rate_limited_twice(server: SimulatorServer, client: SimulatorClient, number: str, merchant: str) -> None:
    # perSecond 0.5, burst 1: the first request takes the token; the next one is refused with the whole
    # seconds until a token is back — 2 s after the first, less the time between the two requests,
    # which on a busy machine can pass 1 s, so the expected value is bounded by the measured gap.
    before_first = time.monotonic()
    first = verify(server.url, number, merchant)
    after_first = time.monotonic()
    second = verify(server.url, number, merchant)
    after_second = time.monotonic()
    assert first.status_code == 200 and second.status_code == 429
    shortest, longest = 0.0, after_second - before_first  # bounds on the time between the two arrivals
    allowed = range(max(1, math.ceil(2 - longest)), max(1, math.ceil(2 - shortest)) + 1)
    assert int(second.headers["retry-after"]) in allowed, (second.headers["retry-after"], list(allowed),
                                                           after_first - before_first)
    assert [c["fault"] for c in client.captures(match={"merchantId": merchant})] == [None, "rate-limit"]


@pytest.mark.parametrize("kind", FAULT_KINDS)
def test_fault_kind_on_the_wire(server: SimulatorServer, client: SimulatorClient, specs: Specs, kind: str) -> None:
    cert = client.issue_certificate(product_code="0701")
    merchant = f"m-{kind}-{uuid.uuid4().hex[:6]}"
    client.add_fault(kind, match={"merchantId": merchant}, ttl_seconds=60, **EXPECTED[kind])
    control = verify(server.url, cert["certificateNo"], f"{merchant}-control")
    assert control.status_code == 200 and control.json()["code"] == "OK"  # other merchants are untouched
    started = time.monotonic()
    if kind == "rate-limit":  # the first request takes the one token, the second is refused
        _rate_limited_twice(server, client, cert["certificateNo"], merchant)
        return
    if kind in ("reset", "hang"):
        with pytest.raises((httpx.RemoteProtocolError, httpx.ReadTimeout, httpx.ReadError)):
            verify(server.url, cert["certificateNo"], merchant, timeout=1.0)
        if kind == "hang":
            assert time.monotonic() - started >= 0.9
        captured = client.captures(match={"merchantId": merchant})
        assert [(c["fault"], c["response"]["status"]) for c in captured] == [(kind, None)]
        return
    response = verify(server.url, cert["certificateNo"], merchant)
    elapsed = time.monotonic() - started
    captured = client.captures(match={"merchantId": merchant})
    assert captured[-1]["fault"] == kind
    if kind == "latency":
        assert response.status_code == 200 and elapsed >= 0.3
    elif kind == "http-error":
        assert response.status_code == 503 and response.json()["code"] == "UNAVAILABLE"
    elif kind == "rate-limited":
        assert (response.status_code, response.headers["retry-after"], response.json()["code"]) == \
            (429, "2", "RATE_LIMITED")
    elif kind == "malformed-json":
        assert response.status_code == 200
        with pytest.raises(ValueError):
            response.json()
    elif kind == "schema-invalid":
        assert response.status_code == 200 and specs.errors("verification-answer", response.json())
    else:
        answer = response.json()
        assert response.status_code == 200
        sent = captured[-1]["body"]
        if kind == "unknown-status":
            assert answer["certificate"]["status"] not in specs.codes("certificateStatus")
        elif kind == "mutated-answer":
            # The real answer (its requestId echoed) without the one member removed.
            assert answer["requestId"] == sent["requestId"] and "status" not in answer["certificate"]
            assert specs.errors("verification-answer", answer)
        else:
            assert specs.errors("verification-answer", answer) == []
        if kind == "wrong-request-id":
            assert answer["requestId"] != sent["requestId"]
        if kind == "wrong-certificate":
            assert answer["certificate"]["certificateNo"] != sent["certificateNo"]


def test_flapping_fault_over_http(server: SimulatorServer, client: SimulatorClient) -> None:
    cert = client.issue_certificate(product_code="0701")
    merchant = f"m-flap-{uuid.uuid4().hex[:6]}"
    client.add_fault("http-error", match={"merchantId": merchant}, schedule={"downSeconds": 0.4, "upSeconds": 0.4},
                     ttl_seconds=30)
    statuses: set[int] = set()
    deadline = time.monotonic() + 5
    while statuses != {200, 503} and time.monotonic() < deadline:
        statuses.add(verify(server.url, cert["certificateNo"], merchant).status_code)
    assert statuses == {200, 503}


def test_stop_is_prompt_with_a_hang_pending() -> None:
    import threading

    srv = SimulatorServer().start()
    srv.simulator.register_platform("mall", SECRET)
    cert = srv.simulator.issue_certificate(product_code="0701")
    srv.simulator.add_fault("hang", params={"seconds": 30})
    outcome: list[BaseException] = []

    def call_and_hang() -> None:
        try:
            verify(srv.url, cert["certificateNo"], "m", 30.0)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call_and_hang)
    caller.start()
    deadline = time.monotonic() + 5
    while not srv.simulator.captures() and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    srv.stop()
    assert time.monotonic() - started < 3.0
    caller.join(5)
    assert not caller.is_alive()
    assert outcome, "the hanging request got an answer"
