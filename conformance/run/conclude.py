"""Collect → judge → render: what every run ends with, whoever drove it (the runner, or the plugin
when pytest is run directly). One function, so a new output is wired in once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from conformance.context import RunContext
from conformance.evidence import Redactor
from conformance.load.in_run import LoadStep
from conformance.report.build import write_report
from conformance.report.render import Prepared, seal
from conformance.run.selection import Selection
from conformance.rundir import RunDir


def export_captures(simulator: Any, rundir: RunDir) -> str | None:
    """The simulator's record of every call it received; a warning (never a lost report) when it cannot be written."""
    try:
        rundir.evidence.mkdir(parents=True, exist_ok=True)
        simulator.export_captures(rundir.simulator_captures)
    except OSError as exc:
        return f"the simulator's captures could not be written: {exc}"
    return None


def conclude(rundir: RunDir, ctx: RunContext, selection: Selection, *, started: datetime, embedded: bool = False,
             faults: list[str] | None = None, warnings: list[str] | None = None,
             load: LoadStep | None = None, report_options: Prepared | None = None) -> dict[str, Any]:
    """Judge what the run left in its folder (and what the load phase returned) and write every output;
    return report.json's content."""
    results = rundir.read_results() + (load.results if load else [])
    report = write_report(rundir.root, ctx, results, started=started, only=selection.only, areas=selection.areas,
                          run_id=rundir.root.name, embedded=embedded, faults=faults, warnings=warnings,
                          load_ids=load.judged if load else None, load=load.report if load else None,
                          report_options=report_options)
    redact_outputs(rundir, Redactor(ctx.secrets()))
    seal(rundir.root, report_options)  # manifest, signature, --junit-xml copy: after everything else is written
    return report


def redact_outputs(rundir: RunDir, redactor: Redactor) -> None:
    """Belt and braces: no secret of the PIXIT survives in any text file of the report."""
    if not redactor.secrets:
        return
    for path in rundir.root.rglob("*"):
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        cleaned = redactor.text(text)
        if cleaned != text:
            path.write_text(cleaned, encoding="utf-8")
