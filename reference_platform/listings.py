"""The listing service: listings are created, edited, verified and decided here.

Every change of a listing's state happens inside one store transaction together with its
verification record (AUD-01) and the disposition to report (RPT-01), so that the three never
disagree. The decision itself is :mod:`decision`'s; this module supplies the facts and the timing.
Periodic re-verification is in :mod:`reverification`, status-change events in :mod:`events`, the
background loops (pending queue, feed polling, the disposition sender) in :mod:`workers`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
import uuid
from collections.abc import Coroutine
from dataclasses import replace
from datetime import date
from typing import Any

from . import backoff, clock
from .config import Category, Codes, Settings
from .decision import ON_SALE, UNDECIDED, Basis, Checks, Submission, Verdict, after_answer, before_query
from .loadmeter import METER
from .normalise import is_blank
from .regulator import Answer, AnswerKind, RegulatorClient, new_request_id
from .store import Listing, Record, Store

log = logging.getLogger("reference_platform")

# How long a create or edit waits for the regulator before answering PENDING_VERIFICATION: long
# enough for a healthy regulator, short enough to keep the test-control interface's latency low.
SYNC_DECISION_SECONDS = 0.5
# The regulator's identifiers are at most 200 characters; the test-control interface allows 1,000.
REGULATOR_ID_MAX = 200

# Editing one of these re-verifies a listing (Clarifications: Edits); a self-declaration reference
# changes the listing's conformity basis just as a certificate number does.
REVERIFY_FIELDS = ("category_id", "certificate_no", "model", "brand", "manufacturer", "self_declaration_no")
API_FIELDS = {"merchantId": "merchant_id", "categoryId": "category_id", "title": "title", "brand": "brand",
              "model": "model", "manufacturer": "manufacturer", "certificateNo": "certificate_no",
              "selfDeclarationNo": "self_declaration_no"}


def regulator_merchant_id(merchant_id: str) -> str:
    """The merchant id as the regulator's interface can carry it (at most 200 characters).

    A longer id (the test-control interface accepts up to 1,000) is sent as a stable digest, so the
    request still validates and the same merchant always gets the same id.
    """
    if len(merchant_id) <= REGULATOR_ID_MAX:
        return merchant_id
    return "sha256:" + hashlib.sha256(merchant_id.encode("utf-8")).hexdigest()


class ListingService:
    def __init__(self, settings: Settings, store: Store, regulator: RegulatorClient) -> None:
        self.settings = settings
        self.store = store
        self.regulator = regulator
        self.terms = settings.terminology
        self.timing = settings.ics.timing
        self.checks = Checks.from_faults(settings.faults)
        self.wrong_under_load = settings.fault("wrong-under-load")
        self.self_declaration = bool(settings.ics.capabilities.get("selfDeclaration"))
        self.keep_records = not settings.fault("no-audit")
        self.report_actions = bool(settings.ics.capabilities.get("dispositionReporting")) \
            and not settings.fault("no-disposition-report")
        self.sync_wait = min(SYNC_DECISION_SECONDS, self.timing.listing_decision / 2)
        self.pending_wakeup = asyncio.Event()
        self.reverify_wakeup = asyncio.Event()
        self.dispositions_wakeup = asyncio.Event()
        self._in_flight: set[tuple[str, int]] = set()   # (listing, version) being verified
        self._tasks: set[asyncio.Task[Any]] = set()

    # -- plumbing -----------------------------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """A background task that is kept alive and whose failure is logged, not lost."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def category(self, category_id: str) -> Category:
        found = self.settings.ics.categories.get(category_id)
        # A category dropped from the ICS since the listing was made is no longer mapped to the catalogue.
        return found or Category(category_id, category_id, None, None)

    def submission(self, listing: Listing) -> Submission:
        return Submission(self.category(listing.category_id), listing.certificate_no, listing.self_declaration_no,
                          listing.model, listing.brand, listing.manufacturer)

    def today(self) -> date:
        return clock.today(self.settings.tz)

    # -- test-control operations --------------------------------------------------------------
    async def create(self, fields: dict[str, Any]) -> Listing:
        now = time.time()
        stamp = clock.rfc3339(now)
        listing = Listing(
            listing_id=str(uuid.uuid4()), merchant_id=fields["merchantId"], category_id=fields["categoryId"],
            title=fields["title"], brand=fields.get("brand"), model=fields.get("model"),
            manufacturer=fields.get("manufacturer"), certificate_no=fields.get("certificateNo"),
            self_declaration_no=fields.get("selfDeclarationNo"), basis=Basis.NONE.value, cert_no=None,
            state=Codes.PENDING, reason_code=None, version=1, was_on_sale=0, pending_since=None,
            next_attempt_at=None, attempts=0, cert_status=None, cert_expiry=None, last_verified_at=None,
            verified_epoch=None, created_at=stamp, updated_at=stamp)
        with self.store.transaction():
            self.store.insert_listing(listing)
            ask = self._begin_verification(listing, now)
        if ask:
            await self._verify_soon(listing.listing_id, listing.version)
        return self.store.listing(listing.listing_id) or listing

    async def edit(self, listing_id: str, fields: dict[str, Any]) -> Listing | None:
        now = time.time()
        with self.store.transaction():
            current = self.store.listing(listing_id)
            if current is None:
                return None
            edited = replace(current, **{API_FIELDS[k]: v for k, v in fields.items() if k in API_FIELDS},
                             updated_at=clock.rfc3339(now))
            changed = any(getattr(edited, f) != getattr(current, f) for f in REVERIFY_FIELDS)
            # A PATCH of an intercepted or taken-down listing is a resubmission: decided afresh (VER-12).
            resubmitted = current.state in (Codes.INTERCEPTED, Codes.TAKEN_DOWN)
            reverify = (changed or resubmitted) and not self.settings.fault("no-reverify-on-edit")
            if self.settings.fault("no-restore") and current.state == Codes.TAKEN_DOWN \
                    and current.reason_code in self.terms.restorable_reasons:
                reverify = False   # the fault: a suspended listing can never be re-listed either
            if reverify:
                # A failure after an edit of a listing on sale is a takedown, of one off sale an interception.
                on_sale_before = current.state == Codes.ON_SALE or (current.state == Codes.PENDING
                                                                     and bool(current.was_on_sale))
                edited = replace(edited, version=current.version + 1, was_on_sale=int(on_sale_before))
            self.store.update_listing(listing_id, **{f: getattr(edited, f) for f in (
                *API_FIELDS.values(), "updated_at", "version", "was_on_sale")})
            if reverify and current.state == Codes.ON_SALE and self.settings.fault("edit-at-reverification"):
                self._leave_to_reverification(edited)
                reverify = False
            ask = reverify and self._begin_verification(edited, now)
        if ask:
            await self._verify_soon(listing_id, edited.version)
        return self.store.listing(listing_id)

    def _leave_to_reverification(self, listing: Listing) -> None:
        """The edit-at-reverification fault: an edited listing on sale keeps its state and its last
        verification time; only the number it now carries is noted, so the next periodic
        re-verification (due when that time is old enough) is what checks the edit."""
        pre = before_query(self.submission(listing), self_declaration=self.self_declaration, checks=self.checks)
        verified = listing.verified_epoch if listing.verified_epoch is not None else time.time()
        self.store.update_listing(listing.listing_id, basis=pre.basis.value, cert_no=pre.certificate_no,
                                  verified_epoch=verified)

    # -- verification of new and edited listings ----------------------------------------------
    def _begin_verification(self, listing: Listing, now: float) -> bool:
        """Decide what needs no regulator; otherwise make the listing pending. True: ask the regulator."""
        pre = before_query(self.submission(listing), self_declaration=self.self_declaration, checks=self.checks)
        listing = replace(listing, basis=pre.basis.value, cert_no=pre.certificate_no)
        self.store.update_listing(listing.listing_id, basis=listing.basis, cert_no=listing.cert_no,
                                  cert_status=None, cert_expiry=None)
        if pre.verdict is not None:
            self._settle(listing, pre.verdict, now, None)
            return False
        # next_attempt_at stays empty while the first attempt is in flight; the pending loop
        # schedules retries, and a restart resumes listings left in flight.
        self.store.update_listing(listing.listing_id, state=Codes.PENDING, reason_code=None, pending_since=now,
                                  next_attempt_at=None, attempts=0)
        return True

    async def _verify_soon(self, listing_id: str, version: int) -> None:
        """Start the first attempt; answer the caller with the decision when it comes quickly."""
        task = self.spawn(self.attempt(listing_id, version))
        # Still running after the wait: the caller gets PENDING_VERIFICATION, the decision follows.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), self.sync_wait)

    async def attempt(self, listing_id: str, version: int) -> None:
        """One verification attempt for a pending listing."""
        key = (listing_id, version)
        listing = self.store.listing(listing_id)
        if key in self._in_flight or listing is None or listing.version != version \
                or listing.state != Codes.PENDING or listing.cert_no is None:
            return
        self._in_flight.add(key)
        try:
            mark = self.event_mark(listing.cert_no)
            answer = await self.regulator.verify(self.request_for(listing))
            if not answer.usable:
                log.info("verification of %s unusable: %s", listing_id, answer.detail or answer.kind.value)
            with self.store.transaction():
                self._conclude_pending(listing_id, version, answer, mark)
        finally:
            self._in_flight.discard(key)

    def request_for(self, listing: Listing) -> dict[str, Any]:
        """The verification request (specs/schemas/verification-request.schema.json)."""
        request: dict[str, Any] = {
            "requestId": new_request_id(),
            "listingId": listing.listing_id,
            "merchantId": regulator_merchant_id(listing.merchant_id),
            "certificateNo": listing.cert_no,
            "productCode": self.category(listing.category_id).product_code,
            "productName": listing.title,   # the profile: productName is the listing title
        }
        # Omitted when the listing has none: a blank value is no value.
        for key, value in (("brand", listing.brand), ("model", listing.model), ("manufacturer", listing.manufacturer)):
            if not is_blank(value):
                request[key] = value
        return request

    def event_mark(self, cert_no: str) -> int:
        state = self.store.certificate_state(cert_no)
        return state[2] if state else 0

    def verdict(self, listing: Listing, answer: Answer, mark: int,
                 event_state: tuple[int, str, int] | None, *, today: date | None = None
                 ) -> tuple[Verdict, dict[str, Any] | None]:
        """The decision from an answer, with any event applied since the request was sent winning over it.

        ``event_state`` is the certificate's last applied event (sequence, status, mark), if any;
        ``today`` the day to judge expiry by (default: today in the platform's time zone).
        """
        if answer.kind is AnswerKind.UNAVAILABLE:
            return UNDECIDED, None
        certificate = answer.certificate
        if certificate is not None and event_state is not None and event_state[2] > mark:
            certificate = {**certificate, "status": event_state[1]}
        decided_on = certificate
        if self.wrong_under_load and certificate is not None and METER.busy():
            decided_on = {**certificate, "status": self.terms.valid_status}   # the fault: status ignored
        return after_answer(self.submission(listing), answer.code, decided_on, today or self.today(), self.terms,
                            self.checks), certificate

    def _conclude_pending(self, listing_id: str, version: int, answer: Answer, mark: int) -> None:
        listing = self.store.listing(listing_id)
        if listing is None:
            return
        if listing.version != version or listing.state != Codes.PENDING:
            # Edited (or decided) while the question was out: the answer no longer applies, but the
            # attempt is still recorded.
            self.record(listing, answer, listing.state, listing.reason_code)
            return
        verdict, certificate = self.verdict(listing, answer, mark, self.store.certificate_state(listing.cert_no or ""))
        if not verdict.definite and self.settings.fault("fail-open"):
            verdict = ON_SALE
        if verdict.definite:
            self._settle(listing, verdict, time.time(), answer, certificate)
            return
        # Fail closed: still pending, tried again after a growing wait (Retry-After honoured).
        attempts = listing.attempts + 1
        wait = backoff.wait_before(attempts, self.settings.retry_cap)
        if answer.retry_after is not None:
            wait = max(wait, answer.retry_after)
        now = time.time()
        overdue = listing.pending_since is not None and now >= listing.pending_since + self.timing.listing_decision
        reason = Codes.VERIFICATION_UNAVAILABLE if overdue else None
        self.store.update_listing(listing_id, attempts=attempts, reason_code=reason,
                                  next_attempt_at=backoff.next_start(answer.started, answer.finished, wait))
        self.record(listing, answer, Codes.PENDING, reason)
        self.pending_wakeup.set()

    def _settle(self, listing: Listing, verdict: Verdict, now: float, answer: Answer | None,
                certificate: dict[str, Any] | None = None) -> None:
        """Put a listing being decided into its state; record the decision and report it."""
        # A listing that was on sale before this decision is taken down; one that was not, intercepted.
        state = Codes.ON_SALE if verdict.on_sale else Codes.TAKEN_DOWN if listing.was_on_sale else Codes.INTERCEPTED
        reason = None if verdict.on_sale else verdict.reason
        changes: dict[str, Any] = dict(state=state, reason_code=reason, pending_since=None, next_attempt_at=None,
                                       attempts=0, was_on_sale=0, updated_at=clock.rfc3339(now))
        if answer is not None and answer.kind is not AnswerKind.UNAVAILABLE:
            changes.update(self.verified_fields(answer, certificate))
        self.store.update_listing(listing.listing_id, **changes)
        self.record(listing, answer, state, reason)
        if state != Codes.ON_SALE:
            # A decision made without a query names a platform-generated request id (Dispositions).
            self.report(listing, state, reason, request_id=answer.request_id if answer else new_request_id())

    def verified_fields(self, answer: Answer, certificate: dict[str, Any] | None) -> dict[str, Any]:
        """What a definite answer tells the listing: the status buyers see, the expiry, the time checked."""
        status = (certificate or {}).get("status")
        return dict(cert_status=status if status in self.terms.statuses else None,
                    cert_expiry=(certificate or {}).get("expiryDate"),
                    last_verified_at=answer.responded_at, verified_epoch=answer.finished)

    # -- records and reports ------------------------------------------------------------------
    def record(self, listing: Listing, answer: Answer | None, decision: str, reason: str | None) -> None:
        if not self.keep_records:
            return
        if answer is None:
            number = listing.cert_no or (None if is_blank(listing.certificate_no) else listing.certificate_no)
            record = Record(listing.listing_id, number, None, clock.rfc3339(), None, None, decision, reason)
        else:
            record = Record(listing.listing_id, listing.cert_no, answer.request_id, answer.requested_at,
                            answer.responded_at, answer.outcome, decision, reason)
        if self.settings.fault("audit-first-only") and self.store.record_count(listing.listing_id):
            return   # the fault: only a listing's first query is kept
        if answer is not None and self.settings.fault("rewrite-records") \
                and self.store.record_count(listing.listing_id) > 1:
            # The fault: one record per listing after the first, overwritten by each later query.
            self.store.rewrite_last_record(record)
            return
        self.store.add_record(record)

    def report(self, listing: Listing, action: str, reason: str | None, *, request_id: str | None = None,
                event_id: str | None = None) -> None:
        """Queue one disposition report in the outbox; the sender retries it until accepted."""
        if not self.report_actions:
            return
        now = time.time()
        body: dict[str, Any] = {
            "dispositionId": str(uuid.uuid4()),
            "listingId": listing.listing_id,
            "merchantId": regulator_merchant_id(listing.merchant_id),
            "certificateNo": listing.cert_no if listing.basis == Basis.CERTIFICATE.value else None,
            "action": action,
            "reasonCode": reason,
            "decidedAt": clock.rfc3339(now),
        }
        body["eventId" if event_id else "requestId"] = event_id or request_id
        self.store.add_disposition(body, now)
        if self.settings.fault("duplicate-disposition"):
            self.store.add_disposition({**body, "dispositionId": str(uuid.uuid4())}, now)
        self.dispositions_wakeup.set()

    # -- pending queue ------------------------------------------------------------------------
    def due_pending(self, limit: int) -> list[Listing]:
        now = time.time()
        self.store.mark_overdue_pending(now - self.timing.listing_decision, Codes.VERIFICATION_UNAVAILABLE)
        due = [d for d in self.store.due_pending(now, limit) if (d.listing_id, d.version) not in self._in_flight]
        for listing in due:
            self.store.update_listing(listing.listing_id, next_attempt_at=None)
        return due

    def resume_pending(self) -> None:
        """After a restart, attempts that were in flight are due again."""
        self.store.resume_pending(Codes.PENDING, time.time())
