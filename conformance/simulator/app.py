"""The simulator's ASGI application: the regulator routes (regulator.yaml) and ``/_sim/``.

The regulator routes are plain ASGI, not a framework: POST /api/v1/verifications must do 2,000+
signed, validated, captured requests per second on one core, and a framework's request objects and
routing cost more than the work itself. Every request goes through the same steps, in this order:

  read the body → authenticate (auth.py) → parse and validate (contract.py) → pick a fault
  (faults.py) → answer: the fault's, else 401, else 400, else the route's → capture → send

Authentication and validation always both run, so the capture holds both verdicts as evidence
(MSG-01, MSG-03, MSG-04) whichever one decided the answer. A fault decides the answer before it is
made (fault_kinds.py declares each kind's answer; latency only delays the real one, every other kind
replaces it, so e.g. a disposition answered by a fault is not stored). ``/_sim/`` is a small
Starlette app (control_http.py).
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from conformance.simulator.answer import Answer, encode
from conformance.simulator.capture import RequestCapture
from conformance.simulator.contract import Route
from conformance.simulator.control_http import build_control_app
from conformance.simulator.faults import FaultHit
from conformance.simulator.feed import CursorError
from conformance.specs import SpecError

if TYPE_CHECKING:
    from conformance.simulator.core import Simulator

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_JSON = (b"content-type", b"application/json")
_resetting: contextvars.ContextVar[bool] = contextvars.ContextVar("ccc_sim_resetting", default=False)
_INCOMPLETE = "ASGI callable returned without completing response."
_HARD_BODY_CAP = 8 * 1024 * 1024  # beyond this a body is not kept even for its signature check


class _QuietInjectedResets(logging.Filter):
    """uvicorn logs an error when a response is left incomplete; for an injected reset that is the point."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_resetting.get() and record.getMessage() == _INCOMPLETE)


_filter_installed = False
_log = logging.getLogger("conformance.simulator")


def _install_log_filter() -> None:
    global _filter_installed
    if not _filter_installed:
        logging.getLogger("uvicorn.error").addFilter(_QuietInjectedResets())
        _filter_installed = True


def build_app(sim: Simulator) -> RegulatorApp:
    """The ASGI application serving ``sim``: the regulator routes and ``/_sim/``. Built outside the
    Simulator, which owns only state, so that nothing imports back into core."""
    return RegulatorApp(sim)


class RegulatorApp:
    """The regulator routes. Also the context a fault kind's answer gets (fault_kinds.FaultContext):
    ``sim``, ``contract``, ``rng``, ``ok_prefix`` and ``envelope``."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.contract = sim.contract
        self.routes = self.contract.by_path
        self.handlers: dict[str, Callable[[Route, Any, dict[str, Any], str | None, float], Answer]] = {
            "verifications": self._verify, "status-changes": self._status_changes, "dispositions": self._dispose,
        }
        missing = [r.name for r in self.contract.routes if r.name not in self.handlers]
        if missing:
            raise SpecError(f"{self.sim.specs.openapi_path('regulator')}: the simulator has no handler for "
                            f"{', '.join(missing)}")
        self.control = build_control_app(sim)
        self.rng = random.Random()
        c = self.contract
        self.ok_prefix = f'{{"code":{json.dumps(c.ok)},"message":"certificate found","requestId":'.encode()
        self._not_found_prefix = f'{{"code":{json.dumps(c.not_found)},"message":"no certificate with this number",' \
                                 f'"requestId":'.encode()
        _install_log_filter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            if scope["path"].startswith("/_sim"):
                await self.control(scope, receive, send)
            else:
                await self.regulator(scope, receive, send)
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    # -- the regulator routes -----------------------------------------------------------------
    async def regulator(self, scope: Scope, receive: Receive, send: Send) -> None:
        received = time.time()
        body, too_large = await self._read(receive)
        path: str = scope["path"]
        method: str = scope["method"]
        raw_headers: list[tuple[bytes, bytes]] = scope["headers"]
        query_string: bytes = scope["query_string"]
        route = self.routes.get(path)
        if route is None or route.method != method:
            await self._unrouted(route, received, method, path, query_string, raw_headers, body, send)
            return

        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in raw_headers}
        raw_path = (scope.get("raw_path") or path.encode()).decode("latin-1")
        signed_path = f"{raw_path}?{query_string.decode('latin-1')}" if query_string else raw_path
        auth = self.sim.auth.check(method, signed_path, headers, body, received)
        header_errors = auth.header_errors

        doc: Any = None
        errors: list[str] = []
        schema_valid: bool | None = None
        query: dict[str, Any] = {}
        if route.request_schema:
            content_type = headers.get("content-type", "")
            if not content_type.startswith("application/json"):
                header_errors = [*header_errors, f"Content-Type {content_type!r} is not application/json"]
            if too_large:
                errors = [f"/: body over {self.contract.max_body_bytes} bytes"]
            else:
                try:
                    doc = json.loads(body)
                except (ValueError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
                    errors = [f"/: body is not JSON ({type(exc).__name__}: {exc})"[:300]]
                else:
                    errors = self.contract.errors(route.request_schema, doc)
            schema_valid = not errors
        if route.query:
            params = dict(parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
            query, query_errors = self.contract.query_errors(route, params)
            if not query_errors and route.name == "status-changes":
                try:
                    self.sim.feed.parse_cursor(query.get("after"))
                except CursorError as exc:
                    query_errors = [str(exc)]
            errors = [*errors, *query_errors]
            schema_valid = not errors

        platform_id = auth.platform_id
        hit = self.sim.faults.pick(route.name, doc, platform_id)
        if hit is not None and hit.declared.answer is not None:
            answer = self._fault_answer(hit, route, doc, query)
        elif auth.error is not None:
            answer = self.envelope(401, self.contract.auth_failed, auth.error)
        elif errors:
            shown = "; ".join(errors[:10]) + (f" (and {len(errors) - 10} more)" if len(errors) > 10 else "")
            # 413 for a body over maxBodyBytes, as on the test-control interface (regulator.yaml).
            answer = self.envelope(413 if too_large else 400, self.contract.bad_request, f"invalid request: {shown}")
        else:
            try:
                answer = self.handlers[route.name](route, doc, query, platform_id, received)
            except Exception as exc:  # a simulator bug: say so in the answer and the capture, keep serving
                _log.exception("simulator error on %s %s", method, path)
                answer = self.envelope(500, self.contract.unavailable, f"simulator error: {type(exc).__name__}: {exc}")
        if hit is not None and hit.declared.shape is not None:
            hit.declared.shape(self, hit, answer)

        # Tuples, not lists: a tuple of bytes/str is dropped from the cyclic GC's tracking, so a long
        # run's captures do not make every garbage collection slower (and the hot path with it).
        self.sim.store.add_request(RequestCapture(
            received, route.name, method, path, query_string, tuple(raw_headers),
            body[: self.contract.max_body_bytes] if too_large else body, doc, platform_id,
            auth.alg, auth.signature_valid, auth.error, tuple(header_errors), schema_valid, tuple(errors),
            answer.status, answer.body, hit.kind if hit is not None else None))
        await self._send(answer, send)

    async def _unrouted(self, route: Route | None, received: float, method: str, path: str, query_string: bytes,
                        raw_headers: list[tuple[bytes, bytes]], body: bytes, send: Send) -> None:
        if route is None:
            answer = self.envelope(404, self.contract.bad_request, f"no route {path} (see regulator.yaml)")
        else:
            answer = self.envelope(405, self.contract.bad_request, f"{path} takes {route.method}, not {method}")
            answer.headers = ((b"allow", route.method.encode()),)
        platform = next((v.decode("latin-1") for k, v in raw_headers if k == b"x-platform-id"), None)
        self.sim.store.add_request(RequestCapture(
            received, route.name if route else None, method, path, query_string, tuple(raw_headers),
            body[: self.contract.max_body_bytes], None,
            platform, None, None, None, (), None, (), answer.status, answer.body, None))
        await self._send(answer, send)

    # -- route handlers (valid, authenticated requests) ---------------------------------------
    def _verify(self, route: Route, doc: dict[str, Any], query: dict[str, Any], platform_id: str | None,
                received: float) -> Answer:
        certificate = self.sim.registry.encoded(doc["certificateNo"])
        request_id = json.dumps(doc["requestId"]).encode()
        if certificate is None:
            return Answer(200, self._not_found_prefix + request_id + b',"certificate":null}')
        return Answer(200, self.ok_prefix + request_id + b',"certificate":' + certificate + b"}")

    def _status_changes(self, route: Route, doc: Any, query: dict[str, Any], platform_id: str | None,
                        received: float) -> Answer:
        events, cursor = self.sim.feed.page(query.get("after"), int(query["limit"]))
        return Answer(200, encode({"events": events, "nextCursor": cursor}))

    def _dispose(self, route: Route, doc: dict[str, Any], query: dict[str, Any], platform_id: str | None,
                 received: float) -> Answer:
        status = self.sim.record_disposition(doc, platform_id, received)
        message = {202: "accepted", 200: "already have this dispositionId",
                   409: "already have this dispositionId with a different body"}[status]
        return Answer(status, encode({"code": self.contract.ok, "message": message,
                                      "dispositionId": doc["dispositionId"]}))

    # -- faults -------------------------------------------------------------------------------
    def _fault_answer(self, hit: FaultHit, route: Route, doc: Any, query: dict[str, Any]) -> Answer:
        answer = hit.declared.answer
        assert answer is not None  # regulator() asks only a kind that answers
        return answer(self, hit, route, doc if isinstance(doc, dict) else {}, query)

    # -- plumbing -----------------------------------------------------------------------------
    def envelope(self, status: int, code: str, message: str) -> Answer:
        return Answer(status, encode({"code": code, "message": message}))

    async def _read(self, receive: Receive) -> tuple[bytes, bool]:
        """The body and whether it is over maxBodyBytes. An oversized body is still read (up to a hard
        cap) so that its signature can be checked and the refusal be the 413 it deserves."""
        limit = self.contract.max_body_bytes
        message = await receive()
        body: bytes = message.get("body", b"")
        if not message.get("more_body"):
            return body, len(body) > limit
        chunks = [body]
        size = len(body)
        while message.get("more_body"):
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= _HARD_BODY_CAP:
                chunks.append(chunk)
        return b"".join(chunks), size > limit

    async def _send(self, answer: Answer, send: Send) -> None:
        if answer.delay > 0:
            await self._sleep(answer.delay)
        if answer.drop:
            # A reset: start an answer that promises more than it sends, then stop. The server closes
            # the connection; the client sees a truncated response, never a usable one.
            _resetting.set(True)
            await send({"type": "http.response.start", "status": 200,
                        "headers": [_JSON, (b"content-length", b"4096")]})
            await send({"type": "http.response.body", "body": b'{"code":', "more_body": True})
            return
        body = answer.body or b""
        await send({"type": "http.response.start", "status": answer.status,
                    "headers": [_JSON, (b"content-length", str(len(body)).encode()), *answer.headers]})
        await send({"type": "http.response.body", "body": body})

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but wake when the simulator stops (a 30 s hang must not hold up a shutdown)."""
        deadline = time.monotonic() + seconds
        stopping = self.sim.stopping
        while not stopping.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            await asyncio.sleep(min(left, 0.1))
