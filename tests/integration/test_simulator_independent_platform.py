"""A platform written by someone else is accepted.

The client below is written only from the description in specs/openapi/regulator.yaml — it does not
import conformance.signing or anything else of the harness: standard library hmac/hashlib for
HMAC-SHA256, OpenSSL (through hashlib, when it has SM3) or a hand-built RFC 2104 HMAC for HMAC-SM3,
its own timestamps, nonces and JSON. If the simulator accepts it, the simulator follows the written
contract rather than our own code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlencode

import httpx
import pytest

from conformance.simulator.server import SimulatorServer

PLATFORM_ID = "third-party-mall"
SECRET = "第三方-secret-ü"  # non-ASCII on purpose: the description says the secret is used as UTF-8 bytes


def _sm3_hmac(key: bytes, message: bytes) -> str:
    if "sm3" in hashlib.algorithms_available:
        return hmac.new(key, message, lambda: hashlib.new("sm3")).hexdigest()
    from cryptography.hazmat.primitives import hashes  # the platform's own choice of SM3 library

    def sm3(data: bytes) -> bytes:
        h = hashes.Hash(hashes.SM3())
        h.update(data)
        return h.finalize()

    key = key.ljust(64, b"\0")
    return sm3(bytes(b ^ 0x5C for b in key) + sm3(bytes(b ^ 0x36 for b in key) + message)).hex()


class ThirdPartyRegulatorClient:
    """What a platform engineer writes after reading regulator.yaml's description."""

    def __init__(self, base_url: str, platform_id: str, secret: str, algorithm: str = "HMAC-SHA256") -> None:
        self.base_url = base_url
        self.platform_id = platform_id
        self.secret = secret.encode("utf-8")
        self.algorithm = algorithm
        self.http = httpx.Client(base_url=base_url, timeout=5, trust_env=False)

    def _headers(self, method: str, path_and_query: str, body: bytes) -> dict[str, str]:
        timestamp = datetime.now(timezone(timedelta(hours=8))).strftime("%Y-%m-%dT%H:%M:%S+08:00")
        nonce = secrets.token_urlsafe(18)
        canonical = f"{method}\n{path_and_query}\n{timestamp}\n{nonce}\n{hashlib.sha256(body).hexdigest()}".encode()
        if self.algorithm == "HMAC-SM3":
            signature = _sm3_hmac(self.secret, canonical)
        else:
            signature = hmac.new(self.secret, canonical, hashlib.sha256).hexdigest()
        headers = {"X-Platform-Id": self.platform_id, "X-Timestamp": timestamp, "X-Nonce": nonce,
                   "X-Signature": signature}
        if self.algorithm != "HMAC-SHA256":
            headers["X-Signature-Alg"] = self.algorithm
        return headers

    def verify(self, listing: dict[str, str]) -> httpx.Response:
        body = json.dumps({"requestId": str(uuid.uuid4()), **listing}, separators=(",", ":")).encode()
        return self.http.post("/api/v1/verifications", content=body,
                              headers={**self._headers("POST", "/api/v1/verifications", body),
                                       "Content-Type": "application/json; charset=utf-8"})

    def status_changes(self, after: str | None = None, limit: int = 100) -> httpx.Response:
        query = urlencode({k: v for k, v in (("after", after), ("limit", limit)) if v is not None})
        path = f"/api/v1/status-changes?{query}"
        return self.http.get(path, headers=self._headers("GET", path, b""))

    def report(self, disposition: dict[str, object]) -> httpx.Response:
        body = json.dumps(disposition, ensure_ascii=False).encode()
        return self.http.post("/api/v1/dispositions", content=body,
                              headers={**self._headers("POST", "/api/v1/dispositions", body),
                                       "Content-Type": "application/json"})


@pytest.fixture(scope="module")
def server() -> Iterator[SimulatorServer]:
    with SimulatorServer(seed=51) as srv:
        yield srv


@pytest.mark.parametrize("algorithm", ["HMAC-SHA256", "HMAC-SM3"])
def test_third_party_platform_is_accepted(server: SimulatorServer, algorithm: str) -> None:
    sim = server.simulator
    sim.register_platform(PLATFORM_ID, SECRET, signature_alg=algorithm)
    cert = sim.issue_certificate(product_code="0901", models=["ThinkStation P3"])
    platform = ThirdPartyRegulatorClient(server.url, PLATFORM_ID, SECRET, algorithm)

    listing = {"listingId": "sku-778899", "merchantId": "shop-42", "certificateNo": cert["certificateNo"],
               "productCode": "0901", "productName": "台式电脑 商务主机", "model": "ThinkStation P3"}
    answer = platform.verify(listing)
    assert answer.status_code == 200, answer.text
    assert (answer.json()["code"], answer.json()["certificate"]["status"]) == ("OK", "VALID")

    event = sim.set_status(cert["certificateNo"], "SUSPENDED", reason="监督抽查不合格", push=False)
    cursor = str(event["sequence"] - 1)
    page = platform.status_changes(after=cursor, limit=10)
    assert page.status_code == 200, page.text
    assert page.json()["events"][0] == event

    report = platform.report({"dispositionId": str(uuid.uuid4()), "listingId": "sku-778899", "merchantId": "shop-42",
                              "certificateNo": cert["certificateNo"], "action": "TAKEN_DOWN",
                              "reasonCode": "CERT_SUSPENDED",
                              "decidedAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                              "eventId": event["eventId"]})
    assert report.status_code == 202, report.text

    mine = sim.captures(match={"platformId": PLATFORM_ID})[-3:]
    assert [(c["route"], c["signatureValid"], c["signatureAlg"], c["schemaValid"], c["headerErrors"]) for c in mine] == [
        ("verifications", True, algorithm, True, []), ("status-changes", True, algorithm, True, []),
        ("dispositions", True, algorithm, True, [])]
