"""VIS — consumer visibility (消费者可见), profile.md §3 VIS-01 and VIS-02.

The consumer view is ``GET /listings/{id}/public``: what buyers see. A listing not on sale may answer
200 with ``purchasable: false`` or 404/410 — both conform (profile §2 Rules).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from conformance import signing, specs
from conformance.checks import expect, precondition
from conformance.context import RunContext
from conformance.platform_client import PlatformClient
from conformance.simulator.control import SimulatorControl
from conformance.suite._helpers import (
    create_and_await_decision,
    listing_brief,
    take_down_by_status_change,
)
from conformance.suite.vocabulary import S, V
from conformance.testdata import DataFactory


def _json(r: Any) -> Any:
    try:
        return r.json()
    except ValueError:
        return None


@pytest.mark.requirement("VIS-01", id="vis01.consumer-view-shows-certificate-label-and-check-time")
@pytest.mark.variant("VIS-01/v1", "VIS-01/v2")
def test_vis01_consumer_view_shows_certificate_label_and_check_time(platform: PlatformClient, data: DataFactory,
                                                              ccc: RunContext) -> None:
    category = data.category()
    cert = data.certificate(category)
    started = datetime.now(UTC)
    with precondition("a catalogue listing with a valid certificate is on sale"):
        listing, _ = create_and_await_decision(platform, data, ccc, data.listing(cert, category))
        expect(listing.get("state") == V.listingState.ON_SALE, "on sale", observed=listing_brief(listing))
    r = platform.consumer_view(str(listing["listingId"]))
    body = _json(r)
    view = body.get("ccc") if isinstance(body, dict) else None
    view = view if isinstance(view, dict) else {}
    problems = [f"consumer-view {e}" for e in S.errors("consumer-view", body)] if r.status_code == 200 else []
    if r.status_code != 200 or not isinstance(body, dict) or body.get("purchasable") is not True:
        problems.append("a listing on sale must have a consumer view (200) with purchasable true")
    if view.get("certificateNo") != cert["certificateNo"]:
        problems.append(f"ccc.certificateNo {view.get('certificateNo')!r}, expected the normalised number "
                        f"{cert['certificateNo']}")
    label = S.label("certificateStatus", S.valid_status())
    if view.get("statusLabel") != label:
        problems.append(f"ccc.statusLabel {view.get('statusLabel')!r}, expected the status label {label}")
    verified_at = view.get("verifiedAt")
    errors = specs.load().definition_errors("timestamp", verified_at)
    if errors:
        problems.append(f"ccc.verifiedAt {verified_at!r}: {'; '.join(errors)}")
    else:
        # When it was checked: during this test, give or take the clock skew the profile tolerates.
        skew = float(S.param("signatureSkewSeconds"))
        at = signing.parse_rfc3339(verified_at)
        now = datetime.now(UTC)
        if at is None or not (started.timestamp() - skew <= at.timestamp() <= now.timestamp() + skew):
            problems.append(f"ccc.verifiedAt {verified_at!r} is not the time of this test's verification "
                            f"({started.isoformat()} … {now.isoformat()}, ±{skew:g} s)")
    expect(not problems, "the consumer view of a catalogue listing on sale must show the certificate number, its "
           "status label and when it was checked", expected={"status": 200, "purchasable": True, "ccc": {
               "certificateNo": cert["certificateNo"], "statusLabel": label, "verifiedAt": "RFC 3339, this test"}},
           observed={"problems": problems, "status": r.status_code, "body": body if body is not None else r.text[:500]})


@pytest.mark.requirement("VIS-02", id="vis02.listing-off-sale-cannot-be-bought")
@pytest.mark.variant_cases("how", {"intercepted": "VIS-02/v1", "taken-down": "VIS-02/v2"})
def test_vis02_listing_off_sale_cannot_be_bought(how: str, platform: PlatformClient, data: DataFactory, sim: SimulatorControl,
                                          ccc: RunContext) -> None:
    category = data.category()
    revoked = V.certificateStatus.REVOKED
    if how == "intercepted":
        # Without a number: intercepted before any query, whatever the platform makes of answers.
        cert = data.certificate(category)
        with precondition("a listing without a certificate number is intercepted"):
            listing, _ = create_and_await_decision(platform, data, ccc,
                                                   data.listing(cert, category, certificateNo=None))
            expect(listing.get("state") == V.listingState.INTERCEPTED, "intercepted", observed=listing_brief(listing))
    else:
        cert = data.certificate(category)
        with precondition("a listing on sale is taken down after its certificate is revoked"):
            listing, _ = create_and_await_decision(platform, data, ccc, data.listing(cert, category))
            expect(listing.get("state") == V.listingState.ON_SALE, "on sale", observed=listing_brief(listing))
            obs = take_down_by_status_change(platform, sim, ccc, str(listing["listingId"]), cert["certificateNo"],
                                             revoked, reason="conformance VIS-02")
            expect(obs.satisfied, "taken down", observed=listing_brief(obs.value))
            listing = obs.value
    r = platform.consumer_view(str(listing["listingId"]))
    body = _json(r)
    ok = r.status_code in (404, 410) or (r.status_code == 200 and isinstance(body, dict)
                                        and body.get("purchasable") is False)
    expect(ok, f"a listing {how.replace('-', ' ')} must not be purchasable: 200 with purchasable false, or 404/410",
           expected="200 {purchasable: false} | 404 | 410",
           observed={"listing": listing_brief(listing), "status": r.status_code,
                     "body": body if body is not None else r.text[:500]})
