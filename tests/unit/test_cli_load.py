"""`ccc-conformance load` options and the exit code of harness failures (issue 9)."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from conformance import exitcodes
from tests.unit.test_cli import assert_usage_error, run_cli


@pytest.mark.parametrize(("argv", "says"), [
    (["--shape", "zigzag"], "zigzag"),
    (["--rate", "0"], "positive"),
    (["--duration", "3"], "too short for the flap shape"),
])
def test_bad_load_options_are_usage_errors(capsys: pytest.CaptureFixture[str], argv: list[str], says: str) -> None:
    assert_usage_error(*run_cli(capsys, "load", *argv), says)


def test_load_is_a_run_of_the_avl_area_with_load_options(capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def run_command(**kwargs: Any) -> int:
        seen.update(kwargs)
        return 0

    monkeypatch.setitem(sys.modules, "conformance.run", types.SimpleNamespace(run_command=run_command))
    code, _, err = run_cli(capsys, "load", "--quick", "--rate", "25", "--workers", "2", "--shape", "steady")
    assert code == 0, err
    opts = seen["load_options"]
    assert seen["area"] == ["AVL"] and (opts.rate, opts.workers, opts.shape, opts.quick) == (25.0, 2, "steady", True)


def test_skip_load_reaches_the_runner(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setitem(sys.modules, "conformance.run",
                        types.SimpleNamespace(run_command=lambda **kw: seen.update(kw) or 0))
    assert run_cli(capsys, "run", "--skip-load")[0] == 0
    assert seen["skip_load"] is True


def test_an_os_error_that_is_no_configuration_is_incomplete_not_usage(capsys: pytest.CaptureFixture[str],
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def run_command(**kwargs: Any) -> int:
        raise OSError(5, "Input/output error")   # EIO from the harness's own plumbing

    monkeypatch.setitem(sys.modules, "conformance.run", types.SimpleNamespace(run_command=run_command))
    code, _, err = run_cli(capsys, "run")
    assert code == exitcodes.HARNESS_ERROR != 3
    assert "internal error" in err and "Traceback" not in err


def test_a_missing_file_is_still_a_usage_error(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    def run_command(**kwargs: Any) -> int:
        raise FileNotFoundError(2, "No such file or directory", "/nowhere/ics.yaml")

    monkeypatch.setitem(sys.modules, "conformance.run", types.SimpleNamespace(run_command=run_command))
    assert_usage_error(*run_cli(capsys, "run"), "/nowhere/ics.yaml")
