"""The load phase's live line: what was measured, including sends the generator started late."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

from rich.console import Console

from conformance.load.progress import ProgressLine
from conformance.load.results import new_histogram


def _line(second: int, late: int) -> str:
    h = new_histogram()
    for _ in range(40):
        h.record_value(20_000)
    return json.dumps({"second": second, "sent": 40, "ok": 39, "errors": {"http:503": 1}, "late": late,
                       "hist": h.encode().decode()}) + "\n"


def test_the_line_shows_rate_p99_errors_and_late_sends_only_when_there_are_some(tmp_path: Path) -> None:
    series = tmp_path / "series.jsonl"
    series.write_text(_line(0, 0) + _line(1, 0), encoding="utf-8")
    line = ProgressLine(Console(file=io.StringIO()), series, time.time() - 2, 15)
    line._read()
    text = line.text()
    assert "40.0 req/s" in text and "p99 20 ms" in text and "errors 2/80" in text and "late" not in text
    with series.open("a", encoding="utf-8") as f:
        f.write(_line(2, 3))
    line._read()
    assert "late sends 3" in line.text()
