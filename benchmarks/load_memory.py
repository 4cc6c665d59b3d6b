"""Harness memory over a soak (issue 9): RSS of the `ccc-conformance load` process, sampled while it runs.

    .venv/bin/python benchmarks/load_memory.py [--seconds 300] [--rate 100] [--capture-max 2000]

Runs `ccc-conformance load --shape soak` against the embedded reference platform (loopback only,
bounded by --seconds) and samples the harness process's RSS (children — the platform, locust — are
not the harness) every 5 s. The simulator's capture keeps at most --capture-max captures in memory
(CCC_CAPTURE_MAX_IN_MEMORY; the default in a run is 20,000) and spills the rest to disk, so RSS should
level off: the script prints RSS after the first minute and at the end, and the slope in between.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

import psutil


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=300)
    ap.add_argument("--rate", type=float, default=None, help="default: the profile's loadRequestsPerSecond")
    ap.add_argument("--capture-max", type=int, default=2000)
    ap.add_argument("--out", default=None, help="keep the run's report folder here (default: a temporary one)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ccc-bench-mem-") as tmp:
        out = args.out or tmp
        cmd = [sys.executable, "-m", "conformance.cli", "load", "--shape", "soak", "--duration", str(args.seconds),
               "--out", out]
        if args.rate:
            cmd += ["--rate", str(args.rate)]
        env = {**os.environ, "CCC_CAPTURE_MAX_IN_MEMORY": str(args.capture_max)}
        started = time.monotonic()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        harness = psutil.Process(proc.pid)
        samples: list[tuple[float, float]] = []
        try:
            while proc.poll() is None and time.monotonic() - started < args.seconds + 600:
                try:
                    samples.append((time.monotonic() - started, harness.memory_info().rss / 2**20))
                except psutil.Error:
                    break
                time.sleep(5)
        finally:
            if proc.poll() is None:
                proc.terminate()
            proc.wait(timeout=60)
    took = time.monotonic() - started
    load = [(t, r) for t, r in samples if 60 <= t <= args.seconds]
    if len(load) < 2:
        print(f"too few samples ({len(samples)}); exit {proc.returncode}: {(proc.stderr.read() if proc.stderr else '')[-300:]}")
        return 1
    (t0, r0), (t1, r1) = load[0], load[-1]
    slope = (r1 - r0) / ((t1 - t0) / 60)
    print(f"harness RSS: {samples[0][1]:.0f} MiB at start, {r0:.0f} MiB after 1 min, {r1:.0f} MiB at {t1:.0f} s, "
          f"peak {max(r for _, r in samples):.0f} MiB; slope after the first minute {slope:+.1f} MiB/min "
          f"(capture cap {args.capture_max}); the command took {took:.0f} s, exit {proc.returncode}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
