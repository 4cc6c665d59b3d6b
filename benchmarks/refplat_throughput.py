"""Listing creations decided per second, the simulator as regulator (target ≥ 300/s on 2 cores).

Closed loop: CONCURRENCY clients create listings back to back on valid certificates; a creation
counts when its listing is decided (ON_SALE here), whether in the 201 itself or, for the few
answered PENDING_VERIFICATION, when a later read shows the decision. Run:

    .venv/bin/python benchmarks/refplat_throughput.py [--listings 3000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from refplat_common import RawClient, issue, listing_body, running


async def run(base: str, certs: list[dict[str, Any]], listings: int, concurrency: int) -> dict[str, float]:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(listings):
        queue.put_nowait(i)
    pending: list[str] = []
    errors = 0

    async def worker() -> None:
        nonlocal errors
        client = RawClient(base)
        try:
            while not queue.empty():
                i = queue.get_nowait()
                status, body = await client.request("POST", "/listings", listing_body(certs[i % len(certs)], f"m{i % 50}"))
                if status != 201:
                    errors += 1
                elif body["state"] == "PENDING_VERIFICATION":
                    pending.append(body["listingId"])
        finally:
            client.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    reader = RawClient(base)
    for listing_id in pending:
        while (await reader.request("GET", f"/listings/{listing_id}"))[1]["state"] == "PENDING_VERIFICATION":
            await asyncio.sleep(0.01)
    reader.close()
    elapsed = time.perf_counter() - started
    return {"listings": listings, "seconds": elapsed, "decided_per_second": (listings - errors) / elapsed,
            "answered_pending": len(pending), "errors": errors}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listings", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--certificates", type=int, default=200)
    parser.add_argument("--reverification-interval", type=float, default=300.0,
                        help="the ICS's reverificationIntervalSeconds (default 300: measure creation alone)")
    args = parser.parse_args()
    with running(reverificationIntervalSeconds=args.reverification_interval) as env:
        certs = issue(env.simulator_url, args.certificates)
        asyncio.run(run(env.platform_url, certs, 300, args.concurrency))  # warm-up
        result = asyncio.run(run(env.platform_url, certs, args.listings, args.concurrency))
    print(f"creations decided: {result['decided_per_second']:.0f}/s ({result['listings']} listings in "
          f"{result['seconds']:.2f} s, concurrency {args.concurrency}, {result['answered_pending']} answered "
          f"PENDING_VERIFICATION first, {result['errors']} errors; target >= 300/s on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
