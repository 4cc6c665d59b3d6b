"""``ccc-conformance load``: the load phase alone, as a run of the AVL requirements with load options.

It is ``ccc-conformance run --area AVL`` with the load's own knobs, so it sets up the simulator and
the platform the same way and writes the same report folder (``<out>/<run-id>/``, the load's
files under ``load/``). Defaults come from specs/profile.yaml: the profile's certification load, or
the quick preset with ``--quick``.
"""

from __future__ import annotations

from rich.console import Console

from conformance import specs
from conformance.load.plan import LoadOptions, PlanError, timeline


class LoadUsageError(ValueError):
    """A load option that makes no sense: one line, exit 3."""


def load_command(*, target: str | None, ics: str | None, pixit: str | None, rate: float | None,
                 duration: float | None, shape: str | None, workers: int | None, quick: bool,
                 remote_workers: int = 0, master_bind: str | None = None, fault: list[str] | None = None,
                 out: str | None = None, console: Console | None = None) -> int:
    try:
        opts = LoadOptions.defaults(quick=quick, rate=rate, duration=duration, shape=shape, workers=workers,
                                    remote_workers=remote_workers, master_bind=master_bind)
        timeline(opts)   # a duration too short for its shape is a usage error, before anything starts
    except PlanError as exc:
        raise LoadUsageError(str(exc)) from None
    from conformance.run import run_command  # the orchestrator's set-up and report, shared with `run`

    area = sorted({r.area for r in specs.load().requirements.values() if r.suite == "load"})
    return run_command(target=target, ics=ics, pixit=pixit, area=area, fault=fault, out=out, console=console,
                       load_options=opts)
