"""Time and size of a run folder's report outputs, re-rendered from its report.json and evidence/.

    .venv/bin/python benchmarks/report_render.py RUN_DIR [--repeat N]

Copies RUN_DIR to a temporary folder (the original, possibly signed, stays untouched), then times
``render_all`` (HAR, JUnit, Allure extras, report.html with its charts) and ``seal`` (manifest), and
prints the size of report.html against the 5 MB budget, the evidence and HAR totals, and how many
exchanges the page inlines. A benchmark, not a test: nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from conformance.report.render import render_all, seal

BUDGET_BYTES = 5 * 1024 * 1024


def _size(paths: list[Path]) -> int:
    return sum(p.stat().st_size for p in paths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    render_s, seal_s = [], []
    with tempfile.TemporaryDirectory(prefix="ccc-bench-report-") as tmp:
        work = Path(tmp) / "run"
        shutil.copytree(args.run_dir, work)
        report = json.loads((work / "report.json").read_text(encoding="utf-8"))
        for _ in range(max(1, args.repeat)):
            t0 = time.perf_counter()
            render_all(work, report)
            t1 = time.perf_counter()
            seal(work)
            render_s.append(t1 - t0)
            seal_s.append(time.perf_counter() - t1)
        html = (work / "report.html").read_text(encoding="utf-8")
        evidence = list((work / "evidence").glob("*.json"))
        hars = list((work / "evidence").glob("*.har"))
        print(f"run: {args.run_dir.name}  requirements: {len(report['requirements'])}  tests: {len(report['tests'])}")
        print(f"render_all: median {statistics.median(render_s):.2f} s  (runs: {', '.join(f'{x:.2f}' for x in render_s)})")
        print(f"seal (manifest): median {statistics.median(seal_s):.2f} s")
        size = len(html.encode())
        inline = html.count('<details class="x">')
        print(f"report.html: {size / 1024:.0f} KiB ({100 * size / BUDGET_BYTES:.0f}% of the 5 MB budget); "
              f"inline exchanges: {inline}; svg charts: {html.count('<svg')}")
        print(f"evidence JSON: {_size(evidence) / 1024 / 1024:.1f} MiB in {len(evidence)} files; "
              f"HAR: {_size(hars) / 1024 / 1024:.1f} MiB in {len(hars)} files")


if __name__ == "__main__":
    main()
