"""A readers-writer lock shared by the xdist workers of one run: ordinary tests hold it shared, an
``exclusive`` test alone — so a bulk test's load never eats into another test's deadline.
POSIX ``fcntl``; the runner does not support Windows."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def run_lock(key: str, *, exclusive: bool) -> Iterator[None]:
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"ccc-conformance-{digest}.lock"
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
