"""schemathesis's own CLI with ``SCHEMATHESIS_HOOKS=conformance.schemathesis`` (the README's "Fuzz your
integration" commands): signed against the simulator, with the ICS's categories against the reference
platform, finding nothing. Bounded (--max-examples), loopback only."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance import signing
from conformance.simulator.server import SimulatorServer
from tests.integration.refplat_support import REPO_ROOT, SECRET, PlatformPool, Variant, simulator

pytestmark = pytest.mark.slow

MAX_EXAMPLES = "8"
CLI_TIMEOUT = 420  # seconds; a run takes ~20 s alone, longer on a busy machine
SCHEMATHESIS = str(Path(sys.executable).with_name("schemathesis"))


@pytest.fixture(scope="module")
def sim_server() -> Iterator[SimulatorServer]:
    with simulator() as server:
        yield server


def _run(document: str, url: str, har: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "SCHEMATHESIS_HOOKS": "conformance.schemathesis", **env}
    for var in ("CCC_PIXIT", "CCC_ICS", "CCC_BEARER_TOKEN", "CCC_PLATFORM_ID", "CCC_PLATFORM_SECRET"):
        if var not in env:
            environment.pop(var, None)
    return subprocess.run([SCHEMATHESIS, "run", str(REPO_ROOT / "specs" / "openapi" / document), "--url", url,
                           "--max-examples", MAX_EXAMPLES, "--seed", "1", "--no-color",
                           *(["--report", "har", "--report-har-path", str(har)] if har else [])],
                          cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=CLI_TIMEOUT,
                          check=False)


def test_signed_run_against_the_simulator_finds_nothing(sim_server: SimulatorServer) -> None:
    sim = sim_server.simulator
    sim.register_platform("st-mall", SECRET)
    before = len(sim.captures())
    run = _run("regulator.yaml", sim_server.url, CCC_PLATFORM_ID="st-mall", CCC_PLATFORM_SECRET=SECRET)
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    captures = [c for c in sim.captures()[before:] if c["platformId"] == "st-mall"]
    # The hooks really sign: requests reach the handlers (200/202), under both algorithms.
    accepted = [c for c in captures if c["signatureValid"] and 200 <= c["response"]["status"] < 300]
    assert len(accepted) >= 10, f"{len(accepted)} of {len(captures)} requests accepted"
    assert {c["route"] for c in accepted} >= {"verifications", "status-changes", "dispositions"}
    assert {c["signatureAlg"] for c in accepted} == set(signing.ALGORITHMS)


def test_run_with_the_ics_categories_against_the_reference_platform_finds_nothing(
        sim_server: SimulatorServer, tmp_path: Path) -> None:
    pool = PlatformPool(sim_server, tmp_path, {"plain": Variant(bearer="st-token")})
    try:
        platform = pool["plain"]
        har = tmp_path / "exchanges.har"
        run = _run("platform-test.yaml", platform.base, har, CCC_BEARER_TOKEN="st-token",
                   CCC_ICS=str(tmp_path / "plain" / "ics.yaml"))
        assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
        entries = json.loads(har.read_text(encoding="utf-8"))["log"]["entries"]
        statuses = Counter((e["request"]["method"], e["response"]["status"]) for e in entries)
        # The token is sent (401 only where a probe left it out) and generated listings are created:
        # their categories are the ICS's (an unknown categoryId is 422).
        assert statuses[("POST", 201)] >= 5, statuses
        assert sum(n for (_, status), n in statuses.items() if status == 401) < len(entries) / 10, statuses
    finally:
        pool.stop()
