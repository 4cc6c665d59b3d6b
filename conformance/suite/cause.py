"""Cause: proving that the stimulus under test — a status-change event, an edit — made the change the
test observed, and not a second mechanism that could produce the same state (issue 11 §4).

A platform re-verifies every listing on sale periodically. If it did so about as often as its
takedown deadline, a test that only watched states would credit broken event handling (or an edit
that is never verified) to the periodic re-verification's success. The contract gives three kinds
of evidence, used here:

- the disposition report of an event-driven action names the event's ``eventId`` (exactly one of
  ``requestId`` / ``eventId``, profile Clarifications: Dispositions) — the platform's own account of
  what caused it;
- the simulator's capture shows whether the platform queried the regulator about the certificate
  (or listing) between the stimulus and the change;
- the suite can send its stimulus right after a re-verification query of that certificate, so that
  the platform's next periodic query is as far away as its own period allows.

The judgement: FAIL where the evidence is unambiguous (the platform reported a query, not the event,
as the cause; an edit verified only when the platform's periodic re-verification came round, long
after its usual reaction), INCONCLUSIVE where it is not (a query came between the stimulus and the
change and nothing says which made it), PASS otherwise. Nothing here relies on the reference
platform's ids, intervals or timing: only on what the ICS declares and what the platform did.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from conformance.checks import expect, inconclusive
from conformance.context import RunContext
from conformance.platform_client import wait_until
from conformance.simulator.control import SimulatorControl
from conformance.suite._helpers import disposition_brief, received_epoch
from conformance.suite.vocabulary import TOLERANCE, V


def query_epochs(sim: SimulatorControl, match: dict[str, str]) -> list[float]:
    """When the simulator received each verification request matching ``match`` (epoch seconds, sorted)."""
    return sorted(t for c in sim.captures(route="verifications", match=match) if (t := received_epoch(c)) is not None)


def after_next_query(sim: SimulatorControl, match: dict[str, str], timeout: float) -> float | None:
    """Wait, at most ``timeout`` seconds, for the platform's next verification request matching ``match``
    (normally a periodic re-verification) and return when it was received: a stimulus sent now has the
    longest time before the platform's next periodic query. None when none came in time (the stimulus
    then goes untimed; whether the platform re-verifies in time is TKD-03's to judge)."""
    since = time.time()
    seen = wait_until(lambda: [t for t in query_epochs(sim, match) if t > since], bool, timeout)
    return seen.value[0] if seen.satisfied else None


@dataclass(frozen=True)
class EventChange:
    """A listing the test saw change after a status-change event: its certificate and when the change
    was first seen (epoch seconds)."""
    listing_id: str
    certificate_no: str
    seen_at: float


def judge_event_cause(ccc: RunContext, sim: SimulatorControl, *, stimulus: float, changes: Iterable[EventChange],
                      event_ids: dict[str, set[str]], merchants: Iterable[str]) -> dict[str, int]:
    """That each observed takedown was made by the status-change event sent at ``stimulus`` (epoch).

    ``event_ids``: per certificate, the events of the test that may have caused it. With disposition
    reporting claimed, the takedown report (awaited until the declared takedown deadline after the
    change was seen) must name one of them: a report naming a ``requestId`` — a verification query — FAILs.
    A change that no report attributes is credited to the event only when the platform did not query
    the regulator about the certificate between the stimulus and the change; otherwise INCONCLUSIVE.
    Returns counts for the test's measurements."""
    changes = list(changes)
    attributed: set[str] = set()
    if ccc.claims("dispositionReporting") and changes:
        wanted = {c.listing_id for c in changes}
        taken_down = V.dispositionAction.TAKEN_DOWN

        def reports() -> dict[str, dict[str, Any]]:
            found: dict[str, dict[str, Any]] = {}
            for merchant in merchants:
                for r in sim.dispositions(merchant_id=merchant):
                    lid = str(r.get("listingId"))
                    t = received_epoch(r)
                    if lid in wanted and r.get("action") == taken_down and t is not None and t >= stimulus:
                        found.setdefault(lid, r)
            return found

        # Reports are due within the takedown deadline of the action (seen at the latest when the
        # test saw the change); reports already in are not waited for.
        until = max(c.seen_at for c in changes) + float(ccc.timing["takedownDeadlineSeconds"]) + TOLERANCE
        seen = wait_until(reports, lambda found: len(found) == len(wanted), max(0.0, until - time.time()))
        found = seen.value
        wrong = {c.listing_id: disposition_brief(found[c.listing_id]) for c in changes
                 if c.listing_id in found and found[c.listing_id].get("eventId") not in event_ids[c.certificate_no]}
        expect(not wrong,
               f"{len(wrong)} of {len(changes)} takedowns after a status-change event were reported as caused by "
               f"something other than that event (a requestId names a verification query): the platform's own "
               f"account is that a re-verification, not the event, took the listing down — event handling is not "
               f"demonstrated",
               expected={"reportNames": "the eventId of the status-change event",
                         "eventIdsByCertificate": {k: sorted(v) for k, v in event_ids.items()}},
               observed=wrong)
        attributed = {lid for lid in found if lid in wanted}

    unattributed = [c for c in changes if c.listing_id not in attributed]
    queried: dict[str, list[float]] = {}
    ambiguous = []
    for c in unattributed:
        if c.certificate_no not in queried:
            queried[c.certificate_no] = query_epochs(sim, {"certificateNo": c.certificate_no})
        between = [t for t in queried[c.certificate_no] if stimulus <= t <= c.seen_at]
        if between:
            ambiguous.append({"listingId": c.listing_id, "certificateNo": c.certificate_no,
                              "firstQueryAfterEventSeconds": round(between[0] - stimulus, 3),
                              "changeSeenAfterSeconds": round(c.seen_at - stimulus, 3)})
    if ambiguous:
        why = ("no disposition report names the event" if ccc.claims("dispositionReporting")
               else "disposition reporting is not claimed, so no report can name the event")
        inconclusive(f"{len(ambiguous)} of {len(changes)} listings changed only after the platform had queried the "
                     f"regulator about their certificate since the event, and {why}: a re-verification may have made "
                     f"the change, so event handling is not demonstrated (first: {ambiguous[0]})")
    return {"causeByReport": len(attributed), "causeByNoQuery": len(unattributed)}


def judge_edit_cause(*, listing_id: str, created_at: float, queries_before: list[float], edited_at: float,
                     queries_after: list[float], decided_at: float) -> None:
    """That the edit made at ``edited_at`` (epoch), not the platform's periodic re-verification, made the
    query behind the decision seen at ``decided_at`` (VER-11).

    ``queries_before``: the platform's queries about the listing before the edit, from its creation at
    ``created_at`` — its first answer time and its re-verification period are measured from them.
    FAIL when the first query after the edit came only when the next periodic re-verification was due
    (at least half the period measured before the edit after the last one) and clearly later than the
    platform's reaction to the new listing; no judgement without a measured period (an edit of a
    listing never re-verified cannot be mistaken for a re-verification)."""
    after = [t for t in queries_after if edited_at <= t <= decided_at]
    if not after or len(queries_before) < 2:
        return
    first = after[0]
    period = min(b - a for a, b in itertools.pairwise(queries_before))
    reaction_to_listing = queries_before[0] - created_at
    reaction_to_edit = first - edited_at
    since_reverification = first - queries_before[-1]
    periodic = since_reverification >= period / 2 and reaction_to_edit > reaction_to_listing + 2 * TOLERANCE
    expect(not periodic,
           f"the edit was verified only when the platform's periodic re-verification came round: its first "
           f"query after the edit came {reaction_to_edit:.2f} s after it and {since_reverification:.2f} s after "
           f"the previous re-verification (the platform re-verified this listing every {period:.2f} s), while it "
           f"queried {reaction_to_listing:.2f} s after the listing was created — editing did not re-verify it",
           expected={"firstQueryAfterEditWithinSeconds": round(reaction_to_listing + 2 * TOLERANCE, 3)},
           observed={"listingId": listing_id, "queryAfterEditSeconds": round(reaction_to_edit, 3),
                     "queryAfterPreviousReverificationSeconds": round(since_reverification, 3),
                     "reverificationPeriodSeconds": round(period, 3),
                     "queryAfterCreationSeconds": round(reaction_to_listing, 3)})
