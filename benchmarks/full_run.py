"""Wall time of a run on the embedded default, and where it goes; optionally against an older tree.

    .venv/bin/python benchmarks/full_run.py [--runs N] [--workers N] [--with-load]
                                            [--baseline TREE [--baseline-workers N]]

By default the functional run alone (`ccc-conformance run --skip-load`: issue 8's figure, target
≤ 40 s on 2 cores); `--with-load` the full run with its load phase (issue 9: the README's first
command, set-up included, ≤ 2 min). Each run is the `ccc-conformance` command in its own process,
as a user starts it. Prints, per run: the wall time, the time inside the suite's pytest session,
the set-up, load phase and report time around it, and — from the per-test ``waitedSeconds`` the
plugin records — how much of the run was the harness polling the platform for a state (waiting on
the platform's declared deadlines). Waiting is summed over tests and divided by the worker count, so
it is its share of wall time; the harness's own overhead is wall minus waiting.

``--baseline TREE``: another checkout with its own ``.venv`` (e.g. a ``git worktree`` of the first
release), run alternately with this one so both see the same machine — on a shared machine the
absolute figures drift by several seconds within minutes, the ratios much less. Its worker count is
``--baseline-workers`` (the first release's default on 2 cores was 2).
A benchmark, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from conformance.run.functional import default_workers

ROOT = Path(__file__).resolve().parents[1]


def command_of(tree: Path, with_load: bool) -> list[str]:
    command = str(tree / ".venv" / "bin" / "ccc-conformance")
    skip = not with_load and "--skip-load" in subprocess.run([command, "run", "--help"], capture_output=True,
                                                             text=True, check=False).stdout
    return [command, "run"] + (["--skip-load"] if skip else [])  # a tree from before the load phase has none


def one_run(command: list[str], workers: int) -> dict[str, float | str]:
    with tempfile.TemporaryDirectory(prefix="ccc-bench-") as out:
        cmd = [*command, "--out", out, "--workers", str(workers)]
        t0 = time.monotonic()
        code = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False).returncode
        wall = time.monotonic() - t0
        run_dir = next(p for p in Path(out).iterdir() if p.is_dir())
        report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
        results = [json.loads(line) for line in (run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines()]
        session = re.search(r"in ([0-9.]+)s", (run_dir / "pytest-output.txt").read_text(encoding="utf-8"))
        # A run that is not clean says why: a benchmark figure from a run with errors is no figure.
        for r in results:
            if r.get("verdict") not in ("PASS", "NOT_APPLICABLE"):
                print(f"  {r.get('verdict')}: {r.get('nodeid')}: {str(r.get('message'))[:300]}", flush=True)
        for w in report.get("warnings") or []:
            print(f"  warning: {str(w)[:300]}", flush=True)
    pytest_seconds = float(session.group(1)) if session else float("nan")
    waited = sum(r.get("waitedSeconds", 0.0) for r in results) / workers
    return {"exit": code, "verdict": report["overall"]["verdict"], "wall": wall, "pytest": pytest_seconds,
            "around": wall - pytest_seconds, "waiting": waited, "overhead": wall - waited, "tests": len(results)}


def describe(r: dict[str, float | str], with_load: bool) -> str:
    return (f"{r['verdict']} (exit {r['exit']}), {r['tests']} tests, wall {r['wall']:.1f} s = pytest session "
            f"{r['pytest']:.1f} s + start, {'load, ' if with_load else ''}report {r['around']:.1f} s; "
            f"waiting on the platform {r['waiting']:.1f} s ({float(r['waiting']) / float(r['wall']):.0%}), "
            f"harness overhead (wall − waiting) {r['overhead']:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--workers", type=int, default=default_workers(), help="default: the runner's")
    parser.add_argument("--with-load", action="store_true", help="the full run, load phase included")
    parser.add_argument("--baseline", type=Path, help="another checkout with its own .venv, run alternately")
    parser.add_argument("--baseline-workers", type=int, default=2)
    args = parser.parse_args()
    trees = [("this tree", ROOT, args.workers)]
    if args.baseline:
        if not (args.baseline / ".venv" / "bin" / "ccc-conformance").is_file():
            parser.error(f"--baseline {args.baseline}: no .venv/bin/ccc-conformance there")
        trees.append(("baseline", args.baseline.resolve(), args.baseline_workers))
    rows: dict[str, list[dict[str, float | str]]] = {name: [] for name, _, _ in trees}
    commands = {name: command_of(tree, args.with_load) for name, tree, _ in trees}
    for i in range(1, args.runs + 1):
        for name, _, workers in trees:
            r = one_run(commands[name], workers)
            rows[name].append(r)
            print(f"run {i}, {name} ({workers} workers): {describe(r, args.with_load)}", flush=True)
    median = {name: {k: statistics.median(float(r[k]) for r in rs) for k in ("wall", "waiting", "overhead")}
              for name, rs in rows.items()}
    for name, m in median.items():
        print(f"median over {args.runs} runs, {name}: wall {m['wall']:.1f} s, waiting {m['waiting']:.1f} s, "
              f"overhead {m['overhead']:.1f} s")
    if args.baseline:
        new, old = median["this tree"], median["baseline"]
        print(f"this tree / baseline: wall {new['wall'] / old['wall']:.2f}, "
              f"harness overhead {new['overhead'] / old['overhead']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
