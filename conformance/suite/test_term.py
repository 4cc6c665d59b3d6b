"""TERM — terminology (术语), profile.md §3 TERM-01 and TERM-02 (TERM-03 is the ICS review, test_ics.py).

The code lists are specs/terminology.yaml's: whatever the platform shows in listing views, verification
records and disposition reports during a small scenario must come from them.
"""

from __future__ import annotations

from typing import Any

import pytest

from conformance.checks import expect, precondition
from conformance.context import RunContext
from conformance.platform_client import PlatformClient
from conformance.simulator.control import SimulatorControl
from conformance.suite._helpers import (
    await_simulator_captures,
    create_and_await_decision,
    listing_brief,
    listing_on_sale,
    take_down_by_status_change,
)
from conformance.suite.vocabulary import S, V
from conformance.testdata import DataFactory


class _Codes:
    """Every code seen, with where it was seen and which list it must belong to."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []

    def add(self, where: str, code_list: str, value: Any, *, nullable: bool = False) -> None:
        if value is None and nullable:
            return
        self.seen.append({"where": where, "list": code_list, "value": value})

    def listing(self, where: str, view: dict[str, Any]) -> None:
        self.add(f"{where} state", "listingState", view.get("state"))
        self.add(f"{where} reasonCode", "reasonCode", view.get("reasonCode"), nullable=True)

    def problems(self) -> list[str]:
        return [f"{s['where']}: {s['value']!r} is not in the code list {s['list']}" for s in self.seen
                if s["value"] not in S.codes(s["list"])]


@pytest.mark.requirement("TERM-01", id="term01.platform-uses-only-the-profiles-code-lists")
@pytest.mark.variant("TERM-01/v1", "TERM-01/v2", "TERM-01/v3")
def test_term01_platform_uses_only_the_profiles_code_lists(platform: PlatformClient, data: DataFactory, sim: SimulatorControl,
                                                     ccc: RunContext) -> None:
    merchant = data.merchant()
    category = data.category()
    valid = data.certificate(category)
    to_suspend = data.certificate(category)
    revoked = data.certificate(category, status=V.certificateStatus.REVOKED)
    # On sale, intercepted after a query, intercepted without one, and (below) taken down by an event.
    scenario = [data.listing(valid, category, merchant=merchant),
                data.listing(revoked, category, merchant=merchant),
                data.listing(valid, category, merchant=merchant, certificateNo=None),
                data.listing(to_suspend, category, merchant=merchant)]
    codes = _Codes()
    ids = []
    for fields in scenario:
        created = data.remember_listing(platform.create_listing(fields))
        codes.listing(f"POST /listings ({created.get('listingId')})", created)
        ids.append(str(created["listingId"]))
    for lid in ids:
        decided = platform.wait_decided(lid, ccc.decision_deadline).value
        codes.listing(f"GET /listings/{lid} (decided)", decided)
    # The takedown only widens what is seen (TKD judges it): whatever happens, the codes are read after.
    take_down_by_status_change(platform, sim, ccc, ids[-1], to_suspend["certificateNo"],
                               V.certificateStatus.SUSPENDED, reason="conformance TERM-01")
    for lid in ids:
        view = platform.get_listing(lid)
        codes.listing(f"GET /listings/{lid}", view)
        for i, rec in enumerate(platform.records(lid)):
            where = f"GET /verification-records?listingId={lid} [{i}]"
            codes.add(f"{where} outcome", "verificationOutcome", rec.get("outcome"), nullable=True)
            codes.add(f"{where} decision", "listingState", rec.get("decision"))
            codes.add(f"{where} reasonCode", "reasonCode", rec.get("reasonCode"), nullable=True)
    if ccc.claims("dispositionReporting"):
        reports = await_simulator_captures(sim, "dispositions", {"merchantId": merchant},
                                           ccc.takedown_deadline,
                                           enough=lambda caps: len(caps) >= 3).value
        for cap in reports:
            body = cap.get("body") if isinstance(cap.get("body"), dict) else {}
            codes.add(f"disposition seq {cap.get('seq')} action", "dispositionAction", body.get("action"))
            codes.add(f"disposition seq {cap.get('seq')} reasonCode", "reasonCode", body.get("reasonCode"))
    problems = codes.problems()
    expect(not problems, "states, reason codes, outcomes, decisions and actions must come from the profile's "
           "code lists (specs/terminology.yaml)", expected="every code in its list",
           observed={"problems": problems, "seen": codes.seen})


# -- TERM-02 ----------------------------------------------------------------------------------------
@pytest.mark.requirement("TERM-02", id="term02.consumer-view-shows-chinese-label-of-valid-status")
@pytest.mark.variant("TERM-02/v1")
def test_term02_consumer_view_shows_chinese_label_of_valid_status(platform: PlatformClient, data: DataFactory,
                                                           ccc: RunContext) -> None:
    _, listing = listing_on_sale(platform, data, ccc)
    r = platform.consumer_view(str(listing["listingId"]))
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else None
    ccc_view = body.get("ccc") if isinstance(body, dict) else None
    label = S.label("certificateStatus", S.valid_status())  # 有效
    shown = ccc_view.get("statusLabel") if isinstance(ccc_view, dict) else None
    expect(r.status_code == 200 and shown == label,
           f"the consumer view of a listing on a valid certificate must show the Chinese label {label}",
           expected={"status": 200, "ccc.statusLabel": label},
           observed={"status": r.status_code, "body": body if body is not None else r.text[:500]})


@pytest.mark.requirement("TERM-02", id="term02.consumer-view-label-matches-the-status-it-holds")
@pytest.mark.variant("TERM-02/v2", "TERM-02/v3")
def test_term02_consumer_view_label_matches_the_status_it_holds(platform: PlatformClient, data: DataFactory,
                                                         ccc: RunContext) -> None:
    category = data.category()
    revoked = V.certificateStatus.REVOKED
    cert = data.certificate(category, status=revoked)
    with precondition("a listing on a revoked certificate is intercepted"):
        listing, _ = create_and_await_decision(platform, data, ccc, data.listing(cert, category))
        expect(listing.get("state") == V.listingState.INTERCEPTED, "intercepted", observed=listing_brief(listing))
    r = platform.consumer_view(str(listing["listingId"]))
    body = r.json() if r.headers.get("content-type", "").startswith("application/json") else None
    ccc_view = body.get("ccc") if r.status_code == 200 and isinstance(body, dict) else None
    # Not showing the certificate (404/410, or ccc null) shows no label; showing one must label its status.
    allowed = {S.label("certificateStatus", revoked)}
    shown = ccc_view.get("statusLabel") if isinstance(ccc_view, dict) else None
    expect(ccc_view is None or shown in allowed,
           "a consumer view that shows a certificate must show the Chinese label of the status it holds",
           expected={"ccc.statusLabel": sorted(allowed)},
           observed={"status": r.status_code, "body": body if body is not None else r.text[:500]})
