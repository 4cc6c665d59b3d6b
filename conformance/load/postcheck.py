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
from typing import Any

import httpx

from conformance import specs
from conformance.context import RunContext
from conformance.load.plan import expected
from conformance.load.regulator import RegulatorLog

READERS = 8


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
        def read(item: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any] | None]:
            try:
                r = client.get(f"{ctx.target}/listings/{item['listingId']}")
                return item, (r.json() if r.status_code == 200 else None)
            except (httpx.HTTPError, ValueError):
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
