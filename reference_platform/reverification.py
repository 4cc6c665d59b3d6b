"""Periodic re-verification of listings on sale (profile.md Rules: Re-verification; TKD-03; RES-02).

Every listing on sale is verified again well within ``reverificationIntervalSeconds``: a certificate
becomes due when its oldest-checked listing reaches half the interval, and its one query then
serves every listing on it (Clarifications: Scale), each listing still getting its own record. An
answer may be reused for at most ``answerReuseSeconds``. What the answer means for a listing on sale:

- usable and still passing → stays on sale, ``lastVerifiedAt`` moves on;
- usable and failing (revoked, expired by date, model no longer covered …) → TAKEN_DOWN, reported;
- an unknown status → TAKEN_DOWN with VERIFICATION_UNAVAILABLE (RES-05), until a definite answer
  puts it back (RESTORED) or names the real reason;
- no usable answer (outage, malformed) → stays on sale (RES-02), tried again after a growing wait
  (RES-04): never more often than the backoff allows, never less often than half the interval.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from . import backoff, clock
from .config import Codes
from .decision import Basis, after_answer
from .listings import ListingService
from .regulator import Answer, AnswerKind
from .store import Listing

# Re-verify when the last verification is this share of the interval old, so that the loop's own
# period and a slow regulator still keep every listing within the declared interval.
AGE_FRACTION = 0.5


class Reverifier:
    def __init__(self, service: ListingService) -> None:
        self.service = service
        self.store = service.store
        settings = service.settings
        self.interval = settings.ics.timing.reverification_interval
        self.answer_reuse = settings.profile.answer_reuse
        # Watched: listings on sale, and those taken down for an unknown status, which stay off
        # sale "until a definite answer".
        self.watched = [(Codes.ON_SALE, None), (Codes.TAKEN_DOWN, Codes.VERIFICATION_UNAVAILABLE)]
        # The faults that miss status changes must not have re-verification make up for them, or
        # they would not be observable; expiry dates are still caught (TKD-03).
        self.ignores_status_changes = settings.fault("no-takedown") or settings.fault("slow-takedown")
        # events-at-reverification: the event applier's hook, wired by the app (None: no such fault).
        self.apply_deferred: Callable[[str, str | None], bool] | None = None
        self._busy: set[str] = set()                               # certificates being re-verified
        self._answers: dict[str, tuple[float, Answer, int]] = {}   # certificate → (when, answer, event mark)
        # Certificates whose last query got no usable answer: how often in a row, and not before when.
        self._failures: dict[str, int] = {}
        self._retry_at: dict[str, float] = {}                      # time.monotonic()
        self.retry_cap = self.interval * AGE_FRACTION
        # reverify-expiry-off-by-one: judging a day ahead counts the expiry date itself as expired.
        self.day_ahead = settings.fault("reverify-expiry-off-by-one")

    def _today(self) -> date:
        today = self.service.today()
        return today + timedelta(days=1) if self.day_ahead else today

    async def run_due(self, page: int = 200) -> int:
        """Re-verify every due certificate; returns how many were tried.

        Due certificates are taken a page at a time, so that a large catalogue never blocks the event
        loop for long; a certificate whose answer was unusable stays due but is tried once per round.
        """
        threshold = time.time() - self.interval * AGE_FRACTION
        attempted: set[str] = set()
        self._forget_old_answers()
        now = time.monotonic()
        waiting = {c for c, at in self._retry_at.items() if at > now}
        attempted |= waiting   # backing off after a failure: not this round
        while True:
            due = [c for c in self.store.due_certificates(Basis.CERTIFICATE.value, self.watched, threshold,
                                                           page + len(attempted))
                   if c not in attempted and c not in self._busy]
            if not due:
                return len(attempted - waiting)
            attempted.update(due[:page])
            groups = {c: [x for x in self.store.listings_on_certificate(c, Basis.CERTIFICATE.value)
                          if (x.state, x.reason_code) in self.watched] for c in due[:page]}
            await asyncio.gather(*(self._certificate(c, ls) for c, ls in groups.items() if ls))

    def _forget_old_answers(self) -> None:
        now = time.monotonic()
        for cert_no in [c for c, (at, _, _) in self._answers.items() if at < now - self.answer_reuse]:
            del self._answers[cert_no]
        # A certificate that failed long ago and was not asked since has no listing left to watch.
        for cert_no in [c for c, at in self._retry_at.items() if at < now - self.interval]:
            del self._retry_at[cert_no]
            self._failures.pop(cert_no, None)

    async def _certificate(self, cert_no: str, listings: list[Listing]) -> None:
        service = self.service
        self._busy.add(cert_no)
        try:
            cached = self._answers.get(cert_no)
            if cached and time.monotonic() - cached[0] <= self.answer_reuse:
                _, answer, mark = cached
            else:
                mark = service.event_mark(cert_no)
                started = time.monotonic()
                answer = await service.regulator.verify(service.request_for(listings[0]))
                if answer.kind is not AnswerKind.UNAVAILABLE:
                    self._answers[cert_no] = (time.monotonic(), answer, mark)
                    self._failures.pop(cert_no, None)
                    self._retry_at.pop(cert_no, None)
                else:
                    failures = self._failures[cert_no] = self._failures.get(cert_no, 0) + 1
                    wait = backoff.wait_before(failures, self.retry_cap)
                    if answer.retry_after is not None:
                        wait = max(wait, answer.retry_after)
                    self._retry_at[cert_no] = backoff.next_start(started, time.monotonic(), wait)
            if self.apply_deferred is not None:
                # The fault: waiting events are applied now, whatever this query answered; the listings
                # they changed then only get this attempt's record below.
                self.apply_deferred(cert_no, answer.request_id)
            with self.store.transaction():
                # One read for the whole group: this runs for every listing on sale, all the time.
                current = self.store.listings_by_id([listing.listing_id for listing in listings])
                event_state = self.store.certificate_state(cert_no)
                for before in listings:
                    fresh = current.get(before.listing_id)
                    if fresh is not None:
                        self._conclude(before, fresh, answer, mark, event_state)
        finally:
            self._busy.discard(cert_no)

    def _conclude(self, before: Listing, listing: Listing, answer: Answer, mark: int,
                  event_state: tuple[int, str, int] | None) -> None:
        service = self.service
        unchanged = (listing.version, listing.state, listing.reason_code) == (before.version, before.state, before.reason_code)
        if unchanged and answer.kind is AnswerKind.UNAVAILABLE and listing.state == Codes.ON_SALE \
                and service.settings.fault("takedown-on-outage"):
            # The fault: an outage read as a failed check takes a valid listing off sale (breaks RES-02).
            reason = Codes.VERIFICATION_UNAVAILABLE
            self.store.update_listing(listing.listing_id, state=Codes.TAKEN_DOWN, reason_code=reason,
                                      updated_at=clock.rfc3339())
            service.record(listing, answer, Codes.TAKEN_DOWN, reason)
            service.report(listing, Codes.TAKEN_DOWN, reason, request_id=answer.request_id)
            return
        if not unchanged or answer.kind is AnswerKind.UNAVAILABLE:
            # Changed meanwhile, or no usable answer: an outage leaves a listing on sale (RES-02).
            service.record(listing, answer, listing.state, listing.reason_code)
            return
        verdict, certificate = service.verdict(listing, answer, mark, event_state, today=self._today())
        if self.ignores_status_changes and listing.state == Codes.ON_SALE \
                and verdict.reason in service.terms.status_reasons:
            certificate = {**(certificate or {}), "status": service.terms.valid_status}
            verdict = after_answer(service.submission(listing), answer.code, certificate, self._today(),
                                   service.terms, service.checks)
        stamp = clock.rfc3339()
        changes: dict[str, Any] = {}
        if listing.state == Codes.ON_SALE:
            if verdict.on_sale:
                self.store.update_listing(listing.listing_id, **service.verified_fields(answer, certificate))
                service.record(listing, answer, Codes.ON_SALE, None)
                return
            # A definite failure, or an unknown status (never valid): off sale now.
            changes = dict(state=Codes.TAKEN_DOWN, reason_code=verdict.reason, updated_at=stamp)
            if verdict.definite:
                changes.update(service.verified_fields(answer, certificate))
            self.store.update_listing(listing.listing_id, **changes)
            service.record(listing, answer, Codes.TAKEN_DOWN, verdict.reason)
            service.report(listing, Codes.TAKEN_DOWN, verdict.reason, request_id=answer.request_id)
            return
        # Taken down for an unknown status, waiting for a definite answer.
        if not verdict.definite:
            service.record(listing, answer, listing.state, listing.reason_code)
            return
        changes = service.verified_fields(answer, certificate)
        if verdict.on_sale and service.checks.restore:
            changes.update(state=Codes.ON_SALE, reason_code=None, updated_at=stamp)
            self.store.update_listing(listing.listing_id, **changes)
            service.record(listing, answer, Codes.ON_SALE, None)
            # RESTORED carries the reason that was lifted.
            service.report(listing, Codes.RESTORED, listing.reason_code, request_id=answer.request_id)
            return
        # Definitely not sellable: the real reason replaces the provisional one, without a second report.
        reason = listing.reason_code if verdict.on_sale else verdict.reason
        changes.update(reason_code=reason)
        self.store.update_listing(listing.listing_id, **changes)
        service.record(listing, answer, listing.state, reason)
