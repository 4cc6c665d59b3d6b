"""Small helpers shared by the suite modules, for what the house API (plugin, checks, platform_client,
testdata) does not offer yet. Shared by several suite engineers: only add functions, with distinctive
names; each says which gap it fills.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
import unicodedata
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from conformance import signing, specs
from conformance.checks import expect, precondition
from conformance.context import RunContext
from conformance.platform_client import (
    ListingReadSubscription,
    Observation,
    PlatformClient,
    UnexpectedAnswer,
    WaitClock,
    wait_until,
)
from conformance.simulator.control import SimulatorControl
from conformance.testdata import DataFactory


# -- listings ---------------------------------------------------------------------------------------
def create_and_await_decision(platform: PlatformClient, data: DataFactory, ccc: RunContext,
                              fields: dict[str, Any]) -> tuple[dict[str, Any], Observation]:
    """Create a listing and wait (monotonic clock) until it leaves PENDING_VERIFICATION or the decision
    deadline passes. Returns (the last listing view, the observation). A platform may decide at creation
    or later; both are waited for the same way."""
    t0 = time.monotonic()
    created = data.remember_listing(platform.create_listing(fields))
    obs = platform.wait_decided(str(created["listingId"]), ccc.decision_deadline, start=t0)
    return obs.value, obs


def listing_brief(view: dict[str, Any] | None) -> dict[str, Any] | None:
    """The fields of a listing view that a verdict's evidence needs."""
    if view is None:
        return None
    keys = ("listingId", "merchantId", "categoryId", "state", "reasonCode", "certificateNo", "model", "brand",
            "manufacturer", "selfDeclarationNo", "lastVerifiedAt")
    return {k: view.get(k) for k in keys if k in view}


def off_sale_states() -> tuple[str, str]:
    """The states a listing on sale may end in when an edit makes it fail (profile: Clarifications, Edits)."""
    v = specs.load().vocab.listingState
    return v.INTERCEPTED, v.TAKEN_DOWN


def edit_fails_verification_again(platform: PlatformClient, ccc: RunContext, listing_id: str, edit: dict[str, Any],
                                  edited: str, reason: str) -> Observation:
    """VER-11: edit a listing on sale so that it no longer passes verification, and expect it INTERCEPTED
    or TAKEN_DOWN with ``reason`` within the declared decision time from the edit. Returns the
    observation (``elapsed``: from the edit to the change)."""
    t0 = time.monotonic()
    answer = platform.edit_listing(listing_id, edit)
    obs = platform.wait_listing(listing_id, lambda x: x.get("state") in off_sale_states(),
                                ccc.decision_deadline, start=t0)
    final = obs.value
    expect(final.get("state") in off_sale_states() and final.get("reasonCode") == reason,
           f"editing the {edited} of a listing on sale must verify it again: the failing edit must end "
           f"INTERCEPTED or TAKEN_DOWN with {reason} within {ccc.decision_deadline:g} s",
           expected={"state": list(off_sale_states()), "reasonCode": reason},
           observed={"edit": edit, "patchAnswer": listing_brief(answer), "listing": listing_brief(final),
                     "elapsedSeconds": round(obs.elapsed, 3)})
    return obs


# -- the simulator's captures ------------------------------------------------------------------------
def verification_captures_for(sim: SimulatorControl, merchant_id: str, listing_id: str | None = None) -> list[dict[str, Any]]:
    """Verification requests the simulator received about one merchant (and listing), oldest first."""
    caps = sim.captures(route="verifications", match={"merchantId": merchant_id})
    if listing_id is not None:
        caps = [c for c in caps if isinstance(c.get("body"), dict) and c["body"].get("listingId") == listing_id]
    return caps


def await_simulator_captures(sim: SimulatorControl, route: str, match: dict[str, str], timeout: float,
                             enough: Any = bool) -> Observation:
    """Poll the simulator's captures of one route matching ``match`` until ``enough(captures)`` holds."""
    return wait_until(lambda: sim.captures(route=route, match=match), enough, timeout)


# -- certificate numbers, as merchants paste them ------------------------------------------------------
def to_full_width(text: str) -> str:
    """ASCII 0x21–0x7E to the full-width forms U+FF01–FF5E, a space to U+3000 (the merchant's IME)."""
    return "".join("\u3000" if ch == " " else chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


def pasted_certificate_numbers(number: str) -> dict[str, str]:
    """One 16-digit number as merchants paste it; each form normalises to ``number`` (profile:
    Clarifications, Normalisation and matching)."""
    groups = f"{number[:4]} {number[4:6]} {number[6:10]} {number[10:]}"
    return {
        "spaces": f"  {groups} ",
        "full-width-digits": to_full_width(number),
        "hyphens": groups.replace(" ", "-"),
        "ideographic-space-and-tab": f"\u3000{number[:8]}\t{number[8:]}\u3000",
        "full-width-with-dashes": to_full_width(groups.replace(" ", "-")),
    }


def unknown_certificate_no(sim: SimulatorControl, product_code: str) -> str:
    """A well-formed 16-digit number that the simulator's registry does not hold (for CERT_NOT_FOUND).

    The year is long before any certificate still in the registry (5-year validity), the body is CQC
    and the product code the category's, so the number is plausible in every element but existence."""
    year = datetime.now(signing.SHANGHAI).year - 15
    rng = random.Random(uuid.uuid4().int)
    for _ in range(20):
        candidate = f"{year:04d}01{product_code}{rng.randint(0, 999_999):06d}"
        if sim.get_certificate(candidate) is None:
            return candidate
    raise AssertionError("could not find a certificate number unknown to the simulator in 20 tries")


def today_in_shanghai() -> date:
    """Today's calendar date where the profile counts expiry dates (profile.yaml ``timezone``)."""
    return datetime.now(signing.SHANGHAI).date()


# == takedown, resilience, security and reporting tests (TKD / RES / SEC / RPT) =========================
# Gaps filled: the house API waits for one listing at a time, has no fault scoping helper, no notion of
# "which way does a status change reach this platform", and no way to create hundreds of listings fast.
@dataclass(frozen=True)
class StatusChangeRoute:
    """How a registry status change reaches the platform under test, and how long acting on it may take."""

    push: bool          # what to pass to sim.set_status(..., push=)
    allowance: float    # seconds from the change to the takedown, harness tolerance included
    deadline: float     # the declared takedownDeadlineSeconds: the limit a measurement reports
    how: str            # the reading behind ``allowance``, for messages
    by_event: bool = True  # the change reaches the platform as an event (pushed or polled)


def status_change_route(ccc: RunContext, *, push: bool | None = None) -> StatusChangeRoute:
    """The route the ICS declares (push first, then change-feed polling, else periodic re-verification),
    or the one forced by ``push``. Allowances: push — the takedown deadline; polling — the deadline
    plus one poll interval (the event may land just after a poll); re-verification only — one
    re-verification interval plus the deadline. Each plus the profile's measurement tolerance."""
    t = ccc.timing
    deadline = float(t["takedownDeadlineSeconds"])
    tol = float(specs.load().param("measurementToleranceSeconds"))
    use_push = ccc.claims("statusPush") if push is None else push
    if use_push:
        return StatusChangeRoute(True, deadline + tol, deadline,
                                 f"pushed event: takedownDeadlineSeconds {deadline:g} + tolerance {tol:g}")
    if ccc.claims("changeFeedPolling"):
        poll = float(t["pollIntervalSeconds"])
        return StatusChangeRoute(False, deadline + poll + tol, deadline,
                                 f"change feed: takedownDeadlineSeconds {deadline:g} + pollIntervalSeconds "
                                 f"{poll:g} + tolerance {tol:g}")
    return reverification_route(ccc)


def reverification_route(ccc: RunContext) -> StatusChangeRoute:
    """A change no event announces (an expiry date passing) or a platform with no event route: found by
    periodic re-verification within one interval plus the takedown deadline (plus tolerance)."""
    interval = float(ccc.timing["reverificationIntervalSeconds"])
    deadline = float(ccc.timing["takedownDeadlineSeconds"])
    tol = float(specs.load().param("measurementToleranceSeconds"))
    return StatusChangeRoute(False, interval + deadline + tol, deadline,
                             f"re-verification only: reverificationIntervalSeconds {interval:g} + "
                             f"takedownDeadlineSeconds {deadline:g} + tolerance {tol:g}", by_event=False)


@dataclass
class ListingSighting:
    """What watching one listing saw. Times are seconds after the watch's ``start``.

    ``seen_after`` is when the answer that first met the condition came back (an upper bound of the
    platform's latency); ``missed_at`` is when the last read that did not meet it was sent (a lower
    bound). A deadline is missed only when a read sent after it still did not meet the condition."""

    listing_id: str
    satisfied: bool = False
    value: dict[str, Any] | None = None
    seen_after: float | None = None
    missed_at: float | None = None

    def met_by(self, limit: float) -> bool:
        if not self.satisfied:
            return False
        return self.seen_after is not None and (self.seen_after <= limit or (self.missed_at or 0.0) <= limit)


def watch_listings(platform: PlatformClient, listing_ids: list[str], condition: Callable[[dict[str, Any]], bool],
                   timeout: float, *, start: float, workers: int = 8) -> dict[str, ListingSighting]:
    """Poll many listings together (monotonic clock, concurrent reads) until each meets ``condition``
    or ``timeout`` seconds after ``start`` pass. Listings that met it are not read again. The last
    round starts after the timeout, so an unmet listing has a read sent after the deadline: a miss is
    demonstrated, never inferred from a slow round. Also serves "nothing happens for a while": pass
    the violation as the condition and expect nothing satisfied.

    A read answered with a 5xx is a lost observation, not a verdict (availability is AVL's to judge):
    it is retried in the next round; only when no read of a listing succeeds after the deadline is
    the last such answer raised."""
    step = float(specs.load().param("pollStepSeconds"))
    sightings = {lid: ListingSighting(lid) for lid in listing_ids}
    pending = list(listing_ids)

    def read(listing_id: str) -> tuple[str, float, dict[str, Any] | UnexpectedAnswer, float]:
        sent = time.monotonic()
        try:
            view: dict[str, Any] | UnexpectedAnswer = platform.get_listing(listing_id)
        except UnexpectedAnswer as exc:
            if not is_server_error_answer(exc):
                raise
            view = exc
        return listing_id, sent, view, time.monotonic()

    lost: dict[str, UnexpectedAnswer] = {}
    begun = time.monotonic()
    with contextlib.ExitStack() as stack:
        stack.callback(lambda: WaitClock.add(time.monotonic() - begun))
        pool = stack.enter_context(ThreadPoolExecutor(max_workers=max(1, min(workers, len(pending)))))
        while pending:
            round_started = time.monotonic()
            for listing_id, sent, view, answered in pool.map(read, pending):
                s = sightings[listing_id]
                if isinstance(view, UnexpectedAnswer):
                    lost[listing_id] = view
                    continue
                lost.pop(listing_id, None)
                s.value = view
                if condition(view):
                    s.satisfied, s.seen_after = True, answered - start
                else:
                    s.missed_at = sent - start
            pending = [lid for lid in pending if not sightings[lid].satisfied]
            if not pending or (round_started - start >= timeout and not lost):
                break
            if round_started - start >= timeout + step * 20:  # 5xx after 5xx past the deadline: give up
                raise next(iter(lost.values()))
            time.sleep(min(step, max(0.0, start + timeout - time.monotonic())) if not lost else step)
    return sightings


def is_server_error_answer(exc: UnexpectedAnswer) -> bool:
    """Whether an UnexpectedAnswer of the platform client was a 5xx (its ``observed`` carries the status)."""
    observed = exc.observed if isinstance(exc.observed, dict) else {}
    status = observed.get("status")
    return isinstance(status, int) and status >= 500


def create_listings_concurrently(platform: PlatformClient, data: DataFactory, field_sets: list[dict[str, Any]],
                                 *, workers: int = 8) -> list[dict[str, Any]]:
    """Create many listings through a thread pool (answers in the order of ``field_sets``); each is
    remembered for the evidence. Bounded concurrency: a bulk set-up must not starve parallel tests."""
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(field_sets)))) as pool:
        created = list(pool.map(platform.create_listing, field_sets))
    for listing in created:
        data.remember_listing(listing)
    return created


def issue_certificates_concurrently(data: DataFactory, category: dict[str, Any], count: int,
                                    *, workers: int = 8) -> list[dict[str, Any]]:
    """``count`` fresh certificates for one category, issued by the simulator through a thread pool."""
    with ThreadPoolExecutor(max_workers=max(1, min(workers, count))) as pool:
        return list(pool.map(lambda _: data.certificate(category), range(count)))


@contextmanager
def event_path_only(sim: SimulatorControl, numbers: list[str]) -> Iterator[None]:
    """While the block runs, the regulator's query interface fails (503) for these certificates, so a
    change can reach the platform only as the status-change event under test: a platform that ignored
    events but re-verified often would otherwise pass an event test by its re-verification. Fair by the
    profile: events are applied as they come, and an outage at re-verification changes nothing (RES-02)."""
    with contextlib.ExitStack() as stack:
        for number in numbers:
            stack.enter_context(scoped_simulator_fault(sim, "http-error", match={"certificateNo": number},
                                                       params={"status": 503}))
        yield


def rounded(seconds: float | None) -> float | None:
    """A measured time as reports show it: to the millisecond."""
    return None if seconds is None else round(seconds, 3)


@contextmanager
def scoped_simulator_fault(sim: SimulatorControl, kind: str, *, match: dict[str, str], route: str = "verifications",
                           params: dict[str, Any] | None = None,
                           safety_ttl_seconds: float = 300.0) -> Iterator[str]:
    """A simulator fault confined to this test's own data (``match`` is required: other tests share the
    simulator), removed when the block ends. The TTL is a safety net for a harness killed mid-test."""
    if not match:
        raise ValueError("a test's fault needs a match (its merchant, listing or certificate)")
    fault_id = sim.add_fault(kind, route=route, match=match, params=params, ttl_seconds=safety_ttl_seconds)
    try:
        yield fault_id
    finally:
        sim.remove_fault(fault_id)


def forged_status_event(certificate_no: str, status: str, *, previous: str, sequence: int | None = None,
                        reason: str = "conformance test event") -> dict[str, Any]:
    """A status-change event body the simulator never issued (fresh eventId). The default sequence is far
    above any the simulator will reach in a run, so, if it were applied, nothing could override it."""
    return {"eventId": str(uuid.uuid4()),
            "sequence": sequence if sequence is not None else 10**12 + random.randint(0, 10**9),
            "certificateNo": certificate_no, "previousStatus": previous, "status": status,
            "effectiveAt": signing.now_rfc3339(), "reason": reason}


def distinct_dispositions(reports: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Reports once per dispositionId (a retried report keeps its id: the contract's retry, not a duplicate)."""
    seen: dict[str, dict[str, Any]] = {}
    for r in reports:
        seen.setdefault(str(r.get("dispositionId")), r)
    return list(seen.values())


def disposition_brief(report: dict[str, Any]) -> dict[str, Any]:
    keys = ("dispositionId", "listingId", "action", "reasonCode", "certificateNo", "requestId", "eventId",
            "decidedAt", "receivedAt", "httpStatus")
    return {k: report.get(k) for k in keys if k in report}


def received_epoch(capture_or_report: dict[str, Any]) -> float | None:
    """The simulator's ``receivedAt`` of a capture or disposition, as epoch seconds."""
    parsed = signing.parse_rfc3339(str(capture_or_report.get("receivedAt") or ""))
    return parsed.timestamp() if parsed else None


# -- numbers and takedowns (used by AUD, TERM, VIS) ---------------------------------------------------
def normalised_certificate_text(raw: str | None) -> str | None:
    """A number as the profile normalises it (full-width to ASCII, whitespace and dashes dropped), to
    compare what a platform shows or records with the registry's number; None stays None."""
    if raw is None:
        return None
    folded = raw.translate({code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20})
    # Every dash (Unicode category Pd, hyphen-minus included), the minus sign and the soft hyphen.
    return "".join(ch for ch in folded
                   if not ch.isspace() and unicodedata.category(ch) != "Pd" and ch not in "\u2212\u00ad")


def take_down_by_status_change(platform: PlatformClient, sim: SimulatorControl, ccc: RunContext, listing_id: str,
                               certificate_no: str, status: str, reason: str = "conformance test") -> Observation:
    """Change the certificate's status at the regulator (the way the ICS says changes reach the platform:
    ``status_change_route``) and wait until the listing is TAKEN_DOWN. For tests whose requirement is not
    the takedown itself: callers put this in a ``precondition`` block and check ``satisfied``. It waits
    twice the route's allowance: set-up is not a judgement of the takedown time (TKD's), and a platform
    busy with parallel tests still gives the caller a verdict."""
    taken_down = specs.load().vocab.listingState.TAKEN_DOWN
    route = status_change_route(ccc)
    t0 = time.monotonic()
    sim.set_status(certificate_no, status, reason=reason, push=route.push)
    return platform.wait_listing(listing_id, lambda x: x.get("state") == taken_down, 2 * route.allowance, start=t0)


def create_listings_on_sale(platform: PlatformClient, data: DataFactory, ccc: RunContext,
                            field_sets: list[dict[str, Any]], *, workers: int = 8) -> list[dict[str, Any]]:
    """Create listings that match valid certificates and wait until every one is ON_SALE. Meant for set-up
    (call it inside ``precondition``), so it is not a judgement of the decision time: it allows twice
    the declared one, so a platform busy with a parallel bulk test still gives the test a verdict."""
    on_sale = specs.load().vocab.listingState.ON_SALE
    t0 = time.monotonic()
    created = create_listings_concurrently(platform, data, field_sets, workers=workers)
    views = {str(c["listingId"]): c for c in created}
    undecided = [lid for lid, v in views.items() if v.get("state") != on_sale]
    if undecided:
        seen = watch_listings(platform, undecided, lambda v: v.get("state") == on_sale,
                              2 * ccc.decision_deadline, start=t0, workers=workers)
        views.update({lid: s.value for lid, s in seen.items() if s.value is not None})
        not_on_sale = [listing_brief(s.value) for s in seen.values() if not s.satisfied]
        if not_on_sale:
            raise AssertionError(f"{len(not_on_sale)} of {len(field_sets)} listings with valid certificates did "
                                 f"not go on sale in time; first: {not_on_sale[:3]}")
    return [views[str(c["listingId"])] for c in created]


def run_concurrently(*calls: Callable[[], Any]) -> list[Any]:
    """Run independent parts of one test at the same time (their waits overlap instead of adding up);
    results in order. An exception in a part (a failed check, an inconclusive precondition) is raised
    here, the first part's first."""
    with ThreadPoolExecutor(max_workers=max(1, len(calls))) as pool:
        futures = [pool.submit(call) for call in calls]
        return [f.result() for f in futures]


class ListingHistoryRecorder:
    """Keeps each recorded listing's sequence of distinct (state, reasonCode): the actions a platform took,
    for judging what it reported (RPT-02). A background thread reads the listings every pollStepSeconds,
    and while the recorder is active every read of a recorded listing through the platform client
    (``platform.observe_listing_reads``: the test's own, ``watch_listings``', ``wait_listing``'s) is
    recorded too, so a state the test waited for is always in the history. The client serialises reads
    of one listing while observed and tells the recorder inside that lock, so the history keeps the
    platform's order."""

    def __init__(self, platform: PlatformClient) -> None:
        self.platform = platform
        self.step = float(specs.load().param("pollStepSeconds"))
        self._histories: dict[str, list[tuple[str | None, str | None]]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="listing-history", daemon=True)
        self._subscription: ListingReadSubscription | None = None
        self.reads = 0

    def __enter__(self) -> ListingHistoryRecorder:
        self._subscription = self.platform.observe_listing_reads(self._note)
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        # A test already failing or inconclusive keeps its own verdict; the recorder's trouble is secondary.
        self.stop(raise_error=exc_type is None)

    def stop(self, *, raise_error: bool = True) -> None:
        """Take one last look at every listing, stop recording, and raise what the thread met."""
        if not self._stop.is_set():
            self._stop.set()
            self._thread.join()
            try:
                if raise_error and self._error is None:
                    self._look()
            finally:
                if self._subscription is not None:
                    self._subscription.close()
        if raise_error and self._error is not None:
            raise self._error

    def add(self, view: dict[str, Any]) -> None:
        """Start recording a listing from a view already seen (e.g. the create answer); a listing
        already recorded keeps its history (the view may be older than what was read since)."""
        listing_id = str(view["listingId"])
        with self._lock:
            if listing_id not in self._histories:
                self._histories[listing_id] = [(view.get("state"), view.get("reasonCode"))]

    def history(self, listing_id: str) -> list[tuple[str | None, str | None]]:
        with self._lock:
            return list(self._histories.get(listing_id, []))

    def _note(self, listing_id: str, view: dict[str, Any]) -> None:
        """The observer: called by the client inside the listing's read lock."""
        entry = (view.get("state"), view.get("reasonCode"))
        with self._lock:
            history = self._histories.get(listing_id)
            if history is None:  # not recorded: a plain read
                return
            if not history or history[-1] != entry:
                history.append(entry)
            self.reads += 1

    def _look(self) -> None:
        with self._lock:
            ids = list(self._histories)
        for listing_id in ids:
            self.platform.get_listing(listing_id)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._look()
            except UnexpectedAnswer as exc:
                if not is_server_error_answer(exc):  # a 5xx is a lost look (see watch_listings)
                    self._error = exc
                    return
            except BaseException as exc:  # kept for stop() to raise in the test's own thread
                self._error = exc
                return
            self._stop.wait(self.step)


def listing_on_sale(platform: PlatformClient, data: DataFactory, ccc: RunContext, *, merchant: str | None = None
                    ) -> tuple[dict[str, Any], dict[str, Any]]:
    """(certificate, listing): one valid listing on sale, a precondition — INCONCLUSIVE when it cannot be had."""
    with precondition("a listing on sale with a valid certificate"):
        category = data.category()
        cert = data.certificate(category)
        (listing,) = create_listings_on_sale(platform, data, ccc, [data.listing(cert, category, merchant=merchant)])
    return cert, listing
