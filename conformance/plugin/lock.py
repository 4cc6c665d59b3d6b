"""A readers-writer lock shared by the xdist workers of one run: every conformance test holds it
shared; a test that needs the platform to itself (TKD-06's thousand listings) takes it alone for the
part that loads the platform — so that load never eats into another test's deadline.

Writer-preferring. ``flock`` alone is not: a worker that releases its shared hold and takes it again
for its next test can win every time, and a test that wants the platform alone then waits until every
other worker runs out of tests (measured: TKD-06 waited ~24 s of a 58 s session). A second file, the
gate, is held exclusively by the test that wants to be alone, from before it asks for the lock until
it is done; a shared holder passes through the gate only to take the lock. So once a test waits to
be alone, tests already running finish, no new one starts, and it goes next.

POSIX ``fcntl``; the runner does not support Windows."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO


class RunLock:
    """One test's hold on the run lock: shared for the whole test, alone where it asks."""

    def __init__(self, key: str) -> None:
        digest = hashlib.sha256(key.encode()).hexdigest()[:16]
        base = Path(tempfile.gettempdir()) / f"ccc-conformance-{digest}"
        self._lock_path, self._gate_path = base.with_suffix(".lock"), base.with_suffix(".gate")
        self._lock: IO[bytes] | None = None
        self._gate: IO[bytes] | None = None

    @contextlib.contextmanager
    def shared(self) -> Iterator[RunLock]:
        with open(self._gate_path, "a+b") as gate, open(self._lock_path, "a+b") as lock:
            self._gate, self._lock = gate, lock
            fcntl.flock(gate, fcntl.LOCK_SH)  # waits while a test waits to be alone, or is
            fcntl.flock(lock, fcntl.LOCK_SH)
            fcntl.flock(gate, fcntl.LOCK_UN)
            try:
                yield self
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
                self._gate = self._lock = None

    @contextlib.contextmanager
    def alone(self) -> Iterator[None]:
        """Inside ``shared()``: no other test runs on the platform until the block ends."""
        gate, lock = self._gate, self._lock
        if gate is None or lock is None:
            raise RuntimeError("RunLock.alone() is only valid inside shared()")
        # Give up the shared hold first: two tests each holding it while waiting to be alone would
        # wait for each other for ever.
        fcntl.flock(lock, fcntl.LOCK_UN)
        fcntl.flock(gate, fcntl.LOCK_EX)  # no new shared holder from here on
        fcntl.flock(lock, fcntl.LOCK_EX)  # the ones in flight finish
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_SH)  # back to shared; the gate still keeps others waiting
            fcntl.flock(gate, fcntl.LOCK_UN)


@contextlib.contextmanager
def run_lock(key: str, *, exclusive: bool) -> Iterator[RunLock]:
    """The whole test shared, or (``exclusive``) alone from start to end."""
    with RunLock(key).shared() as held:
        if exclusive:
            with held.alone():
                yield held
        else:
            yield held
