"""`ccc-conformance run` with bad input: one line on stderr, exit 3, no traceback, no report folder."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conformance import specs

EXAMPLES = specs.specs_dir() / "examples"


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "conformance.cli", "run", "--out", str(tmp_path / "reports"), *args],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--target", "http://127.0.0.1:1/ccc-test/v1", "--ics", str(EXAMPLES / "ics-reference.yaml"),
          "--pixit", str(EXAMPLES / "pixit-reference.yaml")], "not reachable"),
        (["--only", "XYZ-99"], "XYZ-99"),
        (["--area", "NOPE"], "NOPE"),
        (["--fault", "no-such-fault"], "no-such-fault"),
        (["--target", "http://127.0.0.1:1/ccc-test/v1"], "--ics"),
        (["--target", "http://127.0.0.1:1/ccc-test/v1", "--ics", "/nonexistent/ics.yaml"], "ics.yaml"),
    ],
)
def test_bad_run_input_is_one_line_and_exit_3(tmp_path: Path, args: list[str], says: str) -> None:
    result = run(tmp_path, *args)
    assert result.returncode == 3, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and says in lines[0], result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    reports = tmp_path / "reports"
    assert not reports.exists() or not any(reports.iterdir()), "a failed set-up leaves no report folder"
