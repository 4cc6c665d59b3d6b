"""The ccc-conformance command: requirements, run/simulator/reference-platform plumbing, exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path
from typing import Any

import pytest

from conformance import __version__, cli
from conformance.report.options import ReportOptions
from conformance.specs import Specs

ENV_VARS = ("CCC_PLATFORM_ID", "CCC_PLATFORM_SECRET", "CCC_BEARER_TOKEN", "CCC_SIMULATOR_HOST", "CCC_SIMULATOR_PORT")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        cli.main(list(argv))
    out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 0 if code is None else 1), out, err


def assert_usage_error(code: int, out: str, err: str, *needles: str) -> None:
    assert code == 3
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("ccc-conformance: error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0]


# -- version, help, usage errors ------------------------------------------------------------------
def test_version(capsys: pytest.CaptureFixture[str], specs: Specs) -> None:
    code, out, _ = run_cli(capsys, "--version")
    assert code == 0
    assert out.strip() == f"ccc-conformance {__version__} (profile {specs.profile_id})"


def test_bare_command_shows_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(capsys)
    assert code == 0
    for command in ("run", "simulator", "reference-platform", "requirements", "ics"):
        assert command in out


@pytest.mark.parametrize(("argv", "needle"), [
    (["--bogus"], "No such option: --bogus"),
    (["nosuch"], "No such command 'nosuch'"),
    (["requirements", "--format", "xml"], "'xml' is not one of"),
    (["requirements", "--area", "NOPE"], "unknown area NOPE"),
    (["ics", "validate"], "Missing argument 'FILE'"),
    (["ics", "validate", "a.yaml", "b.yaml"], "unexpected extra argument"),
    (["run", "--only", "VER-01,FOO-99"], "unknown requirement id FOO-99"),
    (["run", "--area", "VER,XYZ"], "unknown area XYZ"),
    (["run", "--workers", "0"], "--workers"),
    (["simulator"], "--platform-id"),
    (["simulator", "--platform-id", "p", "--platform-secret", "0123456789", "--port", "70000"], "--port"),
    (["simulator", "--platform-id", "p", "--platform-secret", "0123456789", "--signature-alg", "MD5"],
     "unknown signature algorithm 'MD5'"),
    (["simulator", "--platform-id", "p", "--platform-secret", "0123456789", "--certificates", "/nonexistent.yaml"],
     "/nonexistent.yaml: certificates file not found"),
])
def test_usage_errors_are_one_line_exit_3(capsys: pytest.CaptureFixture[str], argv: list[str], needle: str) -> None:
    assert_usage_error(*run_cli(capsys, *argv), needle)


@pytest.mark.parametrize(("argv", "needle"), [
    (["--mode", "sometimes"], "--mode"),
    (["--signature-alg", "MD5"], "--signature-alg"),
    (["--fault", "no-such-fault"], "no-such-fault"),
])
def test_reference_platform_usage_errors_are_one_line(tmp_path: Path, argv: list[str], needle: str) -> None:
    # Its options are declared once, by the reference platform itself; its errors still read as ours.
    proc = subprocess.run([sys.executable, "-m", "conformance.cli", "reference-platform", *argv],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 3 and proc.stdout == ""
    assert len(lines) == 1 and lines[0].startswith("ccc-conformance reference-platform: error: ") and needle in lines[0]


def test_usage_error_in_a_real_process_has_no_traceback(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "conformance.cli", "requirements", "--format", "xml"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 3
    assert proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


# -- requirements ---------------------------------------------------------------------------------
def test_requirements_json_lists_all_fifty(capsys: pytest.CaptureFixture[str], specs: Specs) -> None:
    code, out, _ = run_cli(capsys, "requirements", "--format", "json")
    assert code == 0
    rows = json.loads(out)
    assert [r["id"] for r in rows] == list(specs.requirements)
    assert len(rows) == 50
    for row in rows:
        req = specs.requirement(row["id"])
        assert row["level"] == req.level and row["area"] == req.area
        assert row["verification"] == req.verification and row["capability"] == req.capability
        assert row["verifiedBy"] == list(req.verified_by)
        assert row["text"] == {"zh": req.text_zh, "en": req.text_en}
        expected = "static" if row["id"] in {"ICS-01", "TERM-03", "AUD-02"} else "automated" if req.verified_by \
            else "not yet"
        assert row["coverage"] == expected, row["id"]


def test_requirements_area_filter(capsys: pytest.CaptureFixture[str], specs: Specs) -> None:
    code, out, _ = run_cli(capsys, "requirements", "--format", "json", "--area", "ver,TKD", "--area", "AUD")
    assert code == 0
    got = {r["id"] for r in json.loads(out)}
    assert got == {rid for rid, r in specs.requirements.items() if r.area in {"VER", "TKD", "AUD"}}


def test_requirements_csv(capsys: pytest.CaptureFixture[str], specs: Specs) -> None:
    code, out, _ = run_cli(capsys, "requirements", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 50
    assert set(rows[0]) == {"id", "level", "area", "title", "verification", "capability", "coverage", "verifiedBy",
                           "variantCoverage"}
    assert {r["id"] for r in rows} == set(specs.requirements)


def test_requirements_table(capsys: pytest.CaptureFixture[str], specs: Specs) -> None:
    code, out, _ = run_cli(capsys, "requirements")
    assert code == 0
    for rid in specs.requirements:
        assert rid in out
    assert "50 requirements:" in out


def test_coverage_values(specs: Specs) -> None:
    static = specs.requirement("ICS-01")
    assert cli.coverage(static) == "static"
    assert cli.coverage(type(static)(**{**static.__dict__, "verified_by": ("x.py::t",)})) == "static"
    other = specs.requirement("VER-01")
    assert cli.coverage(type(other)(**{**other.__dict__, "verified_by": ("x.py::t",)})) == "automated"
    assert cli.coverage(type(other)(**{**other.__dict__, "verified_by": ()})) == "not yet"


# -- run ------------------------------------------------------------------------------------------
def test_run_without_runner(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "conformance.run", None)  # import → ModuleNotFoundError
    code, out, err = run_cli(capsys, "run")
    assert_usage_error(code, out, err)
    assert err.strip() == "ccc-conformance: error: the runner is not available in this build"


def test_run_passes_its_options(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def run_command(**kwargs: Any) -> int:
        seen.update(kwargs)
        return 2

    monkeypatch.setitem(sys.modules, "conformance.run", types.SimpleNamespace(run_command=run_command))
    code, _, _ = run_cli(capsys, "run", "--target", "http://127.0.0.1:9/ccc-test/v1", "--ics", "i.yaml",
                         "--pixit", "p.yaml", "--only", "ver-01, TKD-01", "--area", "VER", "--area", "tkd,RES",
                         "--fault", "skip-model-check", "--fault", "a,b", "--out", "outdir", "--workers", "3",
                         "--sign-key", "k.pem", "--baseline", "b.yaml", "--junit-xml", "ci/junit.xml")
    assert code == 2  # the runner's code is the exit code
    assert seen == {"target": "http://127.0.0.1:9/ccc-test/v1", "ics": Path("i.yaml"), "pixit": Path("p.yaml"),
                    "only": ["VER-01", "TKD-01"], "area": ["VER", "TKD", "RES"],
                    "fault": ["skip-model-check", "a", "b"], "out": Path("outdir"), "workers": 3, "skip_load": False,
                    "report_options": ReportOptions(sign_key=Path("k.pem"), baseline=Path("b.yaml"),
                                                    junit_xml=Path("ci/junit.xml"))}


def test_run_defaults(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setitem(sys.modules, "conformance.run",
                        types.SimpleNamespace(run_command=lambda **kw: seen.update(kw) or 0))
    code, _, _ = run_cli(capsys, "run")
    assert code == 0
    assert seen == {"target": None, "ics": None, "pixit": None, "only": None, "area": None, "fault": [],
                    "out": None, "workers": None, "skip_load": False, "report_options": ReportOptions()}


def test_runner_config_errors_are_one_line(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.ics import IcsError

    def run_command(**kwargs: Any) -> int:
        raise IcsError("x.yaml: ICS file not found")

    monkeypatch.setitem(sys.modules, "conformance.run", types.SimpleNamespace(run_command=run_command))
    code, out, err = run_cli(capsys, "run", "--ics", "x.yaml")
    assert_usage_error(code, out, err, "x.yaml: ICS file not found")


# -- simulator ------------------------------------------------------------------------------------
def test_simulator_without_module(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "conformance.simulator.serve", None)
    code, out, err = run_cli(capsys, "simulator", "--platform-id", "p", "--platform-secret", "0123456789")
    assert_usage_error(code, out, err, "the regulator simulator is not available in this build")


def test_simulator_passes_its_options(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
                                      tmp_path: Path) -> None:
    seen: dict[str, Any] = {}
    fake = types.SimpleNamespace(main=lambda **kw: seen.update(kw) or 5)
    monkeypatch.setitem(sys.modules, "conformance.simulator.serve", fake)
    certs = tmp_path / "certs.yaml"
    certs.write_text("[]\n", encoding="utf-8")
    monkeypatch.setenv("CCC_PLATFORM_SECRET", "from-the-environment")
    code, _, _ = run_cli(capsys, "simulator", "--platform-id", "mall", "--port", "9999", "--certificates", str(certs),
                         "--seed", "7", "--notification-url", "http://127.0.0.1:1/n", "--signature-alg", "HMAC-SM3")
    assert code == 5
    assert seen == {"host": "127.0.0.1", "port": 9999, "platform_id": "mall", "platform_secret": "from-the-environment",
                    "certificates": certs, "seed": 7, "notification_url": "http://127.0.0.1:1/n",
                    "signature_alg": "HMAC-SM3"}


def test_simulator_defaults(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}
    fake = types.SimpleNamespace(main=lambda **kw: seen.update(kw))
    monkeypatch.setitem(sys.modules, "conformance.simulator.serve", fake)
    code, _, _ = run_cli(capsys, "simulator", "--platform-id", "mall", "--platform-secret", "0123456789")
    assert code == 0
    assert (seen["host"], seen["port"], seen["certificates"], seen["seed"], seen["notification_url"],
            seen["signature_alg"]) == ("127.0.0.1", 8765, None, None, None, "HMAC-SHA256")


# -- reference-platform ---------------------------------------------------------------------------
def test_reference_platform_arguments(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []
    monkeypatch.setattr(cli, "_reference_platform_available", lambda: True)
    monkeypatch.setattr(cli, "_run_forwarding_signals", lambda cmd, env=None: seen.append(cmd) or 4)
    code, _, _ = run_cli(capsys, "reference-platform", "--host", "127.0.0.1", "--port", "8780",
                         "--regulator-url", "http://127.0.0.1:8765", "--platform-id", "mall",
                         "--platform-secret", "0123456789", "--signature-alg", "HMAC-SM3", "--bearer-token", "t",
                         "--db", "x.db", "--ics", "ics.yaml", "--mode", "poll", "--fault", "a", "--fault", "b,c")
    assert code == 4
    assert seen == [[sys.executable, "-m", "reference_platform", "--host", "127.0.0.1", "--port", "8780",
                     "--regulator-url", "http://127.0.0.1:8765", "--platform-id", "mall",
                     "--platform-secret", "0123456789", "--signature-alg", "HMAC-SM3", "--bearer-token", "t",
                     "--db", "x.db", "--ics", "ics.yaml", "--mode", "poll",
                     "--fault", "a", "--fault", "b,c"]]
    run_cli(capsys, "reference-platform", "--list-faults")
    assert seen[-1] == [sys.executable, "-m", "reference_platform", "--list-faults"]


def test_reference_platform_missing(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli, "_reference_platform_available", lambda: False)
    assert_usage_error(*run_cli(capsys, "reference-platform"), "the reference platform is not available in this build")


FAKE_PLATFORM = '''
import os, pathlib
pathlib.Path(os.environ["FAKE_MARKER"]).open("a").write(f"import {os.getpid()}\\n")
'''
FAKE_MAIN = '''
import os, signal, sys, time
got = []
signal.signal(signal.SIGINT, lambda *a: got.append("INT"))
print(f"ready {os.getpid()} {' '.join(sys.argv[1:])}", flush=True)
deadline = time.monotonic() + 20
while not got and time.monotonic() < deadline:
    time.sleep(0.02)
time.sleep(0.3)  # would a second SIGINT arrive?
print(f"signals {len(got)}", flush=True)
sys.exit(42 if got else 1)
'''


@pytest.mark.slow
def test_reference_platform_runs_as_a_process_and_gets_ctrl_c_once(tmp_path: Path) -> None:
    pkg = tmp_path / "reference_platform"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(textwrap.dedent(FAKE_PLATFORM), encoding="utf-8")
    (pkg / "__main__.py").write_text(textwrap.dedent(FAKE_MAIN), encoding="utf-8")
    marker = tmp_path / "imports.txt"
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "FAKE_MARKER": str(marker)}
    proc = subprocess.Popen([sys.executable, "-m", "conformance.cli", "reference-platform", "--port", "1234",
                             "--fault", "x"], cwd=tmp_path, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready = proc.stdout.readline().split()
        assert ready[0] == "ready" and ready[2:] == ["--port", "1234", "--fault", "x"]
        child_pid = int(ready[1])
        time.sleep(0.1)  # let the parent install its handlers after starting the child
        proc.send_signal(signal.SIGINT)  # to the harness only: it must forward
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert rest.strip() == "signals 1"
    assert proc.returncode == 42
    # Only the child imported reference_platform; the harness never does.
    assert marker.read_text().split() == ["import", str(child_pid)]
