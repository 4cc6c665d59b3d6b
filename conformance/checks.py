"""The few ways a conformance test states its judgement (the suite's house API).

- ``expect(cond, message, expected=…, observed=…)``: a check of the requirement; FAIL when false.
- ``with precondition("what"):``: set-up the requirement is not about; any failure inside is
  INCONCLUSIVE, because the harness could not establish what it needed.
- ``not_applicable(why)`` / ``inconclusive(why)``: the verdicts other than PASS and FAIL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

from conformance.verdicts import ConformanceFailure, Inconclusive, NotApplicable


def expect(condition: object, message: str, *, expected: Any = None, observed: Any = None) -> None:
    if not condition:
        raise ConformanceFailure(message, expected=expected, observed=observed)


def fail(message: str, *, expected: Any = None, observed: Any = None) -> NoReturn:
    raise ConformanceFailure(message, expected=expected, observed=observed)


def not_applicable(why: str) -> NoReturn:
    raise NotApplicable(why)


def inconclusive(why: str) -> NoReturn:
    raise Inconclusive(why)


@contextmanager
def precondition(what: str) -> Iterator[None]:
    """A failed check or an unreachable platform inside the block makes the test INCONCLUSIVE."""
    try:
        yield
    except AssertionError as exc:
        observed = getattr(exc, "observed", None)
        detail = str(exc) if observed is None else f"{exc} (observed: {observed})"
        raise Inconclusive(f"precondition not met — {what}: {detail}") from exc
