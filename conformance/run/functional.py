"""The functional phase: the conformance suite in its own pytest process (xdist workers), watched
through the run folder. A crash there still leaves ``results.jsonl`` for the report."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from conformance import specs
from conformance.run.counterparts import Platform
from conformance.run.selection import Selection
from conformance.rundir import RunDir

SUITE_TIMEOUT_SECONDS = 3600.0  # a bound, so a hung platform cannot hold a CI job forever


def default_workers() -> int:
    # Conformance tests mostly wait on the platform's declared deadlines, not on this machine's CPU,
    # so more workers than cores overlap those waits; the run lock keeps bulk tests alone. Measured on
    # 2 cores (benchmarks/full_run.py): 4 workers 41 s, 6 workers 35 s, CPU 1.3 cores busy.
    return min(8, max(6, 3 * (os.cpu_count() or 2)))


def workers_for(selection: Selection) -> int:
    """The default worker count, no more than the selection can keep busy: each xdist worker costs a
    process start and a collection (~2-3 s of CPU), and `--only TKD-01` (two tests) started six. The
    tests come from ``verified_by`` in requirements.yaml (kept equal to the suite's markers by a unit
    test); a parametrised test counts once there, and its cases then share fewer workers."""
    s = specs.load()
    tests = {t for rid in selection.functional for t in s.requirement(rid).verified_by}
    return max(1, min(default_workers(), len(tests)))


def pytest_command(rundir: RunDir, platform: Platform, sim_url: str, selection: Selection, workers: int) -> list[str]:
    # rootdir above the conformance package, so node ids read conformance/suite/test_x.py::test_y
    rootdir = Path(__file__).resolve().parents[2]
    cmd = [sys.executable, "-m", "pytest", "--pyargs", "conformance.suite", "-c", str(rundir.pytest_ini),
           "--rootdir", str(rootdir), "-p", "no:cacheprovider", "-q", "--no-header", "-rN",
           # schemathesis's and hypothesis's pytest plugins import hypothesis (~1 s) in every process,
           # anyio's imports trio (~0.1 s); the suite calls the first two as libraries, never through
           # their plugins, and has no async tests. locust's plugin adds fixtures named `session` and
           # `fastsession` to every test (pytest never runs locust here). rerunfailures: a conformance
           # verdict is never a second try — a FAIL that passes when repeated is still a FAIL.
           "-p", "no:schemathesis", "-p", "no:hypothesispytest", "-p", "no:anyio", "-p", "no:locust",
           "-p", "no:rerunfailures", "-p", "no:xdist.looponfail",
           "--ccc-ics", str(platform.ics_path), "--ccc-target", platform.ctx.target, "--ccc-simulator-url", sim_url,
           "--ccc-report-dir", str(rundir.root), "--ccc-no-report", "--alluredir", str(rundir.allure_results)]
    if platform.pixit_path:
        cmd += ["--ccc-pixit", str(platform.pixit_path)]
    if workers > 1:
        cmd += ["-n", str(workers)]
    if selection.only:
        cmd += ["--ccc-only", ",".join(selection.only)]
    if selection.areas:
        cmd += ["--ccc-area", ",".join(selection.areas)]
    return cmd


def run_functional(rundir: RunDir, platform: Platform, sim_url: str, selection: Selection, workers: int | None,
                   console: Console, on_first_result: Callable[[], None] | None = None) -> int:
    """Run the suite; return pytest's exit code. ``on_first_result`` is called once, when the first
    test has ended: from then on the workers are past their start-up and the machine has CPU to spare."""
    rundir.pytest_ini.write_text("[pytest]\n", encoding="utf-8")
    cmd = pytest_command(rundir, platform, sim_url, selection, workers or workers_for(selection))
    with open(rundir.pytest_output, "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=rundir.root,
                                env={**os.environ, **specs.checked_env(specs.load())})
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=True) as progress:
            task = progress.add_task("running the suite", total=None)
            deadline = time.monotonic() + SUITE_TIMEOUT_SECONDS
            while proc.poll() is None:
                if time.monotonic() > deadline:
                    proc.kill()
                    break
                if progress.tasks[task].total is None and (total := rundir.read_collected()) is not None:
                    progress.update(task, total=total)
                done = rundir.count_results()
                if done and on_first_result is not None:
                    on_first_result()
                    on_first_result = None
                progress.update(task, completed=done)
                time.sleep(0.2)
    rundir.pytest_ini.unlink(missing_ok=True)
    return proc.wait()
