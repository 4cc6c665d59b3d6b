"""tests/machine.py: whole runs share the machine, a measuring lane has it to itself and the quick tests."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from tests import machine

fcntl = pytest.importorskip("fcntl")


def _free(path: Path, *, alone: bool) -> bool:
    """Could another holder lock this file now, without waiting?"""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if alone else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False
    finally:
        os.close(fd)


def test_a_measuring_lane_keeps_whole_runs_out_until_it_is_done(tmp_path: Path) -> None:
    lane, other = machine.Machine(tmp_path, "gw0", 3), machine.Machine(tmp_path, "gw2", 3)
    lane.measure()
    lane.measure()                                   # idempotent: a lane holds on between its runs
    assert lane.measuring and not _free(tmp_path / "machine-gw0.lock", alone=False)
    started: list[float] = []

    def whole_run() -> None:
        with other.whole_run():
            started.append(time.monotonic())
    t = threading.Thread(target=whole_run)
    t.start()
    time.sleep(0.2)
    assert not started                               # waits for the lane
    released = time.monotonic()
    lane.done_measuring()
    t.join(5)
    assert started and started[0] >= released and not lane.measuring


def test_whole_runs_share_and_a_lane_waits_for_them(tmp_path: Path) -> None:
    a, b = machine.Machine(tmp_path, "gw1", 2), machine.Machine(tmp_path, "gw0", 2)
    with a.whole_run():
        with b.whole_run():                          # two whole runs side by side
            pass
        assert not _free(tmp_path / "machine-gw0.lock", alone=True)   # a lane may not start measuring
    assert _free(tmp_path / "machine-gw0.lock", alone=True)


def test_a_lane_that_turns_to_a_whole_run_stops_measuring_first(tmp_path: Path) -> None:
    lane = machine.Machine(tmp_path, "gw0", 2)
    lane.measure()
    with lane.whole_run():                           # would wait on its own lock forever otherwise
        assert not lane.measuring
