"""Fault injection in-process: argument checks, matching, precedence, schedule, TTL, and answer shapes.

Faults seen from a real HTTP client (reset, hang, latency…) are in tests/integration/test_simulator_http.py.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest

from conformance import signing
from conformance.simulator.control import FAULT_KINDS
from conformance.simulator.core import Simulator
from conformance.simulator.faults import FaultBook
from conformance.specs import Specs
from tests.unit.simulator_support import DISPOSE, FEED, SECRET, VERIFY, call


def post(sim: Simulator, path: str, doc: dict[str, Any], platform: str = "mall") -> httpx.Response:
    body = json.dumps(doc, ensure_ascii=False).encode()
    headers = signing.make_headers(SECRET, "POST", path, body).as_platform(platform)
    return call(sim, "POST", path, body, {**headers, "Content-Type": "application/json"})


def get(sim: Simulator, path: str) -> httpx.Response:
    return call(sim, "GET", path, headers=signing.make_headers(SECRET, "GET", path, b"").as_platform("mall"))


def verify_doc(certificate_no: str, merchant: str = "M-1", listing: str = "L-1") -> dict[str, Any]:
    return {"requestId": str(uuid.uuid4()), "listingId": listing, "merchantId": merchant,
            "certificateNo": certificate_no, "productCode": "0701", "productName": "冰箱"}


def disposition_doc(merchant: str = "M-1") -> dict[str, Any]:
    return {"dispositionId": str(uuid.uuid4()), "listingId": "L-1", "merchantId": merchant,
            "certificateNo": "2021010701123456", "action": "TAKEN_DOWN", "reasonCode": "CERT_REVOKED",
            "decidedAt": signing.now_rfc3339(), "eventId": str(uuid.uuid4())}


@pytest.fixture
def sim() -> Simulator:
    s = Simulator(seed=8)
    s.register_platform("mall", SECRET)
    s.register_platform("other", SECRET)
    return s


@pytest.fixture
def cert(sim: Simulator) -> dict[str, Any]:
    return sim.issue_certificate(product_code="0701")


# -- arguments ------------------------------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "says"), [
    ({"kind": "explode"}, "fault kind"),
    ({"kind": "reset", "route": "listings"}, "route"),
    ({"kind": "reset", "match": {"sku": "1"}}, "match key"),
    ({"kind": "reset", "match": {"merchantId": 1}}, "must be a string"),
    ({"kind": "reset", "route": "status-changes", "match": {"merchantId": "m"}}, "no body"),
    ({"kind": "latency", "params": {"delay": 1}}, "unknown params"),
    ({"kind": "latency", "params": {"seconds": -1}}, "params.seconds"),
    ({"kind": "http-error", "params": {"status": 502}}, "params.status"),
    ({"kind": "unknown-status", "params": {"status": "VALID"}}, "outside"),
    ({"kind": "unknown-status", "params": {"status": "under review"}}, "well-formed"),
    ({"kind": "rate-limited", "params": {"retryAfterSeconds": 1.5}}, "retryAfterSeconds"),
    ({"kind": "rate-limit", "params": {"perSecond": 0}}, "perSecond"),
    ({"kind": "wrong-certificate", "route": "dispositions"}, "does not apply"),
    ({"kind": "reset", "probability": 0}, "probability"),
    ({"kind": "reset", "schedule": {"downSeconds": 1}}, "schedule"),
    ({"kind": "reset", "ttl_seconds": 0}, "ttl_seconds"),
])
def test_add_fault_refuses_bad_arguments(sim: Simulator, kwargs: dict[str, Any], says: str) -> None:
    kind = kwargs.pop("kind")
    with pytest.raises(ValueError, match=says):
        sim.add_fault(kind, **kwargs)
    assert sim.list_faults() == []


def test_every_documented_kind_can_be_added(sim: Simulator) -> None:
    ids = {sim.add_fault(kind, match={"merchantId": "nobody"}) for kind in FAULT_KINDS}
    assert len(ids) == len(FAULT_KINDS)
    assert {f["kind"] for f in sim.list_faults()} == set(FAULT_KINDS)
    sim.remove_fault(next(iter(ids)))
    assert len(sim.list_faults()) == len(FAULT_KINDS) - 1
    sim.remove_fault("no-such-fault")  # already gone: not an error
    sim.clear_faults()
    assert sim.list_faults() == []


# -- matching -------------------------------------------------------------------------------------
def test_match_scopes_the_fault(sim: Simulator, cert: dict[str, Any]) -> None:
    sim.add_fault("http-error", match={"merchantId": "M-faulty"})
    number = cert["certificateNo"]
    assert post(sim, VERIFY, verify_doc(number, merchant="M-faulty")).status_code == 503
    assert post(sim, VERIFY, verify_doc(number, merchant="M-fine")).status_code == 200
    sim.add_fault("http-error", params={"status": 500}, match={"certificateNo": number, "listingId": "L-9"})
    assert post(sim, VERIFY, verify_doc(number, listing="L-9")).status_code == 500
    assert post(sim, VERIFY, verify_doc(number, listing="L-8")).status_code == 200
    faults = [c["fault"] for c in sim.captures()]
    assert faults == ["http-error", None, "http-error", None]


def test_platform_match_and_route_scope(sim: Simulator, cert: dict[str, Any]) -> None:
    sim.add_fault("rate-limited", route="status-changes", match={"platformId": "other"})
    assert get(sim, FEED).status_code == 200
    body = b""
    headers = signing.make_headers(SECRET, "GET", FEED, body).as_platform("other")
    limited = call(sim, "GET", FEED, body, headers)
    assert (limited.status_code, limited.headers["retry-after"]) == (429, "1")
    assert post(sim, VERIFY, verify_doc(cert["certificateNo"]), platform="other").status_code == 200


def test_star_route_applies_where_the_kind_applies(sim: Simulator, cert: dict[str, Any]) -> None:
    sim.add_fault("wrong-certificate", route="*")
    answer = post(sim, VERIFY, verify_doc(cert["certificateNo"])).json()
    assert answer["certificate"]["certificateNo"] != cert["certificateNo"]
    assert post(sim, DISPOSE, disposition_doc()).status_code == 202  # not a disposition fault
    sim.clear_faults()
    sim.add_fault("http-error", route="*", match={"merchantId": "M-1"})
    assert post(sim, VERIFY, verify_doc(cert["certificateNo"])).status_code == 503
    assert post(sim, DISPOSE, disposition_doc()).status_code == 503
    assert get(sim, FEED).status_code == 200  # a feed request has no merchantId


def test_matched_fault_wins_over_route_wide(sim: Simulator, cert: dict[str, Any]) -> None:
    sim.add_fault("http-error", params={"status": 500})
    sim.add_fault("rate-limited", match={"merchantId": "M-1"})
    assert post(sim, VERIFY, verify_doc(cert["certificateNo"])).status_code == 429
    assert post(sim, VERIFY, verify_doc(cert["certificateNo"], merchant="M-2")).status_code == 500


def test_ttl_removes_the_fault(sim: Simulator, cert: dict[str, Any]) -> None:
    sim.add_fault("http-error", ttl_seconds=0.05)
    assert post(sim, VERIFY, verify_doc(cert["certificateNo"])).status_code == 503
    deadline = time.monotonic() + 5
    while sim.list_faults() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sim.list_faults() == []
    assert post(sim, VERIFY, verify_doc(cert["certificateNo"])).status_code == 200


def test_schedule_flaps_down_first(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr("conformance.simulator.faults.time.monotonic", lambda: clock[0])
    book = FaultBook(("verifications", "status-changes", "dispositions"), ("VALID",))
    book.add("http-error", schedule={"downSeconds": 2, "upSeconds": 3})
    seen = []
    for t in [0, 1, 1.99, 2, 4.99, 5, 6.5, 7.5]:
        clock[0] = 1000.0 + t
        seen.append(book.pick("verifications", {}, "mall") is not None)
    assert seen == [True, True, True, False, False, True, True, False]


def test_probability_applies_to_a_share(sim: Simulator) -> None:
    book = FaultBook(("verifications",), ("VALID",))
    book.add("http-error", probability=0.3)
    hits = sum(book.pick("verifications", {}, "mall") is not None for _ in range(4000))
    assert 1000 < hits < 1400


def test_rate_limit_token_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [50.0]
    monkeypatch.setattr("conformance.simulator.faults.time.monotonic", lambda: clock[0])
    book = FaultBook(("verifications",), ("VALID",))
    book.add("rate-limit", params={"perSecond": 2, "burst": 2})
    assert [book.pick("verifications", {}, "p") for _ in range(2)] == [None, None]  # the burst
    refused = book.pick("verifications", {}, "p")
    assert refused is not None and refused.retry_after == 1
    clock[0] += 0.5  # one token back
    assert book.pick("verifications", {}, "p") is None
    assert book.pick("verifications", {}, "p") is not None


# -- answer shapes --------------------------------------------------------------------------------
def test_schema_invalid_answers_break_their_schemas(sim: Simulator, cert: dict[str, Any], specs: Specs) -> None:
    sim.add_fault("schema-invalid", route="*")
    verification = post(sim, VERIFY, verify_doc(cert["certificateNo"]))
    assert verification.status_code == 200
    assert specs.errors("verification-answer", verification.json())
    sim.set_status(cert["certificateNo"], "SUSPENDED", push=False)
    page = get(sim, FEED)
    assert page.status_code == 200 and specs.errors("change-feed-page", page.json())
    disposition = post(sim, DISPOSE, disposition_doc())
    assert disposition.status_code == 200 and specs.errors("regulator-answer", disposition.json())
    assert sim.dispositions() == []  # answered by the fault, not processed


def test_malformed_json_is_not_json(sim: Simulator, cert: dict[str, Any]) -> None:
    sim.add_fault("malformed-json", route="*")
    for response in (post(sim, VERIFY, verify_doc(cert["certificateNo"])), get(sim, FEED),
                     post(sim, DISPOSE, disposition_doc())):
        assert response.status_code == 200
        with pytest.raises(ValueError):
            json.loads(response.content)


def test_unknown_status_in_answer_and_feed(sim: Simulator, cert: dict[str, Any], specs: Specs) -> None:
    sim.add_fault("unknown-status", route="*", params={"status": "ANNULLED"})
    answer = post(sim, VERIFY, verify_doc(cert["certificateNo"])).json()
    assert (answer["code"], answer["certificate"]["status"]) == ("OK", "ANNULLED")
    sim.set_status(cert["certificateNo"], "SUSPENDED", push=False)
    events = get(sim, FEED).json()["events"]
    assert [e["status"] for e in events] == ["ANNULLED"]
    assert sim.get_certificate(cert["certificateNo"])["status"] == "SUSPENDED"  # the registry is untouched


def test_wrong_request_id_and_wrong_certificate_are_otherwise_valid(sim: Simulator, cert: dict[str, Any],
                                                                   specs: Specs) -> None:
    doc = verify_doc(cert["certificateNo"])
    sim.add_fault("wrong-request-id", match={"listingId": "L-1"})
    answer = post(sim, VERIFY, doc).json()
    assert specs.errors("verification-answer", answer) == []
    assert answer["requestId"] != doc["requestId"]
    sim.clear_faults()
    sim.add_fault("wrong-certificate", match={"listingId": "L-1"})
    answer = post(sim, VERIFY, verify_doc(cert["certificateNo"])).json()
    assert specs.errors("verification-answer", answer) == []
    assert answer["certificate"]["certificateNo"] != cert["certificateNo"]


def test_latency_delays_the_real_answer(sim: Simulator, cert: dict[str, Any]) -> None:
    sim.add_fault("latency", params={"seconds": 0.2, "jitterSeconds": 0.05})
    started = time.monotonic()
    response = post(sim, VERIFY, verify_doc(cert["certificateNo"]))
    elapsed = time.monotonic() - started
    assert response.status_code == 200 and response.json()["code"] == "OK"
    assert 0.2 <= elapsed < 2.0
    assert sim.captures()[-1]["fault"] == "latency"


def test_rate_limited_answer_has_retry_after(sim: Simulator, cert: dict[str, Any], specs: Specs) -> None:
    sim.add_fault("rate-limited", params={"retryAfterSeconds": 7})
    response = post(sim, VERIFY, verify_doc(cert["certificateNo"]))
    assert (response.status_code, response.headers["retry-after"]) == (429, "7")
    assert response.json()["code"] == "RATE_LIMITED"
    assert specs.errors("regulator-answer", response.json()) == []
