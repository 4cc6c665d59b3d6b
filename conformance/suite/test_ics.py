"""ICS — the implementation conformance statement (实现声明): ICS-01, TERM-03 and AUD-02 by static review
of the ICS (conformance.ics), and ICS-02 by comparing what the ICS declares with what the platform does.
"""

from __future__ import annotations

import pytest

from conformance import ics
from conformance.checks import expect, fail, inconclusive
from conformance.context import RunContext
from conformance.platform_client import Notifier, PlatformClient, wait_until
from conformance.simulator.control import SimulatorControl
from conformance.suite._helpers import forged_status_event, unknown_certificate_no
from conformance.suite.vocabulary import S, V
from conformance.testdata import DataFactory
from conformance.verdicts import codes


# -- static review: ICS-01, TERM-03, AUD-02 ------------------------------------------------------------
def _judge_static_review(rid: str, ccc: RunContext) -> None:
    review = {v.requirement: v for v in ics.review(ccc.ics)}[rid]
    c = codes()
    reasons = review.reasons or [review.verdict]
    if review.verdict == c.INCONCLUSIVE:
        inconclusive(f"{rid}: {'; '.join(reasons)}")
    if review.verdict != c.PASS:
        fail(f"{rid}: the ICS {ccc.ics_file} does not pass the static review: {'; '.join(reasons)}",
             expected=f"{rid} {c.PASS}", observed={"verdict": review.verdict, "reasons": review.reasons,
                                                  # what the review could not judge, beside the failure
                                                  "notJudged": review.findings})


# One test per requirement, each with a literal marker, so the requirement ↔ test map can be read
# from the source (conformance.coverage) without running the suite.
@pytest.mark.requirement("ICS-01", id="ics01.validates-with-timings-within-profile-maxima")
def test_ics01_validates_with_timings_within_profile_maxima(ccc: RunContext) -> None:
    _judge_static_review(ics.ICS_VALID, ccc)


@pytest.mark.requirement("TERM-03", id="term03.ics-category-mapping-uses-catalogue-codes")
def test_term03_ics_category_mapping_uses_catalogue_codes(ccc: RunContext) -> None:
    _judge_static_review(ics.CATEGORY_MAPPING, ccc)


@pytest.mark.requirement("AUD-02", id="aud02.ics-declared-retention-is-at-least-the-minimum")
def test_aud02_ics_declared_retention_is_at_least_the_minimum(ccc: RunContext) -> None:
    _judge_static_review(ics.RETENTION, ccc)


# -- ICS-02: declared vs observed ---------------------------------------------------------------------
@pytest.mark.requirement("ICS-02", id="ics02.declared-push-endpoint-accepts-a-signed-event")
@pytest.mark.capability("statusPush")
@pytest.mark.variant("ICS-02/v1")
def test_ics02_declared_push_endpoint_accepts_a_signed_event(notifier: Notifier, data: DataFactory,
                                                          sim: SimulatorControl) -> None:
    # An event about a certificate no listing uses: it must be accepted (2xx) and can change nothing.
    number = unknown_certificate_no(sim, data.category()["productCode"])
    event = forged_status_event(number, V.certificateStatus.SUSPENDED, previous=S.valid_status(),
                                reason="conformance ICS-02: declared push is accepted")
    r = notifier.send(event)
    expect(200 <= r.status_code < 300, "the ICS declares statusPush: a correctly signed event sent to the "
           "declared notification URL must be accepted (2xx)", expected="2xx",
           observed={"url": notifier.url, "status": r.status_code, "body": r.text[:500]})


@pytest.mark.requirement("ICS-02", id="ics02.bearer-token-declaration-matches-behaviour")
@pytest.mark.variant("ICS-02/v2", "ICS-02/v5")
def test_ics02_bearer_token_declaration_matches_behaviour(platform: PlatformClient, ccc: RunContext) -> None:
    request = platform.http.build_request("GET", "/health")
    request.headers.pop("Authorization", None)
    r = platform.http.send(request)
    if ccc.claims("bearerToken"):
        expect(r.status_code == 401, "the ICS declares bearerToken: /health without the token must be refused (401)",
               expected=401, observed={"status": r.status_code, "body": r.text[:500]})
    else:
        expect(r.status_code == 200, "the ICS declares no bearerToken: /health must answer without one",
               expected=200, observed={"status": r.status_code, "body": r.text[:500]})


@pytest.mark.requirement("ICS-02", id="ics02.declared-consumer-view-is-served")
@pytest.mark.capability("consumerView")
@pytest.mark.variant("ICS-02/v3")
def test_ics02_declared_consumer_view_is_served(platform: PlatformClient, data: DataFactory) -> None:
    category = data.out_of_catalogue()
    listing = data.remember_listing(platform.create_listing(data.listing(None, category)))
    r = platform.consumer_view(str(listing["listingId"]))
    expect(r.status_code in (200, 404, 410), "the ICS declares consumerView: GET /listings/{id}/public must be "
           "served (200, or 404/410 for a listing not on sale), not refused as unimplemented",
           expected="200 | 404 | 410", observed={"status": r.status_code, "body": r.text[:500]})


@pytest.mark.requirement("ICS-02", id="ics02.declared-change-feed-is-polled")
@pytest.mark.capability("changeFeedPolling")
@pytest.mark.variant("ICS-02/v4")
def test_ics02_declared_change_feed_is_polled(sim: SimulatorControl, ccc: RunContext) -> None:
    # Polls carry no merchant: any poll by this platform after the latest one seen so far shows it polls.
    window = 2 * float(ccc.timing["pollIntervalSeconds"]) + float(S.param("measurementToleranceSeconds"))
    mine = {"platformId": ccc.platform_id}
    after = max((int(c["seq"]) for c in sim.captures(route="status-changes", match=mine)), default=0)
    obs = wait_until(lambda: sim.captures(route="status-changes", match=mine, after=after), bool, window)
    expect(obs.satisfied, f"the ICS declares changeFeedPolling every {ccc.timing['pollIntervalSeconds']} s: the "
           f"platform must poll the change feed (GET /api/v1/status-changes) within {window:g} s",
           expected="a poll", observed={"pollsSeen": len(obs.value), "afterSeq": after})
