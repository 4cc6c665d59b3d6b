"""Wall time of a run on the embedded default, and where it goes.

    .venv/bin/python benchmarks/full_run.py [--runs N] [--workers N] [--with-load]

By default the functional run alone (`ccc-conformance run --skip-load`: issue 8's figure, target
≤ 40 s on 2 cores); `--with-load` the full run with its load phase (issue 9: the README's first
command, set-up included, ≤ 2 min). Prints, per run: the wall time, the time inside the suite's
pytest session, the set-up, load phase and report time around it, and — from the per-test
``waitedSeconds`` the plugin records — how much of the session was the harness polling the platform
for a state (waiting on the platform's declared deadlines) versus driving it and its own overhead.
Waiting is summed over tests and divided by the worker count, so it is the share of wall time.
A benchmark, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

from conformance.run import run_command
from conformance.run.functional import default_workers


def one_run(workers: int, with_load: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="ccc-bench-") as out:
        t0 = time.monotonic()
        code = run_command(out=out, workers=workers, skip_load=not with_load, console=Console(file=io.StringIO()))
        wall = time.monotonic() - t0
        run_dir = next(p for p in Path(out).iterdir() if p.is_dir())
        report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
        results = [json.loads(line) for line in (run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines()]
        session = re.search(r"in ([0-9.]+)s", (run_dir / "pytest-output.txt").read_text(encoding="utf-8"))
    pytest_seconds = float(session.group(1)) if session else float("nan")
    waited = sum(r.get("waitedSeconds", 0.0) for r in results) / workers
    return {"exit": code, "verdict": report["overall"]["verdict"], "wall": wall, "pytest": pytest_seconds,
            "around": wall - pytest_seconds, "waiting": waited, "driving": pytest_seconds - waited,
            "tests": len(results)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=default_workers(), help="default: the runner's")
    parser.add_argument("--with-load", action="store_true", help="the full run, load phase included")
    args = parser.parse_args()
    rows = [one_run(args.workers, args.with_load) for _ in range(args.runs)]
    for i, r in enumerate(rows, 1):
        print(f"run {i}: {r['verdict']} (exit {r['exit']}), {r['tests']} tests, wall {r['wall']:.1f} s = "
              f"pytest session {r['pytest']:.1f} s + set-up/{'load/' if args.with_load else ''}report {r['around']:.1f} s; "
              f"in the session: "
              f"waiting on the platform {r['waiting']:.1f} s ({r['waiting'] / r['wall']:.0%} of wall), "
              f"driving it and harness overhead {r['driving']:.1f} s")
    if len(rows) > 1:
        print(f"median wall {statistics.median(r['wall'] for r in rows):.1f} s over {len(rows)} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
