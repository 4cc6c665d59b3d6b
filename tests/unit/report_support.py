"""Minimal schema-valid report.json documents and run folders for the report renderers' unit tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from conformance import specs
from conformance.verdicts import RequirementVerdict, codes, overall


def make_report(verdicts: dict[str, str], *, run_id: str = "20260101T000000Z-aaaaaa",
                measurements: dict[str, list[dict[str, Any]]] | None = None,
                exchanges: bool = False) -> dict[str, Any]:
    """A report judging exactly ``verdicts`` (requirement id → verdict), one test per requirement."""
    s = specs.load()
    measurements = measurements or {}
    reqs, tests = [], []
    for rid, verdict in verdicts.items():
        req = s.requirement(rid)
        nodeid = f"conformance/suite/test_{req.area.lower()}.py::test_{rid.lower().replace('-', '')}"
        evidence = [f"evidence/test_{req.area.lower()}.py_test_{rid.lower().replace('-', '')}.json"] if exchanges else []
        ms = measurements.get(rid, [])
        reqs.append(RequirementVerdict(id=rid, level=req.level, area=req.area, title=req.title, verdict=verdict,
                                       tests=[nodeid], reason=f"{rid} was {verdict}", measurements=ms,
                                       evidence=evidence))
        tests.append({"nodeid": nodeid, "requirements": [rid], "verdict": verdict, "durationSeconds": 0.5,
                      "message": None if verdict == codes().PASS else f"{rid} was {verdict}",
                      "expected": {"state": "TAKEN_DOWN"} if verdict == codes().FAIL else None,
                      "observed": {"state": "ON_SALE"} if verdict == codes().FAIL else None,
                      "measurements": ms, "evidence": evidence})
    total = overall(reqs)
    stamp = "2026-01-01T00:00:00+00:00"
    report = {
        "runId": run_id, "createdAt": stamp, "suite": {"name": "ccc-conformance", "version": "0.0.0"},
        "profile": {"id": s.profile["id"], "version": str(s.profile["version"])},
        "specFiles": {"profile.yaml": "0" * 64},
        "target": {"testControlBaseUrl": "http://127.0.0.1:9/ccc-test/v1", "embedded": True, "faults": []},
        "ics": {"platform": {"name": "Test Mall", "version": "1", "operator": "tests"}, "capabilities": {},
                "timing": {"takedownDeadlineSeconds": 3}, "file": "ics.yaml"},
        "selection": {"only": list(verdicts), "areas": []},
        "overall": {"verdict": total.verdict, "exitCode": total.exit_code, "counts": total.counts,
                    "warnings": total.warnings},
        "requirements": [r.as_json() for r in reqs], "tests": tests, "findings": [],
        "timings": {"startedAt": stamp, "finishedAt": stamp, "durationSeconds": 1.0},
    }
    assert s.errors("report", report) == []
    return report


EXCHANGE = {
    "sentAt": "2026-01-01T00:00:00.000+00:00", "elapsedMs": 12.5, "seq": 1,
    "request": {"method": "POST", "url": "http://127.0.0.1:9/ccc-test/v1/listings?x=1",
                "headers": {"content-type": "application/json", "authorization": "Bearer ***"},
                "body": {"title": "移动电源", "certificateNo": "2023010914184719"}},
    "response": {"status": 201, "headers": {"content-type": "application/json"},
                 "body": {"listingId": "l-1", "state": "ON_SALE"}},
}


def make_run_dir(folder: Path, report: dict[str, Any]) -> Path:
    """A run folder: report.json plus one evidence file per test that names one."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(report, ensure_ascii=False), encoding="utf-8")
    for t in report["tests"]:
        for rel in t["evidence"]:
            path = folder / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            failed = {"sentAt": "2026-01-01T00:00:01.000+00:00", "seq": 2,
                      "request": {"method": "GET", "url": "http://127.0.0.1:9/ccc-test/v1/listings/l-1", "headers": {}},
                      "response": None, "error": "ConnectError: refused"}
            path.write_text(json.dumps({"nodeid": t["nodeid"], "verdict": t["verdict"],
                                        "exchanges": [EXCHANGE, failed], "droppedExchanges": 0}), encoding="utf-8")
    return folder
