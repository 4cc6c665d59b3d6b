"""The suite judges itself: the clean reference platform is CONFORMANT, and every fault switch is
caught — the requirements it breaks FAIL, every other SHALL requirement of the areas run still
passes (no collateral verdicts).

Each case is a whole `ccc-conformance run` (simulator, reference platform process, pytest process),
restricted to the areas the fault needs so the self-check stays fast.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from conformance import specs
from conformance.report.manifest import verify_manifest
from conformance.run import run_command
from tests.selfcheck.catches import CATCHES

# Timing on a shared 2-core machine: one rerun before a failure counts (pytest-rerunfailures).
pytestmark = [pytest.mark.slow, pytest.mark.flaky(reruns=1)]
C = specs.load().vocab


def run(tmp_path: Path, workers: int | None = 1, **kwargs: Any) -> tuple[int, dict[str, Any], Path, str]:
    out = io.StringIO()
    code = run_command(out=str(tmp_path), workers=workers, console=Console(file=out, width=160), **kwargs)
    runs = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(runs) == 1, out.getvalue()
    report = json.loads((runs[0] / "report.json").read_text(encoding="utf-8"))
    return code, report, runs[0], out.getvalue()


def verdicts(report: dict[str, Any]) -> dict[str, str]:
    return {r["id"]: r["verdict"] for r in report["requirements"]}


@pytest.mark.latency_sensitive   # its load phase judges AVL-02/05: no other whole run beside it
def test_clean_reference_platform_is_conformant(tmp_path: Path) -> None:
    # The default workers, as a user runs it: the parallel path and its run lock. It measures on a lane of
    # its own (tests/machine.py), with only quick tests beside it, so it may take the CPU it needs.
    code, report, run_dir, output = run(tmp_path, workers=None)
    s = specs.load()
    bad = {rid: v for rid, v in verdicts(report).items()
           if v not in (C.verdict.PASS, C.verdict.NOT_APPLICABLE)}
    assert not bad, f"{bad}\n{output}"
    assert report["overall"]["verdict"] == C.overallVerdict.CONFORMANT and code == 0, output
    assert not [t for t in report["tests"] if t["verdict"] not in (C.verdict.PASS, C.verdict.NOT_APPLICABLE)]
    # every requirement was judged — the functional suite's and the load phase's (AVL) — so the run is
    # full, a conformance claim; the automatic ones by a test that ran
    assert set(verdicts(report)) == set(s.requirements)
    assert report["scope"] == "full" and report["notJudged"] == [] and report["load"]["series"]
    # the load phase's verdicts carry their figures (AVL-01…05 are judged from measurements, not by a test)
    avl = {rid for rid, r in s.requirements.items() if r.suite == "load"}
    assert avl and all(r["measurements"] for r in report["requirements"] if r["id"] in avl)
    # latency from the actual send as well as from the intended one (locust's side writes both histograms)
    [avl02] = [r for r in report["requirements"] if r["id"] == "AVL-02"]
    got = {m["name"]: m["value"] for m in avl02["measurements"]}
    assert got.get("p99FromActualSend") is not None and got.get("lateSends") is not None, got
    for r in report["requirements"]:
        if r["verdict"] == C.verdict.PASS:
            assert r["tests"], r
    # the bundle: schema-valid report, junit, allure, evidence, an intact manifest
    assert not s.errors("report", report)
    for name in ("report.html", "junit.xml", "MANIFEST.sha256"):
        assert (run_dir / name).is_file(), name
    # a full report stays light enough to open anywhere (the browser test opens a partial one)
    assert (run_dir / "report.html").stat().st_size < 5 * 1024 * 1024
    assert any((run_dir / "allure-results").iterdir())
    assert any((run_dir / "evidence").glob("*.json"))
    assert not verify_manifest(run_dir)
    # no secret of the PIXIT anywhere in the bundle
    secret = "reference-secret-change-me"
    leaks = [p for p in run_dir.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]
    assert not leaks, leaks


# Runs of the deadline-heavy areas take longest: started first, they overlap the short ones.
_SLOW_AREAS = {"TKD", "RES", "SEC", "RPT"}


@pytest.mark.parametrize("fault", sorted(CATCHES, key=lambda f: (not _SLOW_AREAS & set(CATCHES[f][0]), f)))
def test_fault_is_caught_without_collateral(fault: str, tmp_path: Path) -> None:
    areas, breaks, unsettled = CATCHES[fault]
    # One worker: a second would shorten a TKD run (39 → 32 s on a quiet machine) but costs a pytest
    # controller and two worker processes (+4 CPU-s, +19 %), and under CI the self-check runs share
    # two cores, so CPU is what they wait for.
    code, report, _, output = run(tmp_path, workers=1, fault=[fault], area=areas)
    got = verdicts(report)
    s = specs.load()
    missed = {rid: got.get(rid) for rid in breaks if got.get(rid) != C.verdict.FAIL}
    assert not missed, f"{fault}: expected FAIL for {missed}\n{output}"
    # A requirement whose precondition the fault removes may be INCONCLUSIVE (never FAIL); every
    # other SHALL requirement of the areas run must still pass.
    allowed = {rid: (C.verdict.PASS, C.verdict.NOT_APPLICABLE, C.verdict.INCONCLUSIVE) for rid in unsettled}
    collateral = {rid: v for rid, v in got.items()
                  if rid not in breaks and s.requirement(rid).level == C.requirementLevel.SHALL
                  and v not in allowed.get(rid, (C.verdict.PASS, C.verdict.NOT_APPLICABLE))}
    assert not collateral, f"{fault}: collateral verdicts {collateral}\n{output}"
    if any(s.requirement(r).level == C.requirementLevel.SHALL for r in breaks):
        assert report["overall"]["verdict"] == C.overallVerdict.NON_CONFORMANT and code == 1, output
