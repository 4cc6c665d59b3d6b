"""Shared plumbing of the reference-platform benchmarks: a simulator and a platform, each its own process.

Both run as separate processes so that the figures measure the platform, not the load generator's
GIL. Everything listens on 127.0.0.1 only, on ports the OS picks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
PLATFORM_ID = "bench-mall"
SECRET = "bench-secret"

_SIMULATOR = """
import signal, sys
from conformance.simulator.app import build_app
from conformance.simulator.core import Simulator
from conformance.simulator.server import uvicorn_config
import socket, uvicorn
sim = Simulator(seed=1)
# proto IPPROTO_TCP, so that asyncio sets TCP_NODELAY on accepted connections (else ~40 ms per answer).
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
sock.bind(("127.0.0.1", 0))
sock.listen(2048)
sim.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
print(sim.base_url, flush=True)
server = uvicorn.Server(uvicorn_config(build_app(sim)))
signal.signal(signal.SIGTERM, lambda *a: (_ for _ in ()).throw(KeyboardInterrupt()))
try:
    server.run(sockets=[sock])
except KeyboardInterrupt:
    pass
"""


@dataclass
class Running:
    simulator_url: str
    platform_url: str          # test-control base URL
    notification_url: str
    workdir: Path


def write_ics(path: Path, **timing: float) -> Path:
    doc = yaml.safe_load((ROOT / "specs" / "examples" / "ics-reference.yaml").read_text(encoding="utf-8"))
    doc["timing"].update(timing)
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _first_line(proc: subprocess.Popen[str], what: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line or time.monotonic() > deadline:
        raise RuntimeError(f"{what} did not start: {proc.stderr.read() if proc.stderr else ''}")
    return line.strip()


@contextlib.contextmanager
def running(faults: tuple[str, ...] = (), **timing: float) -> Iterator[Running]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory(prefix="refplat-bench-") as tmp:
        work = Path(tmp)
        sim = subprocess.Popen([sys.executable, "-c", _SIMULATOR], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, cwd=ROOT)
        platform = None
        try:
            sim_url = _first_line(sim, "the simulator")
            ics = write_ics(work / "ics.yaml", **timing)
            cmd = [sys.executable, "-m", "reference_platform", "--port", "0", "--regulator-url", sim_url,
                   "--platform-id", PLATFORM_ID, "--platform-secret", SECRET, "--ics", str(ics),
                   "--db", str(work / "platform.db")]
            for fault in faults:
                cmd += ["--fault", fault]
            platform = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
                                        cwd=ROOT)
            line = _first_line(platform, "the reference platform")
            base = re.search(r"(http://\S+/ccc-test/v1)", line).group(1)  # type: ignore[union-attr]
            notification = re.search(r"notifications: (\S+)", line).group(1)  # type: ignore[union-attr]
            httpx.put(f"{sim_url}/_sim/platforms/{PLATFORM_ID}", trust_env=False,
                      json={"secret": SECRET, "notificationUrl": notification}).raise_for_status()
            yield Running(sim_url, base, notification, work)
        finally:
            for proc in (platform, sim):
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    try:
                        proc.wait(10)
                    except subprocess.TimeoutExpired:
                        proc.kill()


def issue(sim_url: str, count: int, product_code: str = "0701") -> list[dict[str, Any]]:
    """count VALID certificates with model M-1 and brand Bench."""
    from conformance.simulator.client import SimulatorClient

    with SimulatorClient(sim_url, timeout=60) as sim:
        return [sim.issue_certificate(product_code=product_code, models=["M-1"], brand="Bench") for _ in range(count)]


def listing_body(cert: dict[str, Any], merchant: str) -> dict[str, Any]:
    return {"merchantId": merchant, "categoryId": "fridge", "title": "冰箱 bench", "brand": "Bench", "model": "M-1",
            "certificateNo": cert["certificateNo"]}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


class RawClient:
    """A lean keep-alive HTTP/1.1 client for the load generator, so that the figures are the
    platform's and not httpx's (httpx costs more CPU per request than the platform's decision).
    Content-Length responses only, which is what uvicorn sends for JSON."""

    def __init__(self, base_url: str) -> None:
        rest = base_url.split("://", 1)[1]
        hostport, _, prefix = rest.partition("/")
        self.host, _, port = hostport.partition(":")
        self.port = int(port or 80)
        self.prefix = "/" + prefix if prefix else ""
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._used = 0.0

    async def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        # uvicorn closes a connection idle for 5 s; a connection idle nearly that long is replaced.
        if self._writer is not None and time.monotonic() - self._used > 4.0:
            self.close()
            self._writer = None
        if self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        self._used = time.monotonic()
        assert self._reader is not None
        payload = json.dumps(body).encode() if body is not None else b""
        head = (f"{method} {self.prefix}{path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n").encode()
        self._writer.write(head + payload)
        raw = await self._reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        length = 0
        for line in raw.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        data = await self._reader.readexactly(length) if length else b""
        self._used = time.monotonic()
        return status, json.loads(data) if data else None

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
