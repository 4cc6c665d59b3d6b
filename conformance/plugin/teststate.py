"""What one conformance test accumulates while it runs, and the evidence file written from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from conformance.evidence import ExchangeLog, write_evidence
from conformance.rundir import RunDir
from conformance.testdata import DataFactory


@dataclass
class TestState:
    __test__ = False  # not a pytest test class, whatever its name

    log: ExchangeLog
    measurements: list[dict[str, Any]] = field(default_factory=list)
    data: DataFactory | None = None

    def measure(self, name: str, value: Any, unit: str | None = None, limit: Any = None) -> None:
        entry: dict[str, Any] = {"name": name, "value": value}
        if unit is not None:
            entry["unit"] = unit
        if limit is not None:
            entry["limit"] = limit
        self.measurements.append(entry)


TEST_STATE = pytest.StashKey[TestState]()


def write_test_evidence(rundir: RunDir, nodeid: str, state: TestState, verdict: str) -> list[str]:
    """Write the test's exchanges and the simulator's records about its own data; return the paths."""
    doc: dict[str, Any] = {"nodeid": nodeid, "verdict": verdict, "exchanges": state.log.exchanges,
                           "droppedExchanges": state.log.dropped}
    if state.data is not None:
        factory = state.data
        doc["data"] = {"merchants": factory.merchants, "certificates": factory.certificates,
                       "listings": factory.listings}
        try:
            doc["simulator"] = simulator_records(factory)
        except Exception as exc:  # evidence collection must not change a verdict; say what is missing
            doc["simulator"] = {"error": f"could not read the simulator's captures: {type(exc).__name__}: {exc}"}
    path = write_evidence(rundir.evidence, nodeid, doc, state.log.redactor)
    return [str(Path(path).relative_to(rundir.root))]


def simulator_records(factory: DataFactory) -> dict[str, Any]:
    """What the simulator received or pushed about this test's own merchants and certificates."""
    sim = factory.sim
    captures: dict[int, dict[str, Any]] = {}
    for m in factory.merchants:
        for cap in sim.captures(match={"merchantId": m}):
            captures[cap["seq"]] = cap
    pushes = [p for c in factory.certificates for p in sim.pushes(certificate_no=c)]
    dispositions = [d for m in factory.merchants for d in sim.dispositions(merchant_id=m)]
    return {"captures": [captures[k] for k in sorted(captures)], "pushes": pushes, "dispositions": dispositions}
