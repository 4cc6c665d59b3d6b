"""Bulk revocation: 200 certificates covering 1,000 listings, all taken down (target < 2 s).

The listings are put on sale first; then the simulator revokes the 200 certificates at once and
pushes the 200 events concurrently. The figure is the time from the revocation to the moment the
last of the 1,000 listings is TAKEN_DOWN, read from the platform's database (a test-control read of
1,000 listings would itself take longer than the takedown); the time until the regulator holds all
1,000 disposition reports is printed too. Run:

    .venv/bin/python benchmarks/refplat_bulk.py [--certificates 200] [--listings 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from refplat_common import RawClient, issue, listing_body, running


async def create_all(base: str, bodies: list[dict], concurrency: int = 16) -> list[str]:
    queue = list(enumerate(bodies))
    ids: list[str] = [""] * len(bodies)

    async def worker() -> None:
        client = RawClient(base)
        while queue:
            i, body = queue.pop()
            status, listing = await client.request("POST", "/listings", body)
            assert status == 201, listing
            ids[i] = listing["listingId"]
        client.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--certificates", type=int, default=200)
    parser.add_argument("--listings", type=int, default=1000)
    args = parser.parse_args()
    from conformance.simulator.client import SimulatorClient

    # A long re-verification interval, so that the takedown measured is the events' doing.
    with running(reverificationIntervalSeconds=300) as env:
        certs = issue(env.simulator_url, args.certificates)
        bodies = [listing_body(certs[i % len(certs)], f"bulk-{i % 50}") for i in range(args.listings)]
        asyncio.run(create_all(env.platform_url, bodies))
        db = sqlite3.connect(env.workdir / "platform.db")

        def count(state: str) -> int:
            return db.execute("SELECT COUNT(*) FROM listings WHERE state = ?", (state,)).fetchone()[0]

        deadline = time.monotonic() + 30
        while count("ON_SALE") < args.listings and time.monotonic() < deadline:
            time.sleep(0.05)
        assert count("ON_SALE") == args.listings, "listings did not all go on sale"
        with SimulatorClient(env.simulator_url, timeout=60) as sim:
            started = time.monotonic()
            sim.set_statuses([(c["certificateNo"], "REVOKED") for c in certs])
            while count("TAKEN_DOWN") < args.listings and time.monotonic() - started < 30:
                time.sleep(0.005)
            taken_down = time.monotonic() - started
            while len([d for d in sim.dispositions() if d["action"] == "TAKEN_DOWN"]) < args.listings \
                    and time.monotonic() - started < 60:
                time.sleep(0.05)
            reported = time.monotonic() - started
    print(f"bulk revocation of {args.certificates} certificates: {args.listings} listings TAKEN_DOWN in "
          f"{taken_down:.2f} s, all {args.listings} dispositions at the regulator in {reported:.2f} s "
          f"(target: taken down < 2 s)")


if __name__ == "__main__":
    main()
