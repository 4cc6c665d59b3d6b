"""The platform's client of the regulator data interface (specs/openapi/regulator.yaml).

Every call is signed. Every answer is checked before the platform believes it: an answer is usable
only when it arrives within ``regulatorTimeoutSeconds``, with HTTP 200, as JSON that passes the
answer's schema, echoing the ``requestId`` and naming the certificate asked about. Anything else is
"unavailable" and the platform fails closed (RES-01, RES-03). A status outside the code list is told
apart, because it must take a listing on sale down rather than leave it (RES-05). A 429 pauses every
call for ``Retry-After`` seconds (RES-04).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlencode

from . import clock
from .backoff import parse_retry_after
from .config import Codes, Settings
from .http_client import HttpClient, HttpError
from .loadmeter import METER
from .signing import Signer

VERIFICATIONS = "/api/v1/verifications"
STATUS_CHANGES = "/api/v1/status-changes"
DISPOSITIONS = "/api/v1/dispositions"

# Calls in flight at once. More calls wait their turn here, before their timeout starts, so a burst
# queues instead of timing out and retrying (which would only add load to a busy regulator).
MAX_CONCURRENT_CALLS = 24


def _not_json(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259 §6), and jsonschema-rs would read them as null, so that
    # a NOT_FOUND answer with "certificate": NaN would pass its schema: refuse them, as app.py does.
    raise ValueError(f"{name} is not JSON")


class AnswerKind(Enum):
    OK = "OK"                          # the record, status in the code list
    NOT_FOUND = "NOT_FOUND"            # no such certificate
    UNKNOWN_STATUS = "UNKNOWN_STATUS"  # a well-formed record whose status is not in the code list
    UNAVAILABLE = "UNAVAILABLE"        # no usable answer


@dataclass(frozen=True)
class Answer:
    """One verification attempt: what was asked, when, and what came back."""

    request_id: str
    kind: AnswerKind
    certificate: dict[str, Any] | None
    requested_at: str
    responded_at: str | None
    started: float           # epoch seconds, for scheduling the next attempt
    finished: float
    detail: str = ""         # why the answer is unusable, for logs
    retry_after: float | None = None

    @property
    def usable(self) -> bool:
        return self.kind in (AnswerKind.OK, AnswerKind.NOT_FOUND)

    @property
    def code(self) -> str:
        return Codes.NOT_FOUND if self.kind is AnswerKind.NOT_FOUND else Codes.OK

    @property
    def outcome(self) -> str:
        """The record's ``outcome``: the registry status, NOT_FOUND, or UNAVAILABLE (unknown status too)."""
        if self.kind is AnswerKind.OK and self.certificate:
            return str(self.certificate["status"])
        if self.kind is AnswerKind.NOT_FOUND:
            return Codes.NOT_FOUND
        return Codes.UNAVAILABLE


@dataclass(frozen=True)
class CallResult:
    status: int | None        # None: no HTTP answer at all (timeout, connection refused or reset)
    payload: Any              # parsed JSON, or None
    retry_after: float | None
    detail: str


class RegulatorClient:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.signer = Signer(settings.platform_id, settings.platform_secret, settings.signature_alg)
        self.timeout = settings.profile.regulator_timeout
        self._http = HttpClient(settings.regulator_url, MAX_CONCURRENT_CALLS)
        self._paused_until = 0.0   # time.monotonic() until which a 429 pauses every call

    async def close(self) -> None:
        await self._http.close()

    @property
    def paused_for(self) -> float:
        return max(0.0, self._paused_until - time.monotonic())

    def _pause(self, seconds: float) -> None:
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    async def _call(self, method: str, path: str, query: dict[str, Any] | None, body: bytes,
                    *, basic_offset: bool = False, unsigned: bool = False) -> CallResult:
        """One signed call, bounded by the profile's timeout; never raises for network trouble."""
        while (wait := self.paused_for) > 0:
            await asyncio.sleep(wait)
        # PATH is signed exactly as sent: the path (with the base URL's prefix) plus its query string.
        target = self._http.target(path, urlencode(query) if query else "")
        timestamp = clock.basic_offset_timestamp() if basic_offset else clock.rfc3339()
        headers = self.signer.headers(method, target, body, timestamp)
        if unsigned:
            headers.pop("X-Signature")
        if method != "GET":
            headers["Content-Type"] = "application/json"
        try:
            response = await self._http.request(method, target, headers, body, self.timeout)
        except TimeoutError:
            return CallResult(None, None, None, f"no answer within {self.timeout:g} s")
        except HttpError as exc:
            return CallResult(None, None, None, str(exc))
        retry_after = parse_retry_after(response.headers.get("retry-after"), time.time())
        if self.settings.fault("no-retry-after"):
            retry_after = None
        if response.status == 429 and not self.settings.fault("no-retry-after"):
            self._pause(retry_after if retry_after is not None else self.settings.retry_cap)
        try:
            payload = json.loads(response.body, parse_constant=_not_json)
        except ValueError:   # UnicodeDecodeError is a ValueError too
            payload = None
        return CallResult(response.status, payload, retry_after, "" if payload is not None else "body is not JSON")

    # -- verifications ------------------------------------------------------------------------
    async def verify(self, request: dict[str, Any]) -> Answer:
        """Ask about one listing; the answer is classified, never trusted blindly."""
        body = json.dumps(request, ensure_ascii=False, separators=(",", ":")).encode()
        started, requested_at = time.time(), clock.rfc3339()
        result = await self._call("POST", VERIFICATIONS, None, body,
                                  basic_offset=self.settings.fault("bad-request-format"))
        finished = time.time()
        responded_at = clock.rfc3339(finished) if result.status is not None else None
        kind, certificate, detail = self.classify(result, request)
        METER.regulator_failing = kind is AnswerKind.UNAVAILABLE   # for down-while-regulator-flaps
        return Answer(request["requestId"], kind, certificate, requested_at, responded_at, started, finished,
                      detail, result.retry_after)

    def classify(self, result: CallResult, request: dict[str, Any]) -> tuple[AnswerKind, dict[str, Any] | None, str]:
        if result.status is None:
            return AnswerKind.UNAVAILABLE, None, result.detail
        if result.status != 200:
            return AnswerKind.UNAVAILABLE, None, f"HTTP {result.status}"
        payload = result.payload
        if not isinstance(payload, dict):
            return AnswerKind.UNAVAILABLE, None, result.detail or "body is not a JSON object"
        schemas, terms = self.settings.schemas, self.settings.terminology
        kind = AnswerKind.OK if payload.get("code") == Codes.OK else AnswerKind.NOT_FOUND
        if not schemas.is_valid("verification-answer", payload):
            # A malformed status too: statuses are open-ended codes, and one that is not even a
            # well-formed code makes the answer unusable (RES-03), not an unknown status.
            errors = schemas.errors("verification-answer", payload)
            return AnswerKind.UNAVAILABLE, None, f"schema-invalid answer ({errors[0] if errors else '?'})"
        certificate = payload.get("certificate")
        if kind is AnswerKind.OK and isinstance(certificate, dict) and certificate.get("status") not in terms.statuses:
            # A well-formed status outside the code list (profile Clarifications: status codes are
            # open-ended): never valid, and the difference from an outage matters for listings on sale.
            kind = AnswerKind.UNKNOWN_STATUS
        if payload.get("requestId") != request["requestId"]:
            return AnswerKind.UNAVAILABLE, None, "answer does not echo the requestId"
        certificate = payload.get("certificate")
        if kind is not AnswerKind.NOT_FOUND and certificate.get("certificateNo") != request["certificateNo"]:
            return AnswerKind.UNAVAILABLE, None, "answer is about another certificate"
        return kind, certificate, ""

    # -- change feed --------------------------------------------------------------------------
    async def status_changes(self, after: str | None, limit: int) -> CallResult:
        query: dict[str, Any] = {"limit": limit} if after is None else {"after": after, "limit": limit}
        return await self._call("GET", STATUS_CHANGES, query, b"")

    # -- dispositions -------------------------------------------------------------------------
    async def report(self, body: str) -> CallResult:
        return await self._call("POST", DISPOSITIONS, None, body.encode(),
                                unsigned=self.settings.fault("unsigned-requests"))


def new_request_id() -> str:
    return str(uuid.uuid4())
