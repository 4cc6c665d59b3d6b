"""The test machine, shared by the xdist workers: runs that measure latency measure on a quiet machine.

A load phase judges AVL-02 and AVL-05 on latency. On a 2-core machine beside other whole runs of the
harness (each a simulator, a reference platform and a pytest process), its platform and its load
generator get too little CPU, and the verdicts measure the test machine instead of the platform: a CI
run once failed AVL-02 and AVL-05 for `unstable-under-load` that way, its load generator behind
schedule. So:

- **measuring lanes**: tests/conftest.py deals the runs marked ``latency_sensitive`` to the first two
  workers' shares, one after another at their heads. A lane holds its own lock file exclusively from
  its first such run until the next test it will run is not one;
- **whole runs** (the other self-check runs, the browser test's run) hold every lane's file shared, so
  none starts while a lane measures; quick tests take no lock and run meanwhile;
- a worker lowers its own priority (``nice``) when it first runs a test that does not measure, so what
  a lane measures beside quick tests gets the CPU first.

``fcntl.flock`` locks, released by the kernel if a worker dies, so a crashed run cannot leave the
machine locked. Linux grants new shared holders while an exclusive one waits, which is why the lanes
measure first: a lane that started late would wait for every whole run queued. Without pytest-xdist,
or where ``fcntl`` is missing (Windows), there is no lock and no renice.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

MARKER = "latency_sensitive"
LANES = 2            # workers that measure, side by side
NICE = 5             # how much a worker that does not measure steps back


class Machine:
    """One worker's view: its lane's lock file (if it measures) and every lane's file (for whole runs)."""

    def __init__(self, root: Path, worker: str, workers: int) -> None:
        self.own = root / f"machine-{worker}.lock"
        self.lanes = [root / f"machine-gw{i}.lock" for i in range(workers)]
        self._measuring: int | None = None
        self._niced = False

    def measure(self) -> None:
        """Hold this worker's lane alone (waits for the whole runs under way); idempotent."""
        if self._measuring is None and fcntl is not None:
            fd = os.open(self.own, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._measuring = fd

    def done_measuring(self) -> None:
        if self._measuring is not None:
            os.close(self._measuring)   # closing the only descriptor releases the lock
            self._measuring = None

    @property
    def measuring(self) -> bool:
        return self._measuring is not None

    @contextmanager
    def whole_run(self) -> Iterator[None]:
        """Run beside other whole runs, never while a lane measures (this worker's own lane included)."""
        self.done_measuring()
        if fcntl is None:
            yield
            return
        fds = []
        try:
            for path in self.lanes:       # one order everywhere; shared locks never wait on each other
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                fds.append(fd)
                fcntl.flock(fd, fcntl.LOCK_SH)
            yield
        finally:
            for fd in fds:
                os.close(fd)

    def step_back(self) -> None:
        """Lower this worker's priority once, for good (raising it again would need privileges)."""
        if not self._niced and hasattr(os, "nice"):
            os.nice(NICE)
            self._niced = True


_KEY = pytest.StashKey["Machine | None"]()


def current(config: pytest.Config) -> Machine | None:
    """This worker's Machine if a test has made it already (see ``of``)."""
    return config.stash.get(_KEY, None)


def of(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Machine | None:
    """This worker's Machine; None when not under pytest-xdist (one process has the machine to itself)."""
    if _KEY not in config.stash:
        workerinput = getattr(config, "workerinput", None)
        if not workerinput:
            config.stash[_KEY] = None
        else:
            root = tmp_path_factory.getbasetemp().parent   # shared by the session's workers (popen-gwN's parent)
            config.stash[_KEY] = Machine(root, workerinput["workerid"], int(workerinput["workercount"]))
    return config.stash[_KEY]
