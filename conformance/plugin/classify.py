"""A test's verdict from what its phases raised (profile.md §4; the grammar of ``checks.py``).

Pure functions, so they are unit-tested without running pytest.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from _pytest.outcomes import Skipped

from conformance.verdicts import Inconclusive, NotApplicable, codes, worst


@dataclass(frozen=True)
class PhaseOutcome:
    verdict: str
    message: str | None = None
    expected: Any = None
    observed: Any = None


def classify(when: str, exc: BaseException | None) -> PhaseOutcome:
    """The verdict of one phase (``setup``, ``call``, ``teardown``) that raised ``exc`` (None: passed)."""
    c = codes()
    if exc is None:
        return PhaseOutcome(c.PASS)
    if isinstance(exc, NotApplicable):
        return PhaseOutcome(c.NOT_APPLICABLE, exc.msg)
    if isinstance(exc, Inconclusive):
        return PhaseOutcome(c.INCONCLUSIVE, exc.msg)
    if isinstance(exc, Skipped):
        return PhaseOutcome(c.INCONCLUSIVE, f"skipped: {exc.msg}")
    if isinstance(exc, AssertionError):
        message = getattr(exc, "message", None) or str(exc).split("\n", 1)[0] or "assertion failed"
        # In set-up, a failed check means the precondition could not be established.
        return PhaseOutcome(c.FAIL if when == "call" else c.INCONCLUSIVE, message,
                            getattr(exc, "expected", None), getattr(exc, "observed", None))
    return PhaseOutcome(c.ERROR, f"harness error: {type(exc).__name__}: {exc}")


def combine(phases: dict[str, PhaseOutcome]) -> PhaseOutcome:
    """The test's verdict: set-up decides when it did not pass, else the call; a teardown that errs or
    fails and is worse overrides."""
    c = codes()
    setup = phases.get("setup", PhaseOutcome(c.PASS))
    outcome = setup if setup.verdict != c.PASS else phases.get("call", setup)
    teardown = phases.get("teardown", PhaseOutcome(c.PASS))
    if teardown.verdict in (c.ERROR, c.FAIL) and worst([outcome.verdict, teardown.verdict]) == teardown.verdict:
        outcome = PhaseOutcome(teardown.verdict, f"in teardown: {teardown.message}", outcome.expected, outcome.observed)
    return outcome
