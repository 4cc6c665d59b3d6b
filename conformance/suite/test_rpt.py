"""RPT — disposition reporting (处置上报): every interception, takedown and restoration is reported to the
regulator once, in time, with the right content.

The simulator keeps every report it accepted (valid signature and schema); the tests read those of
their own merchants. A retried report keeps its ``dispositionId`` (the contract's retry), so reports
are counted once per id; two ids for one action are a duplicate.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from conformance.checks import expect, precondition
from conformance.context import RunContext
from conformance.platform_client import PlatformClient, wait_until
from conformance.simulator.control import SimulatorControl
from conformance.suite._helpers import (
    ListingHistoryRecorder,
    create_listings_concurrently,
    create_listings_on_sale,
    disposition_brief,
    distinct_dispositions,
    listing_brief,
    listing_on_sale,
    pasted_certificate_numbers,
    received_epoch,
    scoped_simulator_fault,
    status_change_route,
    unknown_certificate_no,
    watch_listings,
)
from conformance.suite.vocabulary import S, V
from conformance.testdata import DataFactory

A = V.dispositionAction


@dataclass
class ExpectedReport:
    """One action the platform took and must report: what, about which listing, caused by what."""

    listing_id: str
    action: str
    reason: str
    certificate_no: str | None      # normalised, or None when none or an invalid one was given
    cause: str                      # "request" (a verification), "decision" (none made) or "event"
    event_id: str | None = None     # the simulator's event, for takedowns by event
    acted_by_epoch: float = 0.0     # wall-clock time by which the action was observed

    def brief(self) -> dict[str, Any]:
        return {"listingId": self.listing_id, "action": self.action, "reasonCode": self.reason,
                "certificateNo": self.certificate_no, "cause": self.event_id or self.cause}


class _Clock:
    """A monotonic reading and the wall clock at the same instant, to compare the simulator's receivedAt
    (wall clock) with actions observed on the monotonic clock."""

    def __init__(self) -> None:
        self.wall, self.mono = time.time(), time.monotonic()

    def wall_at(self, seconds_after: float | None) -> float:
        return self.wall + (seconds_after if seconds_after is not None else time.monotonic() - self.mono)


def _reports(sim: SimulatorControl, merchants: list[str]) -> list[dict[str, Any]]:
    return [r for m in merchants for r in sim.dispositions(merchant_id=m)]


def _await_reports(sim: SimulatorControl, merchants: list[str], done: Callable[[list[dict[str, Any]]], bool],
                   until_epoch: float) -> list[dict[str, Any]]:
    """Poll the simulator's disposition log of our merchants until ``done`` holds or the wall-clock
    deadline passes (reports are timed by the simulator's wall clock)."""
    return wait_until(lambda: _reports(sim, merchants), done, max(0.0, until_epoch - time.time())).value


@pytest.mark.requirement("RPT-01", id="rpt01.interceptions-and-takedowns-reported-in-time")
@pytest.mark.variant("RPT-01/v1", "RPT-01/v2", "RPT-01/v3", "RPT-01/v4")
def test_rpt01_interceptions_and_takedowns_reported_in_time(ccc: RunContext, sim: SimulatorControl, platform: PlatformClient,
                                                            data: DataFactory, measure: Any) -> None:
    route = status_change_route(ccc)
    deadline = ccc.takedown_deadline
    with precondition("listings that are intercepted for several reasons, and one on sale"):
        category = data.category()
        merchant = data.merchant()
        suspended = data.certificate(category, status=V.certificateStatus.SUSPENDED)
        valid = data.certificate(category)
        unknown = unknown_certificate_no(sim, category["productCode"])
        # No number; a number too short; an unknown number pasted with spaces; a suspended certificate.
        # What is expected of each report follows what the platform decided (RPT is about reporting the
        # action taken, VER about taking the right one): a listing decided without a usable number must
        # be reported with certificateNo null, any other with the normalised number.
        plan = [
            (data.listing(None, category, merchant=merchant), None),
            (data.listing(valid, category, merchant=merchant, certificateNo=valid["certificateNo"][:15]), None),
            (data.listing(valid, category, merchant=merchant,
                          certificateNo=pasted_certificate_numbers(unknown)["spaces"]), unknown),
            (data.listing(suspended, category, merchant=merchant), suspended["certificateNo"]),
        ]
        clock = _Clock()
        created = create_listings_concurrently(platform, data, [fields for fields, _ in plan])
        ids = [str(c["listingId"]) for c in created]
        decided = watch_listings(platform, ids, lambda v: v.get("state") == V.listingState.INTERCEPTED,
                                 ccc.decision_deadline, start=clock.mono)
        wrong = [listing_brief(s.value) for s in decided.values() if not s.satisfied]
        expect(not wrong, "a listing meant to be intercepted was not", observed=wrong)
        expected = []
        for lid, (_, number) in zip(ids, plan, strict=True):
            reason = str((decided[lid].value or {}).get("reasonCode"))
            without_number = reason in (V.reasonCode.NO_CERTIFICATE, V.reasonCode.INVALID_CERTIFICATE_NO)
            expected.append(ExpectedReport(lid, A.INTERCEPTED, reason, None if without_number else number,
                                           "decision" if without_number else "request",
                                           acted_by_epoch=clock.wall_at(decided[lid].seen_after)))
        (on_sale,) = create_listings_on_sale(platform, data, ccc, [data.listing(valid, category, merchant=merchant)])
    taken_id = str(on_sale["listingId"])

    clock = _Clock()
    event = sim.set_status(valid["certificateNo"], V.certificateStatus.REVOKED, push=route.push)
    with precondition(f"the listing on the revoked certificate is taken down ({route.how})"):
        down = watch_listings(platform, [taken_id], lambda v: v.get("state") == V.listingState.TAKEN_DOWN,
                              route.allowance, start=clock.mono)[taken_id]
        expect(down.satisfied, "not taken down", observed=listing_brief(down.value))
    expected.append(ExpectedReport(taken_id, A.TAKEN_DOWN, str((down.value or {}).get("reasonCode")),
                                   valid["certificateNo"], "event", event_id=event["eventId"],
                                   acted_by_epoch=clock.wall_at(down.seen_after)))

    def present(reports: list[dict[str, Any]]) -> bool:
        have = {(r.get("listingId"), r.get("action")) for r in reports}
        return all((e.listing_id, e.action) in have for e in expected)

    reports = _await_reports(sim, [merchant], present, max(e.acted_by_epoch for e in expected) + deadline)
    asked = {c["body"].get("requestId") for c in sim.captures(route="verifications", match={"merchantId": merchant})
             if isinstance(c.get("body"), dict)}

    problems = []
    for e in expected:
        mine = sorted((r for r in reports if r.get("listingId") == e.listing_id and r.get("action") == e.action),
                      key=lambda r: received_epoch(r) or 0.0)
        if not mine:
            problems.append({"expected": e.brief(), "problem": "no report"})
            continue
        r = mine[0]
        lag = (received_epoch(r) or 0.0) - e.acted_by_epoch
        measure(f"dispositionLag[{e.action} {e.reason}]", round(lag, 3), "s",
                limit=float(ccc.timing["takedownDeadlineSeconds"]))
        issues = []
        if lag > deadline:
            issues.append(f"received {lag:.3f} s after the action was observed (deadline {deadline:g} s)")
        if r.get("reasonCode") != e.reason:
            issues.append(f"reasonCode {r.get('reasonCode')!r}")
        if r.get("merchantId") != merchant:
            issues.append(f"merchantId {r.get('merchantId')!r}")
        if r.get("certificateNo") != e.certificate_no:
            issues.append(f"certificateNo {r.get('certificateNo')!r}, expected {e.certificate_no!r}")
        has_request, has_event = r.get("requestId") is not None, r.get("eventId") is not None
        if has_request == has_event:
            issues.append("not exactly one of requestId / eventId")
        elif e.cause == "event" and has_event and r.get("eventId") != e.event_id:
            issues.append(f"eventId {r.get('eventId')!r} is not the simulator's event {e.event_id!r}")
        elif e.cause == "event" and has_request and r.get("requestId") not in asked:
            # Periodic re-verification may have found the revocation before the event: then the
            # cause is that verification request, which the regulator must have received.
            issues.append("requestId names no verification request the regulator received")
        elif e.cause == "decision" and not has_request:
            issues.append("a decision made without a query must carry a platform-generated requestId")
        elif e.cause == "request" and r.get("requestId") not in asked:
            issues.append("requestId names no verification request the regulator received")
        if issues:
            problems.append({"expected": e.brief(), "report": disposition_brief(r), "problems": issues})
    expect(not problems,
           "an interception or takedown was not reported within the takedown deadline with the right content",
           expected=[e.brief() for e in expected], observed=problems)


def _actions_of(reports: list[dict[str, Any]], listing_id: str) -> Counter[tuple[str, str]]:
    return Counter((str(r.get("action")), str(r.get("reasonCode")))
                   for r in distinct_dispositions(reports) if r.get("listingId") == listing_id)


def _fmt(counts: Counter[tuple[str, str]]) -> dict[str, int]:
    return {f"{action} {reason}": n for (action, reason), n in counts.items() if n}


def _reportable(history: list[tuple[str | None, str | None]]) -> tuple[Counter[tuple[str, str]],
                                                                       Counter[tuple[str, str]]]:
    """The reports a listing's observed history calls for: (required, optional), by (action, reason).

    Required (profile, Clarifications: Dispositions): every move into TAKEN_DOWN, into INTERCEPTED for a
    reason other than VERIFICATION_UNAVAILABLE, and back ON_SALE from a restorable takedown (RESTORED,
    with the reason lifted). Optional: provisional VERIFICATION_UNAVAILABLE actions and their lifting,
    a takedown's reason updated without a new takedown, any other return to sale."""
    st, unavailable = V.listingState, V.reasonCode.VERIFICATION_UNAVAILABLE
    restorable = {S.reason_for_status(c.code) for c in S.code_lists()["certificateStatus"] if c.extra.get("restorable")}
    required: Counter[tuple[str, str]] = Counter()
    optional: Counter[tuple[str, str]] = Counter()
    previous: tuple[str | None, str | None] = (None, None)
    for state, reason in history:
        r = str(reason)
        if state == st.INTERCEPTED:
            (optional if reason == unavailable else required)[(A.INTERCEPTED, r)] += 1
        elif state == st.TAKEN_DOWN:
            (optional if previous[0] == st.TAKEN_DOWN or reason == unavailable else required)[(A.TAKEN_DOWN, r)] += 1
        elif state == st.ON_SALE and previous[0] in (st.TAKEN_DOWN, st.INTERCEPTED):
            lifted = str(previous[1])
            (required if previous[0] == st.TAKEN_DOWN and lifted in restorable else optional)[(A.RESTORED, lifted)] += 1
        previous = (state, reason)
    return required, optional


def _one_to_one(reports: list[dict[str, Any]], recorder: ListingHistoryRecorder,
                listing_ids: list[str]) -> dict[str, Any]:
    """Per listing, where the reports (once per dispositionId) and the actions seen differ; also reports
    about listings of our merchants that we did not make."""
    problems: dict[str, Any] = {}
    for lid in listing_ids:
        history = recorder.history(lid)
        required, optional = _reportable(history)
        got = _actions_of(reports, lid)
        missing = {k: n for k, n in required.items() if got.get(k, 0) < n}
        extra = {k: n for k, n in got.items() if n > required.get(k, 0) + optional.get(k, 0)}
        if missing or extra:
            problems[lid] = {"observedStates": [f"{s} {r}" if r else str(s) for s, r in history],
                             "required": _fmt(required), "mayReport": _fmt(optional), "reported": _fmt(got),
                             "missing": _fmt(Counter(missing)), "unfoundedOrDuplicated": _fmt(Counter(extra))}
    strangers = sorted({str(r.get("listingId")) for r in reports} - set(listing_ids))
    if strangers:
        problems["reportsForListingsNotMade"] = strangers
    return problems


@pytest.mark.requirement("RPT-02", id="rpt02.reports-match-actions-one-to-one")
@pytest.mark.variant("RPT-02/v1", "RPT-02/v2", "RPT-02/v3")
def test_rpt02_reports_match_actions_one_to_one(ccc: RunContext, sim: SimulatorControl, platform: PlatformClient,
                                                data: DataFactory, measure: Any) -> None:
    route = status_change_route(ccc)
    decision = ccc.decision_deadline
    # One merchant per listing: an action on one listing can then never be reported against another.
    names = ("onSale", "intercepted", "revoked", "suspended", "outage")
    with precondition("valid and unknown certificates"):
        category = data.category()
        merchant = {name: data.merchant() for name in names}
        certs = {name: data.certificate(category) for name in ("onSale", "revoked", "suspended", "outage")}
        unknown = unknown_certificate_no(sim, category["productCode"])

    # The platform's actions are recorded as they happen (every state change seen), and the reports
    # must match them: whatever the platform did, rightly or not, is reported once.
    with ListingHistoryRecorder(platform) as recorder:
        with scoped_simulator_fault(sim, "http-error", match={"merchantId": merchant["outage"]},
                                    params={"status": 503}):
            # Created during an outage: it may be intercepted provisionally (VERIFICATION_UNAVAILABLE),
            # which may be reported; when the regulator is back it goes on sale.
            t_outage = time.monotonic()
            with precondition("the platform accepts a new listing during the outage"):
                (outage,) = create_listings_concurrently(platform, data, [
                    data.listing(certs["outage"], category, merchant=merchant["outage"])])
            recorder.add(outage)
            with precondition("listings on sale, and one intercepted"):
                listings = create_listings_on_sale(platform, data, ccc, [
                    data.listing(certs[n], category, merchant=merchant[n]) for n in ("onSale", "revoked", "suspended")])
                (intercepted,) = create_listings_concurrently(platform, data, [
                    data.listing(certs["onSale"], category, merchant=merchant["intercepted"], certificateNo=unknown)])
                for view in (*listings, intercepted):
                    recorder.add(view)
                lid_i = str(intercepted["listingId"])
                seen_i = watch_listings(platform, [lid_i], lambda v: v.get("state") == V.listingState.INTERCEPTED,
                                        decision, start=time.monotonic())[lid_i]
                expect(seen_i.satisfied, "an unknown certificate was not intercepted",
                       observed=listing_brief(seen_i.value))
            ids = {name: str(v["listingId"]) for name, v in
                   zip(names, (*listings[:1], intercepted, *listings[1:], outage), strict=True)}

            t1 = time.monotonic()
            sim.set_statuses([(certs["revoked"]["certificateNo"], V.certificateStatus.REVOKED),
                              (certs["suspended"]["certificateNo"], V.certificateStatus.SUSPENDED)], push=route.push)
            with precondition(f"both listings are taken down ({route.how})"):
                down = watch_listings(platform, [ids["revoked"], ids["suspended"]],
                                      lambda v: v.get("state") == V.listingState.TAKEN_DOWN, route.allowance,
                                      start=t1)
                expect(all(s.satisfied for s in down.values()), "not taken down",
                       observed=[listing_brief(s.value) for s in down.values()])
            t2 = time.monotonic()
            sim.set_status(certs["suspended"]["certificateNo"], S.valid_status(), push=route.push)
            # Restored, or only re-listable (TKD-05): the recorder sees which, and the reports must agree.
            watch_listings(platform, [ids["suspended"]], lambda v: v.get("state") == V.listingState.ON_SALE,
                           route.allowance, start=t2)
            # Hold the outage until the decision deadline of the listing created during it has passed, so
            # any provisional action has happened. Polled to the period's end with a condition never expected.
            watch_listings(platform, [ids["outage"]], lambda v: False, decision, start=t_outage)
        t_back = time.monotonic()
        with precondition("after the outage the listing created during it goes on sale"):
            back = watch_listings(platform, [ids["outage"]], lambda v: v.get("state") == V.listingState.ON_SALE,
                                  decision, start=t_back)[ids["outage"]]
            expect(back.satisfied, "not on sale after the regulator recovered", observed=listing_brief(back.value))
        # Settle: one more takedown deadline after the last action, so a late report is caught too.
        reports = _await_reports(sim, list(merchant.values()), lambda _: False,
                                 time.time() + ccc.takedown_deadline)
    measure("dispositionReports", len(reports), "reports")
    measure("listingReads", recorder.reads, "reads")
    problems = _one_to_one(reports, recorder, list(ids.values()))
    expect(not problems,
           "reports do not match the actions one to one (a missing, duplicated or unfounded report)",
           expected="per listing, one report for every required action seen, at most one for an optional one",
           observed=problems)


@pytest.mark.requirement("RPT-02", id="rpt02.redelivered-event-reported-once")
@pytest.mark.capability("statusPush")  # redelivery is a push
@pytest.mark.variant("RPT-02/v4")
def test_rpt02_redelivered_event_reported_once(ccc: RunContext, sim: SimulatorControl, platform: PlatformClient,
                                               data: DataFactory) -> None:
    route = status_change_route(ccc, push=True)
    merchant = data.merchant()
    cert, listing = listing_on_sale(platform, data, ccc, merchant=merchant)
    lid = str(listing["listingId"])
    with ListingHistoryRecorder(platform) as recorder:
        recorder.add(listing)
        t0 = time.monotonic()
        event = sim.set_status(cert["certificateNo"], V.certificateStatus.REVOKED, push=True)
        with precondition(f"the listing is taken down ({route.how})"):
            down = watch_listings(platform, [lid], lambda v: v.get("state") == V.listingState.TAKEN_DOWN,
                                  route.allowance, start=t0)[lid]
            expect(down.satisfied, "not taken down", observed=listing_brief(down.value))
        # The same event twice more: applied once, so reported once.
        sim.redeliver([event["eventId"], event["eventId"]])
        reports = _await_reports(sim, [merchant], lambda _: False, time.time() + ccc.takedown_deadline)
    problems = _one_to_one(reports, recorder, [lid])
    expect(not problems,
           "a takedown caused by one event delivered three times was not reported exactly once",
           expected="one report of the takedown", observed=problems)
