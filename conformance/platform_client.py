"""The harness's client of the platform test-control interface, and of its notification endpoint.

Every exchange goes through httpx event hooks into the test's :class:`~conformance.evidence.ExchangeLog`.
Answers that break the contract raise :class:`UnexpectedAnswer` (a FAIL, or INCONCLUSIVE inside a
``precondition`` block); a platform that cannot be reached raises :class:`PlatformUnreachable`.
Listing reads can be observed (``observe_listing_reads``), e.g. to keep each listing's history.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from conformance import signing, specs
from conformance.evidence import ExchangeLog
from conformance.tls import client_context
from conformance.verdicts import ConformanceFailure


class PlatformUnreachable(ConformanceFailure):
    """No answer from the platform (refused, reset, timed out)."""


class UnexpectedAnswer(ConformanceFailure):
    """The platform answered, but not as the contract says."""


# Called with (listing id asked for, the listing view read) after each successful listing read.
ListingReadObserver = Callable[[str, dict[str, Any]], None]


class ListingReadSubscription:
    """A subscription made by ``PlatformClient.observe_listing_reads``; ``close()`` (or leaving its
    ``with`` block) ends it. Closing twice is harmless."""

    def __init__(self, client: PlatformClient, observer: ListingReadObserver) -> None:
        self._client = client
        self._observer: ListingReadObserver | None = observer

    def close(self) -> None:
        observer, self._observer = self._observer, None
        if observer is not None:
            self._client._unobserve(observer)

    def __enter__(self) -> ListingReadSubscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Observation:
    """What polling saw: the last value, whether the condition held, and after how long."""

    value: Any
    satisfied: bool
    elapsed: float
    polls: int


class PlatformClient:
    def __init__(self, base_url: str, log: ExchangeLog, *, bearer_token: str | None = None,
                 timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.log = log
        headers = {"Authorization": f"Bearer {bearer_token}"} if bearer_token else {}
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=timeout, verify=client_context(),
                                 event_hooks=log.hooks(), follow_redirects=False)
        self._listing_observers: tuple[ListingReadObserver, ...] = ()  # replaced, never mutated: read unlocked
        self._observers_lock = threading.Lock()
        self._read_locks: dict[str, threading.Lock] = {}  # per listing, only while observed

    def close(self) -> None:
        self.http.close()

    # -- raw -----------------------------------------------------------------------------------
    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One exchange; transport failures are logged as evidence and raised as PlatformUnreachable."""
        return send_logged(self.http, self.log, self.http.build_request(method, path, **kwargs),
                           f"{method} {path}: no answer from the platform")

    # -- typed calls ---------------------------------------------------------------------------
    def create_listing(self, fields: dict[str, Any]) -> dict[str, Any]:
        r = self.request("POST", "/listings", json=fields)
        return self._listing(r, 201, f"POST /listings {fields.get('title', '')!r}")

    def get_listing(self, listing_id: str) -> dict[str, Any]:
        """The listing as the platform shows it now. Every listing read (``wait_listing`` too) comes here."""
        observers = self._listing_observers
        if not observers:
            return self._read_listing(listing_id)
        # Observed: reads of one listing are serialised and observers are told inside the lock, so an
        # observer sees each listing's views in the order the platform answered them (a history kept
        # from them keeps the platform's order even when threads read the same listing together).
        with self._read_lock(listing_id):
            view = self._read_listing(listing_id)
            for observer in observers:
                observer(listing_id, view)
        return view

    def observe_listing_reads(self, observer: ListingReadObserver) -> ListingReadSubscription:
        """Call ``observer(listing_id, view)`` after every successful listing read from now on, whoever
        reads (the test, ``wait_listing``, ``watch_listings``, a helper's thread), until the returned
        subscription is closed. A read that raises tells no observer. The observer runs inside the
        listing's read lock: it must be quick and must not read the listing itself."""
        with self._observers_lock:
            self._listing_observers = (*self._listing_observers, observer)
        return ListingReadSubscription(self, observer)

    def _unobserve(self, observer: ListingReadObserver) -> None:
        with self._observers_lock:
            observers = list(self._listing_observers)
            observers.remove(observer)
            self._listing_observers = tuple(observers)
            if not observers:
                self._read_locks.clear()

    def _read_lock(self, listing_id: str) -> threading.Lock:
        with self._observers_lock:
            return self._read_locks.setdefault(listing_id, threading.Lock())

    def _read_listing(self, listing_id: str) -> dict[str, Any]:
        r = self.request("GET", f"/listings/{listing_id}")
        return self._listing(r, 200, f"GET /listings/{listing_id}")

    def edit_listing(self, listing_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        r = self.request("PATCH", f"/listings/{listing_id}", json=fields)
        return self._listing(r, 200, f"PATCH /listings/{listing_id}")

    def consumer_view(self, listing_id: str) -> httpx.Response:
        return self.request("GET", f"/listings/{listing_id}/public")

    def records(self, listing_id: str) -> list[dict[str, Any]]:
        r = self.request("GET", "/verification-records", params={"listingId": listing_id})
        body = _json(r)
        if r.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("records"), list):
            raise UnexpectedAnswer(f"GET /verification-records?listingId={listing_id}: not a record list",
                                   expected="200 {records: [...]}", observed=_summary(r))
        return body["records"]

    def health(self) -> httpx.Response:
        return self.request("GET", "/health")

    def _listing(self, r: httpx.Response, status: int, what: str) -> dict[str, Any]:
        body = _json(r)
        if r.status_code != status or not isinstance(body, dict) or "listingId" not in body or "state" not in body:
            raise UnexpectedAnswer(f"{what}: expected {status} with a listing", expected=f"{status} listing",
                                   observed=_summary(r))
        return body

    # -- waiting -------------------------------------------------------------------------------
    def wait_listing(self, listing_id: str, condition: Callable[[dict[str, Any]], bool], timeout: float,
                     *, start: float | None = None) -> Observation:
        """Poll the listing until ``condition`` holds or ``timeout`` seconds after ``start`` pass.

        ``start`` is a ``time.monotonic()`` reading taken just before the cause (e.g. the status
        change), so the elapsed time measures the platform, not the harness.
        """
        return wait_until(lambda: self.get_listing(listing_id), condition, timeout, start=start)

    def wait_decided(self, listing_id: str, timeout: float, *, start: float | None = None) -> Observation:
        pending = specs.load().vocab.listingState.PENDING_VERIFICATION
        return self.wait_listing(listing_id, lambda x: x.get("state") != pending, timeout, start=start)


class WaitClock:
    """Seconds this process spent polling the platform for a state (deadline waits), as opposed to
    driving it: the benchmark splits a run's time into waiting on declared deadlines and overhead."""

    _lock = threading.Lock()
    total = 0.0

    @classmethod
    def add(cls, seconds: float) -> None:
        with cls._lock:
            cls.total += seconds

    @classmethod
    def take(cls) -> float:
        with cls._lock:
            value, cls.total = cls.total, 0.0
            return value


def wait_until(read: Callable[[], Any], condition: Callable[[Any], bool], timeout: float,
               *, start: float | None = None) -> Observation:
    """Read until the condition holds or the deadline passes; time on the monotonic clock."""
    step = specs.load().param("pollStepSeconds")
    begun = time.monotonic()
    t0 = start if start is not None else begun
    polls = 0
    try:
        while True:
            value = read()
            polls += 1
            now = time.monotonic()
            if condition(value):
                return Observation(value, True, now - t0, polls)
            if now - t0 >= timeout:
                return Observation(value, False, now - t0, polls)
            time.sleep(min(step, max(0.0, t0 + timeout - now)))
    finally:
        WaitClock.add(time.monotonic() - begun)


class Notifier:
    """Sends status-change events to the platform's notification endpoint as the regulator would —
    or deliberately not (bad signatures, replays) for the security tests."""

    def __init__(self, url: str, secret: str, log: ExchangeLog, alg: str = signing.SHA256) -> None:
        self.url = url
        self.secret = secret
        self.alg = alg
        self.path = urlsplit(url).path or "/"
        self.http = httpx.Client(timeout=10.0, verify=client_context(), event_hooks=log.hooks())
        self.log = log

    def close(self) -> None:
        self.http.close()

    def signed_headers(self, body: bytes, *, timestamp: str | None = None, nonce: str | None = None,
                       secret: str | None = None) -> dict[str, str]:
        h = signing.make_headers(secret or self.secret, "POST", self.path, body, self.alg,
                                 timestamp=timestamp, nonce=nonce)
        return {"Content-Type": "application/json", **h.as_regulator()}

    def send(self, body: bytes | dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
        raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        hdrs = headers if headers is not None else self.signed_headers(raw)
        return send_logged(self.http, self.log, self.http.build_request("POST", self.url, content=raw, headers=hdrs),
                           f"POST {self.url}: no answer from the notification endpoint")


def send_logged(http: httpx.Client, log: ExchangeLog, request: httpx.Request, unanswered: str) -> httpx.Response:
    """Send; a transport failure (refused, reset, timed out) is logged as evidence and raised as
    PlatformUnreachable — no answer is not a wrong answer (INCONCLUSIVE, not FAIL)."""
    try:
        return http.send(request)
    except httpx.TransportError as exc:
        log.add_failure(request, exc)
        raise PlatformUnreachable(f"{unanswered} ({type(exc).__name__})", expected="an HTTP answer",
                                  observed=str(exc) or type(exc).__name__) from exc


def _json(r: httpx.Response) -> Any:
    try:
        return r.json()
    except ValueError:
        return None


def _summary(r: httpx.Response) -> dict[str, Any]:
    body = _json(r)
    return {"status": r.status_code, "contentType": r.headers.get("content-type"),
            "body": body if body is not None else r.text[:500]}
