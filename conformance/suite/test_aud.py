"""AUD — audit (审计), profile.md §3 AUD-01 and AUD-03 (AUD-02 is the ICS review, test_ics.py).

The simulator's captures are the ground truth of which verifications happened: every query attempt it
received about the test's listing, failed ones included, must have a record carrying its requestId.
"""

from __future__ import annotations

import time
from itertools import pairwise
from typing import Any

import pytest

from conformance import signing
from conformance.checks import expect, precondition
from conformance.context import RunContext
from conformance.platform_client import PlatformClient, wait_until
from conformance.simulator.control import SimulatorControl
from conformance.suite._helpers import (
    await_simulator_captures,
    create_and_await_decision,
    listing_brief,
    listing_on_sale,
    normalised_certificate_text,
    scoped_simulator_fault,
    take_down_by_status_change,
    unknown_certificate_no,
    verification_captures_for,
)
from conformance.suite.cause import after_next_query
from conformance.suite.vocabulary import S, V
from conformance.testdata import DataFactory


def _request_id(capture: dict[str, Any]) -> str | None:
    body = capture.get("body")
    return body.get("requestId") if isinstance(body, dict) else None


def _records_covering(platform: PlatformClient, listing_id: str, request_ids: set[str],
                      timeout: float) -> list[dict[str, Any]]:
    """The listing's records, read again (briefly) until they name every captured requestId: a record
    is written after its answer arrives, so one in flight may lag the capture."""
    obs = wait_until(lambda: platform.records(listing_id),
                     lambda recs: request_ids <= {r.get("requestId") for r in recs}, timeout)
    return obs.value


def _record_problems(records: list[dict[str, Any]], captures: list[dict[str, Any]], listing_id: str,
                     number: str | None) -> list[str]:
    problems = []
    for i, rec in enumerate(records):
        problems += [f"record [{i}] {e}" for e in S.errors("verification-record", rec)]
        if str(rec.get("listingId")) != listing_id:
            problems.append(f"record [{i}]: listingId {rec.get('listingId')!r}, expected {listing_id!r}")
    by_request = {r.get("requestId"): r for r in records}
    for cap in captures:
        rid = _request_id(cap)
        rec = by_request.get(rid)
        if rec is None:
            problems.append(f"the verification request {rid} (simulator seq {cap.get('seq')}, answered "
                            f"{(cap.get('response') or {}).get('status')}) has no record")
        elif number is not None and normalised_certificate_text(rec.get("certificateNo")) != number:
            problems.append(f"record of {rid}: certificateNo {rec.get('certificateNo')!r}, expected {number}")
    return problems


def _answered_outcome(capture: dict[str, Any]) -> str | None:
    """The outcome a record of this query must carry: the status the regulator answered, NOT_FOUND, or
    UNAVAILABLE for anything else (error, fault, unknown status)."""
    response = capture.get("response") or {}
    body = response.get("body") if isinstance(response.get("body"), dict) else {}
    if capture.get("fault") or response.get("status") != 200:
        return V.verificationOutcome.UNAVAILABLE
    if body.get("code") == V.regulatorResultCode.NOT_FOUND:
        return V.verificationOutcome.NOT_FOUND
    status = (body.get("certificate") or {}).get("status")
    return status if status in S.codes("verificationOutcome") else V.verificationOutcome.UNAVAILABLE


@pytest.mark.requirement("AUD-01", id="aud01.every-verification-is-recorded")
@pytest.mark.variant_cases("case", {"valid": "AUD-01/v1", "revoked": "AUD-01/v2", "not-found": "AUD-01/v3"})
def test_aud01_every_verification_is_recorded(case: str, platform: PlatformClient, data: DataFactory, sim: SimulatorControl,
                                        ccc: RunContext) -> None:
    category = data.category()
    if case == "not-found":
        number = unknown_certificate_no(sim, category["productCode"])
        fields = data.listing(None, category, certificateNo=number, brand=data.brand(), model=data.model())
    else:
        cert = data.certificate(category, status=S.valid_status() if case == "valid" else V.certificateStatus.REVOKED)
        number, fields = cert["certificateNo"], data.listing(cert, category)
    with precondition("the listing is decided"):
        listing, obs = create_and_await_decision(platform, data, ccc, fields)
        expect(obs.satisfied, "decided", observed=listing_brief(listing))
    lid = str(listing["listingId"])
    captures = verification_captures_for(sim, fields["merchantId"], lid)
    with precondition("the simulator received the platform's query"):
        expect(captures, "at least one verification request", observed=[])
    records = _records_covering(platform, lid, {_request_id(c) for c in captures}, ccc.decision_deadline)
    problems = _record_problems(records, captures, lid, number)
    # The record of the query that decided the listing: the regulator's answer, and the decision taken.
    first = next((r for r in records if r.get("requestId") == _request_id(captures[0])), None)
    want = {"outcome": _answered_outcome(captures[0]), "decision": listing.get("state"),
            "reasonCode": listing.get("reasonCode")}
    if first is not None:
        got = {k: first.get(k) for k in want}
        if got != want:
            problems.append(f"record of the first query: {got}, expected {want}")
    expect(not problems, "every verification must be recorded with its time, listing, certificate number, the "
           "requestId sent, the regulator's outcome, the decision and the reason",
           expected={"requestIds": [_request_id(c) for c in captures], **want},
           observed={"problems": problems, "records": records})


def _created_while_the_regulator_fails(platform: PlatformClient, data: DataFactory, sim: SimulatorControl,
                                       fields: dict[str, Any], deadline: float) -> str:
    """Create the listing while the regulator answers its merchant's queries with an error, until the
    platform's first query has met that error (a precondition); the listing's id."""
    merchant = fields["merchantId"]
    with scoped_simulator_fault(sim, "http-error", match={"merchantId": merchant}):
        listing = data.remember_listing(platform.create_listing(fields))
        with precondition("the platform's first query met the regulator's error"):
            failed = await_simulator_captures(sim, "verifications", {"merchantId": merchant}, deadline,
                                              enough=lambda caps: any(c.get("fault") for c in caps))
            expect(failed.satisfied, "a failed query attempt", observed=[c.get("body") for c in failed.value])
    return str(listing["listingId"])


@pytest.mark.requirement("AUD-01", id="aud01.failed-query-attempt-is-recorded-as-unavailable")
@pytest.mark.variant("AUD-01/v4")
def test_aud01_failed_query_attempt_is_recorded_as_unavailable(platform: PlatformClient, data: DataFactory, sim: SimulatorControl,
                                                         ccc: RunContext) -> None:
    category = data.category()
    cert = data.certificate(category)
    fields = data.listing(cert, category)
    merchant = fields["merchantId"]
    deadline = ccc.decision_deadline
    lid = _created_while_the_regulator_fails(platform, data, sim, fields, deadline)
    # Give the platform its retry after recovery, so the records hold the failed and the good attempt;
    # whether it decides in time is RES-01's question, not this one's.
    platform.wait_listing(lid, lambda x: x.get("state") == V.listingState.ON_SALE, deadline, start=time.monotonic())
    captures = verification_captures_for(sim, merchant, lid)
    failed_ids = {rid for c in captures if c.get("fault") and (rid := _request_id(c))}
    records = _records_covering(platform, lid, {_request_id(c) for c in captures}, deadline)
    problems = _record_problems(records, captures, lid, cert["certificateNo"])
    unavailable = V.verificationOutcome.UNAVAILABLE
    for rec in records:
        if rec.get("requestId") in failed_ids and rec.get("outcome") != unavailable:
            problems.append(f"record of the failed attempt {rec.get('requestId')}: outcome {rec.get('outcome')!r}, "
                            f"expected {unavailable}")
    expect(not problems, f"a failed query attempt must be recorded too, with outcome {unavailable}",
           expected={"failedRequestIds": sorted(failed_ids), "outcome": unavailable},
           observed={"problems": problems, "records": records,
                     "captures": [{"seq": c.get("seq"), "requestId": _request_id(c), "fault": c.get("fault"),
                                   "status": (c.get("response") or {}).get("status")} for c in captures]})


@pytest.mark.requirement("AUD-03", id="aud03.records-are-append-only-across-a-takedown")
@pytest.mark.variant("AUD-03/v1", "AUD-03/v2")
def test_aud03_records_are_append_only_across_a_takedown(platform: PlatformClient, data: DataFactory, sim: SimulatorControl,
                                                   ccc: RunContext) -> None:
    cert, listing = listing_on_sale(platform, data, ccc)
    lid = str(listing["listingId"])
    with precondition("the listing re-verified after an edit, with verification records"):
        # A second covered model re-verifies (more than one record to keep in order), still on sale.
        platform.edit_listing(lid, {"model": cert["models"][1]})
        platform.wait_decided(lid, ccc.decision_deadline)
        before = platform.records(lid)
        expect(before, "at least one record before the takedown", observed=before)
    with precondition("the listing is taken down after its certificate is revoked"):
        obs = take_down_by_status_change(platform, sim, ccc, lid, cert["certificateNo"], V.certificateStatus.REVOKED,
                                         reason="conformance AUD-03")
        expect(obs.satisfied, "taken down", observed=listing_brief(obs.value))
    after = platform.records(lid)
    problems = []
    if after[:len(before)] != before:
        problems.append("the records from before the takedown are not all still there, unchanged and first")
    times = [r.get("requestedAt") for r in after]
    parsed = [signing.parse_rfc3339(t) if isinstance(t, str) else None for t in times]
    instants = [p for p in parsed if p is not None]
    if len(instants) != len(parsed) or any(a > b for a, b in pairwise(instants)):
        problems.append(f"records are not oldest first by requestedAt: {times}")
    expect(not problems, "verification records are append-only: a later takedown keeps the earlier records, "
           "unchanged, oldest first", expected={"firstRecords": before},
           observed={"problems": problems, "recordsAfterTakedown": after, "listing": listing_brief(obs.value)})


# -- a listing's whole life: every query recorded, no record ever changed (issue 11 §5) ----------------
def _listing_life(platform: PlatformClient, data: DataFactory, sim: SimulatorControl, ccc: RunContext, *,
                  cover: bool) -> tuple[str, str, list[tuple[str, list[dict[str, Any]]]], list[dict[str, Any]]]:
    """Take one listing through every kind of query a platform makes — its first query failing and
    retried, two periodic re-verifications, an edit that re-verifies, a takedown by status change —
    and snapshot its records after each step. Returns (listingId, certificateNo, snapshots, the
    simulator's captures of every query about the certificate). The listing is the only one on its
    certificate, so every captured query is about it, whichever listing id a per-certificate
    re-verification names. With ``cover``, each snapshot waits (briefly) for the records of every query
    captured so far; without, a snapshot is what the platform shows at that moment."""
    category = data.category()
    cert = data.certificate(category)
    fields = data.listing(cert, category)
    number = cert["certificateNo"]
    deadline = ccc.decision_deadline
    interval = float(ccc.timing["reverificationIntervalSeconds"]) + float(S.param("measurementToleranceSeconds"))
    snapshots: list[tuple[str, list[dict[str, Any]]]] = []

    def queries() -> list[dict[str, Any]]:
        return sim.captures(route="verifications", match={"certificateNo": number})

    def snapshot(step: str, lid: str) -> None:
        wanted = {_request_id(c) for c in queries()} if cover else set()
        snapshots.append((step, _records_covering(platform, lid, wanted, deadline) if cover
                          else platform.records(lid)))

    lid = _created_while_the_regulator_fails(platform, data, sim, fields, deadline)
    with precondition("after the error the listing went on sale"):
        on_sale = platform.wait_listing(lid, lambda x: x.get("state") == V.listingState.ON_SALE, 2 * deadline,
                                        start=time.monotonic())
        expect(on_sale.satisfied, "on sale", observed=listing_brief(on_sale.value))
    snapshot("listing", lid)
    for n in (1, 2):
        with precondition(f"periodic re-verification {n} within the declared interval"):
            expect(after_next_query(sim, {"certificateNo": number}, interval) is not None,
                   "no query about the listing's certificate", observed=len(queries()))
        snapshot(f"re-verification {n}", lid)
    with precondition("an edit to another covered model re-verifies and keeps the listing on sale"):
        seen = len(queries())
        platform.edit_listing(lid, {"model": cert["models"][1]})
        edited = wait_until(queries, lambda caps: len(caps) > seen, deadline)
        expect(edited.satisfied, "no query after the edit", observed=len(edited.value))
        platform.wait_decided(lid, deadline)
    snapshot("edit", lid)
    with precondition("the listing is taken down after its certificate is revoked"):
        obs = take_down_by_status_change(platform, sim, ccc, lid, number, V.certificateStatus.REVOKED,
                                         reason="conformance AUD lifecycle")
        expect(obs.satisfied, "taken down", observed=listing_brief(obs.value))
    snapshot("takedown", lid)
    return lid, number, snapshots, queries()


@pytest.mark.requirement("AUD-01", id="aud01.every-query-of-a-listings-life-is-recorded")
def test_aud01_every_query_of_a_listings_life_is_recorded(platform: PlatformClient, data: DataFactory, sim: SimulatorControl,
                                                    ccc: RunContext) -> None:
    lid, number, snapshots, captures = _listing_life(platform, data, sim, ccc, cover=True)
    records = snapshots[-1][1]
    problems = _record_problems(records, captures, lid, number)
    expect(not problems, "every query the regulator received about the listing — at listing, its retry, each "
           "periodic re-verification, the edit — must have its own record",
           expected={"requestIds": [_request_id(c) for c in captures]},
           observed={"problems": problems, "records": records})


@pytest.mark.requirement("AUD-03", id="aud03.records-are-append-only-across-reverifications")
def test_aud03_records_are_append_only_across_reverifications(platform: PlatformClient, data: DataFactory, sim: SimulatorControl,
                                                        ccc: RunContext) -> None:
    lid, _, snapshots, _ = _listing_life(platform, data, sim, ccc, cover=False)
    with precondition("the listing has verification records"):
        expect(snapshots[0][1], "no record after the listing was decided", observed=snapshots[0])
    problems = []
    for i, (step, earlier) in enumerate(snapshots):
        for later_step, later in snapshots[i + 1:]:
            if later[:len(earlier)] != earlier:
                changed = [r for r in earlier if r not in later]
                problems.append(f"records seen after the {step} are not all unchanged and first after the "
                                f"{later_step}: {changed[:3]}")
                break
    expect(not problems, "verification records are append-only: every record seen earlier in the listing's life "
           "is still there, unchanged and in its place, after each later re-verification, edit and takedown",
           expected={"firstSnapshot": snapshots[0][1]},
           observed={"problems": problems, "snapshots": dict(snapshots), "listingId": lid})
