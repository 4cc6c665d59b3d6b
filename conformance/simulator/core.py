"""``Simulator``: the regulator, in-process. Implements ``SimulatorControl`` (control.py).

It owns the state — registry, change feed, platforms, faults, captures, dispositions — and the push
delivery; ``app`` is its ASGI application (regulator routes and ``/_sim/``). Serving it is someone
else's job (``SimulatorServer``, ``serve.main``), which then sets ``base_url``.

Thread safety: the regulator routes run on uvicorn's loop thread, the Python API on the caller's
threads and pushes on their own loop thread; every piece of shared state has its own lock, and
status changes take ``_change_lock`` so that sequence order, registry status and push order agree.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from conformance import signing
from conformance import specs as specs_module
from conformance.simulator.auth import Authenticator, Platform
from conformance.simulator.capture import CaptureStore, rfc3339
from conformance.simulator.contract import Contract
from conformance.simulator.faults import FaultBook
from conformance.simulator.feed import ChangeFeed
from conformance.simulator.push import Pusher, PushPolicy, PushTarget
from conformance.simulator.registry import Registry

# Python keyword spelling → certificate field name, so update_certificate(expiry_date=…) also works.
_SNAKE = {"certificate_no": "certificateNo", "status_changed_at": "statusChangedAt", "product_code": "productCode",
          "product_name": "productName", "certification_body": "certificationBody", "issue_date": "issueDate",
          "expiry_date": "expiryDate"}


class Simulator:
    """The regulator simulator. See control.py for what each control method promises."""

    def __init__(self, *, seed: int = 0, specs: specs_module.Specs | None = None,
                 push_policy: PushPolicy | None = None) -> None:
        self.specs = specs or specs_module.load()
        self.contract = Contract(self.specs)
        self.registry = Registry(self.contract, seed=seed)
        self.feed = ChangeFeed()
        self.auth = Authenticator(self.contract.skew_seconds, self.contract.nonce_memory_seconds,
                                  self.contract.algorithms)
        self.faults = FaultBook(self.contract.route_names, self.contract.statuses, self.specs.is_status_code)
        self.store = CaptureStore(self.auth.secrets)
        self.pusher = Pusher(self.store.add_push, push_policy or PushPolicy())
        self._change_lock = threading.Lock()
        self._disposition_lock = threading.Lock()
        self._dispositions: dict[str, dict[str, Any]] = {}  # dispositionId -> first accepted body
        self._disposition_log: list[dict[str, Any]] = []
        self._base_url: str | None = None
        self.stopping = threading.Event()  # set when the server stops: hang faults end early

    # -- serving ------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("the simulator is not being served yet: start it with SimulatorServer or serve.main")
        return self._base_url

    @base_url.setter
    def base_url(self, value: str | None) -> None:
        self._base_url = value.rstrip("/") if value else None

    def close(self) -> None:
        """Stop push delivery. Captures stay readable."""
        self.stopping.set()
        self.pusher.close()

    def __enter__(self) -> Simulator:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- platforms ----------------------------------------------------------------------------
    def register_platform(self, platform_id: str, secret: str, notification_url: str | None = None,
                          signature_alg: str | None = None) -> None:
        if not isinstance(platform_id, str) or not platform_id:
            raise ValueError("platform_id must be a non-empty string")
        if not isinstance(secret, str) or not secret:
            raise ValueError("secret must be a non-empty string")
        signature_alg = signature_alg or signing.SHA256   # HMAC-SHA256, by its code in terminology.yaml
        if signature_alg not in self.contract.algorithms:
            raise ValueError(f"signature_alg {signature_alg!r} is not one of {', '.join(self.contract.algorithms)}")
        if notification_url is not None and not notification_url.startswith(("http://", "https://")):
            raise ValueError(f"notification_url {notification_url!r} must be an http(s) URL")
        self.auth.register(Platform(platform_id, secret, notification_url, signature_alg))

    def platforms(self) -> list[dict[str, Any]]:
        """Registered platforms, without their secrets."""
        return [p.public() for p in self.auth.platforms()]

    # -- registry -----------------------------------------------------------------------------
    def issue_certificate(self, *, product_code: str, status: str | None = None, models: list[str] | None = None,
                          brand: str | None = None, applicant: str | None = None, manufacturer: str | None = None,
                          factory: str | None = None, product_name: str | None = None,
                          issue_date: str | None = None, expiry_date: str | None = None) -> dict[str, Any]:
        return self.registry.issue(product_code=product_code, status=status, models=models, brand=brand,
                                   applicant=applicant, manufacturer=manufacturer, factory=factory,
                                   product_name=product_name, issue_date=issue_date, expiry_date=expiry_date)

    def issue_certificates(self, count: int, *, statuses: list[str] | None = None,
                           product_codes: list[str] | None = None) -> list[dict[str, Any]]:
        """count realistic certificates, cycling through statuses (default: every status)."""
        return self.registry.issue_many(count, statuses=statuses, product_codes=product_codes)

    def load_certificates(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add records as given (certificate schema field names); all validated, or none added."""
        return self.registry.load(records)

    def get_certificate(self, certificate_no: str) -> dict[str, Any] | None:
        return self.registry.get(certificate_no)

    def certificates(self, *, status: str | None = None, product_code: str | None = None,
                     limit: int | None = None) -> list[dict[str, Any]]:
        return self.registry.all(status=status, product_code=product_code, limit=limit)

    def update_certificate(self, certificate_no: str, **fields: Any) -> dict[str, Any]:
        return self.registry.update(certificate_no, {_SNAKE.get(k, k): v for k, v in fields.items()})

    # -- status changes -----------------------------------------------------------------------
    def set_status(self, certificate_no: str, status: str, *, reason: str = "", push: bool = True) -> dict[str, Any]:
        return self.set_statuses([(certificate_no, status)], reason=reason, push=push)[0]

    def set_statuses(self, changes: Iterable[tuple[str, str] | list[str]], *, reason: str = "",
                     push: bool = True) -> list[dict[str, Any]]:
        pairs = [tuple(c) for c in changes]
        for pair in pairs:
            if len(pair) != 2:
                raise ValueError(f"each change is (certificateNo, status), not {pair!r}")
            number, status = pair
            # Open-ended (profile Clarifications): any well-formed code, so a test can announce a status
            # the platform does not know (RES-05); the known ones are the code list's.
            if not self.specs.is_status_code(status):
                raise ValueError(f"status {status!r} is not a well-formed status code (known: "
                                 f"{', '.join(self.contract.statuses)}; any other must match "
                                 f"common.schema.json#/$defs/certificateStatusCode)")
            if number not in self.registry:
                raise KeyError(f"no certificate {number!r} in the simulator's registry")
        if not isinstance(reason, str):
            raise ValueError("reason must be a string")
        targets = self._push_targets() if push else []
        events = []
        with self._change_lock:  # sequence order = registry order = push scheduling order
            for number, status in pairs:
                effective = datetime.now(signing.SHANGHAI).isoformat(timespec="milliseconds")
                previous = self.registry.set_status(number, status, effective)
                event = self.feed.append(number, previous, status, effective, reason)
                events.append(event)
                if targets:
                    self.pusher.deliver(event, targets)
        return events

    def _push_targets(self, platform_id: str | None = None) -> list[PushTarget]:
        return [PushTarget(p.platform_id, p.notification_url, p.secret, p.signature_alg)
                for p in self.auth.platforms()
                if p.notification_url and (platform_id is None or p.platform_id == platform_id)]

    def redeliver(self, event_ids: list[str], platform_id: str | None = None) -> list[dict[str, Any]]:
        return self.redeliver_future(event_ids, platform_id).result()

    def redeliver_future(self, event_ids: list[str], platform_id: str | None = None) -> Any:
        """As redeliver, but returns a concurrent.futures.Future (for callers on an event loop)."""
        events = []
        for event_id in event_ids:
            event = self.feed.get(event_id)
            if event is None:
                raise KeyError(f"no event {event_id!r} in the change feed")
            events.append(event)
        targets = self._push_targets(platform_id)
        if not targets:
            who = f"platform {platform_id!r}" if platform_id else "any registered platform"
            raise ValueError(f"no notification URL registered for {who}")
        return self.pusher.redeliver(events, targets)

    def events(self, certificate_no: str | None = None) -> list[dict[str, Any]]:
        return self.feed.events(certificate_no)

    # -- faults -------------------------------------------------------------------------------
    def add_fault(self, kind: str, *, route: str = "verifications", match: dict[str, str] | None = None,
                  params: dict[str, Any] | None = None, probability: float = 1.0,
                  schedule: dict[str, float] | None = None, ttl_seconds: float | None = None) -> str:
        return self.faults.add(kind, route=route, match=match, params=params, probability=probability,
                               schedule=schedule, ttl_seconds=ttl_seconds).fault_id

    def remove_fault(self, fault_id: str) -> None:
        self.faults.remove(fault_id)

    def clear_faults(self) -> None:
        self.faults.clear()

    def list_faults(self) -> list[dict[str, Any]]:
        return self.faults.list()

    # -- captures -----------------------------------------------------------------------------
    def captures(self, *, route: str | None = None, match: dict[str, str] | None = None,
                 after: int = 0) -> list[dict[str, Any]]:
        return self.store.requests(route=route, match=match, after=after)

    def pushes(self, *, certificate_no: str | None = None, event_id: str | None = None) -> list[dict[str, Any]]:
        return self.store.pushes(certificate_no=certificate_no, event_id=event_id)

    def export_captures(self, path: str | Path) -> int:
        """Write every capture (requests and push attempts, by seq) as JSON lines; returns the count."""
        return self.store.export(path)

    # -- dispositions -------------------------------------------------------------------------
    def record_disposition(self, body: dict[str, Any], platform_id: str | None, received: float) -> int:
        """Store a valid, authenticated report; the HTTP status to answer (202 new, 200 same, 409 differs)."""
        disposition_id = body["dispositionId"]
        with self._disposition_lock:
            held = self._dispositions.get(disposition_id)
            if held is None:
                self._dispositions[disposition_id] = body
                status = 202
            else:
                status = 200 if held == body else 409
            self._disposition_log.append({**body, "receivedAt": rfc3339(received), "httpStatus": status,
                                          "platformId": platform_id})
        return status

    def dispositions(self, *, listing_id: str | None = None, merchant_id: str | None = None) -> list[dict[str, Any]]:
        with self._disposition_lock:
            log = list(self._disposition_log)
        return [dict(d) for d in log
                if (listing_id is None or d.get("listingId") == listing_id)
                and (merchant_id is None or d.get("merchantId") == merchant_id)]

    # -- summary ------------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        return {"baseUrl": self._base_url, "profile": self.specs.profile_id, "platforms": self.platforms(),
                "certificates": len(self.registry), "events": len(self.feed), "captures": self.store.count(),
                "faults": len(self.faults.list()), "pendingPushes": self.pusher.pending()}
