"""Signing of regulator calls and verification of pushed notifications (profile.md §2, Signing details).

Written from the profile's text, as any platform would: the string to sign is
``METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nhex(SHA-256(body))``; PATH is the path plus ``?query`` exactly as
sent; the secret is its UTF-8 bytes; the signature is lowercase hex. The HMAC is SHA-256 unless
``X-Signature-Alg: HMAC-SM3`` (国密 SM3, GB/T 32905-2016) says otherwise; the body digest is always
SHA-256.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

HMAC_SHA256 = "HMAC-SHA256"
HMAC_SM3 = "HMAC-SM3"
ALGORITHMS = (HMAC_SHA256, HMAC_SM3)
# The header is optional: without it the receiver assumes HMAC-SHA256.
ALG_HEADER = "X-Signature-Alg"


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def string_to_sign(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return f"{method.upper()}\n{path}\n{timestamp}\n{nonce}\n{body_digest(body)}".encode()


def signature(secret: str, alg: str, method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    message = string_to_sign(method, path, timestamp, nonce, body)
    if alg == HMAC_SHA256:
        # The standard library's HMAC is the fast path for the default algorithm.
        return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()
    if alg == HMAC_SM3:
        # hashlib has no SM3 on most builds; cryptography's OpenSSL binding does.
        mac = crypto_hmac.HMAC(secret.encode("utf-8"), hashes.SM3())
        mac.update(message)
        return mac.finalize().hex()
    raise ValueError(f"unknown signature algorithm {alg!r}")


def signature_matches(secret: str, alg: str, given: str, method: str, path: str, timestamp: str, nonce: str,
                      body: bytes) -> bool:
    """Constant-time comparison, so a forger learns nothing from how long a refusal takes."""
    expected = signature(secret, alg, method, path, timestamp, nonce, body)
    return hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


@dataclass(frozen=True)
class Signer:
    """Signs the platform's calls to the regulator: X-Platform-Id, X-Timestamp, X-Nonce, X-Signature."""

    platform_id: str
    secret: str
    alg: str = HMAC_SHA256

    def headers(self, method: str, path: str, body: bytes, timestamp: str) -> dict[str, str]:
        # A random UUID never repeats in practice, and the regulator remembers nonces for 600 s.
        nonce = uuid.uuid4().hex
        out = {
            "X-Platform-Id": self.platform_id,
            "X-Timestamp": timestamp,
            "X-Nonce": nonce,
            "X-Signature": signature(self.secret, self.alg, method, path, timestamp, nonce, body),
        }
        if self.alg != HMAC_SHA256:
            out[ALG_HEADER] = self.alg
        return out
