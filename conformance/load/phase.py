"""The load phase, one entry point: plan → regulator script + locust → read back → post-check → AVL verdicts.

``run_load_phase`` is what ``ccc-conformance load`` and a full ``ccc-conformance run`` call. It needs
a served simulator the platform already calls (``SimulatorControl``) and a ``RunContext``; it writes
into ``<run-dir>/load/`` and returns the verdicts and the per-second series. A harness failure
(locust does not start, dies) gives ERROR verdicts with the reason, never an exception to the caller.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console

from conformance import specs
from conformance.context import RunContext
from conformance.load import judge, launch, postcheck, results
from conformance.load.plan import LoadOptions, PlanError, pools, timeline, write_plan
from conformance.load.progress import ProgressLine
from conformance.load.regulator import RegulatorScript
from conformance.simulator.control import SimulatorControl
from conformance.verdicts import TestResult

LOAD_DIR = "load"


@dataclass
class LoadOutcome:
    results: list[TestResult]
    series: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def judged(self) -> list[str]:
        return sorted({r for t in self.results for r in t.requirements})

    def as_json(self) -> dict[str, Any]:
        return {**self.summary, "series": self.series}


def requirement_ids() -> list[str]:
    """The requirements the load phase judges (``suite: load`` in requirements.yaml)."""
    return [r.id for r in specs.load().requirements.values() if r.suite == "load"]


def run_load_phase(ctx: RunContext, sim: SimulatorControl, run_dir: Path, options: LoadOptions,
                   console: Console | None = None) -> LoadOutcome:
    """The load phase; never raises: what keeps it from judging becomes the verdicts' reason."""
    console = console or Console()
    out_dir = run_dir / LOAD_DIR
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        return _run(ctx, sim, out_dir, options, console)
    except PlanError as exc:   # e.g. an ICS without a category that needs a certificate
        return _failed(f"the load could not be planned: {exc}", inconclusive=True)
    except Exception as exc:  # a harness bug: ERROR with its message, the traceback kept beside the load files
        with contextlib.suppress(OSError):
            (out_dir / "load-error.txt").write_text(traceback.format_exc(), encoding="utf-8")
        return _failed(f"the load phase failed ({type(exc).__name__}: {exc}); see load/load-error.txt")


def _run(ctx: RunContext, sim: SimulatorControl, out_dir: Path, options: LoadOptions, console: Console) -> LoadOutcome:
    started = time.monotonic()
    tl = timeline(options)
    change_share = specs.load().param("loadStatusChangeShare")
    pool, changing = pools(ctx, sim, change_share=change_share)
    start_at = time.time() + launch.start_margin(options)
    # The plan holds the bearer token: it lives in a temporary folder, never in the report.
    with tempfile.TemporaryDirectory(prefix="ccc-load-") as tmp:
        plan_path = Path(tmp) / "plan.json"
        plan = write_plan(plan_path, ctx=ctx, opts=options, tl=tl, pool=pool, start_at=start_at, out_dir=out_dir)
        script = RegulatorScript(sim, tl, start_at, changing)
        run_seconds = (start_at - time.time()) + tl.duration + plan["timeoutSeconds"] + launch.DRAIN_SECONDS
        progress = ProgressLine(console, out_dir / "series.jsonl", start_at, tl.duration)
        try:
            locust = launch.start(plan_path, out_dir, options, run_seconds)
        except launch.LaunchError as exc:
            return _failed(str(exc))
        if options.remote_workers:
            console.print(f"waiting for {options.remote_workers} remote worker(s); on each machine run:\n  "
                          + launch.remote_worker_command(options.master_bind), highlight=False)
        script.start()
        try:
            rc = launch.wait(locust, run_seconds + 60, progress.tick)
        except launch.LaunchError as exc:
            return _failed(str(exc))
        finally:
            script.stop()
            progress.close()
    series = results.read_series(out_dir / "series.jsonl")
    created, seen = results.read_listings(out_dir / "listings.jsonl")
    if not series:
        tail = _tail(out_dir / "locust-output.txt")
        return _failed(f"locust measured nothing (exit {rc}){': ' + tail if tail else ''}; see load/locust-output.txt")
    check = postcheck.run(ctx, plan["fields"], created, seen, script.log, start_at, tl.duration)
    seconds = time.monotonic() - started
    outside = (lambda sec: sec + 1 <= tl.flap[0] or sec >= tl.flap[1]) if tl.flap else (lambda _sec: True)
    steady = results.figures(series, outside)
    verdicts = [judge.avl01(steady, seconds), judge.avl02(steady, seconds, results.figures(series, outside, from_send=True)),
                judge.avl03(check, len(created), script.log.errors, seconds)]
    unsafe = postcheck.fail_open(created, script.log.down, sim, start_at) if tl.flap else []
    flap = judge.avl04(series, tl, unsafe, script.log.down, script.log.errors, seconds)
    if flap is not None:
        verdicts.append(flap)
    verdicts.append(judge.avl05(series, tl, seconds))
    total = results.figures(series)
    summary = {
        "shape": options.shape, "quick": options.quick, "workers": options.workers + options.remote_workers,
        "targetRate": options.rate, "durationSeconds": tl.duration,
        "achievedRate": round(total.sent / tl.duration, 2) if tl.duration else None,
        "overall": total.as_json(), "outsideFlaps": steady.as_json(),
        "flapSegment": list(tl.flap) if tl.flap else None, "outages": [list(w) for w in script.log.down],
        "statusChanges": len(script.log.changes), "listingsCreated": len(created),
        "lateSends": sum(s.late for s in series.values()), "locustExitCode": rc,
    }
    outcome = LoadOutcome(results=verdicts, series=results.time_series(series, results.rate_at(tl.segments)),
                          summary=summary)
    (out_dir / "load-summary.json").write_text(json.dumps(outcome.as_json(), ensure_ascii=False, indent=1),
                                               encoding="utf-8")
    return outcome


def _tail(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(encoding="utf-8", errors="replace").splitlines() if ln.strip()]
    except OSError:
        return ""
    return lines[-1][:300] if lines else ""


def _failed(message: str, *, inconclusive: bool = False) -> LoadOutcome:
    return LoadOutcome(results=[judge.load_error(rid, message, inconclusive=inconclusive) for rid in requirement_ids()],
                       summary={"error": message})


__all__ = ["LoadOptions", "LoadOutcome", "PlanError", "requirement_ids", "run_load_phase"]
