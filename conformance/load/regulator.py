"""What the regulator does during the load: status changes mid-run and outage windows (flaps).

A thread of the harness drives the simulator on the run's clock (wall time from the plan's start),
so the windows the verdicts use are the windows the platform lived through.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from conformance import specs
from conformance.load.plan import Timeline
from conformance.simulator.control import SimulatorControl

# The outage the flap shape imposes: the regulator's data interface answers 503 UNAVAILABLE.
FLAP_FAULT = ("http-error", {"status": 503})


@dataclass
class RegulatorLog:
    changes: dict[str, str] = field(default_factory=dict)   # certificateNo -> status it was changed to
    changed_at: float | None = None                         # seconds from start
    down: list[tuple[float, float]] = field(default_factory=list)  # outage windows as applied
    errors: list[str] = field(default_factory=list)


class RegulatorScript(threading.Thread):
    def __init__(self, sim: SimulatorControl, tl: Timeline, start_at: float, changing: list[str]) -> None:
        super().__init__(name="ccc-load-regulator", daemon=True)
        self.sim, self.tl, self.start_at, self.changing = sim, tl, start_at, changing
        self.log = RegulatorLog()
        self._halt = threading.Event()

    def _until(self, t: float) -> bool:
        """Sleep until t seconds from the start; False when asked to stop first."""
        return not self._halt.wait(max(0.0, self.start_at + t - time.time()))

    def _now(self) -> float:
        return time.time() - self.start_at

    def run(self) -> None:
        s = specs.load()
        st = s.vocab.certificateStatus
        cycle = [st.SUSPENDED, st.REVOKED, st.CANCELLED]
        actions: list[tuple[float, str, tuple[float, float] | None]] = [(self.tl.status_change_at, "change", None)]
        actions += [(a, "down", (a, b)) for a, b in self.tl.down]
        for at, what, window in sorted(actions, key=lambda x: x[0]):
            if not self._until(at):
                return
            try:
                if what == "change" and self.changing:
                    changes = [(n, cycle[i % len(cycle)]) for i, n in enumerate(self.changing)]
                    self.log.changed_at = self._now()
                    self.sim.set_statuses(changes, reason="load: status change mid-run")
                    self.log.changes = dict(changes)
                elif what == "down" and window is not None:
                    began = self._now()
                    fault_id = self.sim.add_fault(FLAP_FAULT[0], route="verifications", params=dict(FLAP_FAULT[1]))
                    try:
                        self._until(window[1])
                    finally:
                        self.sim.remove_fault(fault_id)
                    self.log.down.append((began, self._now()))
            except Exception as exc:  # the verdicts say the script failed; the load itself goes on
                self.log.errors.append(f"{what} at {at:.1f} s: {type(exc).__name__}: {exc}")

    def stop(self) -> None:
        """Stop early (an outage in progress ends: its fault is removed on the way out)."""
        self._halt.set()
        self.join(timeout=5)
