"""The simulator's control surface: what the suite (and a platform engineer) can make the regulator do.

Two implementations share this protocol: ``Simulator`` (in-process, ``conformance.simulator.core``)
and ``SimulatorClient`` (the same calls over HTTP under ``/_sim/``, ``conformance.simulator.client``).
The suite uses the HTTP client so that every pytest-xdist worker drives the one simulator the
platform calls.

Records returned are plain JSON-able dicts. Certificates use the field names of
``specs/schemas/certificate.schema.json``; events those of ``status-change-event.schema.json``.

Fault ``match``: a dict of body fields (``certificateNo``, ``merchantId``, ``listingId``) that a
request must carry for the fault to apply, so that parallel tests never disturb each other. A fault
with no ``match`` applies to every request of its route (only for load and flap tests).

Fault kinds — each one's params and defaults, the routes it applies to and how it answers — are
declared once, in ``fault_kinds.py``; ``FAULT_KINDS`` lists their names in declaration order, and
``GET /_sim/fault-kinds`` describes each (README.md beside this file has the table by route).
Routes: ``verifications``, ``status-changes``, ``dispositions``, or ``*``.
``schedule``: ``{"downSeconds": 5, "upSeconds": 5}`` makes the fault flap (down first).
"""

from __future__ import annotations

from typing import Any, Protocol

from conformance.simulator.fault_kinds import NAMES

# A live view of fault_kinds.py's registry, so a kind is named in one place only.
FAULT_KINDS = NAMES
ROUTES = ("verifications", "status-changes", "dispositions", "*")

# The HTTP form of two calls (``/_sim/``): camelCase body keys → keyword arguments of the methods below.
# Here, with the protocol, because both sides need them: the server (control_http.py) and the client
# every pytest worker imports (client.py), which should not import the server's web framework for them.
ISSUE_KEYS = {"productCode": "product_code", "status": "status", "models": "models", "brand": "brand",
              "applicant": "applicant", "manufacturer": "manufacturer", "factory": "factory",
              "productName": "product_name", "issueDate": "issue_date", "expiryDate": "expiry_date"}
FAULT_KEYS = {"kind": "kind", "route": "route", "match": "match", "params": "params", "probability": "probability",
              "schedule": "schedule", "ttlSeconds": "ttl_seconds"}


class SimulatorControl(Protocol):
    @property
    def base_url(self) -> str:
        """The regulator's base URL, the one the platform calls (no trailing slash)."""

    def register_platform(self, platform_id: str, secret: str, notification_url: str | None = None,
                          signature_alg: str | None = None) -> None:
        """Accept signed calls from this platform; push events to notification_url when given. Without
        signature_alg, the profile's default algorithm; without status (issue_certificate), a valid one."""

    def issue_certificate(self, *, product_code: str, status: str | None = None, models: list[str] | None = None,
                          brand: str | None = None, applicant: str | None = None, manufacturer: str | None = None,
                          factory: str | None = None, product_name: str | None = None,
                          issue_date: str | None = None, expiry_date: str | None = None) -> dict[str, Any]:
        """A new certificate with a fresh, unique, well-formed number; unset fields get realistic values."""

    def get_certificate(self, certificate_no: str) -> dict[str, Any] | None: ...

    def update_certificate(self, certificate_no: str, **fields: Any) -> dict[str, Any]:
        """Change registry fields (expiryDate, models, brand, …) silently: no event, no push."""

    def set_status(self, certificate_no: str, status: str, *, reason: str = "", push: bool = True) -> dict[str, Any]:
        """Change the status: the event is appended to the feed and, when push, pushed. Returns the event."""

    def set_statuses(self, changes: list[tuple[str, str]], *, reason: str = "", push: bool = True) -> list[dict[str, Any]]:
        """Bulk status change, one event per certificate, pushed concurrently."""

    def redeliver(self, event_ids: list[str], platform_id: str | None = None) -> list[dict[str, Any]]:
        """Push already-recorded events again, in this order (duplicates, out-of-order). Returns push attempts."""

    def events(self, certificate_no: str | None = None) -> list[dict[str, Any]]: ...

    def add_fault(self, kind: str, *, route: str = "verifications", match: dict[str, str] | None = None,
                  params: dict[str, Any] | None = None, probability: float = 1.0,
                  schedule: dict[str, float] | None = None, ttl_seconds: float | None = None) -> str:
        """Switch a fault on now; returns its id."""

    def remove_fault(self, fault_id: str) -> None: ...

    def clear_faults(self) -> None: ...

    def captures(self, *, route: str | None = None, match: dict[str, str] | None = None,
                 after: int = 0) -> list[dict[str, Any]]:
        """Requests received, oldest first, with seq > after. Each: seq, receivedAt, route, method, path,
        query, headers, body (parsed JSON or None), bodyText, platformId, signatureValid, authError,
        schemaValid, schemaErrors, response {status, body}, fault (kind or None)."""

    def pushes(self, *, certificate_no: str | None = None, event_id: str | None = None) -> list[dict[str, Any]]:
        """Push attempts: seq, eventId, certificateNo, platformId, url, attempt, sentAt, status, error."""

    def dispositions(self, *, listing_id: str | None = None, merchant_id: str | None = None) -> list[dict[str, Any]]:
        """Disposition reports received with a valid signature and schema, oldest first, duplicates included
        (each with receivedAt and the HTTP status the simulator answered)."""
