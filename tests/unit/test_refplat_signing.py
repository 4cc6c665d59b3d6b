"""Signing of regulator calls and the notification endpoint's gate (SEC-01, SEC-02, MSG-03).

The vectors were computed once and cross-checked against the harness's own signing module (an
independent implementation of the same profile text) and, for SM3, a hand-built RFC 2104 HMAC.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes

from reference_platform import signing
from reference_platform.__main__ import parser, settings_from
from reference_platform.clock import SHANGHAI
from reference_platform.notifications import NotificationGate
from reference_platform.store import Store

SECRET = "秘密-secret"
BODY = b'{"requestId":"x"}'
VECTORS = [
    # (alg, method, path, timestamp, nonce, body, signature)
    ("HMAC-SHA256", "POST", "/api/v1/verifications", "2025-12-01T10:00:00.000+08:00", "n-1", BODY,
     "6f52463616d39d961429e87886360720d66645d7c0d396c53aa17ea094343f7c"),
    ("HMAC-SM3", "POST", "/api/v1/verifications", "2025-12-01T10:00:00.000+08:00", "n-1", BODY,
     "34232be3fad8d057d57e265fba37005255bea0734356b2114034fd9a3653cc52"),
]


@pytest.mark.parametrize(("alg", "method", "path", "timestamp", "nonce", "body", "expected"), VECTORS)
def test_fixed_vectors(alg: str, method: str, path: str, timestamp: str, nonce: str, body: bytes,
                       expected: str) -> None:
    assert signing.signature(SECRET, alg, method, path, timestamp, nonce, body) == expected


def test_string_to_sign_hashes_the_body_with_sha256_and_keeps_the_query() -> None:
    text = signing.string_to_sign("get", "/api/v1/status-changes?after=5&limit=100", "T", "N", b"")
    assert text == (b"GET\n/api/v1/status-changes?after=5&limit=100\nT\nN\n"
                    b"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


def test_sm3_is_the_national_standard_hash() -> None:
    digest = hashes.Hash(hashes.SM3())
    digest.update(b"abc")   # GB/T 32905-2016, example 1
    assert digest.finalize().hex() == "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_hmac_sm3_is_rfc_2104_over_sm3() -> None:
    def sm3(data: bytes) -> bytes:
        digest = hashes.Hash(hashes.SM3())
        digest.update(data)
        return digest.finalize()

    key = SECRET.encode().ljust(64, b"\0")
    message = signing.string_to_sign("POST", "/p", "T", "N", BODY)
    expected = sm3(bytes(b ^ 0x5C for b in key) + sm3(bytes(b ^ 0x36 for b in key) + message)).hex()
    assert signing.signature(SECRET, "HMAC-SM3", "POST", "/p", "T", "N", BODY) == expected


def test_signer_headers() -> None:
    headers = signing.Signer("mall", SECRET).headers("POST", "/api/v1/verifications", BODY, "T")
    assert set(headers) == {"X-Platform-Id", "X-Timestamp", "X-Nonce", "X-Signature"}
    assert headers["X-Signature"] == signing.signature(SECRET, "HMAC-SHA256", "POST", "/api/v1/verifications", "T",
                                                       headers["X-Nonce"], BODY)
    sm3 = signing.Signer("mall", SECRET, "HMAC-SM3").headers("GET", "/x", b"", "T")
    assert sm3["X-Signature-Alg"] == "HMAC-SM3"
    assert signing.Signer("mall", SECRET).headers("GET", "/x", b"", "T")["X-Nonce"] != sm3["X-Nonce"]


# -- the notification endpoint's gate -------------------------------------------------------------------
PATH = "/ccc/v1/notifications"


def gate(tmp_path: Path, *faults: str) -> NotificationGate:
    args = parser().parse_args(["--regulator-url", "http://127.0.0.1:9", "--platform-id", "p",
                                "--platform-secret", SECRET, *[a for f in faults for a in ("--fault", f)]])
    settings = settings_from(args, tmp_path / "db.sqlite")
    return NotificationGate(settings, Store(settings.db_path))


def signed(body: bytes = BODY, *, timestamp: str | None = None, nonce: str = "nonce-1", alg: str = "HMAC-SHA256",
           secret: str = SECRET) -> dict[str, str]:
    ts = timestamp or datetime.now(SHANGHAI).isoformat(timespec="milliseconds")
    headers = {"X-Regulator-Timestamp": ts, "X-Regulator-Nonce": nonce,
               "X-Regulator-Signature": signing.signature(secret, alg, "POST", PATH, ts, nonce, body)}
    if alg != "HMAC-SHA256":
        headers["X-Signature-Alg"] = alg
    return headers


def test_a_signed_fresh_push_passes(tmp_path: Path) -> None:
    assert gate(tmp_path).refuse(signed(), PATH, BODY) is None
    assert gate(tmp_path).refuse(signed(nonce="n-sm3", alg="HMAC-SM3"), PATH, BODY) is None


@pytest.mark.parametrize("tamper", ["missing", "wrong-secret", "body", "path", "alg"])
def test_bad_signatures_are_refused(tmp_path: Path, tamper: str) -> None:
    headers, body, path = signed(), BODY, PATH
    if tamper == "missing":
        del headers["X-Regulator-Signature"]
    elif tamper == "wrong-secret":
        headers = signed(secret="other")
    elif tamper == "body":
        body = BODY + b" "
    elif tamper == "path":
        path = "/ccc/v1/notifications?x=1"
    else:
        headers["X-Signature-Alg"] = "HMAC-MD5"
    assert gate(tmp_path).refuse(headers, path, body) is not None


def test_stale_and_future_timestamps_are_refused(tmp_path: Path) -> None:
    g = gate(tmp_path)
    old = (datetime.now(SHANGHAI) - timedelta(seconds=301)).isoformat()
    future = (datetime.now(SHANGHAI) + timedelta(seconds=301)).isoformat()
    assert g.refuse(signed(timestamp=old, nonce="a"), PATH, BODY) is not None
    assert g.refuse(signed(timestamp=future, nonce="b"), PATH, BODY) is not None
    assert g.refuse(signed(timestamp="2025-12-01T10:00:00", nonce="c"), PATH, BODY) is not None  # no offset


def test_a_reused_nonce_is_refused_even_after_a_restart(tmp_path: Path) -> None:
    assert gate(tmp_path).refuse(signed(nonce="once"), PATH, BODY) is None
    assert "already used" in (gate(tmp_path).refuse(signed(nonce="once"), PATH, BODY) or "")


def test_forged_pushes_do_not_burn_nonces(tmp_path: Path) -> None:
    g = gate(tmp_path)
    forged = signed(nonce="victim", secret="attacker")
    assert g.refuse(forged, PATH, BODY) is not None
    assert g.refuse(signed(nonce="victim"), PATH, BODY) is None


def test_accept_unsigned_fault(tmp_path: Path) -> None:
    g = gate(tmp_path, "accept-unsigned")
    assert g.refuse({}, PATH, BODY) is None
    assert g.refuse(signed(secret="attacker", nonce="z"), PATH, BODY) is None


def test_accept_replay_fault(tmp_path: Path) -> None:
    g = gate(tmp_path, "accept-replay")
    old = (datetime.now(SHANGHAI) - timedelta(hours=1)).isoformat()
    assert g.refuse(signed(timestamp=old), PATH, BODY) is None
    assert g.refuse(signed(nonce="again"), PATH, BODY) is None
    assert g.refuse(signed(nonce="again"), PATH, BODY) is None
    assert g.refuse(signed(secret="attacker", nonce="y"), PATH, BODY) is not None   # still signed


def test_old_nonces_are_forgotten(tmp_path: Path) -> None:
    store = Store(tmp_path / "n.db")
    assert store.use_nonce("n", time.time() - 1000)
    store.forget_nonces(time.time() - 600)
    assert store.use_nonce("n", time.time())
