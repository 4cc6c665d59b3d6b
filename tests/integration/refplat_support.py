"""Plumbing for the reference platform's integration tests: a simulator and platform processes.

The regulator is the harness's simulator (``SimulatorServer``, in this process); each platform is
``python -m reference_platform`` in its own process, on a port it picks (``--port 0``) and prints.
Platforms are launched all at once when the pool is created, so that their start-up overlaps, and
waited for when a test first needs one. Everything listens on 127.0.0.1 only. Waits poll with a
monotonic deadline; nothing sleeps a fixed time.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from conformance import signing
from conformance.simulator.core import Simulator
from conformance.simulator.server import SimulatorServer

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "refplat-test-secret-秘密"   # non-ASCII: the secret is used as UTF-8 bytes

# Short timings so that deadline tests stay fast; within the profile's maxima (ICS-01).
TIMING = {"listingDecisionSeconds": 3, "takedownDeadlineSeconds": 2, "reverificationIntervalSeconds": 2,
          "pollIntervalSeconds": 0.5}

# A self-declaration category (熔断体, 0205 in the catalogue) beside the reference mapping, so that
# the self-declaration path can be exercised (the reference ICS maps none).
EXTRA_CATEGORIES = [{"categoryId": "fuse", "name": "熔断体", "productCode": "0205"}]


def write_ics(path: Path, **capabilities: bool) -> Path:
    doc = yaml.safe_load((REPO_ROOT / "specs" / "examples" / "ics-reference.yaml").read_text(encoding="utf-8"))
    doc["timing"] = dict(TIMING)
    doc["capabilities"].update(capabilities)
    doc["categoryMapping"] = [*doc["categoryMapping"], *EXTRA_CATEGORIES]
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def wait_until(check: Callable[[], Any], timeout: float, interval: float = 0.02) -> Any:
    """Poll ``check`` until it returns something truthy; its last value (falsy) at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


@dataclass
class Platform:
    """One running reference platform process and a client for its test-control interface."""

    name: str
    platform_id: str
    proc: subprocess.Popen[str]
    faults: tuple[str, ...]
    bearer: str | None = None
    base: str = ""
    notification_url: str = ""
    log_path: Path | None = None
    http: httpx.Client = field(init=False)

    def ready(self, sim: Simulator, timeout: float = 30.0) -> Platform:
        if self.base:
            return self
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()   # the platform prints its URLs once it is ready
        match = re.search(r"(http://127\.0\.0\.1:\d+/ccc-test/v1)", line)
        if match is None:
            self.proc.kill()
            self.proc.wait(5)
            err = self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path else ""
            raise RuntimeError(f"platform {self.name} did not start: {line!r} {err[-2000:]}")
        self.base = match.group(1)
        found = re.search(r"notifications: (\S+)", line)
        self.notification_url = found.group(1) if found else ""
        sim.register_platform(self.platform_id, SECRET, self.notification_url or None)
        headers = {"Authorization": f"Bearer {self.bearer}"} if self.bearer else {}
        self.http = httpx.Client(base_url=self.base, timeout=10, trust_env=False, headers=headers)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if self.http.get("/health").status_code == 200:
                    return self
            time.sleep(0.02)
        raise RuntimeError(f"platform {self.name} did not answer /health")

    # -- test-control calls -------------------------------------------------------------------
    def create(self, **fields: Any) -> dict[str, Any]:
        body = {"merchantId": f"m-{uuid.uuid4().hex[:8]}", "title": "测试商品", **fields}
        response = self.http.post("/listings", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def edit(self, listing_id: str, **fields: Any) -> dict[str, Any]:
        response = self.http.patch(f"/listings/{listing_id}", json=fields)
        assert response.status_code == 200, response.text
        return response.json()

    def get(self, listing_id: str) -> dict[str, Any]:
        response = self.http.get(f"/listings/{listing_id}")
        assert response.status_code == 200, response.text
        return response.json()

    def public(self, listing_id: str) -> dict[str, Any]:
        return self.http.get(f"/listings/{listing_id}/public").json()

    def records(self, listing_id: str) -> list[dict[str, Any]]:
        response = self.http.get("/verification-records", params={"listingId": listing_id})
        assert response.status_code == 200, response.text
        return response.json()["records"]

    def decided(self, listing_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """The listing once it is no longer PENDING_VERIFICATION (or as it is at the deadline)."""
        last: dict[str, Any] = {}

        def check() -> bool:
            last.update(self.get(listing_id))
            return last["state"] != "PENDING_VERIFICATION"
        wait_until(check, timeout)
        return last

    def wait_state(self, listing_id: str, state: str, timeout: float) -> dict[str, Any]:
        last: dict[str, Any] = {}

        def check() -> bool:
            last.update(self.get(listing_id))
            return last["state"] == state
        wait_until(check, timeout)
        return last

    def stays(self, listing_id: str, state: str, seconds: float) -> dict[str, Any]:
        """Watch the listing for ``seconds``; returns it as soon as it leaves ``state`` (or at the end)."""
        last: dict[str, Any] = {}

        def left() -> bool:
            last.update(self.get(listing_id))
            return last["state"] != state
        wait_until(left, seconds, interval=0.05)
        return last

    # -- notifications as the regulator would send them (signed by the test) -------------------
    def push(self, event: dict[str, Any], *, secret: str = SECRET, timestamp: str | None = None,
             nonce: str | None = None, signature: str | None = None, alg: str = signing.SHA256) -> httpx.Response:
        body = _json(event)
        path = httpx.URL(self.notification_url).raw_path.decode()
        signed = signing.make_headers(secret, "POST", path, body, alg=alg, timestamp=timestamp, nonce=nonce)
        headers = signed.as_regulator()
        if signature is not None:
            headers["X-Regulator-Signature"] = signature
        return httpx.post(self.notification_url, content=body, trust_env=False, timeout=10,
                          headers={**headers, "Content-Type": "application/json"})

    def terminate(self) -> None:
        with contextlib.suppress(Exception):
            self.http.close()
        if self.proc.poll() is None:
            self.proc.terminate()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.http.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def _json(doc: Any) -> bytes:
    import json

    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def event_for(certificate_no: str, status: str, sequence: int, previous: str = "VALID") -> dict[str, Any]:
    """A status-change event as the regulator would push it."""
    return {"eventId": str(uuid.uuid4()), "sequence": sequence, "certificateNo": certificate_no,
            "previousStatus": previous, "status": status, "effectiveAt": signing.now_rfc3339(), "reason": "test"}


@dataclass(frozen=True)
class Variant:
    """How to start one platform: its faults and options."""

    faults: tuple[str, ...] = ()
    mode: str | None = None
    alg: str = signing.SHA256
    bearer: str | None = None
    capabilities: tuple[tuple[str, bool], ...] = ()


class PlatformPool:
    """Platforms started together at the beginning, handed out by name, stopped at the end."""

    def __init__(self, sim_server: SimulatorServer, workdir: Path, variants: dict[str, Variant]) -> None:
        self.sim_server = sim_server
        self.sim = sim_server.simulator
        self.workdir = workdir
        self._variants = variants
        self._platforms: dict[str, Platform] = {}
        self._lock = threading.Lock()
        for name, variant in variants.items():
            self._platforms[name] = self._launch(name, variant)

    def _launch(self, name: str, variant: Variant) -> Platform:
        folder = self.workdir / name
        folder.mkdir(parents=True, exist_ok=True)
        ics = write_ics(folder / "ics.yaml", **dict(variant.capabilities))
        platform_id = f"refplat-{name}"
        cmd = [sys.executable, "-m", "reference_platform", "--host", "127.0.0.1", "--port", "0",
               "--regulator-url", self.sim_server.url, "--platform-id", platform_id, "--platform-secret", SECRET,
               "--signature-alg", variant.alg, "--ics", str(ics), "--db", str(folder / "platform.db")]
        if variant.mode:
            cmd += ["--mode", variant.mode]
        if variant.bearer:
            cmd += ["--bearer-token", variant.bearer]
        for fault in variant.faults:
            cmd += ["--fault", fault]
        env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
        env.pop("CCC_SPECS_DIR", None)
        # stderr to a file: a pipe nobody reads would block the platform once its log fills it.
        with open(folder / "stderr.txt", "w", encoding="utf-8") as log:
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, text=True, cwd=REPO_ROOT, env=env)
        return Platform(name, platform_id, proc, variant.faults, variant.bearer, log_path=folder / "stderr.txt")

    def __getitem__(self, name: str) -> Platform:
        with self._lock:
            return self._platforms[name].ready(self.sim)

    def stop(self) -> None:
        # All at once: each graceful shutdown takes a moment, and they need not queue.
        for platform in self._platforms.values():
            platform.terminate()
        for platform in self._platforms.values():
            platform.stop()


@contextlib.contextmanager
def simulator() -> Iterator[SimulatorServer]:
    server = SimulatorServer(host="127.0.0.1", port=0).start()
    try:
        yield server
    finally:
        server.stop()
