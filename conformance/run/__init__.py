"""``ccc-conformance run``: one orchestrator (``conformance.run.orchestrator``), one module per step —
``selection``, ``counterparts``, ``functional``, ``conclude``, ``summary`` (the load phase is
``conformance.load.in_run``).

The orchestrator is imported on first use: every pytest process of a run imports ``selection`` through
the plugin, and importing the orchestrator with it (the load phase, the report renderers) cost each of
them ~0.25 s of start-up for nothing.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RunPlan", "execute", "plan", "run_command"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from conformance.run import orchestrator

        return getattr(orchestrator, name)
    raise AttributeError(f"module 'conformance.run' has no attribute {name!r}")
