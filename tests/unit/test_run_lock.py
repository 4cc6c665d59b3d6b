"""The run lock that keeps an ``exclusive`` test (TKD-06's thousand listings) alone on the platform:
exclusive while it runs, and not starved by workers that keep taking the shared lock test after test."""

from __future__ import annotations

import tempfile
import threading
import time
from pathlib import Path

import pytest

from conformance.plugin.lock import run_lock


def _wait_for(condition: object, what: str) -> None:
    for _ in range(400):  # bounded: 4 s
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


def test_waiting_exclusive_test_goes_before_a_shared_one_asked_later(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A test in flight holds the lock shared; an exclusive test asks; then another worker's next test asks.
    The next test must wait for the exclusive one: plain ``flock`` lets it in at once, and with workers
    that always have a test in flight the exclusive test would wait for the end of the run."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    log: list[str] = []
    release_first = threading.Event()

    def test(name: str, *, exclusive: bool = False, until: threading.Event | None = None) -> None:
        log.append(f"{name} asks")
        with run_lock("run", exclusive=exclusive):
            log.append(f"{name} in")
            if until is not None:
                until.wait(10)
            else:
                time.sleep(0.05)
            log.append(f"{name} out")

    def first() -> None:
        test("first", until=release_first)

    def exclusive() -> None:
        test("exclusive", exclusive=True)

    def later() -> None:
        test("later")

    threads = [threading.Thread(target=first)]
    threads[0].start()
    _wait_for(lambda: "first in" in log, "the first test took the lock")
    threads.append(threading.Thread(target=exclusive))
    threads[-1].start()
    time.sleep(0.2)  # let the exclusive test block on the lock (ordering aid; no time is asserted)
    threads.append(threading.Thread(target=later))
    threads[-1].start()
    time.sleep(0.2)
    release_first.set()
    for t in threads:
        t.join(10)

    assert log.index("first out") < log.index("exclusive in"), log  # exclusive: the one in flight finished
    assert log.index("exclusive out") < log.index("later in"), log   # writer-preferring: no overtaking
