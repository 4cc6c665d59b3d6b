"""``ccc-conformance run``: one orchestrator, one place per step.

    resolve (selection, inputs) → start counterparts (simulator, platform) → phases (functional suite,
    then load) → collect → judge → render

With no target it tests the embedded reference platform: a simulator here (a thread), the platform as
its own process on a free loopback port with its ICS rewritten to this run's addresses. With
``--target`` it tests a real platform described by its ICS and PIXIT, the simulator bound where the
PIXIT says. Exit codes: 0/1/2 from the overall verdict (terminology.yaml), 3 (``exitcodes.USAGE``).
"""

from __future__ import annotations

import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console

from conformance import exitcodes, specs
from conformance import ics as ics_mod
from conformance.exitcodes import UsageError
from conformance.load.in_run import load_step
from conformance.report import charts
from conformance.report.options import ReportOptions
from conformance.report.render import Prepared, prepare
from conformance.run.conclude import conclude, export_captures
from conformance.run.counterparts import Platform, external, register_platform, start_embedded, start_simulator
from conformance.run.functional import run_functional
from conformance.run.selection import Selection, resolve, resolve_faults
from conformance.run.summary import print_summary
from conformance.rundir import RunDir, new_run_id


@dataclass(frozen=True)
class RunPlan:
    """Everything a run needs, checked before anything starts."""

    selection: Selection
    embedded: bool
    faults: list[str] = field(default_factory=list)
    target: str | None = None
    ics: Path | None = None
    pixit: Path | None = None
    out: Path = Path("reports")
    workers: int | None = None
    load_options: Any = None
    """``conformance.load.plan.LoadOptions``; None: the profile's defaults (quick for the embedded default)."""
    report: Prepared | None = None
    """The report options with their key and baseline loaded (a bad one fails before anything starts)."""


def plan(*, target: str | None = None, ics: str | Path | None = None, pixit: str | Path | None = None,
         only: Any = None, area: Any = None, fault: Any = None, out: str | Path | None = None,
         workers: int | None = None, skip_load: bool = False, load_options: Any = None,
         report_options: ReportOptions | None = None) -> RunPlan:
    selection = resolve(only, area, skip_load=skip_load)
    report = prepare(report_options)
    embedded = target is None and ics is None
    faults = resolve_faults(fault, embedded=embedded)
    if not embedded and not ics:
        raise UsageError("--target needs --ics FILE (the platform's implementation conformance statement)")
    if workers is not None and workers < 1:
        raise UsageError("--workers must be at least 1")
    for flag, path in (("--ics", ics), ("--pixit", pixit)):
        if path is not None and not Path(path).is_file():
            raise UsageError(f"{flag} {path}: no such file")
    return RunPlan(selection=selection, embedded=embedded, faults=faults, target=target,
                   ics=Path(ics) if ics else None, pixit=Path(pixit) if pixit else None,
                   out=Path(out or "reports"), workers=workers, load_options=load_options, report=report)


def preload_renderers() -> None:
    """The report's chart library, imported in the background while the suite runs (charts.preload)."""
    threading.Thread(target=charts.preload, name="ccc-preload-charts", daemon=True).start()


def stop_all(*counterparts: Any) -> None:
    """Stop the platform and the simulator side by side (each waits on its own server's shutdown);
    an error in either is raised once both have stopped."""
    running = [c for c in counterparts if c is not None]
    with ThreadPoolExecutor(max_workers=max(1, len(running)), thread_name_prefix="ccc-stop") as pool:
        futures = [pool.submit(c.stop) for c in running]
    for f in futures:
        f.result()


def run_command(*, console: Console | None = None, **options: Any) -> int:
    """Entry point of ``ccc-conformance run``; returns the exit code. Usage errors are one line on stderr."""
    console = console or Console(stderr=False)
    try:
        return execute(plan(**options), console)
    except (UsageError, specs.SpecError, ics_mod.IcsError) as exc:
        Console(stderr=True, soft_wrap=True).print(f"ccc-conformance: error: {exc}", highlight=False, markup=False)
        return exitcodes.USAGE


def execute(p: RunPlan, console: Console) -> int:
    started = datetime.now(UTC)
    rundir = RunDir(p.out.resolve() / new_run_id(started))
    try:
        rundir.root.mkdir(parents=True, exist_ok=False)
    except OSError as exc:
        raise UsageError(f"cannot create the report folder {rundir.root}: {exc.strerror}") from exc

    server: Any = None
    platform: Platform | None = None
    warnings: list[str] = []
    try:
        # -- start counterparts (a failure here leaves no half-made report folder) -----------------
        try:
            if p.embedded:
                pixit_sim = ics_mod.load_pixit(p.pixit).get("simulator") if p.pixit else None
                server = start_simulator(host="127.0.0.1", port=int((pixit_sim or {}).get("port", 0)))
                platform = start_embedded(rundir, server.url, p.faults, p.pixit)
            else:
                assert p.ics is not None
                platform = external(rundir, p.ics, p.pixit, p.target)
                server = start_simulator(platform.ctx)
            register_platform(server.simulator, platform.ctx)
        except BaseException:
            shutil.rmtree(rundir.root, ignore_errors=True)
            raise
        console.print(f"[bold]ccc-conformance[/bold] run [cyan]{rundir.root.name}[/cyan] → {platform.ctx.target}"
                      + (" (embedded reference platform" + (f", faults: {', '.join(p.faults)}" if p.faults else "") + ")"
                         if p.embedded else ""), highlight=False)

        # -- phases ----------------------------------------------------------------------------------
        if p.selection.functional:
            rc = run_functional(rundir, platform, server.url, p.selection, p.workers, console,
                                on_first_result=preload_renderers)
            if rc not in (0, 1, 5):
                warnings.append(f"the suite's pytest process ended with code {rc}; see {rundir.pytest_output.name}")
        # The load phase never raises: an unplannable load is INCONCLUSIVE, a harness failure ERROR.
        load = load_step(p.selection.load, platform.ctx, server.simulator, rundir.root, embedded=p.embedded,
                         options=p.load_options, console=console)
        if (code := platform.exited()) is not None:
            warnings.append(f"the reference platform exited with code {code} during the run")

        # -- collect -----------------------------------------------------------------------------------
        if problem := export_captures(server.simulator, rundir):
            warnings.append(problem)
    finally:
        stop_all(platform, server)

    # -- judge and render ----------------------------------------------------------------------------
    report = conclude(rundir, platform.ctx, p.selection, started=started, embedded=p.embedded, faults=p.faults,
                      warnings=warnings, load=load, report_options=p.report)
    print_summary(report, rundir, console)
    return int(report["overall"]["exitCode"])
