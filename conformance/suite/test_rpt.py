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

from conformance import specs
from conformance.checks import expect, precondition
from conformance.context import RunContext
from conformance.platform_client import PlatformClient, wait_until
from conformance.suite._helpers import (
    create_listings_concurrently,
    create_listings_on_sale,
    disposition_brief,
    distinct_dispositions,
    listing_brief,
    listing_decision_deadline,
    pasted_certificate_numbers,
    received_epoch,
    scoped_simulator_fault,
    status_change_route,
    takedown_deadline_with_tolerance,
    unknown_certificate_no,
    watch_listings,
)
from conformance.testdata import DataFactory

S = specs.load()
V = S.vocab
A = V.dispositionAction


@dataclass
class ExpectedReport:
    """One action the platform took and must report: what, about which listing, caused by what."""

    listing_id: str
    action: str
    reason: str
    certificate_no: str | None      # normalised, or None when none or an invalid one was given
    cause: str                      # "request" (a verification, or a decision without one) or "event"
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


def _reports(sim: Any, merchants: list[str]) -> list[dict[str, Any]]:
    return [r for m in merchants for r in sim.dispositions(merchant_id=m)]


def _await_reports(sim: Any, merchants: list[str], done: Callable[[list[dict[str, Any]]], bool],
                   until_epoch: float) -> list[dict[str, Any]]:
    """Poll the simulator's disposition log of our merchants until ``done`` holds or the wall-clock
    deadline passes (reports are timed by the simulator's wall clock)."""
    return wait_until(lambda: _reports(sim, merchants), done, max(0.0, until_epoch - time.time())).value


@pytest.mark.requirement("RPT-01")
def test_rpt01_interceptions_and_takedowns_reported_in_time(ccc: RunContext, sim: Any, platform: PlatformClient,
                                                            data: DataFactory, measure: Any) -> None:
    route = status_change_route(ccc)
    deadline = takedown_deadline_with_tolerance(ccc)
    with precondition("listings that are intercepted for several reasons, and one on sale"):
        category = data.category()
        merchant = data.merchant()
        suspended = data.certificate(category, status=V.certificateStatus.SUSPENDED)
        valid = data.certificate(category)
        unknown = unknown_certificate_no(sim, category["productCode"])
        plan = [  # (fields, action, reason, normalised number or None, cause)
            (data.listing(None, category, merchant=merchant), A.INTERCEPTED, V.reasonCode.NO_CERTIFICATE, None,
             "request"),
            (data.listing(valid, category, merchant=merchant, certificateNo=valid["certificateNo"][:15]),
             A.INTERCEPTED, V.reasonCode.INVALID_CERTIFICATE_NO, None, "request"),
            (data.listing(valid, category, merchant=merchant,
                          certificateNo=pasted_certificate_numbers(unknown)["spaces"]),
             A.INTERCEPTED, V.reasonCode.CERT_NOT_FOUND, unknown, "request"),
            (data.listing(suspended, category, merchant=merchant), A.INTERCEPTED, V.reasonCode.CERT_SUSPENDED,
             suspended["certificateNo"], "request"),
        ]
        clock = _Clock()
        created = create_listings_concurrently(platform, data, [p[0] for p in plan])
        ids = [str(c["listingId"]) for c in created]
        decided = watch_listings(platform, ids, lambda v: v.get("state") == V.listingState.INTERCEPTED,
                                 listing_decision_deadline(ccc), start=clock.mono)
        wrong = [listing_brief(s.value) for s in decided.values() if not s.satisfied]
        expect(not wrong, "a listing meant to be intercepted was not", observed=wrong)
        expected = [ExpectedReport(lid, action, reason, number, cause,
                                   acted_by_epoch=clock.wall_at(decided[lid].seen_after))
                    for lid, (_, action, reason, number, cause) in zip(ids, plan, strict=True)]
        # A valid certificate pasted in full-width digits: on sale now, taken down below.
        (on_sale,) = create_listings_on_sale(platform, data, ccc, [
            data.listing(valid, category, merchant=merchant,
                         certificateNo=pasted_certificate_numbers(valid["certificateNo"])["full-width-digits"])])
    taken_id = str(on_sale["listingId"])

    clock = _Clock()
    event = sim.set_status(valid["certificateNo"], V.certificateStatus.REVOKED, push=route.push)
    with precondition(f"the listing on the revoked certificate is taken down ({route.how})"):
        down = watch_listings(platform, [taken_id], lambda v: v.get("state") == V.listingState.TAKEN_DOWN,
                              route.allowance, start=clock.mono)[taken_id]
        expect(down.satisfied, "not taken down", observed=listing_brief(down.value))
    expected.append(ExpectedReport(taken_id, A.TAKEN_DOWN, V.reasonCode.CERT_REVOKED, valid["certificateNo"],
                                   "event", event_id=event["eventId"], acted_by_epoch=clock.wall_at(down.seen_after)))

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
        elif e.cause == "request" and e.certificate_no is not None and r.get("requestId") not in asked:
            issues.append("requestId names no verification request the regulator received")
        if issues:
            problems.append({"expected": e.brief(), "report": disposition_brief(r), "problems": issues})
    expect(not problems,
           "an interception or takedown was not reported within the takedown deadline with the right content",
           expected=[e.brief() for e in expected], observed=problems)


def _actions_of(reports: list[dict[str, Any]], listing_id: str) -> Counter[tuple[str, str]]:
    return Counter((str(r.get("action")), str(r.get("reasonCode")))
                   for r in distinct_dispositions(reports) if r.get("listingId") == listing_id)


@pytest.mark.requirement("RPT-02")
def test_rpt02_reports_match_actions_one_to_one(ccc: RunContext, sim: Any, platform: PlatformClient,
                                                data: DataFactory, measure: Any) -> None:
    route = status_change_route(ccc)
    decision = listing_decision_deadline(ccc)
    unavailable = V.reasonCode.VERIFICATION_UNAVAILABLE
    with precondition("valid and unknown certificates, two merchants"):
        category = data.category()
        merchant, outage_merchant = data.merchant(), data.merchant()
        certs = {name: data.certificate(category) for name in ("onSale", "revoked", "suspended", "outage")}
        unknown = unknown_certificate_no(sim, category["productCode"])

    with scoped_simulator_fault(sim, "http-error", match={"merchantId": outage_merchant}, params={"status": 503}):
        # Created during an outage: it may be intercepted provisionally (VERIFICATION_UNAVAILABLE), which
        # may be reported; when the regulator is back it goes on sale, which is not a reportable action.
        t_outage = time.monotonic()
        (outage,) = create_listings_concurrently(platform, data, [
            data.listing(certs["outage"], category, merchant=outage_merchant)])
        with precondition("listings on sale, and one intercepted"):
            on_sale, revoked, suspended = create_listings_on_sale(platform, data, ccc, [
                data.listing(certs[n], category, merchant=merchant) for n in ("onSale", "revoked", "suspended")])
            (intercepted,) = create_listings_concurrently(platform, data, [
                data.listing(certs["onSale"], category, merchant=merchant, certificateNo=unknown)])
            lid_i = str(intercepted["listingId"])
            seen_i = watch_listings(platform, [lid_i], lambda v: v.get("state") == V.listingState.INTERCEPTED,
                                    decision, start=time.monotonic())[lid_i]
            expect(seen_i.satisfied, "an unknown certificate was not intercepted", observed=listing_brief(seen_i.value))
        ids = {name: str(v["listingId"]) for name, v in
               (("onSale", on_sale), ("revoked", revoked), ("suspended", suspended), ("intercepted", intercepted),
                ("outage", outage))}

        t1 = time.monotonic()
        sim.set_statuses([(certs["revoked"]["certificateNo"], V.certificateStatus.REVOKED),
                          (certs["suspended"]["certificateNo"], V.certificateStatus.SUSPENDED)], push=route.push)
        with precondition(f"both listings are taken down ({route.how})"):
            down = watch_listings(platform, [ids["revoked"], ids["suspended"]],
                                  lambda v: v.get("state") == V.listingState.TAKEN_DOWN, route.allowance, start=t1)
            expect(all(s.satisfied for s in down.values()), "not taken down",
                   observed=[listing_brief(s.value) for s in down.values()])
        t2 = time.monotonic()
        sim.set_status(certs["suspended"]["certificateNo"], S.valid_status(), push=route.push)
        lifted = watch_listings(platform, [ids["suspended"]], lambda v: v.get("state") == V.listingState.ON_SALE,
                                route.allowance, start=t2)[ids["suspended"]]
        restored = lifted.satisfied  # restored, or only re-listable (TKD-05): each has its own report count
        # Hold the outage until the decision deadline of the listing created during it has passed, so
        # any provisional action has happened. Polled to the period's end with a condition never expected.
        watch_listings(platform, [ids["outage"]], lambda v: False, decision, start=t_outage)
    t_back = time.monotonic()
    with precondition("after the outage the listing created during it goes on sale"):
        back = watch_listings(platform, [ids["outage"]], lambda v: v.get("state") == V.listingState.ON_SALE,
                              decision, start=t_back)[ids["outage"]]
        expect(back.satisfied, "not on sale after the regulator recovered", observed=listing_brief(back.value))

    # Settle: one more takedown deadline after the last action, so a late duplicate is caught too.
    settle_until = time.time() + takedown_deadline_with_tolerance(ccc)
    reports = _await_reports(sim, [merchant, outage_merchant], lambda _: False, settle_until)
    measure("dispositionReports", len(reports), "reports")

    required: dict[str, Counter[tuple[str, str]]] = {
        "onSale": Counter(),
        "intercepted": Counter({(A.INTERCEPTED, V.reasonCode.CERT_NOT_FOUND): 1}),
        "revoked": Counter({(A.TAKEN_DOWN, V.reasonCode.CERT_REVOKED): 1}),
        "suspended": Counter({(A.TAKEN_DOWN, V.reasonCode.CERT_SUSPENDED): 1,
                              **({(A.RESTORED, V.reasonCode.CERT_SUSPENDED): 1} if restored else {})}),
    }
    problems = {}
    for name, want in required.items():
        got = _actions_of(reports, ids[name])
        if got != want:
            problems[name] = {"listingId": ids[name], "expected": _fmt(want), "reported": _fmt(got)}
    # The outage listing: a provisional interception may be reported (once), and then its lifting
    # (once); nothing else happened to it.
    got = _actions_of(reports, ids["outage"])
    provisional = got.get((A.INTERCEPTED, unavailable), 0)
    allowed = Counter({(A.INTERCEPTED, unavailable): 1, (A.RESTORED, unavailable): provisional})
    if any(n > allowed.get(key, 0) for key, n in got.items()):
        problems["outage"] = {"listingId": ids["outage"], "allowedAtMost": _fmt(allowed), "reported": _fmt(got)}
    expect(not problems,
           "reports do not match the actions one to one (a missing, duplicated or unfounded report)",
           expected={n: _fmt(w) for n, w in required.items()}, observed=problems)


def _fmt(counts: Counter[tuple[str, str]]) -> dict[str, int]:
    return {f"{action} {reason}": n for (action, reason), n in counts.items() if n}


@pytest.mark.requirement("RPT-02")
@pytest.mark.capability("statusPush")  # redelivery is a push
def test_rpt02_redelivered_event_reported_once(ccc: RunContext, sim: Any, platform: PlatformClient,
                                               data: DataFactory) -> None:
    route = status_change_route(ccc, push=True)
    with precondition("a listing on sale with a valid certificate"):
        category = data.category()
        merchant = data.merchant()
        cert = data.certificate(category)
        (listing,) = create_listings_on_sale(platform, data, ccc, [data.listing(cert, category, merchant=merchant)])
    lid = str(listing["listingId"])
    t0 = time.monotonic()
    event = sim.set_status(cert["certificateNo"], V.certificateStatus.REVOKED, push=True)
    with precondition(f"the listing is taken down ({route.how})"):
        down = watch_listings(platform, [lid], lambda v: v.get("state") == V.listingState.TAKEN_DOWN,
                              route.allowance, start=t0)[lid]
        expect(down.satisfied, "not taken down", observed=listing_brief(down.value))
    # The same event twice more: applied once, so reported once.
    sim.redeliver([event["eventId"], event["eventId"]])
    reports = _await_reports(sim, [merchant], lambda _: False, time.time() + takedown_deadline_with_tolerance(ccc))
    got = _actions_of(reports, lid)
    want = Counter({(A.TAKEN_DOWN, V.reasonCode.CERT_REVOKED): 1})
    expect(got == want,
           "a takedown caused by one event delivered three times was not reported exactly once",
           expected=_fmt(want),
           observed={"reports": [disposition_brief(r) for r in distinct_dispositions(reports)]})
