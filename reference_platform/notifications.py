"""The notification endpoint's gatekeeper: who may push events to the platform (SEC-01, SEC-02).

The regulator signs each push with the platform's secret: ``X-Regulator-Timestamp``,
``X-Regulator-Nonce`` and ``X-Regulator-Signature`` over ``POST\\nPATH\\nTIMESTAMP\\nNONCE\\nhex(SHA-256(body))``,
PATH being the notification URL's path. A push is refused (401, nothing changes) when the signature
is missing or wrong, the timestamp is more than the profile's skew away from our clock, or the nonce
was seen before. Nonces are remembered in the database, so a restart does not open a replay window.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from .clock import skew_seconds
from .config import Settings
from .signing import ALG_HEADER, ALGORITHMS, HMAC_SHA256, signature_matches
from .store import Store

TIMESTAMP = "X-Regulator-Timestamp"
NONCE = "X-Regulator-Nonce"
SIGNATURE = "X-Regulator-Signature"
MAX_NONCE_LENGTH = 200


class NotificationGate:
    def __init__(self, settings: Settings, store: Store) -> None:
        self.secret = settings.platform_secret
        self.skew = settings.profile.signature_skew
        self.store = store
        self.check_signature = not settings.fault("accept-unsigned")
        self.check_replay = not settings.fault("accept-replay")

    def refuse(self, headers: Mapping[str, str], path: str, body: bytes) -> str | None:
        """Why the push must be refused with 401, or None to let it in."""
        timestamp, nonce, given = headers.get(TIMESTAMP), headers.get(NONCE), headers.get(SIGNATURE)
        alg = headers.get(ALG_HEADER) or HMAC_SHA256
        if alg not in ALGORITHMS:
            return f"unsupported {ALG_HEADER} {alg!r}"
        signed = bool(given) and timestamp is not None and nonce is not None \
            and signature_matches(self.secret, alg, given or "", "POST", path, timestamp, nonce, body)
        if not signed and self.check_signature:
            return f"missing or wrong {SIGNATURE}" if given else f"missing {SIGNATURE}"
        if not self.check_replay or timestamp is None or nonce is None:
            return None
        skew = skew_seconds(timestamp)
        if skew is None:
            return f"{TIMESTAMP} is not RFC 3339 with an offset"
        if skew > self.skew:
            return f"{TIMESTAMP} is {skew:.0f} s away from the platform's clock (at most {self.skew:g} s)"
        if not nonce or len(nonce) > MAX_NONCE_LENGTH:
            return f"{NONCE} must be 1 to {MAX_NONCE_LENGTH} characters"
        # Only a correctly signed, fresh push consumes its nonce, so forgeries cannot burn nonces.
        if not self.store.use_nonce(nonce, time.time()):
            return f"{NONCE} was already used (replay)"
        return None
