"""TKD at its edges — the variants of specs/variants.yaml that the main-path tests of test_tkd.py leave
open: the fourth takedown status (EXPIRED announced by event), the expiry date's own day at
re-verification, and the "only" of a lifted suspension (a VALID event restores nothing else).

As in test_tkd.py, while a test waits for an event to act, the regulator's query interface fails for
the certificates concerned, so what happens can only come from the event under test.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from conformance.checks import expect, inconclusive, precondition
from conformance.context import RunContext
from conformance.platform_client import PlatformClient
from conformance.simulator.control import SimulatorControl
from conformance.suite._helpers import (
    StatusChangeRoute,
    await_simulator_captures,
    create_and_await_decision,
    create_listings_on_sale,
    event_path_only,
    listing_brief,
    listing_on_sale,
    received_epoch,
    status_change_route,
    today_in_shanghai,
    watch_listings,
)
from conformance.suite.vocabulary import TOLERANCE, S, V
from conformance.testdata import DataFactory
from conformance.variants import expect_each


def _expired_status_event_takes_listing_down(ccc: RunContext, sim: SimulatorControl, platform: PlatformClient, data: DataFactory,
                                             measure: Any, route: StatusChangeRoute) -> None:
    # The Takedown rule names four statuses; EXPIRED may come as a status, not only as a date. A
    # platform that leaves expiry to the dates alone misses it until the date passes.
    cert, listing = listing_on_sale(platform, data, ccc)
    lid, number = str(listing["listingId"]), cert["certificateNo"]
    expired, reason = V.certificateStatus.EXPIRED, V.reasonCode.CERT_EXPIRED
    with event_path_only(sim, [number]):
        t0 = time.monotonic()
        sim.set_status(number, expired, push=route.push)
        seen = watch_listings(platform, [lid], lambda v: v.get("state") == V.listingState.TAKEN_DOWN
                              and v.get("reasonCode") == reason, route.allowance, start=t0)[lid]
    if seen.satisfied:
        measure("takedownLatency", round(seen.seen_after or 0.0, 3), "s", limit=route.deadline)
    expect(seen.met_by(route.allowance),
           f"a listing whose certificate turned {expired} ({route.how}) was not TAKEN_DOWN with {reason} within "
           f"{route.allowance:g} s", expected={"state": V.listingState.TAKEN_DOWN, "reasonCode": reason},
           observed={"listing": listing_brief(seen.value), "expiryDate": cert.get("expiryDate")})


@pytest.mark.requirement("TKD-01", id="tkd01.pushed-expired-status-takes-listing-down")
@pytest.mark.variant("TKD-01/v4")
def test_tkd01_pushed_expired_status_takes_listing_down(ccc: RunContext, sim: SimulatorControl, platform: PlatformClient,
                                                        data: DataFactory, measure: Any) -> None:
    _expired_status_event_takes_listing_down(ccc, sim, platform, data, measure, status_change_route(ccc, push=True))


@pytest.mark.requirement("TKD-02", id="tkd02.polled-expired-status-takes-listing-down")
@pytest.mark.variant("TKD-02/v4")
def test_tkd02_polled_expired_status_takes_listing_down(ccc: RunContext, sim: SimulatorControl, platform: PlatformClient,
                                                        data: DataFactory, measure: Any) -> None:
    _expired_status_event_takes_listing_down(ccc, sim, platform, data, measure, status_change_route(ccc, push=False))


@pytest.mark.requirement("TKD-05", id="tkd05.valid-event-restores-only-suspension-takedowns")
@pytest.mark.variant("TKD-05/v2", "TKD-05/v3", "TKD-05/v4", "TKD-05/v5")
def test_tkd05_valid_event_restores_only_suspension_takedowns(ccc: RunContext, sim: SimulatorControl, platform: PlatformClient,
                                                              data: DataFactory) -> None:
    # Three listings taken down for revoked, cancelled and expired (by status), and one intercepted —
    # never on sale — for a suspended certificate; then every certificate turns VALID. Only a listing
    # taken down for a suspension may come back (Clarifications: Events); none of these.
    route = status_change_route(ccc)
    taken_down_for = {"TKD-05/v2": V.certificateStatus.REVOKED, "TKD-05/v3": V.certificateStatus.CANCELLED,
                      "TKD-05/v4": V.certificateStatus.EXPIRED}
    with precondition("listings on sale on three valid certificates, one intercepted for a suspended certificate"):
        category = data.category()
        certs = {vid: data.certificate(category) for vid in taken_down_for}
        on_sale = create_listings_on_sale(platform, data, ccc, [data.listing(certs[vid], category)
                                                                for vid in taken_down_for])
        suspended = data.certificate(category, status=V.certificateStatus.SUSPENDED)
        intercepted, _ = create_and_await_decision(platform, data, ccc, data.listing(suspended, category))
        expect(intercepted.get("state") == V.listingState.INTERCEPTED
               and intercepted.get("reasonCode") == V.reasonCode.CERT_SUSPENDED,
               "the listing on the suspended certificate was intercepted", observed=listing_brief(intercepted))
    ids = {vid: str(v["listingId"]) for vid, v in zip(taken_down_for, on_sale, strict=True)}
    ids["TKD-05/v5"] = str(intercepted["listingId"])
    numbers = {vid: c["certificateNo"] for vid, c in certs.items()} | {"TKD-05/v5": suspended["certificateNo"]}
    reasons = {ids[vid]: S.reason_for_status(status) for vid, status in taken_down_for.items()}

    with event_path_only(sim, list(numbers.values())):
        t0 = time.monotonic()
        sim.set_statuses([(numbers[vid], status) for vid, status in taken_down_for.items()], push=route.push)
        with precondition(f"the three listings are taken down with the matching reasons ({route.how})"):
            down = watch_listings(platform, list(reasons), lambda v: v.get("state") == V.listingState.TAKEN_DOWN
                                  and v.get("reasonCode") == reasons[str(v.get("listingId"))], route.allowance,
                                  start=t0)
            expect(all(s.satisfied for s in down.values()), "not every listing was taken down",
                   observed=[listing_brief(s.value) for s in down.values() if not s.satisfied])
        t1 = time.monotonic()
        sim.set_statuses([(number, S.valid_status()) for number in numbers.values()], push=route.push)
        # The violation is the condition: for the whole allowance nothing may put these on sale.
        back = watch_listings(platform, list(ids.values()), lambda v: v.get("state") == V.listingState.ON_SALE,
                              route.allowance, start=t1)
    outcomes = {vid: {"listing": listing_brief(back[lid].value)} if back[lid].satisfied else None
                for vid, lid in ids.items()}
    expect_each(outcomes, "a VALID event restores only listings taken down for CERT_SUSPENDED; these came back on "
                f"sale within {route.allowance:g} s of it ({route.how})",
                expected={"state": f"not {V.listingState.ON_SALE}", "observedForSeconds": route.allowance})


@pytest.mark.requirement("TKD-03", id="tkd03.expiry-date-today-keeps-listing-on-sale-at-reverification")
@pytest.mark.variant("TKD-03/v2")
def test_tkd03_expiry_date_today_keeps_listing_on_sale_at_reverification(ccc: RunContext, sim: SimulatorControl,
                                                                         platform: PlatformClient,
                                                                         data: DataFactory) -> None:
    # A certificate is valid on its expiry date itself; only the day after is expired. A re-verification
    # that counts the day itself as expired takes a valid listing down a day early.
    interval = float(ccc.timing["reverificationIntervalSeconds"])
    deadline = float(ccc.timing["takedownDeadlineSeconds"])
    cert, listing = listing_on_sale(platform, data, ccc)
    lid, number, merchant = str(listing["listingId"]), cert["certificateNo"], str(listing.get("merchantId"))
    today = today_in_shanghai()
    sim.update_certificate(number, expiryDate=today.isoformat())  # silently: no event, status still valid
    # Taken after the update returned: a request received later was answered with the new date.
    updated_at = time.time()
    with precondition(f"the platform re-verified the listing after its expiry date became today (every {interval:g} s "
                      "by its ICS)"):
        obs = await_simulator_captures(
            sim, "verifications", {"merchantId": merchant}, interval + deadline + TOLERANCE,
            enough=lambda caps: any((received_epoch(c) or 0.0) > updated_at and isinstance(c.get("body"), dict)
                                    and c["body"].get("certificateNo") == number for c in caps))
        expect(obs.satisfied, "no verification request about the certificate after the change",
               observed=[c.get("body") for c in obs.value])
    hit = watch_listings(platform, [lid], lambda v: v.get("state") != V.listingState.ON_SALE,
                         ccc.takedown_deadline, start=time.monotonic())[lid]
    if today_in_shanghai() != today:
        inconclusive("the Asia/Shanghai date changed during the test, so the certificate really expired")
    expect(not hit.satisfied,
           f"a listing whose certificate's expiry date is today ({today.isoformat()}, Asia/Shanghai) was taken off "
           "sale at re-verification; a certificate is valid on its expiry date",
           expected={"state": V.listingState.ON_SALE, "expiryDate": today.isoformat()},
           observed={"listing": listing_brief(hit.value)})
