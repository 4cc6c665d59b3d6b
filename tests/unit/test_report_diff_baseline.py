"""`diff` (regressions first, exit 1 on one) and `--baseline` (unexpired known failures exit 0)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
import yaml

from conformance.cli import main
from conformance.report.baseline import BaselineError, apply_baseline, load_baseline
from conformance.report.diff import IMPROVEMENT, REGRESSION, diff_reports, render_markdown
from conformance.verdicts import codes
from tests.unit.report_support import make_report, make_run_dir

C = codes()
LATENCY = [{"name": "takedownLatency", "value": 0.2, "unit": "s", "limit": 3.0}]


def _run(*argv: str) -> int:
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    return int(exc.value.code)


def test_regressions_come_first_and_measurements_sit_side_by_side() -> None:
    a = make_report({"TKD-01": C.PASS, "VER-01": C.FAIL, "VER-02": C.PASS}, measurements={"TKD-01": LATENCY})
    b = make_report({"TKD-01": C.FAIL, "VER-01": C.PASS, "VER-02": C.PASS},
                    measurements={"TKD-01": [{**LATENCY[0], "value": 4.0}]})
    d = diff_reports(a, b)
    assert [(c.requirement, c.kind) for c in d.changes[:2]] == [("TKD-01", REGRESSION), ("VER-01", IMPROVEMENT)]
    assert d.changes[0].measurements == [{"name": "takedownLatency", "a": 0.2, "b": 4.0, "unit": "s", "limit": 3.0}]
    md = render_markdown(d)
    assert "| TKD-01 | SHALL | **regression** | PASS | FAIL |" in md and "VER-02" not in md


def test_a_requirement_only_one_run_judged_is_no_regression() -> None:
    d = diff_reports(make_report({"TKD-01": C.PASS}), make_report({"TKD-01": C.PASS, "VER-01": C.FAIL}))
    assert not d.regressions
    assert [c.kind for c in d.changes if c.requirement == "VER-01"] == ["added"]


def test_diff_command_exit_codes_and_formats(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = make_run_dir(tmp_path / "a", make_report({"TKD-01": C.PASS}, run_id="run-a"))
    b = make_run_dir(tmp_path / "b", make_report({"TKD-01": C.FAIL}, run_id="run-b"))
    assert _run("diff", str(a), str(b), "--format", "json") == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["regressions"] == 1 and doc["changes"][0]["requirement"] == "TKD-01"
    assert _run("diff", str(b), str(a)) == 0
    assert "TKD-01" in capsys.readouterr().out
    assert _run("diff", str(a), str(tmp_path / "missing")) == 3
    assert _run("diff", str(a), str(b), "--format", "xml") == 3


def _baseline(tmp_path: Path, *entries: dict[str, str]) -> Path:
    path = tmp_path / "baseline.yaml"
    path.write_text(yaml.safe_dump({"knownFailures": list(entries)}), encoding="utf-8")
    return path


def test_unexpired_entries_accept_the_only_failures(tmp_path: Path) -> None:
    report = make_report({"TKD-01": C.FAIL, "VER-01": C.PASS})
    baseline = load_baseline(_baseline(tmp_path, {"requirement": "TKD-01", "reason": "fix in progress",
                                                  "expires": "2027-01-31"}))
    out = apply_baseline(report, baseline, source="b.yaml", today=dt.date(2027, 1, 31))
    assert out["overall"]["verdict"] == C.NON_CONFORMANT  # the verdict is never rewritten
    assert out["overall"]["exitCode"] == 0
    assert [a["requirement"] for a in out["overall"]["baseline"]["accepted"]] == ["TKD-01"]
    assert any("known failure" in w for w in out["overall"]["warnings"])
    assert report["overall"]["exitCode"] == 1  # the input is left alone


def test_expired_entry_counts_as_a_failure(tmp_path: Path) -> None:
    report = make_report({"TKD-01": C.FAIL})
    baseline = load_baseline(_baseline(tmp_path, {"requirement": "TKD-01", "reason": "x", "expires": "2027-01-31"}))
    out = apply_baseline(report, baseline, source="b.yaml", today=dt.date(2027, 2, 1))
    assert out["overall"]["exitCode"] == 1
    assert [e["requirement"] for e in out["overall"]["baseline"]["expired"]] == ["TKD-01"]


def test_an_unlisted_failure_still_fails(tmp_path: Path) -> None:
    report = make_report({"TKD-01": C.FAIL, "TKD-02": C.FAIL})
    baseline = load_baseline(_baseline(tmp_path, {"requirement": "TKD-01", "reason": "x", "expires": "2099-01-01"}))
    assert apply_baseline(report, baseline, source="b")["overall"]["exitCode"] == 1


def test_accepting_a_failure_can_leave_the_run_incomplete(tmp_path: Path) -> None:
    report = make_report({"TKD-01": C.FAIL, "TKD-02": C.INCONCLUSIVE})
    baseline = load_baseline(_baseline(tmp_path, {"requirement": "TKD-01", "reason": "x", "expires": "2099-01-01"}))
    out = apply_baseline(report, baseline, source="b")
    assert out["overall"]["exitCode"] == C.exit_codes[C.INCOMPLETE]


def test_bad_baselines_are_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(BaselineError, match="expires"):
        load_baseline(_baseline(tmp_path, {"requirement": "TKD-01", "reason": "no date"}))
    with pytest.raises(BaselineError, match="unknown requirement"):
        load_baseline(_baseline(tmp_path, {"requirement": "XYZ-99", "reason": "x", "expires": "2099-01-01"}))
    with pytest.raises(BaselineError, match="not found"):
        load_baseline(tmp_path / "missing.yaml")
    (tmp_path / "broken.yaml").write_text("knownFailures: [", encoding="utf-8")
    with pytest.raises(BaselineError, match="cannot read"):
        load_baseline(tmp_path / "broken.yaml")


def test_unquoted_yaml_dates_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "b.yaml"
    path.write_text("knownFailures:\n  - {requirement: TKD-01, reason: r, expires: 2027-01-31}\n", encoding="utf-8")
    assert load_baseline(path)["knownFailures"][0]["expires"] == "2027-01-31"


def test_run_refuses_a_bad_baseline_before_testing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _run("run", "--only", "TKD-01", "--baseline", str(tmp_path / "missing.yaml"), "--out", str(tmp_path)) == 3
    assert "baseline file not found" in capsys.readouterr().err
    assert not any(tmp_path.iterdir())  # no half-made report folder
