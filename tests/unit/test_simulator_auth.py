"""The simulator's authentication: known-answer signature vectors and every refusal reason.

The known answers were computed with the OpenSSL command line (an implementation independent of
conformance.signing and of Python's cryptography package):

    printf 'POST\\n/api/v1/verifications\\n2025-12-01T10:00:00+08:00\\nnonce-0001\\n%s' \\
        "$(printf '<BODY>' | openssl dgst -sha256 -r | cut -d' ' -f1)" > sts.txt
    openssl dgst -sha256 -hmac reference-secret-change-me -r sts.txt
    openssl dgst -sm3 -hmac reference-secret-change-me -r sts.txt

and are cross-checked here by computing them again with hmac + hashlib (SHA-256) and with a hand-built
RFC 2104 HMAC over an SM3 hash checked against the published vector SM3("abc").
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes

from conformance import signing
from conformance.simulator.app import build_app
from conformance.simulator.core import Simulator

SECRET = "reference-secret-change-me"
KAT_BODY = b'{"requestId":"00000000-0000-4000-8000-000000000001"}'
KAT_BODY_SHA256 = "7eac9db2915c27dd63bb6a038b0a72cc7d9353732fdd73947bc0aa1a3f80c67c"
KAT_STRING = ("POST\n/api/v1/verifications\n2025-12-01T10:00:00+08:00\nnonce-0001\n" + KAT_BODY_SHA256).encode()
KAT_HMAC_SHA256 = "7d1e86975a01110cdc6d7cd149dea8e9b965f872bdfb4498acd3d6a581fa9530"
KAT_HMAC_SM3 = "e063a266746ed6822fc959fdb96ef08a39c62a81bf55441978f8ac3c758df066"
SM3_ABC = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"  # GB/T 32905-2016, example 1
PATH = "/api/v1/verifications"


def sm3(data: bytes) -> bytes:
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return digest.finalize()


def hmac_sm3_by_hand(key: bytes, message: bytes) -> str:
    """RFC 2104 with SM3 (block size 64 bytes), written out so it does not share code with signing.py."""
    block = 64
    if len(key) > block:
        key = sm3(key)
    key = key.ljust(block, b"\0")
    inner = sm3(bytes(k ^ 0x36 for k in key) + message)
    return sm3(bytes(k ^ 0x5C for k in key) + inner).hex()


# -- known answers --------------------------------------------------------------------------------
def test_sm3_matches_the_published_vector() -> None:
    assert sm3(b"abc").hex() == SM3_ABC


def test_known_answer_vectors_are_consistent() -> None:
    assert hashlib.sha256(KAT_BODY).hexdigest() == KAT_BODY_SHA256
    assert hmac.new(SECRET.encode(), KAT_STRING, hashlib.sha256).hexdigest() == KAT_HMAC_SHA256
    assert hmac_sm3_by_hand(SECRET.encode(), KAT_STRING) == KAT_HMAC_SM3


@pytest.mark.parametrize(("alg", "expected"), [(signing.SHA256, KAT_HMAC_SHA256), (signing.SM3, KAT_HMAC_SM3)])
def test_signing_module_gives_the_known_answers(alg: str, expected: str) -> None:
    assert signing.string_to_sign("POST", PATH, "2025-12-01T10:00:00+08:00", "nonce-0001", KAT_BODY) == KAT_STRING
    assert signing.sign(SECRET, "POST", PATH, "2025-12-01T10:00:00+08:00", "nonce-0001", KAT_BODY, alg) == expected


@pytest.mark.parametrize(("alg", "expected"), [(signing.SHA256, KAT_HMAC_SHA256), (signing.SM3, KAT_HMAC_SM3)])
def test_simulator_accepts_the_known_answer_signature(alg: str, expected: str) -> None:
    sim = Simulator()
    sim.register_platform("kat-platform", SECRET)
    headers = {"X-Platform-Id": "kat-platform", "X-Timestamp": "2025-12-01T10:00:00+08:00", "X-Nonce": "nonce-0001",
               "X-Signature": expected}
    if alg != signing.SHA256:
        headers["X-Signature-Alg"] = alg
    now = datetime(2025, 12, 1, 2, 0, 30, tzinfo=UTC).timestamp()  # 30 s after the vector's timestamp
    result = sim.auth.check("POST", PATH, {k.lower(): v for k, v in headers.items()}, KAT_BODY, now)
    assert (result.error, result.signature_valid, result.alg) == (None, True, alg)


# -- through the ASGI app -------------------------------------------------------------------------
def call(sim: Simulator, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> httpx.Response:
    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(sim)), base_url="http://sim") as client:
            return await client.request(method, path, content=body, headers=headers)

    return asyncio.run(go())


def request_doc(certificate_no: str = "2021010701123456") -> dict[str, Any]:
    return {"requestId": str(uuid.uuid4()), "listingId": "L-1", "merchantId": "M-1", "certificateNo": certificate_no,
            "productCode": "0701", "productName": "双门冰箱"}


def signed(secret: str, body: bytes, path: str = PATH, method: str = "POST", alg: str = signing.SHA256,
           platform_id: str = "mall", **overrides: str) -> dict[str, str]:
    headers = signing.make_headers(secret, method, path, body, alg).as_platform(platform_id)
    headers["Content-Type"] = "application/json"
    headers.update(overrides)
    return headers


@pytest.fixture
def sim() -> Simulator:
    s = Simulator(seed=3)
    s.register_platform("mall", "mall-secret-123")
    return s


@pytest.mark.parametrize("alg", [signing.SHA256, signing.SM3])
def test_signed_request_is_accepted(sim: Simulator, alg: str) -> None:
    cert = sim.issue_certificate(product_code="0701")
    body = json.dumps(request_doc(cert["certificateNo"])).encode()
    response = call(sim, "POST", PATH, body, signed("mall-secret-123", body, alg=alg))
    assert response.status_code == 200, response.text
    assert response.json()["certificate"]["certificateNo"] == cert["certificateNo"]
    capture = sim.captures()[-1]
    assert (capture["signatureValid"], capture["signatureAlg"], capture["authError"]) == (True, alg, None)


def refusal(sim: Simulator, headers: dict[str, str], body: bytes | None = None) -> tuple[str, dict[str, Any]]:
    data = body if body is not None else json.dumps(request_doc()).encode()
    response = call(sim, "POST", PATH, data, headers)
    assert response.status_code == 401, response.text
    answer = response.json()
    assert answer["code"] == "AUTH_FAILED"
    capture = sim.captures()[-1]
    assert capture["authError"] == answer["message"]
    assert capture["response"]["status"] == 401
    return answer["message"], capture


def test_unknown_platform(sim: Simulator) -> None:
    body = json.dumps(request_doc()).encode()
    message, capture = refusal(sim, signed("whatever", body, platform_id="stranger"), body)
    assert "unknown platform 'stranger'" in message
    assert capture["signatureValid"] is None


@pytest.mark.parametrize("header", ["X-Platform-Id", "X-Timestamp", "X-Nonce", "X-Signature"])
def test_missing_header(sim: Simulator, header: str) -> None:
    body = json.dumps(request_doc()).encode()
    headers = signed("mall-secret-123", body)
    del headers[header]
    message, capture = refusal(sim, headers, body)
    assert f"{header} header missing" in message
    assert any(header in e for e in capture["headerErrors"])


@pytest.mark.parametrize("timestamp", ["2025-12-01 10:00:00", "2025-12-01T10:00:00", "1764554400", "yesterday"])
def test_timestamp_not_rfc3339_with_offset(sim: Simulator, timestamp: str) -> None:
    body = json.dumps(request_doc()).encode()
    headers = signing.make_headers("mall-secret-123", "POST", PATH, body, timestamp=timestamp).as_platform("mall")
    message, capture = refusal(sim, headers, body)
    assert "X-Timestamp" in message and "not RFC 3339 with an offset" in message
    assert any("not RFC 3339 with an offset" in e for e in capture["headerErrors"])
    # The signature over the timestamp as sent is still checked, as evidence.
    assert capture["signatureValid"] is True


def test_clock_skew(sim: Simulator) -> None:
    body = json.dumps(request_doc()).encode()
    stale = (datetime.now(signing.SHANGHAI) - timedelta(seconds=301 + 30)).isoformat(timespec="seconds")
    headers = signing.make_headers("mall-secret-123", "POST", PATH, body, timestamp=stale).as_platform("mall")
    message, capture = refusal(sim, headers, body)
    assert "away from the regulator's clock (limit 300 s)" in message
    assert capture["signatureValid"] is True


def test_future_timestamp_within_skew_is_accepted(sim: Simulator) -> None:
    body = json.dumps(request_doc()).encode()
    soon = (datetime.now(signing.SHANGHAI) + timedelta(seconds=200)).isoformat(timespec="seconds")
    headers = signing.make_headers("mall-secret-123", "POST", PATH, body, timestamp=soon).as_platform("mall")
    assert call(sim, "POST", PATH, body, headers).status_code == 200


def test_wrong_signature_says_what_was_signed(sim: Simulator) -> None:
    body = json.dumps(request_doc()).encode()
    message, capture = refusal(sim, signed("not-the-secret", body), body)
    assert "X-Signature does not match" in message
    assert "POST\\n/api/v1/verifications\\n" in message  # the string to sign, so the engineer can compare
    assert capture["signatureValid"] is False


def test_uppercase_signature_is_refused_and_said(sim: Simulator) -> None:
    body = json.dumps(request_doc()).encode()
    headers = signed("mall-secret-123", body)
    headers["X-Signature"] = headers["X-Signature"].upper()
    message, capture = refusal(sim, headers, body)
    assert "lowercase hex" in message
    assert any("lowercase" in e for e in capture["headerErrors"])


def test_body_changed_after_signing(sim: Simulator) -> None:
    body = json.dumps(request_doc()).encode()
    headers = signed("mall-secret-123", body)
    message, _ = refusal(sim, headers, body.replace(b"M-1", b"M-2"))
    assert "does not match" in message


def test_unsupported_algorithm(sim: Simulator) -> None:
    body = json.dumps(request_doc()).encode()
    message, capture = refusal(sim, signed("mall-secret-123", body, **{"X-Signature-Alg": "HMAC-MD5"}), body)
    assert "X-Signature-Alg 'HMAC-MD5' is not supported" in message
    assert capture["headerErrors"]


def test_reused_nonce(sim: Simulator) -> None:
    body = json.dumps(request_doc()).encode()
    headers = signed("mall-secret-123", body)
    assert call(sim, "POST", PATH, body, headers).status_code == 200
    message, capture = refusal(sim, headers, body)
    assert "was already used" in message
    assert capture["signatureValid"] is True


def test_nonce_of_a_refused_request_is_not_burnt(sim: Simulator) -> None:
    """A request refused for its signature does not use up its nonce: only accepted ones are remembered."""
    body = json.dumps(request_doc()).encode()
    good = signed("mall-secret-123", body)
    bad = {**good, "X-Signature": "0" * 64}
    refusal(sim, bad, body)
    assert call(sim, "POST", PATH, body, good).status_code == 200


def test_same_nonce_from_two_platforms_is_fine(sim: Simulator) -> None:
    sim.register_platform("other", "other-secret-456")
    body = json.dumps(request_doc()).encode()
    first = signed("mall-secret-123", body, **{"X-Nonce": "shared-nonce"})
    first["X-Signature"] = signing.sign("mall-secret-123", "POST", PATH, first["X-Timestamp"], "shared-nonce", body)
    second = signed("other-secret-456", body, platform_id="other")
    second["X-Nonce"] = "shared-nonce"
    second["X-Signature"] = signing.sign("other-secret-456", "POST", PATH, second["X-Timestamp"], "shared-nonce", body)
    assert call(sim, "POST", PATH, body, first).status_code == 200
    assert call(sim, "POST", PATH, body, second).status_code == 200


def test_get_signs_path_with_query_and_empty_body(sim: Simulator) -> None:
    path = "/api/v1/status-changes?limit=5"
    ok = call(sim, "GET", path, headers=signed("mall-secret-123", b"", path=path, method="GET"))
    assert ok.status_code == 200, ok.text
    without_query = signed("mall-secret-123", b"", path="/api/v1/status-changes", method="GET")
    assert call(sim, "GET", path, headers=without_query).status_code == 401


def test_secret_in_a_url_is_redacted_and_flagged(sim: Simulator, tmp_path: Any) -> None:
    path = "/api/v1/status-changes?limit=5&secret=mall-secret-123"
    call(sim, "GET", path, headers=signed("mall-secret-123", b"", path=path, method="GET"))
    capture = sim.captures()[-1]
    assert capture["secretExposed"] is True
    assert "mall-secret-123" not in json.dumps(capture)
    assert capture["query"]["secret"] == "[REDACTED]"
    out = tmp_path / "captures.jsonl"
    sim.export_captures(out)
    assert "mall-secret-123" not in out.read_text(encoding="utf-8")
    assert sim.captures()[-1]["headers"]["x-signature"]  # signatures are not secrets: kept


def test_a_replaced_secret_stays_redacted(sim: Simulator) -> None:
    path = "/api/v1/status-changes?leak=mall-secret-123"
    call(sim, "GET", path, headers=signed("mall-secret-123", b"", path=path, method="GET"))
    sim.register_platform("mall", "a-new-secret-999")
    assert "mall-secret-123" not in json.dumps(sim.captures())


def test_platform_listing_never_shows_the_secret(sim: Simulator) -> None:
    assert "mall-secret-123" not in json.dumps(sim.platforms())
    assert "mall-secret-123" not in json.dumps(sim.info())
