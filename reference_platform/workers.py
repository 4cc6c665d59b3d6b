"""The platform's background work, as asyncio tasks started in the app's lifespan.

- the pending queue: retries verifications the regulator could not answer (RES-01);
- periodic re-verification of listings on sale (TKD-03);
- change-feed polling every ``pollIntervalSeconds`` (TKD-02), when polling is on;
- the disposition sender: reports from the outbox, retried until accepted (RPT-01);
- housekeeping: forgetting notification nonces older than the profile's memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from .listings import ListingService

log = logging.getLogger("reference_platform")

# How often the loops look again when nothing woke them; short enough for the test timings.
PENDING_TICK_SECONDS = 0.1
DISPOSITION_TICK_SECONDS = 0.1
BATCH = 500


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
    def __init__(self, service: ListingService, *, poll: bool, reverify: bool) -> None:
        self.service = service
        self.poll = poll
        self.reverify = reverify
        self._tasks: list[asyncio.Task[None]] = []
        self._sending: set[str] = set()

    def start(self) -> None:
        self.service.resume_pending()
        loops: list[tuple[str, Callable[[], Awaitable[None]]]] = [
            ("pending", self._pending_round), ("dispositions", self._disposition_round),
            ("housekeeping", self._housekeeping_round)]
        if self.reverify:
            loops.append(("re-verification", self._reverify_round))
        if self.poll:
            loops.append(("change-feed", self._poll_round))
        self._tasks = [asyncio.get_running_loop().create_task(_forever(n, b), name=n) for n, b in loops]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _pending_round(self) -> None:
        service = self.service
        for listing in service.due_pending(BATCH):
            service.spawn(service.attempt(listing.listing_id, listing.version))
        next_due = service.store.next_pending_time()
        wait = PENDING_TICK_SECONDS if next_due is None else min(PENDING_TICK_SECONDS, next_due - time.time())
        await _wait(service.pending_wakeup, wait)

    async def _reverify_round(self) -> None:
        service = self.service
        started = time.monotonic()
        await service.reverify_due()
        # Look again several times per interval, so no listing's last check grows past it.
        period = max(0.05, service.timing.reverification_interval / 8)
        await _wait(service.reverify_wakeup, period - (time.monotonic() - started))

    async def _poll_round(self) -> None:
        service = self.service
        started = time.monotonic()
        await service.poll_feed()
        await asyncio.sleep(max(0.0, service.timing.poll_interval - (time.monotonic() - started)))

    async def _disposition_round(self) -> None:
        service = self.service
        now = time.time()
        for disposition_id, body, attempts in service.store.due_dispositions(now, BATCH):
            if disposition_id in self._sending:
                continue
            self._sending.add(disposition_id)
            # Leased while in flight, so the loop does not see it as due again before the answer.
            service.store.postpone_disposition(disposition_id, now + service.regulator.timeout + 1.0)
            task = service.spawn(service.send_disposition(disposition_id, body, attempts))
            task.add_done_callback(lambda _t, d=disposition_id: self._sending.discard(d))
        next_due = service.store.next_disposition_time()
        wait = DISPOSITION_TICK_SECONDS if next_due is None else min(DISPOSITION_TICK_SECONDS, next_due - now)
        await _wait(service.dispositions_wakeup, wait)

    async def _housekeeping_round(self) -> None:
        service = self.service
        service.store.forget_nonces(time.time() - service.settings.profile.nonce_memory)
        await asyncio.sleep(30)
