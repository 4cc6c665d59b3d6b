"""Status-change events, pushed or polled (profile.md §2 Rules: Events, Takedown; Clarifications: Events).

Both routes deliver the same body and end here. An event is checked against its schema, which
admits any well-formed status code: a status outside the code list is an *unknown status*, accepted
and applied as never valid, because a listing on sale under it must come down (RES-05); a malformed
status makes the event schema-invalid (400/422, nothing changes). A checked event is applied once
per ``eventId``, never after a newer ``sequence`` of the same certificate, to the listings verified
on that certificate (TKD-01, TKD-02, TKD-05, TKD-07): what it does to each is
:func:`decision.event_effect`'s answer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import clock
from .config import Codes, Schemas, Terminology
from .decision import Basis, event_effect, expired
from .normalise import certificate_number
from .store import Listing

if TYPE_CHECKING:
    from .listings import ListingService

SCHEMA = "status-change-event"


@dataclass(frozen=True)
class Checked:
    event: dict[str, Any] | None
    error: str | None          # why the event is refused (schema-invalid), None when accepted


# The database keeps sequences as SQLite integers (64-bit); a larger one cannot be a real event.
MAX_SEQUENCE = 2**63 - 1


def check_event(payload: Any, schemas: Schemas, terms: Terminology) -> Checked:
    if not isinstance(payload, dict):
        return Checked(None, "an event is a JSON object")
    sequence = payload.get("sequence")
    if isinstance(sequence, int | float) and not isinstance(sequence, bool) and sequence > MAX_SEQUENCE:
        return Checked(None, f"/sequence: {sequence} is out of range")
    # The schema holds a status to a well-formed code, not to the code list (profile Clarifications:
    # status codes are open-ended): an unknown status passes here and fails closed when applied; a
    # malformed one is refused.
    if schemas.is_valid(SCHEMA, payload):
        return Checked(payload, None)
    errors = schemas.errors(SCHEMA, payload)
    return Checked(None, f"schema-invalid event ({errors[0] if errors else '?'})")


class EventApplier:
    def __init__(self, service: ListingService, wake_reverifier: asyncio.Event) -> None:
        self.service = service
        self.store = service.store
        self.wake_reverifier = wake_reverifier
        settings = service.settings
        self.ignore = settings.fault("no-takedown")
        self.ignore_order = settings.fault("ignore-order")
        self.delay = 2 * settings.ics.timing.takedown_deadline if settings.fault("slow-takedown") else 0.0
        self.collateral = settings.fault("collateral-takedown")
        # drop-repeat-events: only the first event received per certificate is acted on.
        self.drop_repeats = settings.fault("drop-repeat-events")
        self._certificates_seen: set[str] = set()
        # events-at-reverification: events wait for the certificate's next periodic re-verification.
        self.defer_to_reverification = settings.fault("events-at-reverification")
        self._deferred: dict[str, list[tuple[dict[str, Any], int]]] = {}
        self.ignore_unknown = settings.fault("ignore-unknown-status-event")
        self.ignore_expired = settings.fault("ignore-expired-event")
        self.touch_out_of_catalogue = settings.fault("events-touch-out-of-catalogue")

    def apply(self, event: dict[str, Any], source: str) -> str:
        """Apply one checked event: 'applied', 'duplicate', 'stale', or 'accepted' (acted on later, or not)."""
        with self.store.transaction():
            row = self.store.insert_event(event, source, clock.rfc3339())
            if row is None:
                return "duplicate"
            unknown_ignored = self.ignore_unknown and event["status"] not in self.service.terms.statuses
            if self.ignore or self._dropped(event) or unknown_ignored:
                self.store.set_event_outcome(row, "ignored")
                return "accepted"
            if self.defer_to_reverification:
                self.store.set_event_outcome(row, "deferred")
                self._deferred.setdefault(event["certificateNo"], []).append((event, row))
                return "accepted"
            if self._stale(event):
                self.store.set_event_outcome(row, "stale")
                return "stale"
            if self.delay:
                self.store.set_event_outcome(row, "deferred")
                asyncio.get_running_loop().call_later(self.delay, self._apply_late, event, row)
                return "accepted"
            self._effects(event, row)
            self.store.set_event_outcome(row, "applied")
        return "applied"

    def _dropped(self, event: dict[str, Any]) -> bool:
        """The drop-repeat-events fault: every event after the first of its certificate is lost."""
        if not self.drop_repeats:
            return False
        cert_no = event["certificateNo"]
        if cert_no in self._certificates_seen:
            return True
        self._certificates_seen.add(cert_no)
        return False

    def apply_deferred(self, cert_no: str, request_id: str | None) -> bool:
        """The events-at-reverification fault: the re-verification of a certificate applies the events
        that waited for it, in sequence order, and reports what they did under its own query's
        requestId (the re-verification, not the event, made the change). True when one was applied."""
        waiting = self._deferred.pop(cert_no, [])
        applied = False
        with self.store.transaction():
            for event, row in sorted(waiting, key=lambda pair: pair[0]["sequence"]):
                if self._stale(event):
                    self.store.set_event_outcome(row, "stale")
                    continue
                self._effects(event, row, request_id=request_id)
                self.store.set_event_outcome(row, "applied")
                applied = True
        return applied

    def _stale(self, event: dict[str, Any]) -> bool:
        """Per certificate, an event whose sequence is not above the last applied one is ignored."""
        if self.ignore_order:
            return False
        state = self.store.certificate_state(event["certificateNo"])
        return state is not None and event["sequence"] <= state[0]

    def _apply_late(self, event: dict[str, Any], row: int) -> None:
        """The slow-takedown fault: the event acted on only now."""
        with self.store.transaction():
            if self._stale(event):
                self.store.set_event_outcome(row, "stale")
                return
            self._effects(event, row)
            self.store.set_event_outcome(row, "applied")

    def _effects(self, event: dict[str, Any], row: int, *, request_id: str | None = None) -> None:
        service = self.service
        cert_no, status = event["certificateNo"], event["status"]
        # Remembered first: a verification answer to a request sent before this event loses to it.
        self.store.set_certificate_state(cert_no, event["sequence"], status, row)
        today = service.today()
        known = status in service.terms.statuses
        taken_down: list[tuple[Listing, str | None]] = []
        if self.ignore_expired and service.terms.reason_for_status.get(status) == Codes.CERT_EXPIRED:
            return  # the ignore-expired-event fault: expiry left to the dates
        # Only listings verified on this certificate: out-of-catalogue and self-declared listings
        # are never touched by events, even when they carry the number.
        affected = self.store.listings_on_certificate(cert_no, Basis.CERTIFICATE.value)
        if self.touch_out_of_catalogue:  # the events-touch-out-of-catalogue fault
            affected += [x for x in self.store.listings_with_basis(Basis.OUT_OF_CATALOGUE.value)
                         if certificate_number(x.certificate_no)[1] == cert_no]
        for listing in affected:
            changes: dict[str, Any] = {}
            if known and listing.state != Codes.PENDING:
                changes["cert_status"] = status   # what buyers see next to the number
            effect = event_effect(status, listing.state, listing.reason_code,
                                  expired_now=expired(listing.cert_expiry, today), terms=service.terms,
                                  checks=service.checks)
            if effect is not None:
                changes.update(state=effect.state, reason_code=effect.reason, updated_at=clock.rfc3339())
                if effect.reverify:
                    changes["verified_epoch"] = None   # due for re-verification at once
                    self.wake_reverifier.set()
                if effect.action:
                    # RESTORED carries the reason that was lifted.
                    reason = listing.reason_code if effect.action == Codes.RESTORED else effect.reason
                    service.report(listing, effect.action, reason, request_id=request_id,
                                   event_id=None if request_id else event["eventId"])
                if effect.action == Codes.TAKEN_DOWN:
                    taken_down.append((listing, effect.reason))
            self.store.update_listing(listing.listing_id, **changes)
        if self.collateral:
            self._collateral(taken_down, event)

    def _collateral(self, taken_down: list[tuple[Listing, str | None]], event: dict[str, Any]) -> None:
        """The collateral-takedown fault: the same merchant's other listings on sale come down too."""
        done = {listing.listing_id for listing, _ in taken_down}
        for listing, reason in taken_down:
            for other in self.store.merchant_listings(listing.merchant_id, Codes.ON_SALE):
                if other.listing_id not in done:
                    done.add(other.listing_id)
                    self.store.update_listing(other.listing_id, state=Codes.TAKEN_DOWN, reason_code=reason,
                                              updated_at=clock.rfc3339())
                    self.service.report(other, Codes.TAKEN_DOWN, reason, event_id=event["eventId"])
