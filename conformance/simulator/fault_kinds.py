"""The simulator's fault kinds (故障类型), each declared once: its name, what it does, its params and
their defaults, the routes it applies to, how its params are checked and how it answers.

Everything else reads this registry: ``FaultBook`` (faults.py) its params, routes, checks and
throttles; ``RegulatorApp`` (app.py) its answers; ``control.FAULT_KINDS`` its names, in declaration
order; ``GET /_sim/fault-kinds`` each kind's description. A new kind is one ``register(FaultKind(…))``
here, plus its row in README.md's table of how each kind answers.

A kind either answers *instead of* the regulator (``answer``: decided before authentication and
validation, so nothing is processed — a disposition answered by a fault is not stored) or lets the
regulator answer and changes how the answer is sent (``shape``: latency). A kind with a ``throttle``
lets requests through untouched while its throttle allows, and answers only the ones it refuses.

Kept free of the ASGI app and the specs loader (it needs only ``answer.py``, ``mutation.py`` and
``feed.py``'s error): ``control.py``, the client-side protocol, imports it for the names.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, overload

# Not `from conformance.simulator import mutation`: the package imports control.py, which imports this.
import conformance.simulator.mutation as mutation
from conformance.simulator.answer import Answer, encode
from conformance.simulator.feed import CursorError

if TYPE_CHECKING:
    import random

    from conformance.simulator.contract import Contract, Route
    from conformance.simulator.core import Simulator
    from conformance.simulator.faults import FaultHit


class FaultContext(Protocol):
    """What an answer needs of the app serving it (``RegulatorApp``)."""

    sim: Simulator
    contract: Contract
    rng: random.Random
    ok_prefix: bytes  # an OK verification answer up to its requestId's value: answers are built around it

    def envelope(self, status: int, code: str, message: str) -> Answer: ...


class StatusVocabulary(Protocol):
    """What a params check may ask of the fault book: the listed certificate statuses, and what a
    well-formed status code is (statuses are open-ended codes, profile Clarifications)."""

    statuses: tuple[str, ...]

    def is_status_code(self, value: Any) -> bool: ...


class Throttle(Protocol):
    def wait(self, now: float) -> float:
        """0 to let this request through, else the seconds until one would pass (its Retry-After)."""


# An answer gets the request's route, its JSON body (``{}`` when there is none) and its parsed query.
AnswerFn = Callable[[FaultContext, "FaultHit", "Route", dict[str, Any], dict[str, Any]], Answer]
ShapeFn = Callable[[FaultContext, "FaultHit", Answer], None]
CheckFn = Callable[[str, dict[str, Any], StatusVocabulary], None]
ThrottleFn = Callable[[dict[str, Any], float], Throttle]


@dataclass(frozen=True)
class FaultKind:
    name: str
    description: str  # one line: what a platform sees
    params: Mapping[str, Any] = field(default_factory=dict)  # every param, with its default
    routes: frozenset[str] | None = None  # the routes it makes sense on; None: every route
    answer: AnswerFn | None = None
    shape: ShapeFn | None = None
    # Raises ValueError naming what is wrong; receives all params (defaults filled in) and may
    # complete one whose default depends on another (rate-limit's burst).
    check: CheckFn | None = None
    throttle: ThrottleFn | None = None

    def public(self, all_routes: Sequence[str]) -> dict[str, Any]:
        """As ``GET /_sim/fault-kinds`` shows it."""
        return {"kind": self.name, "description": self.description, "params": dict(self.params),
                "routes": sorted(self.routes) if self.routes is not None else list(all_routes)}


# -- the registry -------------------------------------------------------------------------------------
_KINDS: dict[str, FaultKind] = {}  # in declaration order: the order FAULT_KINDS and messages list them


def register(kind: FaultKind) -> FaultKind:
    if kind.name in _KINDS:
        raise ValueError(f"fault kind {kind.name!r} is declared twice")
    if (kind.answer is None) == (kind.shape is None):
        raise ValueError(f"fault kind {kind.name!r} needs exactly one of answer (instead of the regulator's) "
                         "or shape (of the regulator's own answer)")
    _KINDS[kind.name] = kind
    return kind


def unregister(name: str) -> None:
    """Forget a kind (a test's throw-away one); faults already made of it keep their declaration."""
    _KINDS.pop(name, None)


def get(name: str) -> FaultKind | None:
    return _KINDS.get(name)


def declared() -> tuple[FaultKind, ...]:
    return tuple(_KINDS.values())


class KindNames(Sequence[str]):
    """The declared kinds' names, in order: a live view, so a kind registered later is listed too."""

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[str, ...]: ...

    def __getitem__(self, index: int | slice) -> str | tuple[str, ...]:
        return tuple(_KINDS)[index]

    def __len__(self) -> int:
        return len(_KINDS)

    def __contains__(self, name: object) -> bool:
        return name in _KINDS

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(_KINDS))

    def __repr__(self) -> str:
        return repr(tuple(_KINDS))


NAMES = KindNames()


# -- shared by the answers --------------------------------------------------------------------------
def plain_verification(ctx: FaultContext, body: dict[str, Any], record: dict[str, Any] | None) -> Answer:
    """A schema-valid verification answer about ``record`` (NOT_FOUND without one), echoing body's requestId."""
    c = ctx.contract
    if record is None:
        return Answer(200, encode({"code": c.not_found, "message": "no certificate with this number",
                                   "requestId": body.get("requestId"), "certificate": None}))
    return Answer(200, encode({"code": c.ok, "message": "certificate found", "requestId": body.get("requestId"),
                               "certificate": record}))


def page_or_empty(ctx: FaultContext, query: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """A change-feed page for a faulted request, whose query may be invalid (a fault answers before validation)."""
    try:
        return ctx.sim.feed.page(query.get("after"), int(query.get("limit") or 1))
    except (CursorError, ValueError):
        return [], str(query.get("after") or "0")


def _record_of(ctx: FaultContext, body: dict[str, Any]) -> dict[str, Any] | None:
    return ctx.sim.registry.get(str(body.get("certificateNo")))


def _number(kind: str, p: dict[str, Any], name: str, minimum: float = 0.0, strict: bool = False) -> None:
    value = p[name]
    if not isinstance(value, int | float) or isinstance(value, bool) or value < minimum or (
            strict and value == minimum):
        raise ValueError(f"params.{name} of {kind!r} must be a number {'>' if strict else '>='} {minimum}")


# -- the kinds, in the order they are listed ------------------------------------------------------------
def _latency(ctx: FaultContext, hit: FaultHit, answer: Answer) -> None:
    answer.delay = float(hit.params["seconds"]) + ctx.rng.uniform(0.0, float(hit.params["jitterSeconds"]))


def _check_latency(kind: str, p: dict[str, Any], book: StatusVocabulary) -> None:
    _number(kind, p, "seconds")
    _number(kind, p, "jitterSeconds")


register(FaultKind("latency", "fixed plus uniform random delay before the real answer",
                   {"seconds": 1.0, "jitterSeconds": 0.0}, shape=_latency, check=_check_latency))


def _hang(ctx: FaultContext, hit: FaultHit, route: Route, body: dict[str, Any], query: dict[str, Any]) -> Answer:
    return Answer(None, None, delay=float(hit.params["seconds"]), drop=True)


def _check_hang(kind: str, p: dict[str, Any], book: StatusVocabulary) -> None:
    _number(kind, p, "seconds", strict=True)


register(FaultKind("hang", "no answer for longer than a client timeout (default 30 s), then the connection drops",
                   {"seconds": 30.0}, answer=_hang, check=_check_hang))

HTTP_ERROR_STATUSES = (500, 503)


def _http_error(ctx: FaultContext, hit: FaultHit, route: Route, body: dict[str, Any],
                query: dict[str, Any]) -> Answer:
    return ctx.envelope(int(hit.params["status"]), ctx.contract.unavailable, "the interface cannot answer now")


def _check_http_error(kind: str, p: dict[str, Any], book: StatusVocabulary) -> None:
    if p["status"] not in HTTP_ERROR_STATUSES:
        raise ValueError(f"params.status of {kind!r} must be one of {HTTP_ERROR_STATUSES}")


register(FaultKind("http-error", "500 or 503 with an UNAVAILABLE envelope", {"status": 503},
                   answer=_http_error, check=_check_http_error))


def _reset(ctx: FaultContext, hit: FaultHit, route: Route, body: dict[str, Any], query: dict[str, Any]) -> Answer:
    return Answer(None, None, drop=True)


register(FaultKind("reset", "the connection is dropped without a complete answer", answer=_reset))


def _malformed_json(ctx: FaultContext, hit: FaultHit, route: Route, body: dict[str, Any],
                    query: dict[str, Any]) -> Answer:
    if route.name == "status-changes":
        return Answer(200, b'{"events":[{"eventId":"' + str(uuid.uuid4()).encode() + b'","sequence":')
    return Answer(200, ctx.ok_prefix + b'"' + str(body.get("requestId", ""))[:64].encode() +
                  b'","certificate":{"certificateNo":"')


register(FaultKind("malformed-json", "200 with a body that is not JSON (truncated)", answer=_malformed_json))


def _schema_invalid(ctx: FaultContext, hit: FaultHit, route: Route, body: dict[str, Any],
                    query: dict[str, Any]) -> Answer:
    """A JSON answer that breaks its route's answer schema but looks plausible to a careless reader."""
    c = ctx.contract
    if route.name == "status-changes":
        events, cursor = page_or_empty(ctx, query)
        broken = [{k: (str(v) if k == "sequence" else v) for k, v in e.items() if k != "effectiveAt"}
                  for e in events]
        return Answer(200, encode({"events": broken or None, "nextCursor": cursor}))
    if route.name == "dispositions":
        return Answer(200, encode({"code": "ACCEPTED", "message": 202}))
    # A record that says VALID but lacks most required fields, models not even a list.
    return Answer(200, encode({"code": c.ok, "message": "certificate found", "requestId": body.get("requestId"),
                               "certificate": {"certificateNo": body.get("certificateNo"), "status": c.valid_status,
                                               "models": "ALL"}}))


register(FaultKind("schema-invalid", "200 with a JSON body that breaks the answer schema", answer=_schema_invalid))


def _unknown_status(ctx: FaultContext, hit: FaultHit, route: Route, body: dict[str, Any],
                    query: dict[str, Any]) -> Answer:
    status = hit.params["status"]
    if route.name == "status-changes":
        events, cursor = page_or_empty(ctx, query)
        for event in events:
            event["status"] = status
        return Answer(200, encode({"events": events, "nextCursor": cursor}))
    record = _record_of(ctx, body)
    if record is None:
        return plain_verification(ctx, body, None)
    record["status"] = status
    return plain_verification(ctx, body, record)


def _check_unknown_status(kind: str, p: dict[str, Any], book: StatusVocabulary) -> None:
    # Statuses are open-ended codes: an unknown one must still be well-formed, or the answer is
    # merely schema-invalid (the schema-invalid kind's job).
    if not book.is_status_code(p["status"]) or p["status"] in book.statuses:
        raise ValueError(f"params.status of {kind!r} must be a well-formed status code outside "
                         f"{', '.join(book.statuses)}")


register(FaultKind("unknown-status", "200, OK, the certificate's (or each event's) status an unlisted code",
                   {"status": "UNDER_REVIEW"}, frozenset({"verifications", "status-changes"}),
                   answer=_unknown_status, check=_check_unknown_status))


def _wrong_request_id(ctx: FaultContext, hit: FaultHit, route: Route, body: dict[str, Any],
                      query: dict[str, Any]) -> Answer:
    other = str(uuid.uuid4())
    if route.name == "dispositions":
        return Answer(202, encode({"code": ctx.contract.ok, "message": "accepted", "dispositionId": other}))
    return plain_verification(ctx, {**body, "requestId": other}, _record_of(ctx, body))


register(FaultKind("wrong-request-id", "200, a valid answer echoing another requestId (dispositions: 202 naming "
                   "another dispositionId)", routes=frozenset({"verifications", "dispositions"}),
                   answer=_wrong_request_id))


def _wrong_certificate(ctx: FaultContext, hit: FaultHit, route: Route, body: dict[str, Any],
                       query: dict[str, Any]) -> Answer:
    record = _record_of(ctx, body)
    if record is not None:
        number = record["certificateNo"]
        record["certificateNo"] = number[:10] + f"{int(number[10:]) % 999_999 + 1:06d}"
    else:
        found = ctx.sim.registry.all(limit=1)
        record = found[0] if found else None
    return plain_verification(ctx, body, record)


register(FaultKind("wrong-certificate", "200, a valid answer about another certificateNo",
                   routes=frozenset({"verifications"}), answer=_wrong_certificate))


def _rate_limited(ctx: FaultContext, hit: FaultHit, route: Route, body: dict[str, Any],
                  query: dict[str, Any]) -> Answer:
    answer = ctx.envelope(429, ctx.contract.rate_limited, "too many requests; retry after the Retry-After delay")
    answer.headers = ((b"retry-after", str(int(hit.params["retryAfterSeconds"])).encode()),)
    return answer


def _check_rate_limited(kind: str, p: dict[str, Any], book: StatusVocabulary) -> None:
    value = p["retryAfterSeconds"]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"params.retryAfterSeconds of {kind!r} must be an integer >= 0")


register(FaultKind("rate-limited", "429 RATE_LIMITED with Retry-After", {"retryAfterSeconds": 1},
                   answer=_rate_limited, check=_check_rate_limited))


class TokenBucket:
    """rate-limit's throttle: ``burst`` tokens at the start, refilled at ``per_second``."""

    def __init__(self, per_second: float, burst: float, now: float) -> None:
        self.rate = per_second
        self.burst = burst
        self._tokens = burst
        self._refilled = now
        self._lock = threading.Lock()

    def wait(self, now: float) -> float:
        with self._lock:
            self._tokens = min(self.burst, self._tokens + (now - self._refilled) * self.rate)
            self._refilled = now
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return 0.0
            return (1.0 - self._tokens) / self.rate


def _rate_limit(ctx: FaultContext, hit: FaultHit, route: Route, body: dict[str, Any],
                query: dict[str, Any]) -> Answer:
    answer = ctx.envelope(429, ctx.contract.rate_limited, f"over {hit.params['perSecond']} requests/s")
    answer.headers = ((b"retry-after", str(hit.retry_after).encode()),)
    return answer


def _check_rate_limit(kind: str, p: dict[str, Any], book: StatusVocabulary) -> None:
    _number(kind, p, "perSecond", strict=True)
    if p["burst"] is None:
        p["burst"] = max(1.0, float(p["perSecond"]))
    _number(kind, p, "burst", minimum=1.0)


register(FaultKind("rate-limit", "a token bucket; over it, 429 with Retry-After (whole seconds until a token)",
                   {"perSecond": 10.0, "burst": None}, answer=_rate_limit, check=_check_rate_limit,
                   throttle=lambda p, now: TokenBucket(float(p["perSecond"]), float(p["burst"]), now)))


def _mutated_answer(ctx: FaultContext, hit: FaultHit, route: Route, body: dict[str, Any],
                    query: dict[str, Any]) -> Answer:
    real = plain_verification(ctx, body, _record_of(ctx, body))
    return Answer(200, mutation.apply(json.loads(real.body or b"{}"), hit.params))


register(FaultKind("mutated-answer", "200, the real answer broken one stated way (op, path, value, fraction, text: "
                   "mutation.py)", mutation.PARAMS, frozenset({"verifications"}), answer=_mutated_answer,
                   check=lambda kind, p, book: mutation.check(p)))
