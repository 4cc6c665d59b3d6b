"""A run is full only when every requirement was judged; a selection or a skipped load phase is partial."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from conformance import specs
from conformance.context import RunContext
from conformance.ics import load_ics
from conformance.report.build import build_report
from conformance.report.html import render_html
from conformance.run.selection import Selection
from conformance.scope import FULL, PARTIAL, of
from conformance.verdicts import TestResult

S = specs.load()
AVL = [r.id for r in S.requirements.values() if r.suite == "load"]


def test_selection() -> None:
    everything = Selection()
    assert set(everything.functional) | set(everything.load) == set(S.requirements) and everything.load == AVL
    assert Selection(skip_load=True).load == []
    assert Selection(only=["AVL-01"]).functional == [] and Selection(only=["AVL-01"]).load == ["AVL-01"]
    assert Selection(areas=["VER"]).load == [] and all(r.startswith("VER-") for r in Selection(areas=["VER"]).functional)


def test_scope_of() -> None:
    assert of(list(S.requirements)) == (FULL, [])
    scope, missing = of([r for r in S.requirements if r not in AVL])
    assert scope == PARTIAL and missing == AVL


def _ctx() -> RunContext:
    ics = load_ics(specs.specs_dir() / "examples" / "ics-reference.yaml")
    return RunContext(ics=ics, pixit={"platformId": "p", "platformSecret": "x" * 16}, target="http://127.0.0.1:1/ccc-test/v1")


def test_a_load_only_report_is_partial_schema_valid_and_says_so() -> None:
    results = [TestResult(nodeid=f"load::{rid}", requirements=[rid], verdict=S.vocab.verdict.PASS, duration_seconds=1.0,
                          measurements=[{"name": "x", "value": 1}]) for rid in AVL]
    load = {"shape": "flap", "quick": True, "workers": 1, "targetRate": 40.0, "achievedRate": 40.0,
            "durationSeconds": 15.0, "series": [{"second": 0, "targetRate": 40.0, "sent": 40, "ok": 40, "errors": 0,
                                                 "p50Ms": 5.0, "p99Ms": 9.0}]}
    report = build_report(_ctx(), results, run_id="r", started=datetime.now(UTC), only=AVL, load_ids=AVL, load=load)
    assert not S.errors("report", report)
    assert report["scope"] == PARTIAL and set(report["notJudged"]) == set(S.requirements) - set(AVL)
    assert [r["id"] for r in report["requirements"]] == AVL
    assert report["overall"]["exitCode"] == 0          # the selection passed: CI can gate on it
    assert "partial — not a conformance claim" in render_html(report)


def test_default_workers_no_more_than_the_selection_can_keep_busy() -> None:
    from conformance.run.functional import default_workers, workers_for

    assert workers_for(Selection()) == default_workers()                     # the whole suite
    assert workers_for(Selection(only=["TKD-01"])) == 2                      # two tests (verified_by)
    assert workers_for(Selection(only=["AVL-01"])) == 1                      # no functional test at all
    assert workers_for(Selection(areas=["VER"])) == default_workers()


def test_the_suites_pytest_never_reruns_a_test(tmp_path: Path) -> None:
    # A FAIL that passes when repeated is still a FAIL: `--reruns` (from PYTEST_ADDOPTS, say) must be
    # an error in the suite's process, never a second try. pytest itself is asked, with the command's
    # plugin options, whether it knows the option.
    import subprocess
    import sys

    from conformance.run.functional import pytest_command
    from conformance.rundir import RunDir
    from tests.unit.test_plugin import EXAMPLES

    class FakePlatform:
        ics_path = EXAMPLES / "ics-reference.yaml"
        pixit_path = None
        ctx = RunContext(ics=load_ics(ics_path), pixit={}, target="http://127.0.0.1:9/ccc-test/v1")

    cmd = pytest_command(RunDir(tmp_path), FakePlatform(), "http://127.0.0.1:9", Selection(), 1)  # type: ignore[arg-type]
    plugins = [cmd[i + 1] for i, arg in enumerate(cmd) if arg == "-p"]
    assert "no:rerunfailures" in plugins
    asked = subprocess.run([sys.executable, "-m", "pytest", *(x for p in plugins for x in ("-p", p)), "--reruns", "1",
                            "--co", "-q", str(tmp_path)], capture_output=True, text=True, check=False)
    assert asked.returncode == 4 and "--reruns" in asked.stderr, asked.stderr
