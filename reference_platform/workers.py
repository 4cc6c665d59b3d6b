"""The platform's background work, as asyncio tasks started in the app's lifespan.

- the pending queue: retries verifications the regulator could not answer (RES-01);
- periodic re-verification of listings on sale (TKD-03), see :mod:`reverification`;
- change-feed polling every ``pollIntervalSeconds`` (TKD-02), when polling is on;
- the disposition sender: reports from the outbox, retried until accepted (RPT-01);
- housekeeping: forgetting notification nonces older than the profile's memory, and moving the
  SQLite write-ahead log into the database, in a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from . import backoff
from .events import EventApplier, check_event
from .listings import ListingService
from .reverification import Reverifier

log = logging.getLogger("reference_platform")

# How often the loops look again when nothing woke them; short enough for the test timings, and
# for re-verification small enough that its work comes in even portions rather than bursts.
PENDING_TICK_SECONDS = 0.1
DISPOSITION_TICK_SECONDS = 0.1
REVERIFY_TICK_SECONDS = 0.1
HOUSEKEEPING_SECONDS = 30.0
CHECKPOINT_SECONDS = 1.0
BATCH = 500
FEED_PAGE = 100
FEED_PAGES_PER_ROUND = 50
CURSOR_KEY = "feed.cursor"


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Sleep up to ``seconds``, or less when the event is set; the event is cleared for the next round."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(event.wait(), max(0.0, seconds))
    event.clear()


async def _forever(name: str, body: Callable[[], Awaitable[None]]) -> None:
    """Run one loop body after another; a failing round is logged and the loop goes on."""
    while True:
        try:
            await body()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s loop failed; continuing", name)
            await asyncio.sleep(0.5)


class Workers:
    def __init__(self, service: ListingService, reverifier: Reverifier, events: EventApplier, *, poll: bool,
                 reverify: bool) -> None:
        self.service = service
        self.store = service.store
        self.reverifier = reverifier
        self.events = events
        self.poll = poll
        self.reverify = reverify
        timing = service.settings.ics.timing
        # Reports are due within the takedown deadline, so their retries are spaced by a third of it.
        self.report_retry_cap = min(timing.listing_decision, timing.takedown_deadline) \
            * service.settings.profile.retry_wait_max_fraction
        self._tasks: list[asyncio.Task[None]] = []
        self._sending: set[str] = set()

    def start(self) -> None:
        self.service.resume_pending()
        loops: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("pending", self._pending_round), ("dispositions", self._disposition_round),
            ("housekeeping", self._housekeeping_round), ("checkpoint", self._checkpoint_round)]
        if self.reverify:
            loops.append(("re-verification", self._reverify_round))
        if self.poll:
            loops.append(("change-feed", self._poll_round))
        self._tasks = [asyncio.get_running_loop().create_task(_forever(n, b), name=n) for n, b in loops]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- the pending queue (RES-01) ------------------------------------------------------------
    async def _pending_round(self) -> None:
        service = self.service
        for listing in service.due_pending(BATCH):
            service.spawn(service.attempt(listing.listing_id, listing.version))
        next_due = self.store.next_pending_time()
        wait = PENDING_TICK_SECONDS if next_due is None else min(PENDING_TICK_SECONDS, next_due - time.time())
        await _wait(service.pending_wakeup, wait)

    # -- re-verification (TKD-03) --------------------------------------------------------------
    async def _reverify_round(self) -> None:
        started = time.monotonic()
        await self.reverifier.run_due()
        period = min(REVERIFY_TICK_SECONDS, self.service.timing.reverification_interval / 8)
        await _wait(self.service.reverify_wakeup, period - (time.monotonic() - started))

    # -- the change feed (TKD-02) --------------------------------------------------------------
    async def _poll_round(self) -> None:
        started = time.monotonic()
        await self.poll_feed()
        await asyncio.sleep(max(0.0, self.service.timing.poll_interval - (time.monotonic() - started)))

    async def poll_feed(self) -> int:
        """Fetch and apply new events, page after page; the cursor is kept in the database."""
        applied = 0
        cursor = self.store.get_setting(CURSOR_KEY)   # none yet: the feed starts at the beginning
        for _ in range(FEED_PAGES_PER_ROUND):
            result = await self.service.regulator.status_changes(cursor, FEED_PAGE)
            page = result.payload
            if result.status != 200 or not isinstance(page, dict) or not isinstance(page.get("events"), list) \
                    or not isinstance(page.get("nextCursor"), str) or not page["nextCursor"]:
                log.info("change feed unusable: %s", result.status or result.detail)
                return applied
            for raw in page["events"]:
                checked = check_event(raw, self.service.settings.schemas, self.service.terms)
                if checked.event is None:
                    log.warning("change feed: skipping an event: %s", checked.error)
                    continue
                if self.events.apply(checked.event, "poll") == "applied":
                    applied += 1
            if page["nextCursor"] != cursor:
                cursor = page["nextCursor"]
                self.store.set_setting(CURSOR_KEY, cursor)
            if len(page["events"]) < FEED_PAGE:
                break
        return applied

    # -- the disposition outbox (RPT-01, RPT-02) ----------------------------------------------
    async def _disposition_round(self) -> None:
        service = self.service
        now = time.time()
        for disposition_id, body, attempts in self.store.due_dispositions(now, BATCH):
            if disposition_id in self._sending:
                continue
            self._sending.add(disposition_id)
            # Leased while in flight, so the loop does not see it as due again before the answer.
            self.store.postpone_disposition(disposition_id, now + service.regulator.timeout + 1.0)
            task = service.spawn(self.send(disposition_id, body, attempts))
            task.add_done_callback(lambda _t, d=disposition_id: self._sending.discard(d))
        next_due = self.store.next_disposition_time()
        wait = DISPOSITION_TICK_SECONDS if next_due is None else min(DISPOSITION_TICK_SECONDS, next_due - now)
        await _wait(service.dispositions_wakeup, wait)

    async def send(self, disposition_id: str, body: str, attempts: int) -> None:
        """Send one report; resent unchanged (same dispositionId) until the regulator has it."""
        result = await self.service.regulator.report(body)
        with self.store.transaction():
            # 202 accepted, 200 and 409 "already have it": all mean done (Clarifications: Dispositions).
            if result.status in (200, 202, 409):
                self.store.disposition_sent(disposition_id, result.status)
                return
            wait = backoff.wait_before(attempts + 1, self.report_retry_cap)
            if result.retry_after is not None:
                wait = max(wait, result.retry_after)
            log.info("disposition %s not accepted (%s); again in %.2f s", disposition_id,
                     result.status or result.detail, wait)
            self.store.disposition_failed(disposition_id, result.status, time.time() + wait)

    # -- housekeeping -------------------------------------------------------------------------
    async def _checkpoint_round(self) -> None:
        await asyncio.to_thread(self.store.checkpoint)
        await asyncio.sleep(CHECKPOINT_SECONDS)

    async def _housekeeping_round(self) -> None:
        self.store.forget_nonces(time.time() - self.service.settings.profile.nonce_memory)
        await asyncio.sleep(HOUSEKEEPING_SECONDS)
