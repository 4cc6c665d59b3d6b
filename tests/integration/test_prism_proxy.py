"""Stoplight Prism as a second opinion on the OpenAPI documents: Prism proxies in front of the
regulator simulator (the reference platform's regulator URL points at it, so the platform's real
calls pass through) and in front of the reference platform's test-control interface, during a short
scripted exchange; any request or response Prism finds invalid fails the test. Run through npx;
skipped where Node is not installed. Loopback only, bounded in requests and time."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import types
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conformance import signing
from conformance.simulator.server import SimulatorServer
from tests.integration.refplat_support import REPO_ROOT, SECRET, PlatformPool, Variant, simulator

PRISM = "@stoplight/prism-cli@5"
START_SECONDS = 240.0  # the first npx call downloads Prism
VIOLATION = re.compile(r"\[VALIDATOR\].*Violation: (.*)")

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("npx") is None, reason="Node (npx) is not installed; Prism runs on npm")]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Prism:
    """One `prism proxy` process; its log is a file, read for violations."""

    def __init__(self, document: str, upstream: str, log: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self._out = log.open("w", encoding="utf-8")
        self.proc = subprocess.Popen(["npx", "-y", PRISM, "proxy", str(REPO_ROOT / "specs" / "openapi" / document),
                                      upstream, "--host", "127.0.0.1", "--port", str(self.port)],
                                     stdout=self._out, stderr=subprocess.STDOUT, cwd=REPO_ROOT, start_new_session=True)
        deadline = time.monotonic() + START_SECONDS
        while "Prism is listening" not in log.read_text(encoding="utf-8", errors="replace"):
            assert self.proc.poll() is None and time.monotonic() < deadline, log.read_text(errors="replace")[-3000:]
            time.sleep(0.2)

    def violations(self, more_than: int | None = None, settle: float = 1.0, limit: float = 10.0) -> list[str]:
        """The violations logged so far. The validator logs just after it forwards an answer: wait
        ``settle`` seconds, or up to ``limit`` seconds for more than ``more_than`` of them."""
        deadline = time.monotonic() + (limit if more_than is not None else settle)
        while True:
            found = [m.group(1) for m in VIOLATION.finditer(self.log.read_text(encoding="utf-8", errors="replace"))]
            if (more_than is not None and len(found) > more_than) or time.monotonic() >= deadline:
                return found
            time.sleep(0.1)

    def stop(self) -> None:
        import os
        import signal
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self._out.close()


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SimulatorServer, Prism, Prism, str]]:
    folder = tmp_path_factory.mktemp("prism")
    with simulator() as server:
        regulator = Prism("regulator.yaml", server.url, folder / "prism-regulator.log")
        pool = None
        test_control = None
        try:
            # The platform's regulator is Prism: every call it makes is validated on the way.
            via_prism = types.SimpleNamespace(url=regulator.url, simulator=server.simulator)
            pool = PlatformPool(via_prism, folder, {"plain": Variant()})  # type: ignore[arg-type]
            platform = pool["plain"]
            test_control = Prism("platform-test.yaml", platform.base, folder / "prism-test-control.log")
            yield server, regulator, test_control, platform.platform_id
        finally:
            if test_control is not None:
                test_control.stop()
            if pool is not None:
                pool.stop()
            regulator.stop()


def _compact(doc: object) -> bytes:
    # Prism forwards a JSON body re-serialized (compact, UTF-8); the signature covers the exact bytes,
    # so only a body already in that form arrives still signed (the reference platform sends it so).
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


def _signed(method: str, url: str, path: str, body: bytes = b"") -> httpx.Response:
    headers = signing.make_headers(SECRET, method, path, body).as_platform("prism-mall")
    if body:
        headers["Content-Type"] = "application/json"
    return httpx.request(method, url + path, content=body or None, headers=headers, timeout=10, trust_env=False)


def test_a_short_exchange_through_prism_has_no_violation(chain: tuple[SimulatorServer, Prism, Prism, str]) -> None:
    server, regulator, test_control, platform_id = chain
    sim = server.simulator
    sim.register_platform("prism-mall", SECRET)
    cert = sim.issue_certificate(product_code="0701", models=["BCD-1"], brand="示例牌")
    with httpx.Client(base_url=test_control.url, timeout=15, trust_env=False) as http:
        created = http.post("/listings", json={"merchantId": "m-prism", "categoryId": "fridge", "title": "冰箱",
                                               "brand": "示例牌", "model": "BCD-1", "certificateNo": cert["certificateNo"]})
        assert created.status_code == 201, created.text
        lid = created.json()["listingId"]
        answers = [created,
                   http.get(f"/listings/{lid}"),
                   http.patch(f"/listings/{lid}", json={"title": "冰箱 新款"}),
                   http.get(f"/listings/{lid}/public"),
                   http.get("/verification-records", params={"listingId": lid}),
                   http.get("/health"),
                   http.get(f"/listings/{uuid.uuid4().hex}"),
                   http.post("/listings", json={"merchantId": "m-prism", "categoryId": f"no-{uuid.uuid4().hex[:6]}",
                                                "title": "x"})]
    assert [a.status_code for a in answers] == [201, 200, 200, 200, 200, 200, 404, 422]
    # The regulator interface directly too: a verification, the change feed and its cursor, a disposition.
    request = {"requestId": str(uuid.uuid4()), "listingId": "L-prism", "merchantId": "m-prism",
               "certificateNo": cert["certificateNo"], "productCode": "0701", "productName": "冰箱"}
    verified = _signed("POST", regulator.url, "/api/v1/verifications", _compact(request))
    page = _signed("GET", regulator.url, "/api/v1/status-changes?limit=5")
    after = _signed("GET", regulator.url, f"/api/v1/status-changes?after={page.json()['nextCursor']}&limit=5")
    disposition = {"dispositionId": str(uuid.uuid4()), "listingId": "L-prism", "merchantId": "m-prism",
                   "certificateNo": cert["certificateNo"], "action": "INTERCEPTED", "reasonCode": "CERT_NOT_FOUND",
                   "decidedAt": signing.now_rfc3339(), "requestId": request["requestId"]}
    reported = _signed("POST", regulator.url, "/api/v1/dispositions", _compact(disposition))
    assert [verified.status_code, page.status_code, after.status_code, reported.status_code] == [200, 200, 200, 202]
    assert regulator.violations() == [] and test_control.violations() == []
    # The platform's own calls went through Prism (so they were validated too), and arrived signed.
    assert "/api/v1/verifications" in regulator.log.read_text(encoding="utf-8", errors="replace")
    platform_calls = [c for c in sim.captures() if c["platformId"] == platform_id]
    assert platform_calls and all(c["signatureValid"] for c in platform_calls), platform_calls[:3]


def test_prism_reports_a_violation_it_is_shown(chain: tuple[SimulatorServer, Prism, Prism, str]) -> None:
    # The detector itself: a request missing required fields is a violation Prism reports.
    _, _, test_control, _ = chain
    before = len(test_control.violations())
    httpx.post(f"{test_control.url}/listings", json={"merchantId": "m-prism"}, timeout=15, trust_env=False)
    assert len(test_control.violations(more_than=before)) > before
