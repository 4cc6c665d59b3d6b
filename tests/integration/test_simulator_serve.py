"""serve.main for real: a port in use is one line and exit 3; a running simulator prints what to
configure, accepts a platform using it, loads a certificates file, and stops cleanly on Ctrl-C or SIGTERM."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from conformance import signing
from conformance.simulator import serve
from conformance.simulator.core import Simulator
from conformance.simulator.server import bind_socket

REPO = Path(__file__).resolve().parents[2]


def test_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    taken = bind_socket("127.0.0.1", 0)
    try:
        port = taken.getsockname()[1]
        code = serve.main(host="127.0.0.1", port=port, platform_id="mall", platform_secret="s3cret-value",
                          certificates=None, seed=0, notification_url=None, signature_alg="HMAC-SHA256")
    finally:
        taken.close()
    out, err = capsys.readouterr()
    assert code == 3
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines == [f"ccc-conformance: error: port {port} on 127.0.0.1 is in use; stop what uses it or choose "
                     "another with --port"]
    assert "Traceback" not in out + err


def start_main(args: dict[str, object]) -> subprocess.Popen[str]:
    code = ("import sys; from pathlib import Path; from conformance.simulator.serve import main; "
            f"a = {args!r}; a['certificates'] = Path(a['certificates']) if a['certificates'] else None; "
            "sys.exit(main(**a))")
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})


def read_banner(proc: subprocess.Popen[str], timeout: float = 60.0) -> str:
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "Press Ctrl-C" in line:
            return "".join(lines)
    proc.kill()
    raise AssertionError(f"no banner: {''.join(lines)} {proc.stderr.read() if proc.stderr else ''}")


@pytest.fixture
def certificates_file(tmp_path: Path) -> Iterator[tuple[Path, dict[str, object]]]:
    record = Simulator(seed=99).issue_certificate(product_code="0714", models=["M1-L213B"], brand="瑞丰")
    path = tmp_path / "certs.yaml"
    path.write_text(yaml.safe_dump({"certificates": [record]}, allow_unicode=True), encoding="utf-8")
    yield path, record


@pytest.mark.flaky(reruns=1)  # a start-up under a loaded CI machine
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_standalone_run(certificates_file: tuple[Path, dict[str, object]], stop_signal: int) -> None:
    path, record = certificates_file
    proc = start_main({"host": "127.0.0.1", "port": 0, "platform_id": None, "platform_secret": None,
                       "certificates": str(path), "seed": 5, "notification_url": None,
                       "signature_alg": "HMAC-SM3"})
    try:
        banner = read_banner(proc)
        url = re.search(r"regulator base URL : (http://127\.0\.0\.1:\d+)", banner)
        platform = re.search(r"platform id        : (\S+)", banner)
        secret = re.search(r"platform secret    : (\S+)", banner)
        assert url and platform and secret, banner
        assert "HMAC-SM3" in banner and "(1 from file)" in banner
        for status in ("VALID", "SUSPENDED", "REVOKED", "CANCELLED", "EXPIRED"):
            assert re.search(rf"^  {status} +\d{{16}} ", banner, re.M), banner

        doc = {"requestId": str(uuid.uuid4()), "listingId": "L-1", "merchantId": "M-1",
               "certificateNo": record["certificateNo"], "productCode": "0714", "productName": "微波炉"}
        body = json.dumps(doc, ensure_ascii=False).encode()
        path_ = "/api/v1/verifications"
        headers = signing.make_headers(secret.group(1), "POST", path_, body, signing.SM3).as_platform(platform.group(1))
        answer = httpx.post(url.group(1) + path_, content=body, headers={**headers, "Content-Type": "application/json"},
                            timeout=5, trust_env=False)
        assert answer.status_code == 200, answer.text
        assert answer.json()["certificate"] == record
    finally:
        proc.send_signal(stop_signal)
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, err
    assert "simulator stopped" in out
    assert "Traceback" not in err
