"""`ccc-conformance fuzz` against reference platforms it did not start (--target): it finds the
crash-on-bad-input fault, prints a curl command that reproduces the 5xx, writes JUnit and results in
the report's format; on the clean platform it finds nothing. Bounded (--max-examples), loopback."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conformance.verdicts import TestResult, codes
from tests.integration.refplat_support import REPO_ROOT, PlatformPool, Variant, simulator

# Timing on a shared 2-core machine: one rerun before a failure counts (pytest-rerunfailures).
pytestmark = [pytest.mark.slow, pytest.mark.flaky(reruns=1)]

# Enough cases that the negative phase reliably sends an unparseable body (5 missed it on some runs).
MAX_EXAMPLES = "20"
TIMEOUT = 600


@pytest.fixture(scope="module")
def pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlatformPool]:
    with simulator() as server:
        platforms = PlatformPool(server, tmp_path_factory.mktemp("fuzz-platforms"),
                                 {"clean": Variant(), "crash": Variant(faults=("crash-on-bad-input",))})
        try:
            yield platforms
        finally:
            platforms.stop()


def _fuzz(pool: PlatformPool, name: str, out: Path) -> subprocess.CompletedProcess[str]:
    platform = pool[name]
    ics = pool.workdir / name / "ics.yaml"
    return subprocess.run([sys.executable, "-m", "conformance.cli", "fuzz", "--target", platform.base, "--ics", str(ics),
                           "--max-examples", MAX_EXAMPLES, "--seed", "3", "--out", str(out)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=TIMEOUT, check=False)


def _results(out: Path) -> dict[str, TestResult]:
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    return {r.requirements[0]: r for r in (TestResult.from_json(json.loads(line)) for line in lines)}


def _found(report: dict[str, Any]) -> list[tuple[str, str, int, str]]:
    """What a fuzz.json found, without the parts a platform may vary (ids, ports)."""
    return sorted((f["requirement"], f["operation"], f["status"], f["phase"]) for f in report["failures"])


def test_fuzz_finds_the_crash_and_prints_a_curl_that_reproduces_it(pool: PlatformPool, tmp_path: Path) -> None:
    run = _fuzz(pool, "crash", tmp_path)
    assert run.returncode == 1, run.stdout + run.stderr
    results = _results(tmp_path)
    assert results["SEC-03"].verdict == codes().FAIL
    assert "--seed 3" in run.stdout and f"--max-examples {MAX_EXAMPLES}" in run.stdout
    report = json.loads((tmp_path / "fuzz.json").read_text(encoding="utf-8"))
    crashes = [f for f in report["failures"] if f["requirement"] == "SEC-03"]
    assert crashes and all(f["status"] >= 500 for f in crashes)
    curl = crashes[0]["curl"]
    assert curl in run.stdout
    replay = subprocess.run(["bash", "-c", curl + " -s -o /dev/null -w '%{http_code}'"], capture_output=True, text=True,
                            timeout=30, check=False)
    assert replay.stdout.strip().startswith("5"), (curl, replay.stdout, replay.stderr)
    assert (tmp_path / "junit.xml").read_text(encoding="utf-8").lstrip().startswith("<?xml")
    # The same seed sends the same cases again: no example database carries cases over from earlier
    # runs (with one, a run once sent 505 cases and missed the crash, the next sent 610 and found it).
    again = _fuzz(pool, "crash", tmp_path / "again")
    first, second = (json.loads((out / "fuzz.json").read_text(encoding="utf-8")) for out in (tmp_path, tmp_path / "again"))
    assert again.returncode == 1 and second["generatedRequests"] == first["generatedRequests"]
    assert _found(second) == _found(first)


def test_fuzz_finds_nothing_on_the_clean_platform(pool: PlatformPool, tmp_path: Path) -> None:
    run = _fuzz(pool, "clean", tmp_path)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    assert {k: r.verdict for k, r in _results(tmp_path).items()} == {"SEC-03": codes().PASS, "MSG-05": codes().PASS}


def test_fuzz_usage_errors_are_one_line(tmp_path: Path) -> None:
    run = subprocess.run([sys.executable, "-m", "conformance.cli", "fuzz", "--target", "http://127.0.0.1:9/x",
                          "--out", str(tmp_path)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 3
    assert len(run.stderr.strip().splitlines()) == 1 and "--ics" in run.stderr
