"""Fault injection (control.py): which fault, if any, answers a request instead of the regulator.

The kinds — params, routes, checks, answers — are declared in fault_kinds.py; this module keeps the
faults switched on and picks one per request.

A fault is picked before the answer is made, from the request's route, its JSON body fields and its
X-Platform-Id. Faults with a ``match`` win over route-wide ones (a test's own fault must not be hidden
by a load test's flap), then the oldest wins. A throttled kind (``rate-limit``) lets requests through
while its throttle allows, so it never hides other faults behind it.
"""

from __future__ import annotations

import math
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from conformance import signing
from conformance.simulator import fault_kinds
from conformance.simulator.control import FAULT_KINDS, ROUTES
from conformance.simulator.fault_kinds import FaultKind, Throttle

# Keys a fault may match on: body fields shared by the requests that carry a body, and the caller.
# They are the control protocol's names (control.py); contract.py checks the body ones exist.
MATCH_BODY_FIELDS = ("certificateNo", "merchantId", "listingId")
MATCH_PLATFORM = "platformId"
MATCH_KEYS = (*MATCH_BODY_FIELDS, MATCH_PLATFORM)


@dataclass
class Fault:
    fault_id: str
    kind: str
    route: str
    match: dict[str, str]
    params: dict[str, Any]
    probability: float
    schedule: dict[str, float] | None
    ttl_seconds: float | None
    created: float  # monotonic
    created_at: str
    declared: FaultKind = field(repr=False)  # kept: a kind unregistered later still answers its faults
    throttle: Throttle | None = field(default=None, repr=False)
    hits: int = 0

    def public(self) -> dict[str, Any]:
        return {"faultId": self.fault_id, "kind": self.kind, "route": self.route, "match": dict(self.match),
                "params": dict(self.params), "probability": self.probability,
                "schedule": dict(self.schedule) if self.schedule else None, "ttlSeconds": self.ttl_seconds,
                "createdAt": self.created_at, "hits": self.hits}

    def applies_to(self, route: str) -> bool:
        if self.route not in ("*", route):
            return False
        allowed = self.declared.routes
        return allowed is None or route in allowed

    def expired(self, now: float) -> bool:
        return self.ttl_seconds is not None and now - self.created >= self.ttl_seconds

    def down(self, now: float) -> bool:
        """Inside a 'down' phase of its schedule (down first), or always without one."""
        if not self.schedule:
            return True
        down, up = self.schedule["downSeconds"], self.schedule["upSeconds"]
        return (now - self.created) % (down + up) < down


@dataclass(frozen=True)
class FaultHit:
    fault: Fault
    retry_after: int | None = None  # a throttled kind (rate-limit): whole seconds to wait

    @property
    def kind(self) -> str:
        return self.fault.kind

    @property
    def params(self) -> dict[str, Any]:
        return self.fault.params

    @property
    def declared(self) -> FaultKind:
        return self.fault.declared


class FaultBook:
    """The faults switched on now; thread-safe, and free when empty (the hot path's common case)."""

    def __init__(self, route_names: tuple[str, ...], statuses: tuple[str, ...],
                 is_status_code: Callable[[Any], bool] | None = None) -> None:
        self.route_names = route_names
        self.statuses = statuses
        # Statuses are open-ended codes (profile Clarifications): params checks (fault_kinds.py) ask.
        self.is_status_code = is_status_code or (lambda value: isinstance(value, str) and bool(value))
        self._lock = threading.Lock()
        self._faults: list[Fault] = []  # matched ones first, then route-wide; each group oldest first
        self._rng = random.Random()

    def add(self, kind: str, *, route: str = "verifications", match: dict[str, str] | None = None,
            params: dict[str, Any] | None = None, probability: float = 1.0,
            schedule: dict[str, float] | None = None, ttl_seconds: float | None = None) -> Fault:
        fault = self._validate(kind, route, match, params, probability, schedule, ttl_seconds)
        with self._lock:
            faults = [*self._faults, fault]
            faults.sort(key=lambda f: (not f.match, f.created))
            self._faults = faults  # replaced, never mutated: pick() reads it without the lock
        return fault

    def remove(self, fault_id: str) -> bool:
        with self._lock:
            before = len(self._faults)
            self._faults = [f for f in self._faults if f.fault_id != fault_id]
            return len(self._faults) != before

    def clear(self) -> None:
        with self._lock:
            self._faults = []

    def list(self) -> list[dict[str, Any]]:
        self._expire(time.monotonic())
        return [f.public() for f in self._faults]

    def _expire(self, now: float) -> None:
        if any(f.expired(now) for f in self._faults):
            with self._lock:
                self._faults = [f for f in self._faults if not f.expired(now)]

    def pick(self, route: str, body: Any, platform_id: str | None) -> FaultHit | None:
        faults = self._faults
        if not faults:
            return None
        now = time.monotonic()
        self._expire(now)
        for fault in self._faults:
            if not fault.applies_to(route) or not fault.down(now):
                continue
            if fault.match and not self._matches(fault.match, body, platform_id):
                continue
            if fault.probability < 1.0 and self._rng.random() >= fault.probability:
                continue
            if fault.throttle is not None:
                wait = fault.throttle.wait(now)
                if wait == 0.0:
                    continue
                fault.hits += 1
                return FaultHit(fault, retry_after=max(1, math.ceil(wait)))
            fault.hits += 1
            return FaultHit(fault)
        return None

    @staticmethod
    def _matches(match: dict[str, str], body: Any, platform_id: str | None) -> bool:
        for key, want in match.items():
            if key == MATCH_PLATFORM:
                if platform_id != want:
                    return False
            elif not isinstance(body, dict) or body.get(key) != want:
                return False
        return True

    def _validate(self, kind: str, route: str, match: dict[str, str] | None, params: dict[str, Any] | None,
                  probability: float, schedule: dict[str, float] | None, ttl_seconds: float | None) -> Fault:
        declared = fault_kinds.get(kind)
        if declared is None:
            raise ValueError(f"fault kind {kind!r} is not one of {', '.join(FAULT_KINDS)}")
        if route not in ROUTES or (route != "*" and route not in self.route_names):
            raise ValueError(f"route {route!r} is not one of {', '.join(ROUTES)}")
        allowed = declared.routes
        if allowed is not None and route != "*" and route not in allowed:
            raise ValueError(f"fault {kind!r} does not apply to route {route!r} (only {', '.join(sorted(allowed))})")
        match = dict(match or {})
        for key, value in match.items():
            if key not in MATCH_KEYS:
                raise ValueError(f"match key {key!r} is not one of {', '.join(MATCH_KEYS)}")
            if not isinstance(value, str):
                raise ValueError(f"match[{key!r}] must be a string, not {type(value).__name__}")
        if route == "status-changes" and set(match) - {MATCH_PLATFORM}:
            raise ValueError("status-changes requests have no body: match only on platformId, or on nothing")
        given = dict(params or {})
        unknown = set(given) - set(declared.params)
        if unknown:
            known = ", ".join(declared.params) or "none"
            raise ValueError(f"unknown params {', '.join(sorted(unknown))} for fault {kind!r} (known: {known})")
        full = {**declared.params, **given}
        if declared.check is not None:
            declared.check(kind, full, self)
        if not isinstance(probability, int | float) or not 0.0 < probability <= 1.0:
            raise ValueError(f"probability must be in (0, 1], not {probability!r}")
        if schedule is not None:
            if set(schedule) != {"downSeconds", "upSeconds"}:
                raise ValueError("schedule must be {'downSeconds': s, 'upSeconds': s}")
            if any(not isinstance(v, int | float) or v <= 0 for v in schedule.values()):
                raise ValueError("schedule downSeconds and upSeconds must be positive numbers")
            schedule = {k: float(v) for k, v in schedule.items()}
        if ttl_seconds is not None and (not isinstance(ttl_seconds, int | float) or ttl_seconds <= 0):
            raise ValueError(f"ttl_seconds must be a positive number, not {ttl_seconds!r}")
        now = time.monotonic()
        return Fault(fault_id=uuid.uuid4().hex[:12], kind=kind, route=route, match=match, params=full,
                     probability=float(probability), schedule=schedule, ttl_seconds=ttl_seconds, created=now,
                     created_at=datetime.now(signing.SHANGHAI).isoformat(timespec="milliseconds"),
                     declared=declared, throttle=declared.throttle(full, now) if declared.throttle else None)
