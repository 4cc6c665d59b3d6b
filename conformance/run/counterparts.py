"""The counterparts a run needs: the regulator simulator (always) and, for the embedded default,
the reference platform as its own process. One place starts and stops each, for the runner and
for the plugin when pytest is run directly.

The harness never imports ``reference_platform`` (architecture.md); it starts it with
``python -m reference_platform`` and asks it for its fault list the same way.
"""

from __future__ import annotations

import contextlib
import functools
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from conformance import ics as ics_mod
from conformance import specs
from conformance.context import RunContext, load_context
from conformance.exitcodes import UsageError
from conformance.rundir import RunDir
from conformance.tls import client_context

PLATFORM_START_SECONDS = 20.0


# -- the regulator simulator -------------------------------------------------------------------------
def start_simulator(ctx: RunContext | None = None, *, host: str | None = None, port: int | None = None) -> Any:
    """A started ``SimulatorServer`` where the PIXIT says (or host/port), with the platform registered
    when a context is given. A port in use is a usage error, not a traceback."""
    from conformance.simulator.server import SimulatorServer  # uvicorn and the app: only when a run needs them

    sim_cfg = (ctx.pixit.get("simulator") or {}) if ctx is not None else {}
    server = SimulatorServer(host=host or sim_cfg.get("host", "127.0.0.1"),
                             port=int(port if port is not None else sim_cfg.get("port", 0)))
    try:
        server.start()
    except OSError as exc:
        raise UsageError(f"cannot start the regulator simulator on {server.host}:{server.port}: "
                         f"{exc.strerror or exc}") from exc
    if ctx is not None:
        register_platform(server.simulator, ctx)
    return server


def register_platform(simulator: Any, ctx: RunContext) -> None:
    """Tell the simulator who may call it, with which secret, and where to push status changes."""
    simulator.register_platform(ctx.platform_id, ctx.platform_secret,
                                ctx.notification_url if ctx.claims("statusPush") else None,
                                signature_alg=ctx.signature_alg)


# -- the platform under test -------------------------------------------------------------------------
@dataclass
class Platform:
    """The platform a run judges: its context, the files it was described by, and (embedded) its process."""

    ctx: RunContext
    ics_path: Path
    pixit_path: Path | None
    process: subprocess.Popen[bytes] | None = None
    _cleanup: list[Any] = field(default_factory=list)

    @property
    def embedded(self) -> bool:
        return self.process is not None

    def exited(self) -> int | None:
        """The embedded platform's exit code if it died during the run."""
        return self.process.poll() if self.process is not None else None

    def stop(self) -> None:
        stop_process(self.process)
        for fn in self._cleanup:
            fn()
        self._cleanup.clear()


@functools.cache
def known_faults() -> tuple[str, ...]:
    """The reference platform's fault switches, from its own ``--list-faults``."""
    out = subprocess.run([sys.executable, "-m", "reference_platform", "--list-faults"],
                         capture_output=True, text=True, timeout=60, check=False)
    if out.returncode != 0:
        raise UsageError("the reference platform is not available in this build (python -m reference_platform failed)")
    return tuple(line.split()[0] for line in out.stdout.splitlines() if line.strip())


def start_embedded(rundir: RunDir, sim_url: str, faults: list[str], pixit_path: Path | None = None) -> Platform:
    """The reference platform as its own process on a free loopback port, its ICS rewritten to this run's
    addresses; ``pixit_path`` replaces the bundled PIXIT (platform id, secret, signature algorithm)."""
    root = specs.specs_dir() / "examples"
    ics_doc = ics_mod.load_ics(root / "ics-reference.yaml")
    pixit_path = pixit_path or root / "pixit-reference.yaml"
    pixit = ics_mod.load_pixit(pixit_path)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    ics_doc["endpoints"] = {"testControlBaseUrl": f"{base}/ccc-test/v1", "notificationUrl": f"{base}/ccc/v1/notifications"}
    rundir.ics.write_text("# The reference ICS with this run's addresses.\n"
                          + yaml.safe_dump(ics_doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    workdir = tempfile.TemporaryDirectory(prefix="ccc-refplat-")
    cmd = [sys.executable, "-m", "reference_platform", "--host", "127.0.0.1", "--port", str(port),
           "--regulator-url", sim_url, "--ics", str(rundir.ics), "--db", str(Path(workdir.name) / "platform.db")]
    if pixit.get("signatureAlgorithm"):
        cmd += ["--signature-alg", pixit["signatureAlgorithm"]]
    for f in faults:
        cmd += ["--fault", f]
    # The secret goes by environment, not argv: a command line is visible to every user of the machine.
    env = {**os.environ, "CCC_PLATFORM_ID": pixit["platformId"], "CCC_PLATFORM_SECRET": pixit["platformSecret"]}
    log = open(rundir.platform_output, "wb")  # noqa: SIM115 — closed by Platform.stop
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    ctx = RunContext(ics=ics_doc, pixit=pixit, target=f"{base}/ccc-test/v1", ics_file=str(rundir.ics))
    platform = Platform(ctx=ctx, ics_path=rundir.ics, pixit_path=pixit_path, process=proc,
                        _cleanup=[log.close, workdir.cleanup])
    deadline = time.monotonic() + PLATFORM_START_SECONDS
    with httpx.Client(timeout=1.0, trust_env=False, verify=client_context(trust_env=False)) as http:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                log.flush()
                tail = rundir.platform_output.read_text(errors="replace").strip().splitlines()[-1:]
                platform.stop()
                raise UsageError(f"the reference platform did not start (exit {proc.returncode}): {' '.join(tail)}")
            with contextlib.suppress(httpx.HTTPError):
                if http.get(f"{ctx.target}/health").status_code == 200:
                    return platform
            time.sleep(0.05)
    platform.stop()
    raise UsageError(f"the reference platform did not answer on {ctx.target}/health within {PLATFORM_START_SECONDS:.0f} s")


def external(rundir: RunDir, ics_path: Path, pixit_path: Path | None, target: str | None) -> Platform:
    """A platform the user runs: its ICS must validate, and it must answer /health."""
    errors = specs.load().errors("ics", ics_mod.load_ics(ics_path))
    if errors:
        problems = "; ".join(errors[:5])
        raise UsageError(f"{ics_path}: the ICS does not validate ({problems}); check it with `ccc-conformance ics validate`")
    ctx = load_context(ics_path, pixit_path, target)
    rundir.ics.write_text(ics_path.read_text(encoding="utf-8"), encoding="utf-8")
    check_reachable(ctx)
    return Platform(ctx=ctx, ics_path=ics_path, pixit_path=pixit_path)


def check_reachable(ctx: RunContext) -> None:
    headers = {"Authorization": f"Bearer {ctx.bearer_token}"} if ctx.bearer_token else {}
    try:
        r = httpx.get(f"{ctx.target}/health", headers=headers, timeout=5.0)
    except httpx.HTTPError as exc:
        raise UsageError(f"the target {ctx.target} is not reachable ({type(exc).__name__}); is the platform's "
                         "test environment running, and is --target its test-control base URL?") from exc
    if r.status_code != 200:
        raise UsageError(f"{ctx.target}/health answered {r.status_code}; expected 200 (check --target and the bearer token)")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(proc: subprocess.Popen[bytes] | None) -> None:
    """SIGTERM to the process group, SIGKILL after 10 s: a started counterpart never outlives its run."""
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
