"""Authentication of platform calls (profile.md §2, Clarifications: Signing details).

Every check that fails is named in the refusal, because a platform engineer reading a 401 needs to
know which of the six things was wrong. The checks run in a fixed order (identity, algorithm, headers
present, timestamp format, signature, clock skew, nonce) and the first failure is the refusal; the
signature is still computed whenever it can be, so that the capture holds it as evidence (MSG-03)
even for a request refused for another reason.
"""

from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from conformance import signing

_H = {k: v.lower() for k, v in signing.PLATFORM_HEADERS.items()}  # ASGI gives lowercase header names


@dataclass(frozen=True)
class Platform:
    platform_id: str
    secret: str
    notification_url: str | None
    signature_alg: str

    def public(self) -> dict[str, str | None]:
        """What may be shown: everything but the secret."""
        return {"platformId": self.platform_id, "notificationUrl": self.notification_url,
                "signatureAlg": self.signature_alg}


@dataclass
class AuthResult:
    platform_id: str | None
    alg: str | None
    signature_valid: bool | None  # None when it could not be computed (unknown platform, missing header)
    error: str | None  # the refusal message, None when accepted
    header_errors: list[str] = field(default_factory=list)


class Authenticator:
    """Registered platforms and the nonces they used; thread-safe."""

    def __init__(self, skew_seconds: float, nonce_memory_seconds: float, algorithms: tuple[str, ...]) -> None:
        self.skew_seconds = skew_seconds
        self.nonce_memory_seconds = nonce_memory_seconds
        self.algorithms = algorithms
        self._platforms: dict[str, Platform] = {}
        self._secrets: list[str] = []  # every secret ever registered: a replaced one must stay redacted
        self._lock = threading.Lock()
        # Two generations of nonces, swapped every nonce_memory_seconds: each nonce is remembered at
        # least that long (at most twice), with O(1) work per request and no sweep.
        self._nonces: set[tuple[str, str]] = set()
        self._old_nonces: set[tuple[str, str]] = set()
        self._generation_start = time.monotonic()

    # -- platforms ----------------------------------------------------------------------------
    def register(self, platform: Platform) -> None:
        with self._lock:
            self._platforms[platform.platform_id] = platform
            if platform.secret and platform.secret not in self._secrets:
                # Longest first, so that a secret containing another is redacted whole.
                self._secrets = sorted([*self._secrets, platform.secret], key=len, reverse=True)

    def platform(self, platform_id: str) -> Platform | None:
        return self._platforms.get(platform_id)

    def platforms(self) -> list[Platform]:
        with self._lock:
            return list(self._platforms.values())

    def secrets(self) -> list[str]:
        return self._secrets

    # -- the checks ---------------------------------------------------------------------------
    def check(self, method: str, path: str, headers: dict[str, str], body: bytes,
              now: float | None = None) -> AuthResult:
        """Authenticate one request. ``path`` is the path plus '?query' exactly as received."""
        header_errors: list[str] = []
        platform_id = headers.get(_H["id"])
        alg_header = headers.get(_H["alg"])
        alg = alg_header if alg_header is not None else signing.SHA256
        if not platform_id:
            header_errors.append(f"{signing.PLATFORM_HEADERS['id']} missing")
            return AuthResult(None, alg, None, f"{signing.PLATFORM_HEADERS['id']} header missing", header_errors)
        platform = self._platforms.get(platform_id)
        if alg not in self.algorithms:
            header_errors.append(f"{signing.PLATFORM_HEADERS['alg']} {alg!r} is not one of {', '.join(self.algorithms)}")
        timestamp = headers.get(_H["timestamp"])
        nonce = headers.get(_H["nonce"])
        signature = headers.get(_H["signature"])
        for key, value in (("timestamp", timestamp), ("nonce", nonce), ("signature", signature)):
            if not value:
                header_errors.append(f"{signing.PLATFORM_HEADERS[key]} missing")
        parsed_ts = signing.parse_rfc3339(timestamp) if timestamp else None
        if timestamp and parsed_ts is None:
            header_errors.append(f"{signing.PLATFORM_HEADERS['timestamp']} {timestamp!r} is not RFC 3339 with an offset")
        elif timestamp and not signing.is_rfc3339(timestamp):
            # Unambiguous, so accepted (the regulator's job is to answer); recorded for MSG-01.
            header_errors.append(f"{signing.PLATFORM_HEADERS['timestamp']} {timestamp!r} is not strictly RFC 3339 "
                                 "(offset must be Z or ±hh:mm)")
        if signature and signature != signature.lower():
            header_errors.append(f"{signing.PLATFORM_HEADERS['signature']} is not lowercase hex")

        signature_valid: bool | None = None
        expected = ""
        if platform is not None and alg in self.algorithms and timestamp and nonce and signature:
            expected = signing.sign(platform.secret, method, path, timestamp, nonce, body, alg)
            signature_valid = hmac.compare_digest(expected, signature)

        def refuse(message: str) -> AuthResult:
            return AuthResult(platform_id, alg, signature_valid, message, header_errors)

        if platform is None:
            return refuse(f"unknown platform {platform_id!r} ({signing.PLATFORM_HEADERS['id']}); "
                          "it must be registered with the simulator")
        if alg not in self.algorithms:
            return refuse(f"{signing.PLATFORM_HEADERS['alg']} {alg!r} is not supported: use "
                          f"{' or '.join(self.algorithms)}, or omit the header for {signing.SHA256}")
        for key, value in (("timestamp", timestamp), ("nonce", nonce), ("signature", signature)):
            if not value:
                return refuse(f"{signing.PLATFORM_HEADERS[key]} header missing")
        assert timestamp is not None and nonce is not None and signature is not None
        if parsed_ts is None:
            return refuse(f"{signing.PLATFORM_HEADERS['timestamp']} {timestamp!r} is not RFC 3339 with an offset "
                          "(e.g. 2025-12-01T10:00:00+08:00)")
        if not signature_valid:
            hint = " (signatures are lowercase hex)" if signature != signature.lower() else ""
            to_sign = signing.string_to_sign(method, path, timestamp, nonce, body).decode("utf-8", "replace")
            return refuse(f"{signing.PLATFORM_HEADERS['signature']} does not match{hint}: expected hex {alg} of "
                          f"{to_sign!r} with the platform secret")
        wall = datetime.fromtimestamp(now, UTC) if now is not None else datetime.now(UTC)
        skew = abs((wall - parsed_ts).total_seconds())
        if skew > self.skew_seconds:
            return refuse(f"{signing.PLATFORM_HEADERS['timestamp']} {timestamp!r} is {skew:.0f} s away from the "
                          f"regulator's clock (limit {self.skew_seconds:.0f} s)")
        key = (platform_id, nonce)
        with self._lock:
            mono = time.monotonic()
            if mono - self._generation_start >= self.nonce_memory_seconds:
                self._old_nonces, self._nonces = self._nonces, set()
                self._generation_start = mono
            if key in self._nonces or key in self._old_nonces:
                replay = True
            else:
                replay = False
                self._nonces.add(key)
        if replay:
            return refuse(f"{signing.PLATFORM_HEADERS['nonce']} {nonce!r} was already used (nonces are remembered "
                          f"{self.nonce_memory_seconds:.0f} s)")
        return AuthResult(platform_id, alg, True, None, header_errors)
