"""The regulator routes in-process (ASGI): validation, verification answers, change feed, dispositions."""

from __future__ import annotations

import json
import random
import threading
import uuid
from typing import Any

import httpx
import pytest

from conformance import signing
from conformance.simulator.contract import Contract
from conformance.simulator.core import Simulator
from conformance.specs import Specs
from tests.unit.simulator_support import DISPOSE, FEED, SECRET, VERIFY, call


def post(sim: Simulator, path: str, doc: Any, raw: bytes | None = None) -> httpx.Response:
    body = raw if raw is not None else json.dumps(doc, ensure_ascii=False).encode()
    headers = signing.make_headers(SECRET, "POST", path, body).as_platform("mall")
    headers["Content-Type"] = "application/json"
    return call(sim, "POST", path, body, headers)


def get(sim: Simulator, path: str) -> httpx.Response:
    return call(sim, "GET", path, headers=signing.make_headers(SECRET, "GET", path, b"").as_platform("mall"))


def request_doc(certificate_no: str, **extra: Any) -> dict[str, Any]:
    return {"requestId": str(uuid.uuid4()), "listingId": "L-1", "merchantId": "M-1", "certificateNo": certificate_no,
            "productCode": "0701", "productName": "双门冰箱", **extra}


def disposition_doc(**extra: Any) -> dict[str, Any]:
    return {"dispositionId": str(uuid.uuid4()), "listingId": "L-1", "merchantId": "M-1",
            "certificateNo": "2021010701123456", "action": "INTERCEPTED", "reasonCode": "CERT_NOT_FOUND",
            "decidedAt": signing.now_rfc3339(), "requestId": str(uuid.uuid4()), **extra}


@pytest.fixture
def sim() -> Simulator:
    s = Simulator(seed=5)
    s.register_platform("mall", SECRET)
    return s


# -- verifications ----------------------------------------------------------------------------------
def test_found_and_not_found_answers_validate(sim: Simulator, specs: Specs) -> None:
    cert = sim.issue_certificate(product_code="0701", models=["BCD-215WTM"], brand="华瑞")
    doc = request_doc(cert["certificateNo"], model="BCD-215WTM", brand="华瑞")
    found = post(sim, VERIFY, doc)
    assert found.status_code == 200
    answer = found.json()
    assert specs.errors("verification-answer", answer) == []
    assert (answer["code"], answer["requestId"], answer["certificate"]) == ("OK", doc["requestId"], cert)
    missing = post(sim, VERIFY, request_doc("2001010701000001")).json()
    assert specs.errors("verification-answer", missing) == []
    assert (missing["code"], missing["certificate"]) == ("NOT_FOUND", None)


def test_answer_follows_silent_registry_updates(sim: Simulator) -> None:
    cert = sim.issue_certificate(product_code="0701")
    sim.update_certificate(cert["certificateNo"], expiryDate="2020-01-01", models=["X-1"])
    answer = post(sim, VERIFY, request_doc(cert["certificateNo"])).json()
    assert (answer["certificate"]["expiryDate"], answer["certificate"]["models"]) == ("2020-01-01", ["X-1"])
    assert sim.events(cert["certificateNo"]) == []


@pytest.mark.parametrize(("mutate", "pointer"), [
    (lambda d: d.update(requestId="not-a-uuid"), "/requestId"),
    (lambda d: d.update(certificateNo="2021 0107 0112 3456"), "/certificateNo"),
    (lambda d: d.update(certificateNo="2021010701123456\n"), "/certificateNo"),  # `$` is the end (ECMA-262)
    (lambda d: d.pop("merchantId"), "merchantId"),
    (lambda d: d.update(productName="   "), "/productName"),
    (lambda d: d.update(productCode=701), "/productCode"),
    (lambda d: d.update(model=""), "/model"),
])
def test_invalid_request_names_the_field(sim: Simulator, mutate: Any, pointer: str) -> None:
    doc = request_doc("2021010701123456")
    mutate(doc)
    response = post(sim, VERIFY, doc)
    assert response.status_code == 400
    answer = response.json()
    assert answer["code"] == "BAD_REQUEST"
    assert pointer in answer["message"]
    capture = sim.captures()[-1]
    assert capture["schemaValid"] is False
    assert any(pointer in e for e in capture["schemaErrors"])
    assert capture["signatureValid"] is True


def test_body_not_json(sim: Simulator) -> None:
    response = post(sim, VERIFY, None, raw=b"{not json")
    assert response.status_code == 400
    assert "not JSON" in response.json()["message"]
    capture = sim.captures()[-1]
    assert (capture["schemaValid"], capture["body"], capture["bodyText"]) == (False, None, "{not json")


def test_body_not_an_object(sim: Simulator) -> None:
    response = post(sim, VERIFY, ["a", "list"])
    assert response.status_code == 400
    assert sim.captures()[-1]["schemaValid"] is False


def test_oversized_body(sim: Simulator) -> None:
    doc = request_doc("2021010701123456", productName="冰" * 40_000)
    response = post(sim, VERIFY, doc)
    assert response.status_code == 413
    assert "body over 65536 bytes" in response.json()["message"]


def test_auth_refusal_wins_but_schema_verdict_is_kept(sim: Simulator) -> None:
    body = json.dumps({"requestId": "nope"}).encode()
    response = call(sim, "POST", VERIFY, body, signing.make_headers("wrong", "POST", VERIFY, body).as_platform("mall"))
    assert response.status_code == 401
    capture = sim.captures()[-1]
    assert (capture["signatureValid"], capture["schemaValid"]) == (False, False)


def test_content_type_is_recorded(sim: Simulator) -> None:
    body = json.dumps(request_doc("2021010701123456")).encode()
    headers = signing.make_headers(SECRET, "POST", VERIFY, body).as_platform("mall")
    headers["Content-Type"] = "text/plain"
    assert call(sim, "POST", VERIFY, body, headers).status_code == 200
    assert any("Content-Type" in e for e in sim.captures()[-1]["headerErrors"])


def test_unknown_route_and_wrong_method_are_captured(sim: Simulator) -> None:
    assert call(sim, "GET", "/api/v1/nothing").status_code == 404
    wrong = call(sim, "GET", VERIFY)
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"
    routes = [(c["route"], c["response"]["status"]) for c in sim.captures()]
    assert routes == [(None, 404), ("verifications", 405)]


def test_captures_filter_by_route_match_and_cursor(sim: Simulator) -> None:
    post(sim, VERIFY, request_doc("2021010701123456"))
    post(sim, VERIFY, {**request_doc("2021010701123456"), "merchantId": "M-2"})
    get(sim, FEED)
    first, second, third = sim.captures()
    assert first["seq"] < second["seq"] < third["seq"]
    assert [c["seq"] for c in sim.captures(route="verifications")] == [first["seq"], second["seq"]]
    assert [c["seq"] for c in sim.captures(match={"merchantId": "M-2"})] == [second["seq"]]
    assert [c["seq"] for c in sim.captures(match={"platformId": "mall"}, after=first["seq"])] == \
        [second["seq"], third["seq"]]
    keys = {"seq", "receivedAt", "route", "method", "path", "query", "headers", "body", "bodyText", "platformId",
            "signatureValid", "authError", "schemaValid", "schemaErrors", "response", "fault"}
    assert keys <= set(first)


def test_fast_validator_agrees_with_specs(sim: Simulator, specs: Specs) -> None:
    """The hot path decides validity with jsonschema-rs; it must agree with conformance.specs."""
    contract = Contract(specs)
    rng = random.Random(11)
    base = request_doc("2021010701123456", brand="华瑞", model="BCD-1")
    variants: list[Any] = [base, {}, [], "x", None, {**base, "extra": 1}]
    values = ["", " ", "x", "2021010701123456", "２０２１", str(uuid.uuid4()), "00000000-0000-0000-0000-00000000000g",
              "0701", 701, None, True, [], {}, "a" * 1001, "2025-12-01T10:00:00+08:00"]
    for _ in range(400):
        doc = dict(base)
        for _ in range(rng.randint(1, 3)):
            key = rng.choice([*base, "model", "manufacturer"])
            if rng.random() < 0.2:
                doc.pop(key, None)
            else:
                doc[key] = rng.choice(values)
        variants.append(doc)
    disposition = disposition_doc()
    for doc in variants:
        assert contract.is_valid("verification-request", doc) == specs.is_valid("verification-request", doc), doc
    for doc in [disposition, {**disposition, "eventId": str(uuid.uuid4())},
                {k: v for k, v in disposition.items() if k != "requestId"}, {**disposition, "certificateNo": None},
                {**disposition, "decidedAt": "2025-12-01 10:00:00"}, {**disposition, "action": "DELETED"}]:
        assert contract.is_valid("disposition", doc) == specs.is_valid("disposition", doc), doc


# -- change feed ----------------------------------------------------------------------------------
def test_feed_cursor_semantics(sim: Simulator, specs: Specs) -> None:
    empty = get(sim, FEED).json()
    assert empty == {"events": [], "nextCursor": "0"}
    certs = [sim.issue_certificate(product_code="0703") for _ in range(5)]
    events = [sim.set_status(c["certificateNo"], "SUSPENDED", reason="抽查", push=False) for c in certs]
    assert [e["sequence"] for e in events] == [1, 2, 3, 4, 5]
    page = get(sim, f"{FEED}?limit=2").json()
    assert specs.errors("change-feed-page", page) == []
    assert [e["sequence"] for e in page["events"]] == [1, 2]
    page2 = get(sim, f"{FEED}?after={page['nextCursor']}&limit=2").json()
    assert [e["sequence"] for e in page2["events"]] == [3, 4]  # after is exclusive
    page3 = get(sim, f"{FEED}?after={page2['nextCursor']}").json()
    assert [e["sequence"] for e in page3["events"]] == [5]
    idle = get(sim, f"{FEED}?after={page3['nextCursor']}").json()
    assert idle == {"events": [], "nextCursor": page3["nextCursor"]}
    assert page["events"][0] == events[0]  # the feed serves the very event set_status returned


@pytest.mark.parametrize(("query", "says"), [("limit=0", "?limit"), ("limit=1001", "?limit"), ("limit=x", "?limit"),
                                             ("after=abc", "?after"), ("after=99", "?after"), ("after=", "?after")])
def test_feed_refuses_bad_query(sim: Simulator, query: str, says: str) -> None:
    response = get(sim, f"{FEED}?{query}")
    assert response.status_code == 400, response.text
    assert says in response.json()["message"]
    assert sim.captures()[-1]["schemaValid"] is False


def test_feed_has_no_gap_or_duplicate_under_concurrent_changes(sim: Simulator) -> None:
    certs = [sim.issue_certificate(product_code="0701")["certificateNo"] for _ in range(40)]
    stop = threading.Event()

    def change(worker: int) -> None:
        statuses = ["SUSPENDED", "VALID"]
        for i in range(50):
            sim.set_status(certs[(worker * 7 + i) % len(certs)], statuses[i % 2], push=False)

    writers = [threading.Thread(target=change, args=(w,)) for w in range(4)]
    for w in writers:
        w.start()
    seen: list[int] = []
    cursor = None
    while True:
        done = not any(w.is_alive() for w in writers)
        query = f"?limit=7&after={cursor}" if cursor else "?limit=7"
        page = get(sim, FEED + query).json()
        seen += [e["sequence"] for e in page["events"]]
        cursor = page["nextCursor"]
        if done and not page["events"]:
            break
    stop.set()
    assert seen == list(range(1, 201))


# -- dispositions ---------------------------------------------------------------------------------
def test_disposition_new_same_and_different(sim: Simulator, specs: Specs) -> None:
    doc = disposition_doc()
    first = post(sim, DISPOSE, doc)
    assert first.status_code == 202
    assert specs.errors("regulator-answer", first.json()) == []
    assert first.json()["dispositionId"] == doc["dispositionId"]
    again = post(sim, DISPOSE, doc)
    assert again.status_code == 200
    changed = post(sim, DISPOSE, {**doc, "reasonCode": "CERT_REVOKED"})
    assert changed.status_code == 409
    reports = sim.dispositions(merchant_id="M-1")
    assert [r["httpStatus"] for r in reports] == [202, 200, 409]
    assert all(r["receivedAt"] and r["platformId"] == "mall" for r in reports)
    assert sim.dispositions(listing_id="other") == []


def test_invalid_disposition_is_refused_and_not_kept(sim: Simulator) -> None:
    both = disposition_doc(eventId=str(uuid.uuid4()))  # exactly one of requestId / eventId
    response = post(sim, DISPOSE, both)
    assert response.status_code == 400
    assert sim.dispositions() == []
    assert sim.captures()[-1]["schemaValid"] is False


def test_disposition_with_null_certificate_is_fine(sim: Simulator) -> None:
    assert post(sim, DISPOSE, disposition_doc(certificateNo=None, reasonCode="NO_CERTIFICATE")).status_code == 202


def test_unauthenticated_disposition_is_not_kept(sim: Simulator) -> None:
    body = json.dumps(disposition_doc()).encode()
    headers = signing.make_headers("wrong-secret", "POST", DISPOSE, body).as_platform("mall")
    assert call(sim, "POST", DISPOSE, body, headers).status_code == 401
    assert sim.dispositions() == []
