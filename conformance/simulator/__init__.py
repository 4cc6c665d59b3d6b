"""The regulator simulator: certificate registry, signing, change feed, push, faults and capture.

``Simulator`` (in-process) and ``SimulatorClient`` (over HTTP) both implement ``SimulatorControl``;
``SimulatorServer`` serves a Simulator in a background thread; ``serve.main`` runs it standalone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from conformance.simulator.control import FAULT_KINDS, ROUTES, SimulatorControl

if TYPE_CHECKING:
    from conformance.simulator.client import SimulatorClient
    from conformance.simulator.core import Simulator
    from conformance.simulator.server import SimulatorServer

__all__ = ["FAULT_KINDS", "ROUTES", "Simulator", "SimulatorClient", "SimulatorControl", "SimulatorServer"]

_LAZY = {"Simulator": "core", "SimulatorClient": "client", "SimulatorServer": "server"}


def __getattr__(name: str) -> Any:
    # Lazy, so that importing the control protocol does not pull in uvicorn and Starlette.
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"conformance.simulator.{_LAZY[name]}"), name)
    raise AttributeError(name)
