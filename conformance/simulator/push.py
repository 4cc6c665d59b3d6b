"""Signed push of status-change events to platforms' notification URLs, with retries.

Delivery runs on its own event loop in a daemon thread, so it works the same whether the simulator
is served by uvicorn (another loop, another thread), driven in-process by a test, or both; and a slow
platform never slows the regulator's routes. Each attempt is captured. A platform that does not
answer 2xx is retried with exponential backoff (initial, 2×initial, … capped) up to a bounded number
of attempts. Deliveries of one certificate's events to one platform are serialised in sequence
order — as a real ordered outbox would — so a test that suspends then restores gets the two pushes in
that order; different certificates go concurrently (bulk changes, TKD-06).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import httpx

from conformance import signing
from conformance.simulator.answer import encode
from conformance.simulator.capture import rfc3339

_RESPONSE_TEXT_LIMIT = 2000  # keep evidence readable; a platform's error page can be large


@dataclass(frozen=True)
class PushTarget:
    platform_id: str
    url: str
    secret: str
    alg: str


@dataclass(frozen=True)
class PushPolicy:
    initial_backoff: float = 0.2
    max_backoff: float = 5.0
    max_attempts: int = 8
    timeout: float = 5.0

    def wait(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return min(self.max_backoff, self.initial_backoff * (2 ** (attempt - 1)))


class Pusher:
    def __init__(self, record: Callable[[dict[str, Any]], dict[str, Any]], policy: PushPolicy) -> None:
        self._record = record
        self.policy = policy
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: httpx.AsyncClient | None = None
        self._order: dict[tuple[str, str], asyncio.Lock] = {}
        self._tasks: set[concurrent.futures.Future[Any]] = set()
        self._closed = False

    # -- lifecycle ----------------------------------------------------------------------------
    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise RuntimeError("the simulator is closed; pushes are no longer delivered")
            if self._loop is None:
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                self._thread = threading.Thread(target=run, name="ccc-simulator-push", daemon=True)
                self._thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    def close(self, timeout: float = 2.0) -> None:
        with self._lock:
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return

        async def shutdown() -> None:
            current = asyncio.current_task()
            for task in asyncio.all_tasks():
                if task is not current:
                    task.cancel()
            if self._client is not None:
                with contextlib.suppress(Exception):
                    await self._client.aclose()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)

    def _submit(self, coro: Coroutine[Any, Any, Any]) -> concurrent.futures.Future[Any]:
        future = asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())
        with self._lock:
            self._tasks.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            self._tasks.discard(future)

    def pending(self) -> int:
        with self._lock:
            return len(self._tasks)

    # -- delivery -----------------------------------------------------------------------------
    def deliver(self, event: dict[str, Any], targets: list[PushTarget]) -> None:
        """Push one event to each target, retrying; returns at once. Call in sequence order."""
        event = dict(event)  # the caller keeps its own copy; this one is evidence
        body = encode(event)
        for target in targets:
            self._submit(self._deliver(event, body, target))

    def redeliver(self, events: list[dict[str, Any]], targets: list[PushTarget]) -> concurrent.futures.Future[Any]:
        """One attempt per event and target, strictly in the order given; the future gives the attempts."""
        return self._submit(self._redeliver(events, targets))

    async def _redeliver(self, events: list[dict[str, Any]], targets: list[PushTarget]) -> list[dict[str, Any]]:
        attempts = []
        for event in events:
            body = encode(event)
            for target in targets:
                attempts.append(await self._attempt(event, body, target, 1, redelivery=True))
        return attempts

    async def _deliver(self, event: dict[str, Any], body: bytes, target: PushTarget) -> None:
        key = (target.platform_id, event["certificateNo"])
        lock = self._order.get(key)
        if lock is None:
            lock = self._order[key] = asyncio.Lock()
        async with lock:  # FIFO: tasks are created in sequence order, so they deliver in it
            for attempt in range(1, self.policy.max_attempts + 1):
                record = await self._attempt(event, body, target, attempt, redelivery=False)
                if record["accepted"]:
                    return
                if attempt < self.policy.max_attempts:
                    await asyncio.sleep(self.policy.wait(attempt))

    async def _attempt(self, event: dict[str, Any], body: bytes, target: PushTarget, attempt: int,
                       redelivery: bool) -> dict[str, Any]:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self.policy.timeout, trust_env=False,
                                             limits=httpx.Limits(max_connections=100, max_keepalive_connections=20))
        url = httpx.URL(target.url)
        # PATH is the notification URL's path (and query, exactly as sent), per the profile.
        path = url.raw_path.decode("ascii")
        headers = signing.make_headers(target.secret, "POST", path, body, target.alg).as_regulator()
        sent = time.time()
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        text: str | None = None
        try:
            response = await self._client.post(url, content=body,
                                               headers={**headers, "Content-Type": "application/json"})
            status = response.status_code
            text = response.text[:_RESPONSE_TEXT_LIMIT]
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        accepted = status is not None and 200 <= status < 300
        return self._record({
            "eventId": event["eventId"], "sequence": event["sequence"], "certificateNo": event["certificateNo"],
            "platformId": target.platform_id, "url": target.url, "attempt": attempt, "redelivery": redelivery,
            "sentAt": rfc3339(sent), "durationMs": round((time.monotonic() - started) * 1000, 1),
            "status": status, "accepted": accepted, "error": error,
            "nextRetrySeconds": (self.policy.wait(attempt) if not accepted and not redelivery
                                 and attempt < self.policy.max_attempts else None),
            "headers": headers, "body": event, "responseText": text,
        })
