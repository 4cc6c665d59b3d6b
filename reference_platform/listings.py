"""The listing service: how a listing is verified, decided, taken down, restored and reported.

Every change of a listing's state goes through here, inside one store transaction together with its
verification record (AUD-01) and the disposition to report (RPT-01), so that the three never
disagree. The decision itself is :mod:`decision`'s; this module supplies the facts and the timing.
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
from typing import Any

from . import backoff, clock
from .config import Category, Codes, Settings
from .decision import (
    ON_SALE,
    UNDECIDED,
    Basis,
    Checks,
    Submission,
    Verdict,
    after_answer,
    before_query,
    event_effect,
    expired,
)
from .events import check_event
from .normalise import is_blank
from .regulator import Answer, AnswerKind, RegulatorClient, new_request_id
from .store import Listing, Record, Store

log = logging.getLogger("reference_platform")

# How long a create or edit waits for the regulator before answering PENDING_VERIFICATION: long
# enough for a healthy regulator, short enough to keep the test-control interface's latency low.
SYNC_DECISION_SECONDS = 0.5
# Re-verify listings when their last verification is this share of the interval old, so that the
# loop's own period and a slow regulator still keep every listing within the declared interval.
REVERIFY_AGE_FRACTION = 0.5
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
        self.self_declaration = bool(settings.ics.capabilities.get("selfDeclaration"))
        self.keep_records = not settings.fault("no-audit")
        self.report_actions = bool(settings.ics.capabilities.get("dispositionReporting")) \
            and not settings.fault("no-disposition-report")
        self.sync_wait = min(SYNC_DECISION_SECONDS, self.timing.listing_decision / 2)
        self._ignores_status_changes = settings.fault("no-takedown") or settings.fault("slow-takedown")
        self.pending_wakeup = asyncio.Event()
        self.reverify_wakeup = asyncio.Event()
        self.dispositions_wakeup = asyncio.Event()
        self._in_flight: set[tuple[str, int]] = set()          # (listing, version) being verified
        self._reverifying: set[str] = set()                     # certificates being re-verified
        self._answers: dict[str, tuple[float, Answer, int]] = {}  # re-verification answer reuse
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

    def today(self) -> Any:
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
            if reverify:
                # A failure after an edit of a listing on sale is a takedown, of one off sale an interception.
                on_sale_before = current.state == Codes.ON_SALE or (current.state == Codes.PENDING
                                                                     and bool(current.was_on_sale))
                edited = replace(edited, version=current.version + 1, was_on_sale=int(on_sale_before))
            self.store.update_listing(listing_id, **{f: getattr(edited, f) for f in (
                *API_FIELDS.values(), "updated_at", "version", "was_on_sale")})
            ask = reverify and self._begin_verification(edited, now)
        if ask:
            await self._verify_soon(listing_id, edited.version)
        return self.store.listing(listing_id)

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
            mark = self._event_mark(listing.cert_no)
            answer = await self.regulator.verify(self._request(listing))
            if not answer.usable:
                log.info("verification of %s unusable: %s", listing_id, answer.detail or answer.kind.value)
            with self.store.transaction():
                self._conclude_pending(listing_id, version, answer, mark)
        finally:
            self._in_flight.discard(key)

    def _request(self, listing: Listing) -> dict[str, Any]:
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

    def _event_mark(self, cert_no: str) -> int:
        state = self.store.certificate_state(cert_no)
        return state[2] if state else 0

    def _verdict(self, listing: Listing, answer: Answer, mark: int,
                 event_state: tuple[int, str, int] | None) -> tuple[Verdict, dict[str, Any] | None]:
        """The decision from an answer, with any event applied since the request was sent winning over it.

        ``event_state`` is the certificate's last applied event (sequence, status, mark), if any.
        """
        if answer.kind is AnswerKind.UNAVAILABLE:
            return UNDECIDED, None
        certificate = answer.certificate
        if certificate is not None and event_state is not None and event_state[2] > mark:
            certificate = {**certificate, "status": event_state[1]}
        return after_answer(self.submission(listing), answer.code, certificate, self.today(), self.terms,
                            self.checks), certificate

    def _conclude_pending(self, listing_id: str, version: int, answer: Answer, mark: int) -> None:
        listing = self.store.listing(listing_id)
        if listing is None:
            return
        if listing.version != version or listing.state != Codes.PENDING:
            # Edited (or decided) while the question was out: the answer no longer applies, but the
            # attempt is still recorded.
            self._record(listing, answer, listing.state, listing.reason_code)
            return
        verdict, certificate = self._verdict(listing, answer, mark, self.store.certificate_state(listing.cert_no or ""))
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
        self._record(listing, answer, Codes.PENDING, reason)
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
            changes.update(self._verified(answer, certificate))
        self.store.update_listing(listing.listing_id, **changes)
        self._record(listing, answer, state, reason)
        if state != Codes.ON_SALE:
            # A decision made without a query names a platform-generated request id (Dispositions).
            self._report(listing, state, reason, request_id=answer.request_id if answer else new_request_id())

    def _verified(self, answer: Answer, certificate: dict[str, Any] | None) -> dict[str, Any]:
        """What a definite answer tells the listing: the status buyers see, the expiry, the time checked."""
        status = (certificate or {}).get("status")
        return dict(cert_status=status if status in self.terms.statuses else None,
                    cert_expiry=(certificate or {}).get("expiryDate"),
                    last_verified_at=answer.responded_at, verified_epoch=answer.finished)

    # -- records and reports ------------------------------------------------------------------
    def _record(self, listing: Listing, answer: Answer | None, decision: str, reason: str | None) -> None:
        if not self.keep_records:
            return
        if answer is None:
            number = listing.cert_no or (None if is_blank(listing.certificate_no) else listing.certificate_no)
            record = Record(listing.listing_id, number, None, clock.rfc3339(), None, None, decision, reason)
        else:
            record = Record(listing.listing_id, listing.cert_no, answer.request_id, answer.requested_at,
                            answer.responded_at, answer.outcome, decision, reason)
        self.store.add_record(record)

    def _report(self, listing: Listing, action: str, reason: str | None, *, request_id: str | None = None,
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

    # -- periodic re-verification (Rules: Re-verification; TKD-03) ------------------------------
    async def reverify_due(self, page: int = 500) -> int:
        """Re-verify every listing whose last verification is getting old; one query per certificate.

        Due listings are taken a page at a time, so that a large catalogue never blocks the event
        loop for long; a listing whose answer was unusable stays due but is tried once per round.
        """
        threshold = time.time() - self.timing.reverification_interval * REVERIFY_AGE_FRACTION
        # On sale, and taken down for an unknown status: off sale "until a definite answer".
        watch = [(Codes.ON_SALE, None), (Codes.TAKEN_DOWN, Codes.VERIFICATION_UNAVAILABLE)]
        attempted: set[str] = set()
        certificates = 0
        self._forget_old_answers()
        while True:
            due = [listing for listing in self.store.due_reverification(Basis.CERTIFICATE.value, watch, threshold,
                                                                        page + len(attempted))
                   if listing.listing_id not in attempted]
            if not due:
                return certificates
            groups: dict[str, list[Listing]] = {}
            for listing in due[:page]:
                attempted.add(listing.listing_id)
                if listing.cert_no and listing.cert_no not in self._reverifying:
                    groups.setdefault(listing.cert_no, []).append(listing)
            await asyncio.gather(*(self._reverify_certificate(c, ls) for c, ls in groups.items()))
            certificates += len(groups)

    def _forget_old_answers(self) -> None:
        limit = time.monotonic() - self.settings.profile.answer_reuse
        for cert_no in [c for c, (at, _, _) in self._answers.items() if at < limit]:
            del self._answers[cert_no]

    async def _reverify_certificate(self, cert_no: str, listings: list[Listing]) -> None:
        self._reverifying.add(cert_no)
        try:
            cached = self._answers.get(cert_no)
            if cached and time.monotonic() - cached[0] <= self.settings.profile.answer_reuse:
                _, answer, mark = cached
            else:
                mark = self._event_mark(cert_no)
                answer = await self.regulator.verify(self._request(listings[0]))
                if answer.kind is not AnswerKind.UNAVAILABLE:
                    self._answers[cert_no] = (time.monotonic(), answer, mark)
            with self.store.transaction():
                # One read for the whole group: these run for every listing on sale, all the time.
                current = self.store.listings_by_id([listing.listing_id for listing in listings])
                event_state = self.store.certificate_state(cert_no)
                for listing in listings:
                    now = current.get(listing.listing_id)
                    if now is not None:
                        self._conclude_reverification(listing, now, answer, mark, event_state)
        finally:
            self._reverifying.discard(cert_no)

    def _conclude_reverification(self, before: Listing, listing: Listing, answer: Answer, mark: int,
                                 event_state: tuple[int, str, int] | None) -> None:
        if (listing.version, listing.state, listing.reason_code) != (before.version, before.state, before.reason_code) \
                or answer.kind is AnswerKind.UNAVAILABLE:
            # Changed meanwhile, or no usable answer: an outage leaves a listing on sale (RES-02).
            self._record(listing, answer, listing.state, listing.reason_code)
            return
        verdict, certificate = self._verdict(listing, answer, mark, event_state)
        if self._ignores_status_changes and listing.state == Codes.ON_SALE and verdict.reason in self.terms.status_reasons:
            # The faults that miss status changes must not have re-verification make up for them,
            # or they would not be observable; expiry dates are still caught (TKD-03).
            verdict = after_answer(self.submission(listing), answer.code,
                                   {**(certificate or {}), "status": self.terms.valid_status}, self.today(),
                                   self.terms, self.checks)
        now = time.time()
        stamp = clock.rfc3339(now)
        if listing.state == Codes.ON_SALE:
            if verdict.on_sale:
                self.store.update_listing(listing.listing_id, **self._verified(answer, certificate))
                self._record(listing, answer, Codes.ON_SALE, None)
                return
            # A definite failure, or an unknown status (never valid): off sale now.
            changes = dict(state=Codes.TAKEN_DOWN, reason_code=verdict.reason, updated_at=stamp)
            if verdict.definite:
                changes.update(self._verified(answer, certificate))
            self.store.update_listing(listing.listing_id, **changes)
            self._record(listing, answer, Codes.TAKEN_DOWN, verdict.reason)
            self._report(listing, Codes.TAKEN_DOWN, verdict.reason, request_id=answer.request_id)
            return
        # Taken down and waiting for a definite answer.
        if not verdict.definite:
            self._record(listing, answer, listing.state, listing.reason_code)
            return
        changes = self._verified(answer, certificate)
        if verdict.on_sale and self.checks.restore:
            changes.update(state=Codes.ON_SALE, reason_code=None, updated_at=stamp)
            self.store.update_listing(listing.listing_id, **changes)
            self._record(listing, answer, Codes.ON_SALE, None)
            # RESTORED carries the reason that was lifted.
            self._report(listing, Codes.RESTORED, listing.reason_code, request_id=answer.request_id)
            return
        reason = listing.reason_code if verdict.on_sale else verdict.reason
        changes.update(reason_code=reason)
        self.store.update_listing(listing.listing_id, **changes)
        self._record(listing, answer, listing.state, reason)

    # -- status-change events (TKD-01, TKD-02, TKD-05, TKD-07) --------------------------------
    def apply_event(self, event: dict[str, Any], source: str) -> str:
        """Apply one checked event once: 'applied', 'duplicate', 'stale', or 'accepted' (acted on later or not)."""
        with self.store.transaction():
            row = self.store.insert_event(event, source, clock.rfc3339())
            if row is None:
                return "duplicate"
            if self.settings.fault("no-takedown"):
                self.store.set_event_outcome(row, "ignored")
                return "accepted"
            if self._is_stale(event):
                self.store.set_event_outcome(row, "stale")
                return "stale"
            if self.settings.fault("slow-takedown"):
                self.store.set_event_outcome(row, "deferred")
                delay = 2 * self.timing.takedown_deadline
                asyncio.get_running_loop().call_later(delay, self._apply_deferred, event, row)
                return "accepted"
            self._apply_effects(event, row)
            self.store.set_event_outcome(row, "applied")
        return "applied"

    def _is_stale(self, event: dict[str, Any]) -> bool:
        """Per certificate, an event whose sequence is not above the last applied one is ignored."""
        if self.settings.fault("ignore-order"):
            return False
        state = self.store.certificate_state(event["certificateNo"])
        return state is not None and event["sequence"] <= state[0]

    def _apply_deferred(self, event: dict[str, Any], row: int) -> None:
        with self.store.transaction():
            if self._is_stale(event):
                self.store.set_event_outcome(row, "stale")
                return
            self._apply_effects(event, row)
            self.store.set_event_outcome(row, "applied")

    def _apply_effects(self, event: dict[str, Any], row: int) -> None:
        cert_no, status = event["certificateNo"], event["status"]
        self.store.set_certificate_state(cert_no, event["sequence"], status, row)
        today = self.today()
        known = status in self.terms.statuses
        taken_down: list[Listing] = []
        for listing in self.store.listings_on_certificate(cert_no, Basis.CERTIFICATE.value):
            changes: dict[str, Any] = {}
            if known and listing.state != Codes.PENDING:
                changes["cert_status"] = status
            effect = event_effect(status, listing.state, listing.reason_code,
                                  expired_now=expired(listing.cert_expiry, today), terms=self.terms, checks=self.checks)
            if effect is not None:
                changes.update(state=effect.state, reason_code=effect.reason, updated_at=clock.rfc3339())
                if effect.reverify:
                    changes["verified_epoch"] = None
                    self.reverify_wakeup.set()
                if effect.action:
                    lifted = listing.reason_code if effect.action == Codes.RESTORED else effect.reason
                    self._report(listing, effect.action, lifted, event_id=event["eventId"])
                if effect.action == Codes.TAKEN_DOWN:
                    taken_down.append(listing)
            self.store.update_listing(listing.listing_id, **changes)
        if self.settings.fault("collateral-takedown"):
            self._collateral(taken_down, event)

    def _collateral(self, taken_down: list[Listing], event: dict[str, Any]) -> None:
        """The fault: the same merchant's other listings on sale come down too."""
        done = {listing.listing_id for listing in taken_down}
        for listing in taken_down:
            reason = self.store.listing(listing.listing_id).reason_code  # type: ignore[union-attr]
            for other in self.store.merchant_listings(listing.merchant_id, Codes.ON_SALE):
                if other.listing_id in done:
                    continue
                done.add(other.listing_id)
                self.store.update_listing(other.listing_id, state=Codes.TAKEN_DOWN, reason_code=reason,
                                          updated_at=clock.rfc3339())
                self._report(other, Codes.TAKEN_DOWN, reason, event_id=event["eventId"])

    # -- disposition outbox -------------------------------------------------------------------
    async def send_disposition(self, disposition_id: str, body: str, attempts: int) -> None:
        result = await self.regulator.report(body)
        with self.store.transaction():
            # 202 accepted, 200 and 409 "already have it": all mean done (Clarifications: Dispositions).
            if result.status in (200, 202, 409):
                self.store.disposition_sent(disposition_id, result.status)
                return
            cap = min(self.timing.listing_decision, self.timing.takedown_deadline) \
                * self.settings.profile.retry_wait_max_fraction
            wait = backoff.wait_before(attempts + 1, cap)
            if result.retry_after is not None:
                wait = max(wait, result.retry_after)
            log.info("disposition %s not accepted (%s); again in %.2f s", disposition_id,
                     result.status or result.detail, wait)
            self.store.disposition_failed(disposition_id, result.status, time.time() + wait)

    # -- change feed (TKD-02) -----------------------------------------------------------------
    async def poll_feed(self, page_size: int = 100, max_pages: int = 50) -> int:
        """Fetch and apply new events; the cursor is kept in the database across restarts."""
        applied = 0
        cursor = self.store.get_setting("feed.cursor")
        for _ in range(max_pages):
            result = await self.regulator.status_changes(cursor, page_size)
            page = result.payload
            if result.status != 200 or not isinstance(page, dict) or not isinstance(page.get("events"), list) \
                    or not isinstance(page.get("nextCursor"), str) or not page["nextCursor"]:
                log.info("change feed unusable: %s", result.status or result.detail)
                return applied
            for raw in page["events"]:
                checked = check_event(raw, self.settings.schemas, self.terms)
                if checked.event is None:
                    log.warning("change feed: skipping an event: %s", checked.error)
                    continue
                if self.apply_event(checked.event, "poll") == "applied":
                    applied += 1
            if page["nextCursor"] != cursor:
                cursor = page["nextCursor"]
                self.store.set_setting("feed.cursor", cursor)
            if len(page["events"]) < page_size:
                break
        return applied
