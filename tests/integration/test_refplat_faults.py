"""Each fault switch of the reference platform has its observable effect.

Every test runs one scenario twice: on a conformant platform ("base"), where the behaviour is what
the profile requires, and on a platform with the fault switched on, where it visibly is not. The
conformance suite's self-check relies on exactly these differences. All platforms start together
when the module begins, so their start-up overlaps.
"""

from __future__ import annotations

import concurrent.futures
import re
import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from conformance import signing
from reference_platform.faults import FAULTS
from tests.integration.refplat_support import (
    TIMING,
    Platform,
    PlatformPool,
    Variant,
    event_for,
    simulator,
    wait_until,
)

# Timing on a shared 2-core machine: one rerun before a failure counts (pytest-rerunfailures).
pytestmark = [pytest.mark.slow, pytest.mark.flaky(reruns=1)]

DECISION = TIMING["listingDecisionSeconds"]
TAKEDOWN = TIMING["takedownDeadlineSeconds"]
REVERIFY = TIMING["reverificationIntervalSeconds"]
UNKNOWN_NUMBER = "1999010701000001"   # well-formed, never issued by the simulator (year 1999)


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformPool]:
    # Push only for the fault platforms: fewer feed polls, and the base platform covers polling.
    variants = {"base": Variant(), "base-pause": Variant(mode="push")}
    variants |= {name: Variant(faults=(name,), mode="push") for name in FAULTS}
    # Needs both routes declared: the fault is about their combination.
    variants["push-disables-polling"] = Variant(faults=("push-disables-polling",), mode="both")
    with simulator() as sim:
        platforms = PlatformPool(sim, Path(tmp_path_factory.mktemp("refplat-faults")), variants)
        try:
            yield platforms
        finally:
            platforms.stop()


def test_every_fault_has_a_test() -> None:
    # Load-phase faults misbehave only under load; tests/selfcheck/test_load_selfcheck.py shows each one's effect.
    tested = {name.removeprefix("test_").replace("_", "-") for name in globals() if name.startswith("test_")}
    functional = {name for name, fault in FAULTS.items() if fault.phase == "functional"}
    assert functional <= tested, f"faults without a test: {sorted(functional - tested)}"


# -- helpers ----------------------------------------------------------------------------------------
def certificate(pool: PlatformPool, **fields: Any) -> dict[str, Any]:
    """A certificate for a fridge (0701) with model BCD-215 and brand 海尔, unless told otherwise."""
    defaults: dict[str, Any] = {"product_code": "0701", "models": ["BCD-215"], "brand": "海尔"}
    return pool.sim.issue_certificate(**{**defaults, **fields})


def fridge(cert: dict[str, Any] | None, **fields: Any) -> dict[str, Any]:
    """Listing fields that pass every check against ``cert``."""
    listing = {"categoryId": "fridge", "brand": "海尔", "model": "BCD-215",
               "certificateNo": cert["certificateNo"] if cert else None}
    return {**listing, **fields}


def outcome(platform: Platform, **fields: Any) -> tuple[str, str | None]:
    listing = platform.decided(platform.create(**fields)["listingId"], timeout=DECISION + 2)
    return listing["state"], listing["reasonCode"]


def on_sale(platform: Platform, pool: PlatformPool, **cert_fields: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    cert = certificate(pool, **cert_fields)
    listing = platform.decided(platform.create(**fridge(cert))["listingId"])
    assert listing["state"] == "ON_SALE", listing
    return cert, listing


def yesterday() -> str:
    return (date.today() - timedelta(days=2)).isoformat()


# -- verification at listing ------------------------------------------------------------------------
def test_no_interception(pool: PlatformPool) -> None:
    assert outcome(pool["base"], **fridge(None, certificateNo=UNKNOWN_NUMBER)) == ("INTERCEPTED", "CERT_NOT_FOUND")
    assert outcome(pool["no-interception"], **fridge(None, certificateNo=UNKNOWN_NUMBER)) == ("ON_SALE", None)


def test_ignore_suspended(pool: PlatformPool) -> None:
    for name, expected in (("base", ("INTERCEPTED", "CERT_SUSPENDED")), ("ignore-suspended", ("ON_SALE", None))):
        assert outcome(pool[name], **fridge(certificate(pool, status="SUSPENDED"))) == expected, name


def test_ignore_expiry_date(pool: PlatformPool) -> None:
    for name, expected in (("base", ("INTERCEPTED", "CERT_EXPIRED")), ("ignore-expiry-date", ("ON_SALE", None))):
        cert = certificate(pool, issue_date="2020-01-01", expiry_date=yesterday())
        assert outcome(pool[name], **fridge(cert)) == expected, name


def test_no_model_check(pool: PlatformPool) -> None:
    for name, expected in (("base", ("INTERCEPTED", "MODEL_NOT_COVERED")), ("no-model-check", ("ON_SALE", None))):
        assert outcome(pool[name], **fridge(certificate(pool), model="BCD-999")) == expected, name


def test_no_product_check(pool: PlatformPool) -> None:
    for name, expected in (("base", ("INTERCEPTED", "PRODUCT_MISMATCH")), ("no-product-check", ("ON_SALE", None))):
        assert outcome(pool[name], **fridge(certificate(pool, product_code="0703"))) == expected, name


def test_no_holder_check(pool: PlatformPool) -> None:
    for name, expected in (("base", ("INTERCEPTED", "HOLDER_MISMATCH")), ("no-holder-check", ("ON_SALE", None))):
        cert = certificate(pool)
        assert outcome(pool[name], **fridge(cert, brand="别家", manufacturer="别家电器有限公司")) == expected, name


def test_no_normalisation(pool: PlatformPool) -> None:
    for name, expected in (("base", ("ON_SALE", None)), ("no-normalisation", ("INTERCEPTED", "INVALID_CERTIFICATE_NO"))):
        number = certificate(pool)["certificateNo"]
        pasted = " ".join([number[:4], number[4:10], number[10:]]).translate({ord("0"): "０", ord("1"): "１"})
        assert outcome(pool[name], **fridge(None, certificateNo=pasted)) == expected, name


def test_overblock(pool: PlatformPool) -> None:
    assert outcome(pool["base"], categoryId="books") == ("ON_SALE", None)
    assert outcome(pool["overblock"], categoryId="books")[0] == "INTERCEPTED"


def test_no_reverify_on_edit(pool: PlatformPool) -> None:
    for name, expected in (("base", ("TAKEN_DOWN", "MODEL_NOT_COVERED")), ("no-reverify-on-edit", ("ON_SALE", None))):
        platform = pool[name]
        _, listing = on_sale(platform, pool)
        platform.edit(listing["listingId"], model="BCD-999")
        after = platform.decided(listing["listingId"])
        assert (after["state"], after["reasonCode"]) == expected, name


# -- takedown -----------------------------------------------------------------------------------------
def test_no_takedown(pool: PlatformPool) -> None:
    base, faulty = pool["base"], pool["no-takedown"]
    (cert_a, a), (cert_b, b) = on_sale(base, pool), on_sale(faulty, pool)
    pool.sim.set_statuses([(cert_a["certificateNo"], "REVOKED"), (cert_b["certificateNo"], "REVOKED")])
    assert base.wait_state(a["listingId"], "TAKEN_DOWN", TAKEDOWN)["reasonCode"] == "CERT_REVOKED"
    assert faulty.stays(b["listingId"], "ON_SALE", TAKEDOWN)["state"] == "ON_SALE"


def test_slow_takedown(pool: PlatformPool) -> None:
    base, faulty = pool["base"], pool["slow-takedown"]
    (cert_a, a), (cert_b, b) = on_sale(base, pool), on_sale(faulty, pool)
    pool.sim.set_statuses([(cert_a["certificateNo"], "SUSPENDED"), (cert_b["certificateNo"], "SUSPENDED")])
    assert base.wait_state(a["listingId"], "TAKEN_DOWN", TAKEDOWN)["state"] == "TAKEN_DOWN"
    assert faulty.stays(b["listingId"], "ON_SALE", TAKEDOWN)["state"] == "ON_SALE"
    # It does act, only late: twice the deadline after the event.
    assert faulty.wait_state(b["listingId"], "TAKEN_DOWN", TAKEDOWN + 1.5)["state"] == "TAKEN_DOWN"


def test_no_reverification(pool: PlatformPool) -> None:
    base, faulty = pool["base"], pool["no-reverification"]
    (cert_a, a), (cert_b, b) = on_sale(base, pool), on_sale(faulty, pool)
    for cert in (cert_a, cert_b):   # expired, silently: no event
        pool.sim.update_certificate(cert["certificateNo"], issue_date="2020-01-01", expiry_date=yesterday())
    assert base.wait_state(a["listingId"], "TAKEN_DOWN", REVERIFY + 0.5)["reasonCode"] == "CERT_EXPIRED"
    assert faulty.stays(b["listingId"], "ON_SALE", REVERIFY)["state"] == "ON_SALE"


def test_collateral_takedown(pool: PlatformPool) -> None:
    for name, expected in (("base", "ON_SALE"), ("collateral-takedown", "TAKEN_DOWN")):
        platform = pool[name]
        merchant = f"m-{uuid.uuid4().hex[:8]}"
        revoked, other = certificate(pool), certificate(pool)
        first = platform.decided(platform.create(merchantId=merchant, **fridge(revoked))["listingId"])
        second = platform.decided(platform.create(merchantId=merchant, **fridge(other))["listingId"])
        assert first["state"] == second["state"] == "ON_SALE"
        pool.sim.set_status(revoked["certificateNo"], "REVOKED")
        assert platform.wait_state(first["listingId"], "TAKEN_DOWN", TAKEDOWN)["state"] == "TAKEN_DOWN"
        assert platform.wait_state(second["listingId"], expected, 0.5)["state"] == expected, name


def test_no_restore(pool: PlatformPool) -> None:
    for name, expected in (("base", "ON_SALE"), ("no-restore", "TAKEN_DOWN")):
        platform = pool[name]
        cert, listing = on_sale(platform, pool)
        pool.sim.set_status(cert["certificateNo"], "SUSPENDED")
        assert platform.wait_state(listing["listingId"], "TAKEN_DOWN", TAKEDOWN)["state"] == "TAKEN_DOWN"
        pool.sim.set_status(cert["certificateNo"], "VALID")
        if expected == "ON_SALE":
            assert platform.wait_state(listing["listingId"], "ON_SALE", TAKEDOWN)["state"] == "ON_SALE", name
        else:
            assert platform.stays(listing["listingId"], "TAKEN_DOWN", TAKEDOWN)["state"] == "TAKEN_DOWN", name
            # Not re-listable either: the profile would accept that instead of a restore (TKD-05).
            again = platform.decided(platform.edit(listing["listingId"], certificateNo=cert["certificateNo"])["listingId"])
            assert (again["state"], again["reasonCode"]) == ("TAKEN_DOWN", "CERT_SUSPENDED"), name


def test_ignore_order(pool: PlatformPool) -> None:
    for name, expected in (("base", "ON_SALE"), ("ignore-order", "TAKEN_DOWN")):
        platform = pool[name]
        cert, listing = on_sale(platform, pool)
        # Suspended, then lifted; both recorded but not pushed, then delivered newest first.
        older = pool.sim.set_status(cert["certificateNo"], "SUSPENDED", push=False)
        newer = pool.sim.set_status(cert["certificateNo"], "VALID", push=False)
        pool.sim.redeliver([newer["eventId"], older["eventId"]], platform.platform_id)
        assert platform.stays(listing["listingId"], "ON_SALE", 0.5)["state"] == expected, name


# -- resilience ---------------------------------------------------------------------------------------
def test_fail_open(pool: PlatformPool) -> None:
    for name, expected in (("base", "PENDING_VERIFICATION"), ("fail-open", "ON_SALE")):
        cert = certificate(pool)
        fault = pool.sim.add_fault("http-error", match={"certificateNo": cert["certificateNo"]},
                                   params={"status": 503})
        try:
            listing = pool[name].create(**fridge(cert))
            assert pool[name].stays(listing["listingId"], listing["state"], 1.0)["state"] == expected, name
        finally:
            pool.sim.remove_fault(fault)


def test_accept_unknown_status(pool: PlatformPool) -> None:
    for name, expected in (("base", "PENDING_VERIFICATION"), ("accept-unknown-status", "ON_SALE")):
        cert = certificate(pool)
        fault = pool.sim.add_fault("unknown-status", match={"certificateNo": cert["certificateNo"]},
                                   params={"status": "FROZEN"})
        try:
            listing = pool[name].create(**fridge(cert))
            assert pool[name].stays(listing["listingId"], listing["state"], 1.0)["state"] == expected, name
        finally:
            pool.sim.remove_fault(fault)



def test_ignore_unknown_status_event(pool: PlatformPool) -> None:
    # A status outside the code list, announced by event while the query interface is down for the
    # certificate (so re-verification cannot stand in): the base platform takes the listing down, the
    # faulty one accepts the event and keeps it on sale.
    base, faulty = pool["base"], pool["ignore-unknown-status-event"]
    (cert_a, a), (cert_b, b) = on_sale(base, pool), on_sale(faulty, pool)
    numbers = [cert_a["certificateNo"], cert_b["certificateNo"]]
    outages = [pool.sim.add_fault("http-error", match={"certificateNo": n}, params={"status": 503}) for n in numbers]
    try:
        events = pool.sim.set_statuses([(n, "PROVISIONAL") for n in numbers])
        assert base.wait_state(a["listingId"], "TAKEN_DOWN", TAKEDOWN)["reasonCode"] == "VERIFICATION_UNAVAILABLE"
        assert faulty.stays(b["listingId"], "ON_SALE", TAKEDOWN)["state"] == "ON_SALE"
        pushed = pool.sim.pushes(event_id=events[1]["eventId"])
        assert any(200 <= (p.get("status") or 0) < 300 for p in pushed), pushed   # accepted, then ignored
    finally:
        for fault in outages:
            pool.sim.remove_fault(fault)

def _calls(pool: PlatformPool, number: str, at_least: int, timeout: float) -> list[dict[str, Any]]:
    """The verification calls about a certificate, once there are at_least of them (or at the timeout)."""
    def calls() -> list[dict[str, Any]]:
        return pool.sim.captures(route="verifications", match={"certificateNo": number})
    wait_until(lambda: len(calls()) >= at_least, timeout)
    return calls()


def test_no_retry_after(pool: PlatformPool) -> None:
    # base-pause is a conformant platform of its own: a 429 pauses all of its calls.
    gaps = {}
    for name, attempts in (("base-pause", 2), ("no-retry-after", 3)):
        cert = certificate(pool)
        fault = pool.sim.add_fault("rate-limited", match={"certificateNo": cert["certificateNo"]},
                                   params={"retryAfterSeconds": 2})
        try:
            pool[name].create(**fridge(cert))
            seen = _calls(pool, cert["certificateNo"], attempts, 4.0)
            assert len(seen) >= attempts, (name, seen)
            times = [datetime.fromisoformat(c["receivedAt"]).timestamp() for c in seen]
            gaps[name] = times[1] - times[0]
        finally:
            pool.sim.remove_fault(fault)
    assert gaps["base-pause"] >= 1.9, gaps          # waited the Retry-After
    assert gaps["no-retry-after"] < 1.0, gaps       # called again at its own pace


# -- security -----------------------------------------------------------------------------------------
def test_accept_unsigned(pool: PlatformPool) -> None:
    for name, status, expected in (("base", 401, "ON_SALE"), ("accept-unsigned", 200, "TAKEN_DOWN")):
        platform = pool[name]
        cert, listing = on_sale(platform, pool)
        response = platform.push(event_for(cert["certificateNo"], "REVOKED", 10_000_000), signature="0" * 64)
        assert response.status_code == status, (name, response.text)
        assert platform.wait_state(listing["listingId"], expected, 0.5)["state"] == expected, name


def test_accept_replay(pool: PlatformPool) -> None:
    for name, status, expected in (("base", 401, "ON_SALE"), ("accept-replay", 200, "TAKEN_DOWN")):
        platform = pool[name]
        cert, listing = on_sale(platform, pool)
        old = (datetime.now(signing.SHANGHAI) - timedelta(minutes=10)).isoformat(timespec="milliseconds")
        response = platform.push(event_for(cert["certificateNo"], "REVOKED", 10_000_000), timestamp=old)
        assert response.status_code == status, (name, response.text)
        assert platform.wait_state(listing["listingId"], expected, 0.5)["state"] == expected, name
        # And a reused nonce.
        nonce = uuid.uuid4().hex
        first = platform.push(event_for(cert["certificateNo"], "REVOKED", 10_000_001), nonce=nonce)
        second = platform.push(event_for(cert["certificateNo"], "REVOKED", 10_000_002), nonce=nonce)
        assert first.status_code == 200
        assert second.status_code == status, (name, second.text)


# -- message formats ----------------------------------------------------------------------------------
_RFC3339_OFFSET = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _verification_capture(pool: PlatformPool, name: str) -> dict[str, Any]:
    cert = certificate(pool)
    pool[name].create(**fridge(cert))
    captures = wait_until(lambda: pool.sim.captures(route="verifications",
                                                    match={"certificateNo": cert["certificateNo"]}), 2.0)
    assert captures, name
    return captures[0]


def _header(capture: dict[str, Any], name: str) -> str | None:
    headers = capture["headers"]
    items = headers.items() if isinstance(headers, dict) else headers
    return next((v for k, v in items if k.lower() == name.lower()), None)


def test_bad_request_format(pool: PlatformPool) -> None:
    assert _RFC3339_OFFSET.match(_header(_verification_capture(pool, "base"), "X-Timestamp") or "")
    bad = _verification_capture(pool, "bad-request-format")
    # "+0800": not RFC 3339, yet unambiguous, so the simulator answers and records the format problem
    assert not _RFC3339_OFFSET.match(_header(bad, "X-Timestamp") or "")
    assert bad["response"]["status"] == 200 and bad["headerErrors"]


def test_unsigned_requests(pool: PlatformPool) -> None:
    # verification requests stay signed: only the disposition reports lose their signature
    assert _verification_capture(pool, "unsigned-requests")["signatureValid"] is True
    for name, signed in (("base", True), ("unsigned-requests", False)):
        listing = pool[name].create(categoryId="fridge", model="BCD-215")   # NO_CERTIFICATE: reported
        reports = wait_until(lambda lid=listing["listingId"]: pool.sim.captures(
            route="dispositions", match={"listingId": lid}), 3.0)
        assert reports, name
        assert (_header(reports[0], "X-Signature") is not None) is signed, name
        assert reports[0]["response"]["status"] == (202 if signed else 401), name


# -- audit and reporting ------------------------------------------------------------------------------
def test_no_audit(pool: PlatformPool) -> None:
    for name, count in (("base", 1), ("no-audit", 0)):
        platform = pool[name]
        _, listing = on_sale(platform, pool)
        assert len(platform.records(listing["listingId"])) == count, name


def _reports(pool: PlatformPool, name: str, at_least: int, timeout: float) -> list[dict[str, Any]]:
    """The reports of an interception (no number: NO_CERTIFICATE) once at_least arrived, or at the timeout."""
    listing = pool[name].create(categoryId="fridge", model="BCD-215")
    assert listing["state"] == "INTERCEPTED"
    wait_until(lambda: len(pool.sim.dispositions(listing_id=listing["listingId"])) >= at_least, timeout)
    return pool.sim.dispositions(listing_id=listing["listingId"])


def test_no_disposition_report(pool: PlatformPool) -> None:
    assert len(_reports(pool, "base", 1, TAKEDOWN)) == 1
    assert len(_reports(pool, "no-disposition-report", 1, TAKEDOWN)) == 0


def test_duplicate_disposition(pool: PlatformPool) -> None:
    assert len(_reports(pool, "base", 2, 1.0)) == 1
    reports = _reports(pool, "duplicate-disposition", 2, TAKEDOWN)
    assert len(reports) == 2 and reports[0]["dispositionId"] != reports[1]["dispositionId"]


# -- consumer view and availability -------------------------------------------------------------------
def test_wrong_status_label(pool: PlatformPool) -> None:
    for name, label in (("base", "有效"), ("wrong-status-label", "VALID")):
        platform = pool[name]
        _, listing = on_sale(platform, pool)
        assert platform.public(listing["listingId"])["ccc"]["statusLabel"] == label, name


def test_unstable_under_load(pool: PlatformPool) -> None:
    def burst(platform: Platform) -> list[int]:
        with httpx.Client(base_url=platform.base, trust_env=False, timeout=10,
                          limits=httpx.Limits(max_connections=16)) as client, \
                concurrent.futures.ThreadPoolExecutor(16) as workers:
            return list(workers.map(lambda _: client.get("/health").status_code, range(400)))

    assert set(burst(pool["base"])) == {200}
    assert 503 in burst(pool["unstable-under-load"])


def test_takedown_on_outage(pool: PlatformPool) -> None:
    # An outage during re-verification must leave a valid listing on sale (RES-02); the fault takes it down.
    window = TIMING["reverificationIntervalSeconds"] * 2
    for name, expected in (("base", "ON_SALE"), ("takedown-on-outage", "TAKEN_DOWN")):
        cert = certificate(pool)
        listing = pool[name].decided(pool[name].create(**fridge(cert))["listingId"])
        assert listing["state"] == "ON_SALE", name
        fault = pool.sim.add_fault("http-error", match={"certificateNo": cert["certificateNo"]},
                                   params={"status": 503})
        try:
            seen = pool[name].stays(listing["listingId"], "ON_SALE", window)
            assert seen["state"] == expected, name
        finally:
            pool.sim.remove_fault(fault)


def test_crash_on_bad_input(pool: PlatformPool) -> None:
    for name, expected in (("base", 400), ("crash-on-bad-input", 500)):
        response = pool[name].http.post("/listings", content=b"{not json", headers={"Content-Type": "application/json"})
        assert response.status_code == expected, name


# -- cause: events and edits, with re-verification left on (issue 11 §4) -----------------------------
def _outage(pool: PlatformPool, number: str) -> str:
    """Queries about the certificate answered 503, so only an event can change its listings."""
    return pool.sim.add_fault("http-error", match={"certificateNo": number}, ttl_seconds=60)


def test_drop_repeat_events(pool: PlatformPool) -> None:
    for name, expected in (("base", "TAKEN_DOWN"), ("drop-repeat-events", "ON_SALE")):
        platform = pool[name]
        cert, listing = on_sale(platform, pool)
        number = cert["certificateNo"]
        fault = _outage(pool, number)
        try:
            first = pool.sim.set_status(number, "VALID", reason="details amended")   # the certificate's first event
            event_id = first["eventId"]
            wait_until(lambda e=event_id: any(p.get("accepted") for p in pool.sim.pushes(event_id=e)), TAKEDOWN)
            pool.sim.set_status(number, "REVOKED")
            if expected == "TAKEN_DOWN":
                assert platform.wait_state(listing["listingId"], "TAKEN_DOWN", TAKEDOWN)["state"] == expected, name
            else:
                assert platform.stays(listing["listingId"], "ON_SALE", TAKEDOWN)["state"] == expected, name
        finally:
            pool.sim.remove_fault(fault)


# -- edge faults (issue 13): each breaks one variant, the main path stays right ----------------------
def today_in_shanghai() -> str:
    return datetime.now(signing.SHANGHAI).date().isoformat()


def test_brand_full_width(pool: PlatformPool) -> None:
    for name, expected in (("base", ("ON_SALE", None)), ("brand-full-width", ("INTERCEPTED", "HOLDER_MISMATCH"))):
        cert = certificate(pool, brand="Norvik")
        # Only the brand can match, and only once its full-width form is folded.
        fields = fridge(cert, brand="Ｎｏｒｖｉｋ", manufacturer="别家电器有限公司")
        assert outcome(pool[name], **fields) == expected, name
        assert outcome(pool[name], **fridge(cert, brand="NORVIK", manufacturer="别家电器有限公司")) == ("ON_SALE", None)


def test_events_touch_out_of_catalogue(pool: PlatformPool) -> None:
    for name, expected in (("base", "ON_SALE"), ("events-touch-out-of-catalogue", "TAKEN_DOWN")):
        platform = pool[name]
        cert = certificate(pool)
        book = platform.decided(platform.create(categoryId="books", certificateNo=cert["certificateNo"])["listingId"])
        assert book["state"] == "ON_SALE", book
        pool.sim.set_status(cert["certificateNo"], "REVOKED")
        if expected == "ON_SALE":
            assert platform.stays(book["listingId"], "ON_SALE", TAKEDOWN)["state"] == "ON_SALE", name
        else:
            assert platform.wait_state(book["listingId"], "TAKEN_DOWN", TAKEDOWN)["state"] == "TAKEN_DOWN", name


def test_self_declaration_anywhere(pool: PlatformPool) -> None:
    for name, expected in (("base", ("INTERCEPTED", "NO_CERTIFICATE")), ("self-declaration-anywhere", ("ON_SALE", None))):
        assert outcome(pool[name], **fridge(None, selfDeclarationNo="SD20250000000001")) == expected, name


def test_reverify_expiry_off_by_one(pool: PlatformPool) -> None:
    for name, expected in (("base", "ON_SALE"), ("reverify-expiry-off-by-one", "TAKEN_DOWN")):
        platform = pool[name]
        cert, listing = on_sale(platform, pool)
        # Valid on its expiry date: only re-verification (the fault's path) sees the change.
        pool.sim.update_certificate(cert["certificateNo"], expiryDate=today_in_shanghai())
        seen = platform.stays(listing["listingId"], "ON_SALE", REVERIFY + TAKEDOWN)
        assert (seen["state"], seen["reasonCode"]) == ((expected, None) if expected == "ON_SALE"
                                                       else (expected, "CERT_EXPIRED")), name


def test_ignore_expired_event(pool: PlatformPool) -> None:
    for name, expected in (("base", "TAKEN_DOWN"), ("ignore-expired-event", "ON_SALE")):
        platform = pool[name]
        cert, listing = on_sale(platform, pool)
        # Queries fail meanwhile, so only the event can take the listing down.
        fault = pool.sim.add_fault("http-error", match={"certificateNo": cert["certificateNo"]},
                                   params={"status": 503}, ttl_seconds=60)
        try:
            pool.sim.set_status(cert["certificateNo"], "EXPIRED")
            if expected == "TAKEN_DOWN":
                seen = platform.wait_state(listing["listingId"], "TAKEN_DOWN", TAKEDOWN)
                assert (seen["state"], seen["reasonCode"]) == ("TAKEN_DOWN", "CERT_EXPIRED"), name
            else:
                assert platform.stays(listing["listingId"], "ON_SALE", TAKEDOWN)["state"] == "ON_SALE", name
        finally:
            pool.sim.remove_fault(fault)


def test_events_at_reverification(pool: PlatformPool) -> None:
    for name in ("base", "events-at-reverification"):
        platform = pool[name]
        cert, listing = on_sale(platform, pool)
        lid, number = listing["listingId"], cert["certificateNo"]
        fault = _outage(pool, number)
        try:
            event = pool.sim.set_status(number, "REVOKED")
            assert platform.wait_state(lid, "TAKEN_DOWN", REVERIFY + TAKEDOWN)["state"] == "TAKEN_DOWN", name
            wait_until(lambda lid=lid: bool(pool.sim.dispositions(listing_id=lid)), TAKEDOWN)
            (report,) = pool.sim.dispositions(listing_id=lid)
            if name == "base":
                assert report.get("eventId") == event["eventId"], report
            else:   # made by the re-verification that came round, and reported as such
                assert "eventId" not in report and report.get("requestId"), report
        finally:
            pool.sim.remove_fault(fault)


def test_edit_at_reverification(pool: PlatformPool) -> None:
    for name in ("base", "edit-at-reverification"):
        platform = pool[name]
        _, listing = on_sale(platform, pool)
        edited = platform.edit(listing["listingId"], model="BCD-999")
        if name == "base":
            after = platform.decided(listing["listingId"])
        else:   # the edit changes nothing until the periodic re-verification comes round
            assert edited["state"] == "ON_SALE", edited
            after = platform.wait_state(listing["listingId"], "TAKEN_DOWN", REVERIFY + DECISION)
        assert (after["state"], after["reasonCode"]) == ("TAKEN_DOWN", "MODEL_NOT_COVERED"), name


# -- audit: every query recorded, records never rewritten (issue 11 §5) ------------------------------
def _edited_twice(platform: Platform, pool: PlatformPool) -> tuple[str, list[list[dict[str, Any]]]]:
    """A listing on sale edited to another covered model and back: three queries; records after each."""
    cert = certificate(pool, models=["BCD-215", "BCD-216"])
    lid = platform.decided(platform.create(**fridge(cert))["listingId"])["listingId"]
    seen = [platform.records(lid)]
    for model in ("BCD-216", "BCD-215"):
        platform.edit(lid, model=model)
        platform.decided(lid)
        seen.append(platform.records(lid))
    return lid, seen


def test_audit_first_only(pool: PlatformPool) -> None:
    for name, expected in (("base", [1, 2, 3]), ("audit-first-only", [1, 1, 1])):
        _, seen = _edited_twice(pool[name], pool)
        assert [len(s) for s in seen] == expected, name


def test_rewrite_records(pool: PlatformPool) -> None:
    _, base = _edited_twice(pool["base"], pool)
    assert base[1] == base[2][:2]
    _, faulty = _edited_twice(pool["rewrite-records"], pool)
    assert len(faulty[2]) == 2 and faulty[1][1]["recordId"] == faulty[2][1]["recordId"]
    assert faulty[1][1]["requestId"] != faulty[2][1]["requestId"]   # the second record was overwritten


def test_narrow_text_columns(pool: PlatformPool) -> None:
    for name, expected in (("base", 201), ("narrow-text-columns", 500)):
        response = pool[name].http.post("/listings", json={"merchantId": "m-narrow", "categoryId": "books",
                                                           "title": "长" * 300})
        assert response.status_code == expected, name


def test_restore_any_takedown(pool: PlatformPool) -> None:
    for name, expected in (("base", "TAKEN_DOWN"), ("restore-any-takedown", "ON_SALE")):
        platform = pool[name]
        cert, listing = on_sale(platform, pool)
        pool.sim.set_status(cert["certificateNo"], "REVOKED")
        assert platform.wait_state(listing["listingId"], "TAKEN_DOWN", TAKEDOWN)["state"] == "TAKEN_DOWN"
        pool.sim.set_status(cert["certificateNo"], "VALID")
        if expected == "ON_SALE":
            assert platform.wait_state(listing["listingId"], "ON_SALE", TAKEDOWN)["state"] == "ON_SALE", name
        else:
            assert platform.stays(listing["listingId"], "TAKEN_DOWN", TAKEDOWN)["state"] == "TAKEN_DOWN", name



def test_push_disables_polling(pool: PlatformPool) -> None:
    for name, expected in (("base", "TAKEN_DOWN"), ("push-disables-polling", "ON_SALE")):
        platform = pool[name]
        cert, listing = on_sale(platform, pool)
        fault = pool.sim.add_fault("http-error", match={"certificateNo": cert["certificateNo"]},
                                   params={"status": 503}, ttl_seconds=60)
        try:
            pool.sim.set_status(cert["certificateNo"], "REVOKED", push=False)  # only in the change feed
            window = TAKEDOWN + TIMING["pollIntervalSeconds"] + 1
            if expected == "TAKEN_DOWN":
                assert platform.wait_state(listing["listingId"], "TAKEN_DOWN", window)["state"] == "TAKEN_DOWN", name
            else:
                assert platform.stays(listing["listingId"], "ON_SALE", window)["state"] == "ON_SALE", name
        finally:
            pool.sim.remove_fault(fault)
