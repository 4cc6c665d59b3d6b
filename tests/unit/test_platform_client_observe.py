"""PlatformClient's listing-read seam: observers see every listing read, in the platform's order per
listing, and ListingHistoryRecorder records through it without touching the client's methods."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from conformance.evidence import ExchangeLog, Redactor
from conformance.platform_client import PlatformClient, UnexpectedAnswer
from conformance.suite._helpers import ListingHistoryRecorder

BASE = "http://platform.test/ccc-test/v1"


class FakePlatform:
    """Answers GET /listings/{id}: each read of a listing is numbered in the order it is served."""

    def __init__(self, pause: float = 0.0) -> None:
        self.pause = pause
        self.served: dict[str, int] = {}
        self.states: dict[str, str] = {}
        self._lock = threading.Lock()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        listing_id = request.url.path.rsplit("/", 1)[-1]
        if listing_id not in self.states:
            return httpx.Response(404, json={"code": "NOT_FOUND", "message": "no such listing"})
        with self._lock:
            n = self.served[listing_id] = self.served.get(listing_id, 0) + 1
            state = self.states[listing_id]
        time.sleep(self.pause)  # answered after a while: concurrent reads overlap here
        return httpx.Response(200, json={"listingId": listing_id, "state": state, "read": n})


@pytest.fixture
def platform_of() -> Iterator[Callable[[FakePlatform], PlatformClient]]:
    clients: list[PlatformClient] = []

    def make(fake: FakePlatform) -> PlatformClient:
        log = ExchangeLog(Redactor([]))
        client = PlatformClient(BASE, log)
        client.http.close()
        # The transport is the seam for a fake platform (httpx's own); the client is otherwise as built.
        client.http = httpx.Client(base_url=BASE, transport=httpx.MockTransport(fake), event_hooks=log.hooks())
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_observers_see_every_listing_read_until_closed(platform_of: Callable[[FakePlatform], PlatformClient]) -> None:
    fake = FakePlatform()
    fake.states = {"L-1": "ON_SALE", "L-2": "PENDING"}
    platform = platform_of(fake)
    seen: list[tuple[str, int]] = []
    with platform.observe_listing_reads(lambda lid, view: seen.append((lid, view["read"]))):
        platform.get_listing("L-1")
        platform.wait_listing("L-2", lambda view: view["read"] >= 2, timeout=5)
        with pytest.raises(UnexpectedAnswer):
            platform.get_listing("L-404")  # a failed read tells no observer
    platform.get_listing("L-1")  # closed: no longer told
    assert seen == [("L-1", 1), ("L-2", 1), ("L-2", 2)]
    assert "get_listing" not in vars(platform)


def test_reads_of_one_listing_reach_observers_in_the_platform_order(
        platform_of: Callable[[FakePlatform], PlatformClient]) -> None:
    fake = FakePlatform(pause=0.005)
    fake.states = {"L-1": "ON_SALE", "L-2": "ON_SALE"}
    platform = platform_of(fake)
    seen: dict[str, list[int]] = {"L-1": [], "L-2": []}
    with platform.observe_listing_reads(lambda lid, view: seen[lid].append(view["read"])), \
            ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(platform.get_listing, ["L-1", "L-2"] * 15))
    assert seen == {"L-1": list(range(1, 16)), "L-2": list(range(1, 16))}


def test_recorder_keeps_a_history_through_the_seam(platform_of: Callable[[FakePlatform], PlatformClient]) -> None:
    fake = FakePlatform()
    fake.states = {"L-1": "PENDING", "L-other": "ON_SALE"}
    platform = platform_of(fake)
    with ListingHistoryRecorder(platform) as recorder:
        recorder.add({"listingId": "L-1", "state": "PENDING"})
        assert "get_listing" not in vars(platform)  # observed, not shadowed
        platform.get_listing("L-other")  # not recorded
        fake.states["L-1"] = "ON_SALE"
        assert platform.get_listing("L-1")["state"] == "ON_SALE"  # the test's own read is recorded
        fake.states["L-1"] = "TAKEN_DOWN"
    assert recorder.history("L-1") == [("PENDING", None), ("ON_SALE", None), ("TAKEN_DOWN", None)]
    assert recorder.history("L-other") == []
    assert recorder.reads >= 2
    reads = recorder.reads
    platform.get_listing("L-1")  # stopped: the subscription is closed
    assert recorder.reads == reads


def test_recorder_raises_what_its_thread_met(platform_of: Callable[[FakePlatform], PlatformClient]) -> None:
    fake = FakePlatform()
    platform = platform_of(fake)
    recorder = ListingHistoryRecorder(platform)
    with pytest.raises(UnexpectedAnswer), recorder:
        recorder.add({"listingId": "L-gone", "state": "ON_SALE"})  # the platform answers 404 for it
        deadline = time.monotonic() + 5
        while recorder._error is None and time.monotonic() < deadline:
            time.sleep(0.01)
    seen: list[str] = []
    with platform.observe_listing_reads(lambda lid, view: seen.append(lid)):
        fake.states["L-gone"] = "ON_SALE"
        platform.get_listing("L-gone")
    assert seen == ["L-gone"]  # the recorder's subscription was closed; this one alone is told
