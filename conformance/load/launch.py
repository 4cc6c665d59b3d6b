"""Starting locust in its own processes (one local process, or a master and ``--worker`` processes).

Locust monkey-patches the standard library with gevent, so it never runs inside the harness: the
harness starts ``python -m locust`` with the plan's path in ``CCC_LOAD_PLAN`` and reads back files.
Locust's own CSV and HTML reports land beside ours in ``<run-dir>/load/``.
"""

from __future__ import annotations

import math
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from conformance import specs
from conformance.load.plan import LoadOptions
from conformance.run.counterparts import stop_process

LOCUSTFILE = "ccc_locustfile.py"
# Before the schedule starts: processes start, import locust, connect (generous on a busy machine).
START_MARGIN_LOCAL = 4.0
START_MARGIN_DISTRIBUTED = 8.0
START_MARGIN_REMOTE = 60.0   # people start the workers on the other machines: a minute to do it
# After it: the last requests time out, the last worker reports (every 3 s) reach the master.
DRAIN_SECONDS = 5.0
REMOTE_MASTER_PORT = 5557


def remote_worker_command(master_host: str) -> str:
    """What to run on another machine (with this package installed) to add a worker to a load run."""
    return (f"CCC_LOAD_PLAN= python -m locust -f $(python -c 'from conformance.load.launch import locustfile; "
            f"print(locustfile())') --worker --master-host {master_host} --master-port {REMOTE_MASTER_PORT}")


class LaunchError(RuntimeError):
    """Locust could not be started or did not finish: the load phase has no result (ERROR verdicts)."""


def locustfile() -> Path:
    return specs.data_dir("load") / LOCUSTFILE


def start_margin(opts: LoadOptions) -> float:
    """Seconds from now to the schedule's start, which every worker and the regulator script share."""
    if opts.remote_workers:
        return START_MARGIN_REMOTE
    return START_MARGIN_DISTRIBUTED if opts.workers > 1 else START_MARGIN_LOCAL


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class LocustRun:
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    logs: list[object] = field(default_factory=list)
    master_port: int | None = None

    def alive(self) -> bool:
        return any(p.poll() is None for p in self.procs)

    def stop(self) -> None:
        for p in self.procs:
            stop_process(p)
        for log in self.logs:
            log.close()  # type: ignore[attr-defined]


def start(plan_path: Path, out_dir: Path, opts: LoadOptions, run_seconds: float) -> LocustRun:
    """Start locust headless for ``run_seconds``; locally with one worker, else a master and workers."""
    env = {**os.environ, "CCC_LOAD_PLAN": str(plan_path), "PYTHONUNBUFFERED": "1"}
    common = ["-f", str(locustfile()), "--loglevel", "WARNING"]
    total = opts.workers + opts.remote_workers
    run = LocustRun()
    head = [sys.executable, "-m", "locust", *common, "--headless", "-u", str(total), "-r", str(total),
            "--run-time", f"{math.ceil(run_seconds)}s", "--stop-timeout", "5",
            "--csv", str(out_dir / "locust"), "--html", str(out_dir / "locust.html"), "--only-summary"]
    try:
        if total == 1:
            run.procs.append(_spawn(head, env, out_dir / "locust-output.txt", run))
            return run
        # Remote workers must know where to connect: locust's usual port; local-only runs take a free one.
        port = REMOTE_MASTER_PORT if opts.remote_workers else _free_port(opts.master_bind)
        run.master_port = port
        head += ["--master", "--expect-workers", str(total), "--master-bind-host", opts.master_bind,
                 "--master-bind-port", str(port)]
        run.procs.append(_spawn(head, env, out_dir / "locust-output.txt", run))
        for i in range(opts.workers):
            worker = [sys.executable, "-m", "locust", *common, "--worker", "--master-host", "127.0.0.1",
                      "--master-port", str(port)]
            run.procs.append(_spawn(worker, env, out_dir / f"locust-worker-{i + 1}.txt", run))
    except OSError as exc:
        run.stop()
        raise LaunchError(f"cannot start locust: {exc}") from exc
    return run


def _spawn(cmd: list[str], env: dict[str, str], log_path: Path, run: LocustRun) -> subprocess.Popen[bytes]:
    log = open(log_path, "wb")  # noqa: SIM115 — closed in LocustRun.stop
    run.logs.append(log)
    return subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def wait(run: LocustRun, deadline_seconds: float, tick: Callable[[], None] | None = None) -> int:
    """Wait for the master (or the local process); ``tick`` about every half second. Its exit code."""
    master = run.procs[0]
    until = time.monotonic() + deadline_seconds
    try:
        while master.poll() is None:
            if time.monotonic() > until:
                raise LaunchError(f"locust did not finish within {deadline_seconds:.0f} s")
            if tick is not None:
                tick()
            time.sleep(0.5)
        if tick is not None:
            tick()
        return int(master.returncode)
    finally:
        run.stop()

