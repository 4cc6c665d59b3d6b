"""The run folder ``reports/<run-id>/``: its paths and record formats, in one module.

Both sides of the subprocess boundary read and write it through here: the orchestrator (runner)
and the pytest plugin in the suite's own process (and its xdist workers).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from conformance.verdicts import TestResult


def new_run_id(now: datetime | None = None) -> str:
    """Sortable and unique: UTC time to the second plus 6 random hex digits."""
    now = now or datetime.now(UTC)
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class RunDir:
    """One run's folder. Paths are properties so no caller spells a file name."""

    root: Path

    # -- what the suite's pytest process writes --------------------------------------------------
    @property
    def results(self) -> Path:
        """Per-test results, one JSON object a line, appended as each test ends."""
        return self.root / "results.jsonl"

    @property
    def collected(self) -> Path:
        """How many tests the suite collected (for the runner's progress bar)."""
        return self.root / "collected.json"

    @property
    def evidence(self) -> Path:
        return self.root / "evidence"

    @property
    def simulator_captures(self) -> Path:
        return self.evidence / "simulator-captures.jsonl"

    @property
    def junit(self) -> Path:
        return self.root / "junit.xml"

    @property
    def allure_results(self) -> Path:
        return self.root / "allure-results"

    # -- what the orchestrator writes --------------------------------------------------------------
    @property
    def ics(self) -> Path:
        """The ICS the run was judged against (for the embedded default: with this run's addresses)."""
        return self.root / "ics.yaml"

    @property
    def pytest_ini(self) -> Path:
        """An empty pytest configuration, so a project's own pytest settings stay out of the suite."""
        return self.root / ".pytest.ini"

    @property
    def pytest_output(self) -> Path:
        return self.root / "pytest-output.txt"

    @property
    def platform_output(self) -> Path:
        return self.root / "platform-output.txt"

    @property
    def report_json(self) -> Path:
        return self.root / "report.json"

    @property
    def report_html(self) -> Path:
        return self.root / "report.html"

    # -- records -----------------------------------------------------------------------------------
    def append_result(self, result: dict[str, Any]) -> None:
        """Append one test's result; appended as each test ends, so a run that dies keeps what it established."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.results, "a", encoding="utf-8") as f:
            f.write(json.dumps(result, ensure_ascii=False) + "\n")

    def read_results(self) -> list[TestResult]:
        """Per-test results; a torn last line (a run that died) is skipped, a repeated node id keeps its last."""
        results: dict[str, TestResult] = {}
        for line in self._lines(self.results):
            try:
                r = TestResult.from_json(json.loads(line))
            except (ValueError, KeyError, TypeError):
                continue
            results[r.nodeid] = r
        return list(results.values())

    def count_results(self) -> int:
        return sum(1 for _ in self._lines(self.results))

    def write_collected(self, count: int) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.collected.write_text(json.dumps({"count": count}), encoding="utf-8")

    def read_collected(self) -> int | None:
        try:
            return int(json.loads(self.collected.read_text(encoding="utf-8"))["count"])
        except (OSError, ValueError, KeyError, TypeError):
            return None

    @staticmethod
    def _lines(path: Path) -> Iterator[str]:
        if not path.is_file():
            return
        with open(path, encoding="utf-8") as f:
            yield from (line for line in f if line.strip())
