"""After the load: every listing created or changed during it, read back and held against its certificate.

What a listing should be comes from the kind of the mix it was made with and from the status
changes the regulator published during the run (``plan.expected``); what it is comes from the
platform's test-control interface. Checked when every decision is due: the last creation plus the
declared decision time, the status change plus the declared takedown deadline, plus the profile's
measurement tolerance.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from conformance import specs
from conformance.context import RunContext
from conformance.load.plan import expected
from conformance.load.regulator import RegulatorLog
from conformance.simulator.control import SimulatorControl

READERS = 8
READ_ATTEMPTS = 4
MAX_SECONDS = 300.0   # reading back is bounded too; what is left unread makes AVL-03 INCONCLUSIVE


@dataclass
class Wrong:
    listing_id: str
    kind: str
    certificate_no: str | None
    expected: str
    observed: str
    at: float | None = None   # seconds from start, when the listing was made

    def as_json(self) -> dict[str, Any]:
        return {"listingId": self.listing_id, "kind": self.kind, "certificateNo": self.certificate_no,
                "expected": self.expected, "observed": self.observed, "createdAtSecond": self.at}


@dataclass
class PostCheck:
    checked: int = 0
    unreadable: int = 0
    wrong: list[Wrong] = field(default_factory=list)
    on_sale_sightings: list[Wrong] = field(default_factory=list)


def due(ctx: RunContext, duration: float, log: RegulatorLog) -> float:
    """Seconds from the start after which every decision of the run is due."""
    tol = specs.load().param("measurementToleranceSeconds")
    t = duration + float(ctx.timing.get("listingDecisionSeconds", 0))
    if log.changed_at is not None:
        t = max(t, log.changed_at + float(ctx.timing.get("takedownDeadlineSeconds", 0)))
    return t + tol


def run(ctx: RunContext, fields: dict[str, str], created: list[dict[str, Any]], seen: dict[str, list[float]],
        log: RegulatorLog, start_at: float, duration: float) -> PostCheck:
    s = specs.load()
    on_sale = s.vocab.listingState.ON_SALE
    pending = s.vocab.listingState.PENDING_VERIFICATION
    deadline = float(ctx.timing.get("takedownDeadlineSeconds", 0)) + s.param("measurementToleranceSeconds")
    wait = start_at + due(ctx, duration, log) - time.time()
    if wait > 0:
        time.sleep(wait)
    out = PostCheck()
    headers = {"Authorization": f"Bearer {ctx.bearer_token}"} if ctx.bearer_token else {}
    with httpx.Client(timeout=10.0, headers=headers, trust_env=False,
                      limits=httpx.Limits(max_connections=READERS)) as client:
        stop_at = time.monotonic() + MAX_SECONDS

        def read(item: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
            # Availability is AVL-01's business: a read that fails is tried again before it counts.
            for attempt in range(READ_ATTEMPTS):
                if time.monotonic() > stop_at:   # a platform that stopped answering: unread, INCONCLUSIVE
                    break
                try:
                    r = client.get(f"{ctx.target}/listings/{item['listingId']}")
                    if r.status_code == 200:
                        return item, r.json()
                except (httpx.HTTPError, ValueError):
                    pass
                time.sleep(0.2 * (attempt + 1))
            return item, None

        with ThreadPoolExecutor(READERS) as pool:
            for item, doc in pool.map(read, created):
                if doc is None:
                    out.unreadable += 1
                    continue
                out.checked += 1
                number = item.get("certificateNo")
                changed_to = log.changes.get(number) if number else None
                want_on_sale, want_reason = expected(item["kind"], changed_to)
                state, reason = doc.get(fields["state"]), doc.get(fields["reasonCode"])
                at = item.get("at")
                seen_as = f"{state} {reason or ''}".strip()
                if want_on_sale and state != on_sale:
                    out.wrong.append(Wrong(item["listingId"], item["kind"], number, on_sale, seen_as, at))
                elif not want_on_sale and (state in (on_sale, pending) or reason != want_reason):
                    out.wrong.append(Wrong(item["listingId"], item["kind"], number, f"off sale, {want_reason}", seen_as, at))
                # Seen on sale while it should not have been: at creation, or in a read during the load.
                if want_on_sale:
                    continue
                sightings = list(seen.get(item["listingId"], []))
                if item.get("state") == on_sale:
                    sightings.append(float(item.get("createdAt", at or 0)))
                if changed_to is not None and log.changed_at is not None:
                    sightings = [t for t in sightings if t > log.changed_at + deadline]
                if sightings:
                    out.on_sale_sightings.append(Wrong(item["listingId"], item["kind"], number, f"never on sale, {want_reason}"
                                                       if changed_to is None else f"off sale within {deadline:g} s of the change",
                                                       f"on sale at {min(sightings):.1f} s", at))
    return out


def fail_open(created: list[dict[str, Any]], down: list[tuple[float, float]], sim: SimulatorControl,
              start_at: float) -> list[Wrong]:
    """Listings put on sale, during a regulator outage, with no usable regulator answer about them (AVL-04).

    Only listings whose create answer said on sale inside an outage window are looked at; the
    simulator's captures say whether any verification about them was answered before that.
    """
    s = specs.load()
    on_sale = s.vocab.listingState.ON_SALE
    out = []
    for item in created:
        made = item.get("createdAt")
        if item.get("state") != on_sale or made is None or not any(a <= float(made) < b for a, b in down):
            continue
        captures = sim.captures(route="verifications", match={"listingId": item["listingId"]})
        if not captures:
            continue   # nothing kept about it (capture spilled, or never asked): no evidence either way
        answered = [c for c in captures if c.get("fault") is None and (c.get("response") or {}).get("status") == 200
                    and datetime.fromisoformat(c["receivedAt"]).timestamp() <= start_at + float(made)]
        if not answered:
            out.append(Wrong(item["listingId"], item["kind"], item.get("certificateNo"),
                             "not on sale while the regulator is unavailable", f"on sale at {float(made):.1f} s, "
                             f"{len(captures)} verification(s) asked, none answered", item.get("at")))
    return out
