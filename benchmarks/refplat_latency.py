"""Listing-creation latency at a fixed arrival rate (open loop), the simulator as regulator.

Requests are sent on a fixed schedule (default 100/s) whether or not earlier ones have finished, and
each latency is measured from the moment the request was due, so a stall shows up in the figures
instead of slowing the load down (no coordinated omission). Target: p99 < 100 ms. Run:

    .venv/bin/python benchmarks/refplat_latency.py [--rate 100] [--seconds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from typing import Any

sys.path.insert(0, os.path.dirname(__file__))
from refplat_common import RawClient, issue, listing_body, percentile, running


async def open_loop(base: str, certs: list[dict[str, Any]], rate: float, seconds: float) -> dict[str, Any]:
    idle: list[RawClient] = []
    latencies: list[float] = []
    errors = 0
    decided = 0

    async def one(i: int, due: float) -> None:
        nonlocal errors, decided
        client = idle.pop() if idle else RawClient(base)
        try:
            status, body = await client.request("POST", "/listings", listing_body(certs[i % len(certs)], f"m{i % 50}"))
        except (OSError, asyncio.IncompleteReadError):
            errors += 1
            client.close()
            return
        latencies.append(time.perf_counter() - due)
        idle.append(client)
        if status != 201:
            errors += 1
        elif body["state"] != "PENDING_VERIFICATION":
            decided += 1

    tasks = []
    start = time.perf_counter() + 0.05
    total = int(rate * seconds)
    for i in range(total):
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, due)))
    await asyncio.gather(*tasks)
    for client in idle:
        client.close()
    return {"requests": total, "errors": errors, "decided_in_201": decided,
            "p50": percentile(latencies, 50) * 1000, "p95": percentile(latencies, 95) * 1000,
            "p99": percentile(latencies, 99) * 1000, "max": max(latencies) * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--reverification-interval", type=float, default=None,
                        help="override the ICS's reverificationIntervalSeconds (default: the reference ICS)")
    args = parser.parse_args()
    timing = {} if args.reverification_interval is None else {"reverificationIntervalSeconds": args.reverification_interval}
    with running(**timing) as env:
        certs = issue(env.simulator_url, 200)
        asyncio.run(open_loop(env.platform_url, certs, args.rate, 2.0))   # warm-up
        r = asyncio.run(open_loop(env.platform_url, certs, args.rate, args.seconds))
    print(f"open loop {args.rate:.0f} creations/s for {args.seconds:.0f} s: p50 {r['p50']:.1f} ms, "
          f"p95 {r['p95']:.1f} ms, p99 {r['p99']:.1f} ms, max {r['max']:.1f} ms; {r['errors']} errors, "
          f"{r['decided_in_201']}/{r['requests']} decided in the 201 itself (target p99 < 100 ms)")


if __name__ == "__main__":
    main()
