"""Request signing of the regulator interface (profile.md §2, Clarifications: Signing details).

The string to sign is ``METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nhex(SHA-256(body))``; PATH carries the query
string exactly as sent; the secret is UTF-8; signatures are lowercase hex. HMAC-SHA256 unless the
``X-Signature-Alg`` header says HMAC-SM3 (国密, GB/T 32905-2016). The simulator verifies platform
calls with this module and signs its pushes with it; the suite signs the notifications it sends.
"""

from __future__ import annotations

import hashlib
import hmac as std_hmac
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as c_hmac

from conformance import specs

# The algorithm names are terminology.yaml's signatureAlgorithm codes; the hash each one means is here.
_ALG = specs.load().vocab.signatureAlgorithm
SHA256 = _ALG.HMAC_SHA256
SM3 = _ALG.HMAC_SM3
ALGORITHMS = (SHA256, SM3)

# Header names: platform → regulator, and regulator → platform (pushes).
PLATFORM_HEADERS = {"id": "X-Platform-Id", "timestamp": "X-Timestamp", "nonce": "X-Nonce",
                    "signature": "X-Signature", "alg": "X-Signature-Alg"}
REGULATOR_HEADERS = {"timestamp": "X-Regulator-Timestamp", "nonce": "X-Regulator-Nonce",
                     "signature": "X-Regulator-Signature", "alg": "X-Signature-Alg"}

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")


def _hash(alg: str) -> hashes.HashAlgorithm:
    if alg == SHA256:
        return hashes.SHA256()
    if alg == SM3:
        return hashes.SM3()
    raise ValueError(f"unknown signature algorithm {alg!r} (expected one of {', '.join(ALGORITHMS)})")


def body_digest(body: bytes) -> str:
    """hex(SHA-256(body)): the profile hashes the body with SHA-256 whatever the HMAC algorithm."""
    return hashlib.sha256(body).hexdigest()


def string_to_sign(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> bytes:
    return "\n".join([method.upper(), path, timestamp, nonce, body_digest(body)]).encode()


def sign(secret: str, method: str, path: str, timestamp: str, nonce: str, body: bytes, alg: str = SHA256) -> str:
    mac = c_hmac.HMAC(secret.encode("utf-8"), _hash(alg))
    mac.update(string_to_sign(method, path, timestamp, nonce, body))
    return mac.finalize().hex()


def verify(secret: str, signature: str, method: str, path: str, timestamp: str, nonce: str, body: bytes,
           alg: str = SHA256) -> bool:
    expected = sign(secret, method, path, timestamp, nonce, body, alg)
    return std_hmac.compare_digest(expected, signature)


def now_rfc3339() -> str:
    """Current time as RFC 3339 with the Asia/Shanghai offset, to the millisecond."""
    return datetime.now(SHANGHAI).isoformat(timespec="milliseconds")


# RFC 3339 §5.6 date-time: the offset is Z or ±hh:mm — "+0800" (ISO 8601 basic) is not RFC 3339.
RFC3339_RE = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def is_rfc3339(value: object) -> bool:
    """Strictly RFC 3339 with an offset (what MSG-01 requires of a timestamp)."""
    return isinstance(value, str) and RFC3339_RE.match(value) is not None and parse_rfc3339(value) is not None


def parse_rfc3339(value: str) -> datetime | None:
    """An aware datetime, or None when the value has no explicit offset or does not parse.

    Lenient on purpose (ISO 8601 forms such as a "+0800" offset parse): a receiver accepts what is
    unambiguous and records strict-format problems separately (:func:`is_rfc3339`).
    """
    if not isinstance(value, str) or len(value) < 20 or value[10] not in "Tt":
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def skew_seconds(timestamp: str, now: datetime | None = None) -> float | None:
    parsed = parse_rfc3339(timestamp)
    if parsed is None:
        return None
    return abs(((now or datetime.now(UTC)) - parsed).total_seconds())


@dataclass(frozen=True)
class SignedHeaders:
    timestamp: str
    nonce: str
    signature: str
    alg: str

    def as_platform(self, platform_id: str) -> dict[str, str]:
        h = PLATFORM_HEADERS
        out = {h["id"]: platform_id, h["timestamp"]: self.timestamp, h["nonce"]: self.nonce, h["signature"]: self.signature}
        if self.alg != SHA256:
            out[h["alg"]] = self.alg
        return out

    def as_regulator(self) -> dict[str, str]:
        h = REGULATOR_HEADERS
        out = {h["timestamp"]: self.timestamp, h["nonce"]: self.nonce, h["signature"]: self.signature}
        if self.alg != SHA256:
            out[h["alg"]] = self.alg
        return out


def make_headers(secret: str, method: str, path: str, body: bytes, alg: str = SHA256,
                 timestamp: str | None = None, nonce: str | None = None) -> SignedHeaders:
    ts = timestamp or now_rfc3339()
    n = nonce or uuid.uuid4().hex
    return SignedHeaders(ts, n, sign(secret, method, path, ts, n, body, alg), alg)
