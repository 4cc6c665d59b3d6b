"""How busy the platform is, for the load-phase fault switches (faults.py, phase "load").

The test-control middleware counts requests here; the faults that misbehave "only under load" ask
``busy()``. The regulator client notes whether its last call failed, for the fault that goes down
while the regulator flaps. One meter per process: the platform is one process.
"""

from __future__ import annotations

import collections
import time

from .faults import LOAD_RATE_PER_SECOND


class LoadMeter:
    def __init__(self) -> None:
        self._recent: collections.deque[float] = collections.deque()
        self.count = 0                       # test-control requests seen while busy
        self.busy_since: float | None = None  # monotonic time load was first seen
        self.regulator_failing = False

    def request(self) -> None:
        now = time.monotonic()
        self._recent.append(now)
        while self._recent and self._recent[0] < now - 1.0:
            self._recent.popleft()
        if self.busy():
            self.count += 1
            if self.busy_since is None:
                self.busy_since = now

    def busy(self) -> bool:
        return len(self._recent) > LOAD_RATE_PER_SECOND

    def busy_for(self) -> float:
        return time.monotonic() - self.busy_since if self.busy_since is not None else 0.0


METER = LoadMeter()
