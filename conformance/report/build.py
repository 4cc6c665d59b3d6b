"""Build ``report.json`` (validated against specs/schemas/report.schema.json) and ``report.html``.

The inputs are the per-test results the plugin wrote (``RunDir.results``), the run context and the
selection; requirement verdicts and the overall verdict come from :mod:`conformance.verdicts`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conformance import __version__, specs
from conformance.context import RunContext
from conformance.scope import PARTIAL_NOTE
from conformance.scope import of as scope_of
from conformance.verdicts import TestResult, codes, overall, requirement_verdicts

SUITE_NAME = "ccc-conformance"


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
                 warnings: list[str] | None = None, load_ids: list[str] | None = None,
                 load: dict[str, Any] | None = None) -> dict[str, Any]:
    s = specs.load()
    finished = finished or datetime.now(UTC)
    only, areas = only or [], areas or []
    ids = scope(only, areas)
    # -- run scope (issue 9): the load phase's requirements join the functional ones; a run that
    # leaves any requirement unjudged is partial, not a conformance claim (conformance/scope.py).
    ids = ids + [rid for rid in (load_ids or []) if rid not in ids]
    run_scope, not_judged = scope_of(ids)
    # -- end run scope
    reqs = requirement_verdicts(results, requirement_ids=ids, claimed=ctx.capabilities)
    total = overall(reqs)
    notes = list(warnings or [])
    if not_judged:
        notes.append(f"{PARTIAL_NOTE}: {len(ids)} of {len(s.requirements)} requirements judged; "
                     f"not judged: {', '.join(not_judged)}")
    extra: dict[str, Any] = {"scope": run_scope, "notJudged": not_judged}
    if load is not None:
        extra["load"] = load
    return {**extra,
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
                 only: list[str] | None = None, areas: list[str] | None = None,
                 run_id: str | None = None, embedded: bool = False, faults: list[str] | None = None,
                 warnings: list[str] | None = None, load_ids: list[str] | None = None,
                 load: dict[str, Any] | None = None, report_options: Any = None) -> dict[str, Any]:
    """Write report.json and every rendering of it (conformance.report.render) into ``folder``; return
    the report. A report that breaks its own schema is a harness bug: say so loudly rather than hand a
    regulator a bad file. ``report_options``: a ReportOptions or the Prepared form of one."""
    from conformance.report.render import render_all

    report = build_report(ctx, results, run_id=run_id or folder.name, started=started, only=list(only or []),
                          areas=list(areas or []), embedded=embedded, faults=faults, warnings=warnings,
                          load_ids=load_ids, load=load)
    folder.mkdir(parents=True, exist_ok=True)
    # render_all validates report.json against its schema and writes it once, after the baseline and signer.
    return render_all(folder, report, report_options)
