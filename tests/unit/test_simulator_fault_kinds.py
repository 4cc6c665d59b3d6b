"""A fault kind declared once in fault_kinds.py's registry is everything the simulator needs: the
FaultBook accepts and checks it, FAULT_KINDS lists it, /_sim/ describes it and the app answers with it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from conformance import signing
from conformance.simulator import fault_kinds
from conformance.simulator.answer import Answer
from conformance.simulator.control import FAULT_KINDS
from conformance.simulator.core import Simulator
from conformance.simulator.fault_kinds import FaultContext, FaultKind, StatusVocabulary
from conformance.simulator.faults import FaultHit
from tests.unit.simulator_support import SECRET, VERIFY, call

THROW_AWAY = "test-throw-away"
STAMP = "test-stamp"


def _answer(ctx: FaultContext, hit: FaultHit, route: Any, body: dict[str, Any], query: dict[str, Any]) -> Answer:
    return ctx.envelope(int(hit.params["status"]), ctx.contract.unavailable, f"thrown away for {body['merchantId']}")


def _check(kind: str, params: dict[str, Any], book: StatusVocabulary) -> None:
    if not isinstance(params["status"], int):
        raise ValueError(f"params.status of {kind!r} must be an integer")


def _stamp(ctx: FaultContext, hit: FaultHit, answer: Answer) -> None:
    answer.headers = (*answer.headers, (b"x-test-stamp", str(hit.params["mark"]).encode()))


@pytest.fixture
def declared() -> Iterator[None]:
    fault_kinds.register(FaultKind(THROW_AWAY, "a kind a test declares and forgets", {"status": 507},
                                   frozenset({"verifications"}), answer=_answer, check=_check))
    fault_kinds.register(FaultKind(STAMP, "the real answer with one more header", {"mark": "x"}, shape=_stamp))
    yield
    fault_kinds.unregister(THROW_AWAY)
    fault_kinds.unregister(STAMP)


@pytest.fixture
def sim() -> Simulator:
    s = Simulator(seed=3)
    s.register_platform("mall", SECRET)
    return s


def _verify(sim: Simulator, certificate_no: str, merchant: str) -> Any:
    doc = {"requestId": str(uuid.uuid4()), "listingId": "L-1", "merchantId": merchant,
           "certificateNo": certificate_no, "productCode": "0701", "productName": "冰箱"}
    body = json.dumps(doc, ensure_ascii=False).encode()
    headers = signing.make_headers(SECRET, "POST", VERIFY, body).as_platform("mall")
    return call(sim, "POST", VERIFY, body, {**headers, "Content-Type": "application/json"})


@pytest.mark.usefixtures("declared")
def test_a_kind_declared_once_is_listed_checked_and_answered(sim: Simulator) -> None:
    assert tuple(FAULT_KINDS)[-2:] == (THROW_AWAY, STAMP)  # declaration order
    assert THROW_AWAY in FAULT_KINDS and len(FAULT_KINDS) == len(fault_kinds.declared())

    # The FaultBook: params from the declaration, its check, its routes.
    with pytest.raises(ValueError, match="must be an integer"):
        sim.add_fault(THROW_AWAY, params={"status": "507"})
    with pytest.raises(ValueError, match=r"unknown params colour .* \(known: status\)"):
        sim.add_fault(THROW_AWAY, params={"colour": "red"})
    with pytest.raises(ValueError, match="does not apply to route 'dispositions'"):
        sim.add_fault(THROW_AWAY, route="dispositions")
    sim.add_fault(THROW_AWAY, match={"merchantId": "M-thrown"})
    sim.add_fault(STAMP, match={"merchantId": "M-stamped"}, params={"mark": "seen"})
    assert [(f["kind"], f["params"]) for f in sim.list_faults()] == \
        [(THROW_AWAY, {"status": 507}), (STAMP, {"mark": "seen"})]

    # The app: the kind's answer instead of the regulator's; a shape changes the real answer.
    cert = sim.issue_certificate(product_code="0701")
    thrown = _verify(sim, cert["certificateNo"], "M-thrown")
    assert thrown.status_code == 507
    assert thrown.json() == {"code": sim.contract.unavailable, "message": "thrown away for M-thrown"}
    stamped = _verify(sim, cert["certificateNo"], "M-stamped")
    assert stamped.status_code == 200 and stamped.headers["x-test-stamp"] == "seen"
    assert stamped.json()["certificate"]["certificateNo"] == cert["certificateNo"]
    assert _verify(sim, cert["certificateNo"], "M-other").status_code == 200
    assert [c["fault"] for c in sim.captures()] == [THROW_AWAY, STAMP, None]

    # /_sim/ describes it.
    kinds = {k["kind"]: k for k in call(sim, "GET", "/_sim/fault-kinds").json()["kinds"]}
    assert list(kinds) == list(FAULT_KINDS)
    assert kinds[THROW_AWAY] == {"kind": THROW_AWAY, "description": "a kind a test declares and forgets",
                                 "params": {"status": 507}, "routes": ["verifications"]}
    assert kinds[STAMP]["routes"] == list(sim.contract.route_names)


@pytest.mark.usefixtures("declared")
def test_forgotten_kind_is_refused_but_its_faults_still_answer(sim: Simulator) -> None:
    sim.add_fault(THROW_AWAY, match={"merchantId": "M-thrown"})
    fault_kinds.unregister(THROW_AWAY)
    assert THROW_AWAY not in FAULT_KINDS
    with pytest.raises(ValueError, match=f"fault kind '{THROW_AWAY}' is not one of"):
        sim.add_fault(THROW_AWAY)
    cert = sim.issue_certificate(product_code="0701")
    assert _verify(sim, cert["certificateNo"], "M-thrown").status_code == 507


def test_a_kind_is_declared_once_with_one_way_to_act() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        fault_kinds.register(FaultKind("reset", "again", answer=_answer))
    with pytest.raises(ValueError, match="exactly one of answer"):
        fault_kinds.register(FaultKind("test-idle", "neither answers nor shapes"))
    with pytest.raises(ValueError, match="exactly one of answer"):
        fault_kinds.register(FaultKind("test-both", "both", answer=_answer, shape=_stamp))
    assert not {"test-idle", "test-both"} & set(FAULT_KINDS)
