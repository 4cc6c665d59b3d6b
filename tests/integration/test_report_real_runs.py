"""Real runs through the command line: a clean run and a `--fault no-takedown` run, then `diff`,
a signed bundle that `verify` accepts and then rejects after a one-byte change, a baseline that
accepts the failure, and JUnit at a fixed path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

# Timing on a shared 2-core machine: one rerun before a failure counts (pytest-rerunfailures).
pytestmark = [pytest.mark.slow, pytest.mark.flaky(reruns=1)]


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conformance.cli", *args], capture_output=True, text=True,
                          timeout=600, cwd=cwd)


def _only_run(base: Path) -> Path:
    [run] = [p for p in base.iterdir() if p.is_dir()]
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("report-runs")
    assert cli("keygen", "--out", str(tmp / "keys"), cwd=tmp).returncode == 0
    key = tmp / "keys" / "ccc-report-signing.key"
    clean = cli("run", "--only", "TKD-01", "--out", str(tmp / "clean"), "--sign-key", str(key), cwd=tmp)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    baseline = tmp / "baseline.yaml"
    baseline.write_text("knownFailures:\n  - {requirement: TKD-01, reason: push handler being rewritten, "
                        "expires: 2999-12-31}\n", encoding="utf-8")
    faulty = cli("run", "--only", "TKD-01", "--fault", "no-takedown", "--out", str(tmp / "fault"),
                 "--baseline", str(baseline), "--junit-xml", str(tmp / "ci" / "junit.xml"), cwd=tmp)
    return {"tmp": tmp, "key": key, "clean": _only_run(tmp / "clean"), "fault": _only_run(tmp / "fault"),
            "fault_rc": faulty.returncode, "fault_out": faulty.stdout}


def test_diff_shows_tkd01_as_a_regression(runs: dict[str, Any]) -> None:
    result = cli("diff", str(runs["clean"]), str(runs["fault"]), "--format", "json", cwd=runs["tmp"])
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    first = doc["changes"][0]
    assert (first["requirement"], first["kind"], first["before"], first["after"]) == ("TKD-01", "regression", "PASS", "FAIL")
    back = cli("diff", str(runs["fault"]), str(runs["clean"]), "--format", "markdown", cwd=runs["tmp"])
    assert back.returncode == 0 and "improvement" in back.stdout


def test_signed_bundle_verifies_then_catches_one_byte(runs: dict[str, Any]) -> None:
    run, public = runs["clean"], runs["key"].parent / "ccc-report-signing.pub.pem"
    ok = cli("verify", str(run), "--public-key", str(public), cwd=runs["tmp"])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    junit = run / "junit.xml"
    data = bytearray(junit.read_bytes())
    data[-3] ^= 1
    junit.write_bytes(bytes(data))
    bad = cli("verify", str(run), "--public-key", str(public), cwd=runs["tmp"])
    assert bad.returncode == 1 and "changed: junit.xml" in bad.stdout


def test_baseline_accepts_the_known_failure_and_says_so(runs: dict[str, Any]) -> None:
    assert runs["fault_rc"] == 0, runs["fault_out"]
    assert "accepted by the baseline" in str(runs["fault_out"])
    report = json.loads((runs["fault"] / "report.json").read_text(encoding="utf-8"))
    assert report["overall"]["verdict"] == "NON_CONFORMANT"
    assert [a["requirement"] for a in report["overall"]["baseline"]["accepted"]] == ["TKD-01"]
    html = (runs["fault"] / "report.html").read_text(encoding="utf-8")
    assert "TKD-01" in html and "2999-12-31" in html


def test_junit_at_a_fixed_path_and_har_beside_the_evidence(runs: dict[str, Any]) -> None:
    junit = (runs["tmp"] / "ci" / "junit.xml").read_text(encoding="utf-8")
    assert 'name="verdict" value="FAIL"' in junit and 'type="baseline"' in junit
    hars = list((runs["fault"] / "evidence").glob("*.har"))
    assert hars and json.loads(hars[0].read_text(encoding="utf-8"))["log"]["version"] == "1.2"
