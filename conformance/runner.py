"""``ccc-conformance run``: set up, run the suite in its own pytest process, write the report.

With no target it tests the embedded reference platform: a simulator here, the platform as its own
process on a free loopback port, its ICS with the URLs rewritten. With ``--target`` it tests a real
platform whose ICS and PIXIT are given, the simulator bound where the PIXIT says.

Exit codes (architecture.md): 0 CONFORMANT, 1 NON_CONFORMANT, 2 INCOMPLETE, 3 usage or configuration.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import yaml
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from conformance import ics as ics_mod
from conformance import specs
from conformance.context import RunContext, load_context
from conformance.evidence import Redactor
from conformance.report.build import new_run_id, read_results, split, write_report
from conformance.report.options import OptionError, ReportOptions
from conformance.report.render import baseline_note, prepare, seal
from conformance.verdicts import codes

USAGE_ERROR = 3
PLATFORM_START_SECONDS = 20.0
SUITE_TIMEOUT_SECONDS = 3600.0  # a bound, so a hung platform cannot hold a CI job forever


class RunError(Exception):
    """A usage or configuration problem: one line, exit 3."""


@dataclass
class Setup:
    ctx: RunContext
    ics_path: Path
    pixit_path: Path | None
    embedded: bool
    faults: list[str] = field(default_factory=list)
    cleanup: list[Any] = field(default_factory=list)
    platform: subprocess.Popen[bytes] | None = None


def run_command(*, target: str | None = None, ics: str | None = None, pixit: str | None = None,
                only: str | list[str] | None = None, area: str | list[str] | None = None,
                fault: list[str] | None = None, out: str | None = None, workers: int | None = None,
                console: Console | None = None, report_options: ReportOptions | None = None) -> int:
    """Entry point of ``ccc-conformance run``; returns the exit code."""
    console = console or Console(stderr=False)
    err = Console(stderr=True, soft_wrap=True)  # one line, however narrow the terminal
    try:
        return _run(target, ics, pixit, split(only), split(area), list(fault or []), out, workers, console,
                    report_options)
    except (RunError, OptionError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        return USAGE_ERROR
    except (specs.SpecError, ics_mod.IcsError) as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        return USAGE_ERROR


def _run(target: str | None, ics: str | None, pixit: str | None, only: list[str], areas: list[str],
         faults: list[str], out: str | None, workers: int | None, console: Console,
         report_options: ReportOptions | None = None) -> int:
    s = specs.load()
    prepared = prepare(report_options)  # a bad key or baseline fails now, not after the run
    unknown = [r for r in only if r not in s.requirements]
    if unknown:
        raise RunError(f"--only: unknown requirement id(s) {', '.join(unknown)} (see `ccc-conformance requirements`)")
    known_areas = {a["code"] for a in s.areas}
    bad_areas = [a for a in areas if a.upper() not in known_areas]
    if bad_areas:
        raise RunError(f"--area: unknown area(s) {', '.join(bad_areas)} (one of {', '.join(sorted(known_areas))})")
    embedded = target is None and ics is None
    if faults and not embedded:
        raise RunError("--fault applies to the embedded reference platform only (no --target/--ics)")
    if not embedded and not ics:
        raise RunError("--target needs --ics FILE (the platform's implementation conformance statement)")
    if workers is not None and workers < 1:
        raise RunError("--workers must be at least 1")

    started = datetime.now(UTC)
    run_id = new_run_id(started)
    run_dir = Path(out or "reports").resolve() / run_id
    try:
        run_dir.mkdir(parents=True, exist_ok=False)
    except OSError as exc:
        raise RunError(f"cannot create the report folder {run_dir}: {exc.strerror}") from exc

    from conformance.simulator.server import SimulatorServer

    setup: Setup | None = None
    server: SimulatorServer | None = None
    suite_started = False
    try:
        if embedded:
            server = SimulatorServer(host="127.0.0.1", port=0)
            _start_server(server)
            setup = _start_embedded(run_dir, server.url, faults, console)
        else:
            setup = _external(Path(ics), Path(pixit) if pixit else None, target, run_dir)  # type: ignore[arg-type]
            sim_cfg = setup.ctx.pixit.get("simulator") or {}
            server = SimulatorServer(host=sim_cfg.get("host", "127.0.0.1"), port=int(sim_cfg.get("port", 0)))
            _start_server(server)
            _check_reachable(setup.ctx)
        ctx = setup.ctx
        server.simulator.register_platform(ctx.platform_id, ctx.platform_secret,
                                           ctx.notification_url if ctx.claims("statusPush") else None,
                                           signature_alg=ctx.signature_alg)
        console.print(f"[bold]ccc-conformance[/bold] run [cyan]{run_id}[/cyan] → {ctx.target}"
                      + (" (embedded reference platform" + (f", faults: {', '.join(faults)}" if faults else "") + ")"
                         if embedded else ""), highlight=False)
        suite_started = True
        rc_pytest = _run_suite(setup, server.url, run_dir, only, areas, workers, console)
        warnings = []
        if rc_pytest not in (0, 1, 5):
            warnings.append(f"the suite's pytest process ended with code {rc_pytest}; see pytest-output.txt")
        if setup.platform is not None and setup.platform.poll() is not None:
            warnings.append(f"the reference platform exited with code {setup.platform.returncode} during the run")
        server.simulator.export_captures(run_dir / "evidence" / "simulator-captures.jsonl")
    except (RunError, ics_mod.IcsError, specs.SpecError):
        if not suite_started:  # nothing was judged: leave no half-made report folder behind
            shutil.rmtree(run_dir, ignore_errors=True)
        raise
    finally:
        if setup is not None:
            _stop_platform(setup.platform)
            for fn in setup.cleanup:
                fn()
        if server is not None:
            server.stop()

    results = read_results(run_dir / "results.jsonl")
    report = write_report(run_dir, setup.ctx, results, started=started, only=only, areas=areas, run_id=run_id,
                          embedded=embedded, faults=faults, warnings=warnings, report_options=prepared)
    _redact_outputs(run_dir, Redactor(setup.ctx.secrets()))
    seal(run_dir, prepared)  # manifest, signature, --junit-xml copy: after everything else is written
    _print_summary(report, run_dir, console)
    return int(report["overall"]["exitCode"])


# -- set-up ----------------------------------------------------------------------------------------
def _start_server(server: Any) -> None:
    try:
        server.start()
    except OSError as exc:
        raise RunError(f"cannot start the regulator simulator on {server.host}:{server.port}: {exc.strerror or exc}") from exc


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_embedded(run_dir: Path, sim_url: str, faults: list[str], console: Console) -> Setup:
    """The reference platform as its own process, its ICS rewritten to the ports of this run."""
    root = specs.specs_dir() / "examples"
    ics_doc = ics_mod.load_ics(root / "ics-reference.yaml")
    pixit_path = root / "pixit-reference.yaml"
    pixit = ics_mod.load_pixit(pixit_path)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    ics_doc["endpoints"] = {"testControlBaseUrl": f"{base}/ccc-test/v1", "notificationUrl": f"{base}/ccc/v1/notifications"}
    ics_path = run_dir / "ics.yaml"
    ics_path.write_text("# The reference ICS with this run's addresses.\n"
                        + yaml.safe_dump(ics_doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    workdir = tempfile.TemporaryDirectory(prefix="ccc-refplat-")
    cmd = [sys.executable, "-m", "reference_platform", "--host", "127.0.0.1", "--port", str(port),
           "--regulator-url", sim_url, "--platform-id", pixit["platformId"],
           "--platform-secret", pixit["platformSecret"], "--ics", str(ics_path),
           "--db", str(Path(workdir.name) / "platform.db")]
    if pixit.get("signatureAlgorithm"):
        cmd += ["--signature-alg", pixit["signatureAlgorithm"]]
    for f in faults:
        cmd += ["--fault", f]
    log = open(run_dir / "platform-output.txt", "wb")  # noqa: SIM115 — closed in cleanup
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    ctx = RunContext(ics=ics_doc, pixit=pixit, target=f"{base}/ccc-test/v1", ics_file=str(ics_path))
    setup = Setup(ctx=ctx, ics_path=ics_path, pixit_path=pixit_path, embedded=True, faults=faults,
                  cleanup=[log.close, workdir.cleanup], platform=proc)
    deadline = time.monotonic() + PLATFORM_START_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            log.flush()
            tail = (run_dir / "platform-output.txt").read_text(errors="replace").strip().splitlines()[-1:]
            _stop_platform(proc)
            for fn in setup.cleanup:
                fn()
            raise RunError(f"the reference platform did not start (exit {proc.returncode}): {' '.join(tail)}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{ctx.target}/health", timeout=1.0).status_code == 200:
                return setup
        time.sleep(0.1)
    _stop_platform(proc)
    for fn in setup.cleanup:
        fn()
    raise RunError(f"the reference platform did not answer on {ctx.target}/health within {PLATFORM_START_SECONDS:.0f} s")


def _external(ics_path: Path, pixit_path: Path | None, target: str | None, run_dir: Path) -> Setup:
    errors = specs.load().errors("ics", ics_mod.load_ics(ics_path))
    if errors:
        problems = "; ".join(errors[:5])
        raise RunError(f"{ics_path}: the ICS does not validate ({problems}); check it with `ccc-conformance ics validate`")
    ctx = load_context(ics_path, pixit_path, target)
    (run_dir / "ics.yaml").write_text(ics_path.read_text(encoding="utf-8"), encoding="utf-8")
    return Setup(ctx=ctx, ics_path=ics_path, pixit_path=pixit_path, embedded=False)


def _check_reachable(ctx: RunContext) -> None:
    headers = {"Authorization": f"Bearer {ctx.bearer_token}"} if ctx.bearer_token else {}
    try:
        r = httpx.get(f"{ctx.target}/health", headers=headers, timeout=5.0)
    except httpx.HTTPError as exc:
        raise RunError(f"the target {ctx.target} is not reachable ({type(exc).__name__}); is the platform's "
                       "test environment running, and is --target its test-control base URL?") from exc
    if r.status_code != 200:
        raise RunError(f"{ctx.target}/health answered {r.status_code}; expected 200 (check --target and the bearer token)")


def _stop_platform(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


# -- the suite -------------------------------------------------------------------------------------
def _run_suite(setup: Setup, sim_url: str, run_dir: Path, only: list[str], areas: list[str],
               workers: int | None, console: Console) -> int:
    """pytest in its own process (a crash there still leaves results.jsonl for the report)."""
    ini = run_dir / ".pytest.ini"
    ini.write_text("[pytest]\n", encoding="utf-8")  # keep a project's own pytest config out of the suite
    n = workers if workers is not None else min(4, max(2, os.cpu_count() or 2))
    # rootdir above the conformance package, so node ids read conformance/suite/test_x.py::test_y
    rootdir = Path(__file__).resolve().parent.parent
    cmd = [sys.executable, "-m", "pytest", "--pyargs", "conformance.suite", "-c", str(ini), "--rootdir", str(rootdir),
           "-p", "no:cacheprovider", "-q", "--no-header", "-rN",
           "--ccc-ics", str(setup.ics_path), "--ccc-target", setup.ctx.target, "--ccc-simulator-url", sim_url,
           "--ccc-report-dir", str(run_dir), "--junitxml", str(run_dir / "junit.xml"),
           "--alluredir", str(run_dir / "allure-results")]
    if setup.pixit_path:
        cmd += ["--ccc-pixit", str(setup.pixit_path)]
    if n > 1:
        cmd += ["-n", str(n)]
    if only:
        cmd += ["--ccc-only", ",".join(only)]
    if areas:
        cmd += ["--ccc-area", ",".join(areas)]
    results = run_dir / "results.jsonl"
    collected = run_dir / "collected.json"
    with open(run_dir / "pytest-output.txt", "wb") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=run_dir)
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TimeElapsedColumn(), console=console, transient=True) as progress:
            task = progress.add_task("running the suite", total=None)
            deadline = time.monotonic() + SUITE_TIMEOUT_SECONDS
            while proc.poll() is None:
                if time.monotonic() > deadline:
                    proc.kill()
                    break
                if progress.tasks[task].total is None and collected.is_file():
                    with contextlib.suppress(ValueError, OSError):
                        progress.update(task, total=json.loads(collected.read_text())["count"])
                if results.is_file():
                    done = sum(1 for _ in results.open(encoding="utf-8"))
                    progress.update(task, completed=done)
                time.sleep(0.2)
        ini.unlink(missing_ok=True)
    return proc.wait()


# -- outputs ---------------------------------------------------------------------------------------
def _redact_outputs(run_dir: Path, redactor: Redactor) -> None:
    """Belt and braces: no secret of the PIXIT survives in any text file of the report."""
    if not redactor.secrets:
        return
    for path in run_dir.rglob("*"):
        if not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        cleaned = redactor.text(text)
        if cleaned != text:
            path.write_text(cleaned, encoding="utf-8")


def _print_summary(report: dict[str, Any], run_dir: Path, console: Console) -> None:
    s = specs.load()
    table = Table(title="Requirements by area", show_lines=False)
    table.add_column("Area")
    for code in s.codes("verdict"):
        table.add_column(code, justify="right")
    counts: dict[str, dict[str, int]] = {}
    for r in report["requirements"]:
        counts.setdefault(r["area"], {}).setdefault(r["verdict"], 0)
        counts[r["area"]][r["verdict"]] += 1
    for area in [a["code"] for a in s.areas if a["code"] in counts]:
        table.add_row(area, *[str(counts[area].get(c, "")) for c in s.codes("verdict")])
    console.print(table)
    c = codes()
    fails = [r for r in report["requirements"] if r["verdict"] not in (c.PASS, c.NOT_APPLICABLE)]
    for r in fails:
        console.print(f"  {r['id']} {r['verdict']}: {r['reason']}", highlight=False)
    for w in report["overall"]["warnings"]:
        console.print(f"  [yellow]warning:[/yellow] {w}", highlight=False)
    colour = {0: "green", 1: "red", 2: "yellow"}.get(report["overall"]["exitCode"], "white")
    console.print(f"[bold {colour}]{report['overall']['verdict']}[/bold {colour}]{baseline_note(report)} — report: "
                  f"{run_dir / 'report.html'}", highlight=False)
