"""Status-change events: applied once per eventId, never overridden by an older sequence (TKD-07).

The listing service runs on a real SQLite store here, without any network: listings are put on sale
directly and events applied as the notification endpoint or the feed poller would apply them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from reference_platform import clock
from reference_platform.__main__ import parser, settings_from
from reference_platform.events import EventApplier, check_event
from reference_platform.listings import ListingService
from reference_platform.regulator import Answer, AnswerKind, RegulatorClient
from reference_platform.store import Listing, Store

NUMBER = "2021010701123456"


class Platform(ListingService):
    """The listing service with its event applier, as the app wires them."""

    def __init__(self, tmp_path: Path, *faults: str) -> None:
        args = parser().parse_args(["--regulator-url", "http://127.0.0.1:9", "--platform-id", "p",
                                    "--platform-secret", "s", *[a for f in faults for a in ("--fault", f)]])
        settings = settings_from(args, tmp_path / "platform.db")
        super().__init__(settings, Store(settings.db_path), RegulatorClient(settings))
        self.events = EventApplier(self, asyncio.Event())

    def apply_event(self, event: dict[str, Any], source: str) -> str:
        return self.events.apply(event, source)


def service(tmp_path: Path, *faults: str) -> Platform:
    return Platform(tmp_path, *faults)


def put(svc: Platform, *, state: str = "ON_SALE", cert_no: str | None = NUMBER, basis: str = "certificate",
        merchant: str = "m1", reason: str | None = None, category: str = "fridge") -> str:
    stamp = clock.rfc3339()
    listing = Listing(
        listing_id=str(uuid.uuid4()), merchant_id=merchant, category_id=category, title="冰箱", brand="海尔",
        model="BCD-215", manufacturer=None, certificate_no=cert_no, self_declaration_no=None, basis=basis,
        cert_no=cert_no, state=state, reason_code=reason, version=1, was_on_sale=0, pending_since=None,
        next_attempt_at=None, attempts=0, cert_status="VALID", cert_expiry="2030-01-01", last_verified_at=stamp,
        verified_epoch=time.time(), created_at=stamp, updated_at=stamp)
    svc.store.insert_listing(listing)
    return listing.listing_id


def event(status: str, sequence: int, cert_no: str = NUMBER) -> dict[str, Any]:
    return {"eventId": str(uuid.uuid4()), "sequence": sequence, "certificateNo": cert_no, "previousStatus": "VALID",
            "status": status, "effectiveAt": clock.rfc3339(), "reason": ""}


def state(svc: Platform, listing_id: str) -> tuple[str, str | None]:
    listing = svc.store.listing(listing_id)
    assert listing is not None
    return listing.state, listing.reason_code


def reports(svc: Platform, listing_id: str) -> list[tuple[str, str | None]]:
    return [(d["action"], d["reasonCode"]) for d in svc.store.dispositions(listing_id)]


def test_a_duplicate_event_is_applied_once(tmp_path: Path) -> None:
    svc = service(tmp_path)
    listing = put(svc)
    suspended = event("SUSPENDED", 1)
    assert svc.apply_event(suspended, "push") == "applied"
    assert svc.apply_event(suspended, "poll") == "duplicate"
    assert state(svc, listing) == ("TAKEN_DOWN", "CERT_SUSPENDED")
    assert reports(svc, listing) == [("TAKEN_DOWN", "CERT_SUSPENDED")]


def test_an_older_event_never_overrides_a_newer_one(tmp_path: Path) -> None:
    svc = service(tmp_path)
    listing = put(svc)
    suspended, lifted = event("SUSPENDED", 7), event("VALID", 8)
    assert svc.apply_event(lifted, "push") == "applied"
    assert svc.apply_event(suspended, "push") == "stale"
    assert state(svc, listing) == ("ON_SALE", None)
    assert reports(svc, listing) == []


def test_a_lifted_suspension_restores_with_the_reason_lifted(tmp_path: Path) -> None:
    svc = service(tmp_path)
    listing = put(svc)
    svc.apply_event(event("SUSPENDED", 1), "push")
    svc.apply_event(event("VALID", 2), "push")
    assert state(svc, listing) == ("ON_SALE", None)
    assert reports(svc, listing) == [("TAKEN_DOWN", "CERT_SUSPENDED"), ("RESTORED", "CERT_SUSPENDED")]
    restored = svc.store.dispositions(listing)[1]
    assert "eventId" in restored and "requestId" not in restored


def test_a_revocation_during_suspension_renames_the_reason_only(tmp_path: Path) -> None:
    svc = service(tmp_path)
    listing = put(svc)
    svc.apply_event(event("SUSPENDED", 1), "push")
    svc.apply_event(event("REVOKED", 2), "push")
    svc.apply_event(event("VALID", 3), "push")   # a revocation is not lifted by VALID
    assert state(svc, listing) == ("TAKEN_DOWN", "CERT_REVOKED")
    assert reports(svc, listing) == [("TAKEN_DOWN", "CERT_SUSPENDED")]


def test_only_listings_on_that_certificate_are_touched(tmp_path: Path) -> None:
    svc = service(tmp_path)
    affected = [put(svc, merchant="m1"), put(svc, merchant="m2")]
    other = put(svc, cert_no="2021010701999999", merchant="m1")
    books = put(svc, basis="out-of-catalogue", category="books")     # carries no normalised number
    intercepted = put(svc, state="INTERCEPTED", reason="MODEL_NOT_COVERED")
    svc.apply_event(event("CANCELLED", 1), "push")
    assert [state(svc, x) for x in affected] == [("TAKEN_DOWN", "CERT_CANCELLED")] * 2
    assert state(svc, other) == ("ON_SALE", None)
    assert state(svc, books) == ("ON_SALE", None)
    assert state(svc, intercepted) == ("INTERCEPTED", "MODEL_NOT_COVERED")


def test_an_unknown_status_takes_listings_on_sale_down(tmp_path: Path) -> None:
    svc = service(tmp_path)
    listing = put(svc)
    svc.apply_event(event("FROZEN", 1), "push")
    assert state(svc, listing) == ("TAKEN_DOWN", "VERIFICATION_UNAVAILABLE")
    assert reports(svc, listing) == [("TAKEN_DOWN", "VERIFICATION_UNAVAILABLE")]
    # A later definite status names the reason, without a second report.
    svc.apply_event(event("REVOKED", 2), "push")
    assert state(svc, listing) == ("TAKEN_DOWN", "CERT_REVOKED")
    assert len(reports(svc, listing)) == 1


def test_an_event_wins_over_the_answer_to_an_earlier_request(tmp_path: Path) -> None:
    svc = service(tmp_path)
    listing_id = put(svc, state="PENDING_VERIFICATION")
    svc.store.update_listing(listing_id, pending_since=time.time())
    mark = svc.event_mark(NUMBER)              # the request goes out ...
    svc.apply_event(event("REVOKED", 1), "push")  # ... the revocation arrives ...
    record = {"certificateNo": NUMBER, "status": "VALID", "productCode": "0701", "models": ["BCD-215"],
              "brand": "海尔", "applicant": "a", "manufacturer": "b", "factory": "c", "expiryDate": "2030-01-01"}
    now = time.time()
    answer = Answer(str(uuid.uuid4()), AnswerKind.OK, record, clock.rfc3339(now), clock.rfc3339(now), now, now)
    with svc.store.transaction():               # ... and then the (older) answer VALID
        svc._conclude_pending(listing_id, 1, answer, mark)
    assert state(svc, listing_id) == ("INTERCEPTED", "CERT_REVOKED")
    assert svc.store.records(listing_id)[-1]["outcome"] == "VALID"   # the record keeps what the regulator said


@pytest.mark.parametrize(("fault", "expected"), [
    ("ignore-order", ("TAKEN_DOWN", "CERT_SUSPENDED")),
    ("no-takedown", ("ON_SALE", None)),
])
def test_faults(tmp_path: Path, fault: str, expected: tuple[str, str | None]) -> None:
    svc = service(tmp_path, fault)
    listing = put(svc)
    svc.apply_event(event("VALID", 8), "push")
    svc.apply_event(event("SUSPENDED", 7), "push")
    assert state(svc, listing) == expected


def test_collateral_takedown_fault(tmp_path: Path) -> None:
    svc = service(tmp_path, "collateral-takedown")
    listing, bystander = put(svc, merchant="m1"), put(svc, merchant="m1", cert_no="2021010701999999")
    svc.apply_event(event("REVOKED", 1), "push")
    assert state(svc, listing) == state(svc, bystander) == ("TAKEN_DOWN", "CERT_REVOKED")


def test_duplicate_disposition_fault(tmp_path: Path) -> None:
    svc = service(tmp_path, "duplicate-disposition")
    listing = put(svc)
    svc.apply_event(event("REVOKED", 1), "push")
    ids = {d["dispositionId"] for d in svc.store.dispositions(listing)}
    assert len(ids) == 2


@pytest.mark.parametrize(("status", "accepted"), [
    ("SUSPENDED", True),
    ("PROVISIONAL", True),           # well-formed, unknown: accepted, fails closed when applied
    ("A" * 32, True),
    ("provisional", False),          # malformed: schema-invalid, refused
    ("UNDER-REVIEW", False),
    ("A" * 33, False),
    ("", False),
])
def test_event_statuses_are_open_ended_codes(tmp_path: Path, status: str, accepted: bool) -> None:
    settings = service(tmp_path).settings
    checked = check_event(event(status, 1), settings.schemas, settings.terminology)
    assert (checked.event is not None) is accepted, checked.error
    assert (checked.error is None) is accepted


def test_ignore_unknown_status_event_fault(tmp_path: Path) -> None:
    svc = service(tmp_path, "ignore-unknown-status-event")
    listing, other = put(svc), put(svc, cert_no="2021010701999999")
    assert svc.apply_event(event("PROVISIONAL", 1), "push") == "accepted"
    assert state(svc, listing) == ("ON_SALE", None)
    assert reports(svc, listing) == []
    # Known statuses are still applied: the fault is as narrow as its name.
    svc.apply_event(event("REVOKED", 1, cert_no="2021010701999999"), "push")
    assert state(svc, other) == ("TAKEN_DOWN", "CERT_REVOKED")
