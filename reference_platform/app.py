"""HTTP side of the platform: the test-control interface and the notification endpoint.

- ``/ccc-test/v1/...``: the platform test-control interface (specs/openapi/platform-test.yaml), a
  thin layer over the listing service, as the profile intends. Every 4xx has the body
  ``{code, message}``; no input gets a 5xx. Bodies are parsed and validated here, explicitly,
  against the published schemas, so that the status codes are exactly the documented ones:
  400 unparseable JSON / not an object / missing query parameter, 413 over 64 KiB, 415 another
  media type, 422 field validation, 404 unknown listing or route, 405 wrong method, 401 token.
- ``/ccc/v1/notifications``: where the regulator pushes status changes (when push is on).
"""

from __future__ import annotations

import asyncio
import gc
import hmac
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import faults as fault_list
from .config import Codes, Settings
from .decision import Basis
from .events import EventApplier, check_event
from .listings import ListingService
from .loadmeter import METER
from .notifications import NotificationGate
from .regulator import RegulatorClient
from .reverification import Reverifier
from .store import Listing, Store
from .workers import Workers

log = logging.getLogger("reference_platform")

TEST_CONTROL = "/ccc-test/v1"
NOTIFICATIONS = "/ccc/v1/notifications"
MAX_ID_LENGTH = 200   # listingId in paths and queries (platform-test.yaml)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status, headers=headers)


async def _send_json(send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]] = ()) -> None:
    """Answer straight from the ASGI middleware, before any route runs."""
    raw = json.dumps(body, ensure_ascii=False).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(raw)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": raw})


class Gatekeeper:
    """Pure ASGI middleware: bearer token, body size limit and the ``unstable-under-load`` fault.

    The token is checked before routing, so every test-control route (unknown ones too) is guarded.
    The body is read here with a hard limit, so an oversized body is refused without being stored.
    """

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.token = settings.bearer_token
        self.max_body = settings.profile.max_body_bytes
        self.unstable = settings.fault("unstable-under-load")
        self.spike = settings.fault("latency-spike")
        self.slow = settings.fault("slow-over-time")
        self.down_on_flap = settings.fault("down-while-regulator-flaps")
        self.metered = self.unstable or self.spike or self.slow or self.down_on_flap or settings.fault("wrong-under-load")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        test_control = path == TEST_CONTROL or path.startswith(TEST_CONTROL + "/")
        if test_control and self.metered and await self._load_fault(path):
            await _send_json(send, 503, {"code": "OVERLOADED", "message": "a load fault switch is on"})
            return
        if test_control and self.token is not None and not self._authorised(scope):
            await _send_json(send, 401, {"code": "UNAUTHORIZED", "message": "missing or wrong bearer token"},
                             [(b"www-authenticate", b"Bearer")])
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_body):
            await _send_json(send, 413, {"code": "PAYLOAD_TOO_LARGE",
                                         "message": f"the body is over {self.max_body} bytes"})
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                await _send_json(send, 413, {"code": "PAYLOAD_TOO_LARGE",
                                             "message": f"the body is over {self.max_body} bytes"})
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _authorised(self, scope: Scope) -> bool:
        header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        scheme, _, token = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(token.strip().encode("latin-1"),
                                                                   (self.token or "").encode("utf-8"))

    async def _load_fault(self, path: str) -> bool:
        """The load-phase faults (faults.py): delay this request, or answer it 503 (True)."""
        METER.request()
        if self.down_on_flap and METER.regulator_failing:
            return True
        if not METER.busy():
            return False
        n = METER.count
        if self.slow:
            await asyncio.sleep(min(fault_list.SLOW_MAX_SECONDS, fault_list.SLOW_GROWTH_SECONDS * METER.busy_for()))
        if self.spike and n % fault_list.SPIKE_EVERY == 0:
            await asyncio.sleep(fault_list.SPIKE_SECONDS)
        return self.unstable and n % fault_list.UNSTABLE_EVERY == 0


# -- request parsing ----------------------------------------------------------------------------
def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _has_surrogates(value: Any) -> bool:
    """Lone surrogates (from JSON escapes like \\ud800) cannot be stored or sent as UTF-8."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_surrogates(k) or _has_surrogates(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogates(v) for v in value)
    return False


async def json_object(request: Request, *, crash_on_bad_json: bool = False) -> dict[str, Any]:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != "application/json":
        raise ApiError(415, "UNSUPPORTED_MEDIA_TYPE", "send the body as application/json")
    raw = await request.body()
    try:
        payload = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        if crash_on_bad_json:   # the crash-on-bad-input fault: the error escapes as a 500
            raise RuntimeError("unparseable body") from exc
        raise ApiError(400, "BAD_REQUEST", f"the body is not JSON ({type(exc).__name__})") from None
    if not isinstance(payload, dict):
        raise ApiError(400, "BAD_REQUEST", "the body must be a JSON object")
    return payload


# The narrow-text-columns fault: text stored as if in VARCHAR(255) columns.
NARROW_TEXT_CHARACTERS = 255


def listing_view(listing: Listing) -> dict[str, Any]:
    """specs/schemas/listing.schema.json; certificateNo is echoed as submitted."""
    return {
        "listingId": listing.listing_id, "merchantId": listing.merchant_id, "categoryId": listing.category_id,
        "title": listing.title, "brand": listing.brand, "model": listing.model, "manufacturer": listing.manufacturer,
        "certificateNo": listing.certificate_no, "selfDeclarationNo": listing.self_declaration_no,
        "state": listing.state, "reasonCode": listing.reason_code, "lastVerifiedAt": listing.last_verified_at,
    }


def consumer_view(listing: Listing, settings: Settings) -> dict[str, Any]:
    """What a buyer sees (specs/schemas/consumer-view.schema.json; VIS-01, VIS-02, TERM-02)."""
    ccc = None
    if listing.basis == Basis.CERTIFICATE.value and listing.cert_no and listing.last_verified_at \
            and listing.cert_status in settings.terminology.status_labels:
        label = settings.terminology.status_labels[listing.cert_status]
        if settings.fault("wrong-status-label"):
            label = listing.cert_status
        ccc = {"certificateNo": listing.cert_no, "statusLabel": label, "verifiedAt": listing.last_verified_at}
    return {"listingId": listing.listing_id, "title": listing.title,
            "purchasable": listing.state == Codes.ON_SALE, "ccc": ccc}


# -- the application ----------------------------------------------------------------------------
def create_app(settings: Settings, *, on_ready: Callable[[], None] | None = None) -> FastAPI:
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        store = Store(settings.db_path)
        regulator = RegulatorClient(settings)
        service = ListingService(settings, store, regulator)
        events = EventApplier(service, service.reverify_wakeup)
        reverifier = Reverifier(service)
        if settings.fault("events-at-reverification"):
            reverifier.apply_deferred = events.apply_deferred
        # push-disables-polling: with both routes on, the change feed is never polled.
        poll = settings.poll and not (settings.push and settings.fault("push-disables-polling"))
        workers = Workers(service, reverifier, events, poll=poll,
                          reverify=not settings.fault("no-reverification"))
        state.update(store=store, service=service, events=events, gate=NotificationGate(settings, store))
        workers.start()
        # What exists now lives as long as the process: keep it out of the cyclic collector's
        # full collections, whose pauses would otherwise show in the latency tail.
        gc.freeze()
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            await workers.stop()
            await service.stop()
            await regulator.close()
            store.close()

    app = FastAPI(title="CCC reference platform", docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan, redirect_slashes=False)
    app.router.redirect_slashes = False

    def service() -> ListingService:
        return state["service"]

    def listing_or_404(listing_id: str) -> Listing:
        found = service().store.listing(listing_id) if len(listing_id) <= MAX_ID_LENGTH else None
        if found is None:
            raise ApiError(404, "NOT_FOUND", f"no listing {listing_id[:MAX_ID_LENGTH]!r}")
        return found

    def validated(name: str, payload: dict[str, Any]) -> dict[str, Any]:
        if errors := settings.schemas.errors(name, payload):
            raise ApiError(422, "VALIDATION_FAILED", errors[0])
        if _has_surrogates(payload):
            raise ApiError(422, "VALIDATION_FAILED", "text must be valid Unicode (no lone surrogates)")
        category = payload.get("categoryId")
        if category is not None and category not in settings.ics.categories:
            raise ApiError(422, "UNKNOWN_CATEGORY", f"/categoryId: {category!r} is not one of the platform's "
                                                    f"categories ({', '.join(settings.ics.categories)})")
        return payload

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 405:
            # Starlette's Allow names only the first route that matched the path; a path served by
            # several routes (GET and PATCH of a listing) must list them all.
            allowed = sorted({m for route in app.router.routes if isinstance(route, APIRoute)
                              and route.matches(request.scope)[0] is Match.PARTIAL for m in route.methods})
            return error_response(405, "METHOD_NOT_ALLOWED", f"{request.method} is not allowed here",
                                  {"Allow": ", ".join(allowed)})
        codes = {404: ("NOT_FOUND", "no such route")}
        code, message = codes.get(exc.status_code, ("HTTP_ERROR", str(exc.detail)))
        return error_response(exc.status_code, code, message, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(_request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        return error_response(500, "INTERNAL_ERROR", "the platform failed; see its log")

    crash_on_bad_json = settings.fault("crash-on-bad-input")
    narrow_text = settings.fault("narrow-text-columns")

    @app.get(TEST_CONTROL + "/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post(TEST_CONTROL + "/listings", status_code=201)
    async def create_listing(request: Request) -> JSONResponse:
        fields = validated("listing-create", await json_object(request, crash_on_bad_json=crash_on_bad_json))
        if narrow_text and any(isinstance(v, str) and len(v) > NARROW_TEXT_CHARACTERS for v in fields.values()):
            # The narrow-text-columns fault: the value does not fit the column, and the error escapes.
            raise RuntimeError(f"a text field longer than {NARROW_TEXT_CHARACTERS} characters")
        listing = await service().create(fields)
        return JSONResponse(listing_view(listing), status_code=201)

    @app.get(TEST_CONTROL + "/listings/{listing_id}")
    async def get_listing(listing_id: str) -> dict[str, Any]:
        return listing_view(listing_or_404(listing_id))

    @app.patch(TEST_CONTROL + "/listings/{listing_id}")
    async def edit_listing(listing_id: str, request: Request) -> dict[str, Any]:
        listing_or_404(listing_id)
        fields = validated("listing-edit", await json_object(request, crash_on_bad_json=crash_on_bad_json))
        listing = await service().edit(listing_id, fields)
        if listing is None:
            raise ApiError(404, "NOT_FOUND", f"no listing {listing_id!r}")
        return listing_view(listing)

    @app.get(TEST_CONTROL + "/listings/{listing_id}/public")
    async def get_consumer_view(listing_id: str) -> dict[str, Any]:
        return consumer_view(listing_or_404(listing_id), settings)

    @app.get(TEST_CONTROL + "/verification-records")
    async def get_records(request: Request) -> dict[str, Any]:
        listing_id = request.query_params.get("listingId")
        if not listing_id:
            raise ApiError(400, "BAD_REQUEST", "the query parameter listingId is required")
        if len(listing_id) > MAX_ID_LENGTH:
            raise ApiError(400, "BAD_REQUEST", f"listingId is at most {MAX_ID_LENGTH} characters")
        listing = listing_or_404(listing_id)
        return {"records": service().store.records(listing.listing_id)}

    if settings.push:
        @app.post(NOTIFICATIONS)
        async def receive_notification(request: Request) -> JSONResponse:
            body = await request.body()
            # PATH as the regulator signed it: the path as sent, plus the query string when there is one.
            path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
            if query := request.scope.get("query_string", b""):
                path += "?" + query.decode("latin-1")
            if reason := state["gate"].refuse(request.headers, path, body):
                return error_response(401, "AUTH_FAILED", reason)
            try:
                payload = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
            except (UnicodeDecodeError, ValueError, RecursionError):
                return error_response(400, "BAD_REQUEST", "the body is not JSON")
            if not isinstance(payload, dict):
                return error_response(400, "BAD_REQUEST", "the body must be a JSON object")
            checked = check_event(payload, settings.schemas, settings.terminology)
            if checked.event is None or _has_surrogates(payload):
                return error_response(422, "VALIDATION_FAILED", checked.error or "text must be valid Unicode")
            outcome = state["events"].apply(checked.event, "push")
            return JSONResponse({"code": "OK", "message": outcome, "eventId": checked.event["eventId"]})

    app.add_middleware(Gatekeeper, settings=settings)
    return app
