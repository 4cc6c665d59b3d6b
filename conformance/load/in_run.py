"""The load phase as a step of ``ccc-conformance run`` (and of ``ccc-conformance load``, a run of AVL alone).

The orchestrator (``conformance.run``) calls :func:`load_step` after the functional suite, with the simulator and the platform
still up; it returns the verdicts of the selected AVL requirements and what goes into report.json.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from conformance.context import RunContext
from conformance.load import outputs
from conformance.load.phase import LoadOutcome, run_load_phase
from conformance.load.plan import LoadOptions
from conformance.simulator.control import SimulatorControl
from conformance.verdicts import TestResult


def default_options(embedded: bool) -> LoadOptions:
    """The embedded default platform gets the quick preset; a real platform the profile's load."""
    return LoadOptions.defaults(quick=embedded)


@dataclass(frozen=True)
class LoadStep:
    """What the load phase hands the run: its test results, the requirements it judged, report.json's ``load``."""

    results: list[TestResult]
    judged: list[str]
    report: dict[str, Any] | None


def load_step(selected: list[str], ctx: RunContext, sim: SimulatorControl, run_dir: Path, *, embedded: bool,
              options: LoadOptions | None, console: Console) -> LoadStep:
    """The load phase for the selected AVL requirements (nothing when none is selected)."""
    if not selected:
        return LoadStep([], [], None)
    opts = options or default_options(embedded)
    console.print(f"load phase: {opts.shape}, {opts.rate:g} req/s for {opts.duration:g} s"
                  + (" (quick preset)" if opts.quick else "") + f", {opts.workers} locust worker(s)", highlight=False)
    outcome: LoadOutcome = run_load_phase(ctx, sim, run_dir, opts, console)
    results = [r for r in outcome.results if set(r.requirements) & set(selected)]
    judged = [rid for rid in outcome.judged if rid in selected]
    outputs.write(run_dir, results)
    return LoadStep(results, judged, outcome.as_json())
