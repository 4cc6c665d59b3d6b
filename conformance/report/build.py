"""Build ``report.json`` (validated against specs/schemas/report.schema.json) and ``report.html``.

The inputs are the per-test results the plugin wrote (``results.jsonl``), the run context and the
selection; requirement verdicts and the overall verdict come from :mod:`conformance.verdicts`.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conformance import __version__, specs
from conformance.context import RunContext
from conformance.verdicts import TestResult, codes, overall, requirement_verdicts

SUITE_NAME = "ccc-conformance"


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and unique: UTC time to the second plus 6 random hex digits."""
    now = now or datetime.now(UTC)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


def read_results(path: Path) -> list[TestResult]:
    """Per-test results from results.jsonl; a torn last line (a run that died) is skipped."""
    results: dict[str, TestResult] = {}
    if not path.is_file():
        return []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            r = TestResult.from_json(json.loads(line))
        except (ValueError, KeyError, TypeError):
            continue
        results[r.nodeid] = r
    return list(results.values())


def split(value: str | list[str] | None) -> list[str]:
    if not value:
        return []
    items = value if isinstance(value, list) else value.split(",")
    return [x.strip() for part in items for x in part.split(",") if x.strip()]


def scope(only: list[str], areas: list[str]) -> list[str]:
    """Requirement IDs a functional run judges: the functional suite's, narrowed by the selection."""
    s = specs.load()
    ids = [r.id for r in s.requirements.values() if r.suite == "functional"]
    if only:
        ids = [i for i in ids if i in only]
    if areas:
        ids = [i for i in ids if s.requirement(i).area in {a.upper() for a in areas}]
    return ids


def build_report(ctx: RunContext, results: list[TestResult], *, run_id: str, started: datetime,
                 finished: datetime | None = None, only: list[str] | None = None, areas: list[str] | None = None,
                 embedded: bool = False, faults: list[str] | None = None,
                 warnings: list[str] | None = None) -> dict[str, Any]:
    s = specs.load()
    finished = finished or datetime.now(UTC)
    only, areas = only or [], areas or []
    ids = scope(only, areas)
    reqs = requirement_verdicts(results, requirement_ids=ids, claimed=ctx.capabilities)
    total = overall(reqs)
    out_of_scope = [r.id for r in s.requirements.values() if r.suite != "functional"]
    notes = list(warnings or [])
    if out_of_scope:
        notes.append(f"{', '.join(out_of_scope)}: verified by the load runner, not by this functional run")
    if only or areas:
        notes.append(f"partial run: {len(ids)} of {len(s.requirements)} requirements selected")
    return {
        "runId": run_id,
        "createdAt": finished.astimezone().isoformat(timespec="seconds"),
        "suite": {"name": SUITE_NAME, "version": __version__},
        "profile": {"id": s.profile["id"], "version": str(s.profile["version"])},
        "specFiles": s.file_hashes(),
        "target": {"testControlBaseUrl": ctx.target, "embedded": embedded, "faults": list(faults or [])},
        "ics": {"platform": ctx.ics.get("platform") or {}, "capabilities": ctx.capabilities,
                "timing": ctx.timing, "file": Path(ctx.ics_file).name if ctx.ics_file else None},
        "selection": {"only": only, "areas": areas},
        "overall": {"verdict": total.verdict, "exitCode": total.exit_code, "counts": total.counts,
                    "warnings": total.warnings + notes},
        "requirements": [r.as_json() for r in reqs],
        "tests": [r.as_json() for r in sorted(results, key=lambda r: r.nodeid)],
        "findings": [{"requirement": r.id, "message": r.reason} for r in reqs
                     if r.id.startswith("ICS-") and r.verdict not in (codes().PASS, codes().NOT_APPLICABLE)],
        "timings": {"startedAt": started.astimezone().isoformat(timespec="seconds"),
                    "finishedAt": finished.astimezone().isoformat(timespec="seconds"),
                    "durationSeconds": round((finished - started).total_seconds(), 3)},
    }


def write_report(folder: Path, ctx: RunContext, results: list[TestResult], *, started: datetime,
                 only: str | list[str] | None = None, areas: str | list[str] | None = None,
                 run_id: str | None = None, embedded: bool = False, faults: list[str] | None = None,
                 warnings: list[str] | None = None, report_options: Any = None) -> dict[str, Any]:
    """Write report.json and every rendering of it (conformance.report.render) into ``folder``; return
    the report. A report that breaks its own schema is a harness bug: say so loudly rather than hand a
    regulator a bad file. ``report_options``: a ReportOptions or the Prepared form of one."""
    from conformance.report.render import render_all

    report = build_report(ctx, results, run_id=run_id or folder.name, started=started, only=split(only),
                          areas=split(areas), embedded=embedded, faults=faults, warnings=warnings)
    errors = specs.load().errors("report", report)
    if errors:
        raise RuntimeError(f"report.json does not validate against report.schema.json: {errors[:3]}")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    return render_all(folder, report, report_options)
