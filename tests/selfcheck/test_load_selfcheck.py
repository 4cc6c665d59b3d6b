"""The load phase judges itself: each load-phase fault switch (reference_platform/faults.py, phase
"load") FAILs exactly its requirements, with no collateral verdicts among the other AVL requirements.
(The clean reference platform passing AVL-01…05, with their figures, is asserted on the self-check's
full clean run, tests/selfcheck/test_selfcheck.py, which includes the load phase.)

Each case is `ccc-conformance run --area AVL` on the embedded platform, which runs the load phase
alone with the quick preset (about 25 s of load and checks).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from conformance import specs
from conformance.run import run_command
from reference_platform.faults import FAULTS

# Timing on a shared 2-core machine: one rerun before a failure counts (pytest-rerunfailures). Each case
# measures latency, so no other whole run is under way beside it (tests/machine.py).
pytestmark = [pytest.mark.slow, pytest.mark.latency_sensitive, pytest.mark.flaky(reruns=1)]
C = specs.load().vocab
LOAD_FAULTS = sorted(f.name for f in FAULTS.values() if f.phase == "load")


def run_avl(tmp_path: Path, faults: list[str]) -> tuple[int, dict[str, Any], str]:
    out = io.StringIO()
    code = run_command(out=str(tmp_path), area=["AVL"], fault=faults, console=Console(file=out, width=160))
    runs = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert len(runs) == 1, out.getvalue()
    report = json.loads((runs[0] / "report.json").read_text(encoding="utf-8"))
    return code, report, out.getvalue()


def verdicts(report: dict[str, Any]) -> dict[str, str]:
    return {r["id"]: r["verdict"] for r in report["requirements"]}


@pytest.mark.parametrize("fault", LOAD_FAULTS)
def test_load_fault_is_caught_without_collateral(fault: str, tmp_path: Path) -> None:
    code, report, output = run_avl(tmp_path, [fault])
    got = verdicts(report)
    breaks = FAULTS[fault].fails
    missed = {rid: got.get(rid) for rid in breaks if got.get(rid) != C.verdict.FAIL}
    assert not missed, f"{fault}: expected FAIL for {missed}\n{output}"
    allowed = {rid: (C.verdict.PASS, C.verdict.INCONCLUSIVE) for rid in FAULTS[fault].may_be_inconclusive}
    collateral = {rid: v for rid, v in got.items() if rid not in breaks and v not in allowed.get(rid, (C.verdict.PASS,))}
    assert not collateral, f"{fault}: collateral verdicts {collateral}\n{output}"
    shall = [r for r in breaks if specs.load().requirement(r).level == C.requirementLevel.SHALL]
    assert code == (1 if shall else 0), output


def test_only_one_avl_requirement_runs_the_load_phase_alone(tmp_path: Path) -> None:
    # Once crashed with exit 3 (no evidence folder for the simulator's captures) after running nothing.
    out = io.StringIO()
    code = run_command(out=str(tmp_path), only=["AVL-01"], console=Console(file=out, width=160))
    run_dir = next(p for p in tmp_path.iterdir() if p.is_dir())
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    assert code == 0 and verdicts(report) == {"AVL-01": C.verdict.PASS}, out.getvalue()
    assert report["scope"] == "partial" and "AVL-02" in report["notJudged"]
    assert (run_dir / "evidence" / "simulator-captures.jsonl").is_file()
    assert not (run_dir / "results.jsonl").exists()   # no functional suite was started for it
