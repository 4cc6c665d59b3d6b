"""Per-test verdicts: classified where the test runs (an xdist worker or the only process), carried on
the teardown report to the controller, which keeps them and appends them to the run folder."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from conformance.platform_client import WaitClock
from conformance.plugin.classify import PhaseOutcome, classify, combine
from conformance.plugin.options import Options
from conformance.plugin.teststate import TEST_STATE, write_test_evidence
from conformance.variants import of_item as variant_ids_of
from conformance.verdicts import TestResult

RESULT_ATTR = "ccc_result"
"""The attribute of a teardown ``TestReport`` that carries the test's result (xdist serialises ``__dict__``)."""

_PHASES = pytest.StashKey[dict[str, PhaseOutcome]]()
_STARTED = pytest.StashKey[float]()


def requirements_of(item: pytest.Item) -> list[str]:
    return [rid for m in item.iter_markers("requirement") for rid in m.args]


def test_id_of(item: pytest.Item) -> str | None:
    """The stable id on the test's requirement marker (``conformance.coverage`` requires one)."""
    return next((m.kwargs["id"] for m in item.iter_markers("requirement") if "id" in m.kwargs), None)


class VerdictRecorder:
    """Registered in every process that runs tests."""

    def __init__(self, options: Options) -> None:
        self.options = options

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        item.stash[_STARTED] = time.monotonic()
        WaitClock.take()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report = yield
        rids = requirements_of(item)
        if not rids:
            return report
        phases = item.stash.setdefault(_PHASES, {})
        phases[call.when] = classify(call.when, call.excinfo.value if call.excinfo else None)
        if call.when == "teardown":
            report.__dict__[RESULT_ATTR] = self._result(item, combine(phases), rids)
        return report

    def _result(self, item: pytest.Item, outcome: PhaseOutcome, rids: list[str]) -> dict[str, Any]:
        state = item.stash.get(TEST_STATE, None)
        evidence = (write_test_evidence(self.options.rundir, item.nodeid, state, outcome.verdict)
                    if state is not None and self.options.rundir is not None else [])
        result = TestResult(nodeid=item.nodeid, requirements=rids, verdict=outcome.verdict,
                            duration_seconds=time.monotonic() - item.stash.get(_STARTED, time.monotonic()),
                            message=outcome.message, expected=_jsonable(outcome.expected),
                            observed=_jsonable(outcome.observed),
                            measurements=state.measurements if state is not None else [], evidence=evidence,
                            variants=variant_ids_of(item), test_id=test_id_of(item))
        # What a test saw may quote a secret (a request echoed back): redact before it leaves the worker.
        out = state.log.redactor.any(result.as_json()) if state is not None else result.as_json()
        out["waitedSeconds"] = round(WaitClock.take(), 3)  # polling the platform for a state (benchmarks/)
        return out


class ResultsWriter:
    """Registered once, in the controller (or the only process): keeps every result and appends it to
    ``results.jsonl`` as each test ends."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.results: dict[str, TestResult] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        result = getattr(report, RESULT_ATTR, None)
        if result is None:
            return
        self.results[result["nodeid"]] = TestResult.from_json(result)
        if self.options.rundir is not None:
            self.options.rundir.append_result(result)

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.results:
            return
        counts: dict[str, int] = {}
        for r in self.results.values():
            counts[r.verdict] = counts.get(r.verdict, 0) + 1
        terminalreporter.write_sep("-", "conformance verdicts (per test)")
        terminalreporter.write_line(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))


def _jsonable(value: Any) -> Any:
    """Plain JSON types only (an IntEnum passes json.dumps but not xdist's serialiser)."""
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return repr(value)
