"""The orchestrator's own plumbing: counterparts stopped side by side, the chart library warmed in the
background without ever raising there."""

from __future__ import annotations

import threading

import pytest

from conformance.report import charts
from conformance.run.orchestrator import stop_all


class Counterpart:
    def __init__(self, together: threading.Barrier | None = None, error: Exception | None = None) -> None:
        self.together, self.error, self.stopped = together, error, threading.Event()

    def stop(self) -> None:
        if self.together is not None:
            self.together.wait()  # returns only once the other one is stopping too
        self.stopped.set()
        if self.error:
            raise self.error


def test_counterparts_stop_side_by_side() -> None:
    # One after the other, the first would wait at the barrier for a second that never comes.
    together = threading.Barrier(2, timeout=10)
    a, b = Counterpart(together), Counterpart(together)
    stop_all(a, None, b)
    assert a.stopped.is_set() and b.stopped.is_set()


def test_one_counterpart_failing_to_stop_does_not_leave_the_other_running() -> None:
    broken, fine = Counterpart(error=RuntimeError("platform did not stop")), Counterpart()
    with pytest.raises(RuntimeError, match="platform did not stop"):
        stop_all(broken, fine)
    assert fine.stopped.is_set()


def test_preloading_charts_never_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken() -> None:
        raise ImportError("no matplotlib here")

    monkeypatch.setattr(charts, "_pyplot", broken)
    charts.preload()  # the error is for the chart drawing, which reports it
    with pytest.raises(ImportError):
        charts.verdicts_by_area({"VER": {"PASS": 1}}, ["PASS"], {}, {}, "t")
