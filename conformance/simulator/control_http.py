"""``/_sim/``: the control protocol (control.py) over HTTP, for the suite's workers and for humans.

Off the regulator's OpenAPI on purpose: it is the test harness's back door, bound to loopback. The
routes are documented in README.md beside this file; ``SimulatorClient`` is their Python client.
Bodies use the schemas' camelCase field names. Errors: 400 for a bad argument (the message says which),
404 for an unknown certificate, event or route, both as ``{code, message}``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from conformance.simulator import fault_kinds
from conformance.simulator.control import FAULT_KEYS, ISSUE_KEYS
from conformance.simulator.faults import MATCH_KEYS

if TYPE_CHECKING:
    from conformance.simulator.core import Simulator

Handler = Callable[[Request], Awaitable[Response]]


class BadInput(ValueError):
    pass


def _kwargs(doc: dict[str, Any], keys: dict[str, str], what: str) -> dict[str, Any]:
    unknown = sorted(set(doc) - set(keys))
    if unknown:
        raise BadInput(f"unknown {what} field(s) {', '.join(unknown)} (known: {', '.join(keys)})")
    return {keys[k]: v for k, v in doc.items()}


def build_control_app(sim: Simulator) -> Starlette:
    bad, missing = sim.contract.bad_request, sim.contract.not_found

    def guarded(handler: Handler) -> Handler:
        async def run(request: Request) -> Response:
            try:
                return await handler(request)
            except (BadInput, ValueError, TypeError) as exc:
                return JSONResponse({"code": bad, "message": str(exc)}, status_code=400)
            except KeyError as exc:
                return JSONResponse({"code": missing, "message": str(exc.args[0] if exc.args else exc)},
                                    status_code=404)

        return run

    async def body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        if not raw:
            return {}
        try:
            doc = json.loads(raw)
        except ValueError as exc:
            raise BadInput(f"body is not JSON ({exc})") from None
        if not isinstance(doc, dict):
            raise BadInput("body must be a JSON object")
        return doc

    def ok(doc: Any, status: int = 200) -> JSONResponse:
        return JSONResponse(doc, status_code=status)

    def int_param(request: Request, name: str, default: int | None) -> int | None:
        raw = request.query_params.get(name)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise BadInput(f"?{name} must be an integer, not {raw!r}") from None

    async def health(request: Request) -> Response:
        return ok({"status": "ok"})

    async def info(request: Request) -> Response:
        return ok(sim.info())

    async def platforms(request: Request) -> Response:
        return ok({"platforms": sim.platforms()})

    async def put_platform(request: Request) -> Response:
        doc = await body(request)
        kw = _kwargs(doc, {"secret": "secret", "notificationUrl": "notification_url", "signatureAlg": "signature_alg"},
                     "platform")
        if "secret" not in kw:
            raise BadInput("secret is required")
        sim.register_platform(request.path_params["platform_id"], **kw)
        return Response(status_code=204)

    async def issue(request: Request) -> Response:
        kw = _kwargs(await body(request), ISSUE_KEYS, "certificate")
        if "product_code" not in kw:
            raise BadInput("productCode is required")
        return ok(sim.issue_certificate(**kw), 201)

    async def issue_batch(request: Request) -> Response:
        kw = _kwargs(await body(request), {"count": "count", "statuses": "statuses", "productCodes": "product_codes"},
                     "batch")
        count = kw.pop("count", None)
        if not isinstance(count, int) or count < 1:
            raise BadInput("count must be a positive integer")
        return ok({"certificates": sim.issue_certificates(count, **kw)}, 201)

    async def list_certificates(request: Request) -> Response:
        q = request.query_params
        return ok({"certificates": sim.certificates(status=q.get("status"), product_code=q.get("productCode"),
                                                    limit=int_param(request, "limit", 100))})

    async def get_certificate(request: Request) -> Response:
        number = request.path_params["certificate_no"]
        record = sim.get_certificate(number)
        if record is None:
            raise KeyError(f"no certificate {number!r} in the simulator's registry")
        return ok(record)

    async def patch_certificate(request: Request) -> Response:
        return ok(sim.update_certificate(request.path_params["certificate_no"], **(await body(request))))

    async def set_status(request: Request) -> Response:
        doc = await body(request)
        kw = _kwargs(doc, {"status": "status", "reason": "reason", "push": "push"}, "status change")
        if "status" not in kw:
            raise BadInput("status is required")
        return ok(sim.set_status(request.path_params["certificate_no"], **kw))

    async def set_statuses(request: Request) -> Response:
        doc = await body(request)
        kw = _kwargs(doc, {"changes": "changes", "reason": "reason", "push": "push"}, "bulk status change")
        changes = kw.pop("changes", None)
        if not isinstance(changes, list):
            raise BadInput("changes must be a list of [certificateNo, status] or {certificateNo, status}")
        pairs = [(c.get("certificateNo"), c.get("status")) if isinstance(c, dict) else c for c in changes]
        return ok({"events": sim.set_statuses(pairs, **kw)})

    async def events(request: Request) -> Response:
        return ok({"events": sim.events(request.query_params.get("certificateNo"))})

    async def redeliver(request: Request) -> Response:
        doc = await body(request)
        kw = _kwargs(doc, {"eventIds": "event_ids", "platformId": "platform_id"}, "redelivery")
        if not isinstance(kw.get("event_ids"), list):
            raise BadInput("eventIds must be a list of event ids")
        future = sim.redeliver_future(kw["event_ids"], kw.get("platform_id"))
        return ok({"pushes": await asyncio.wrap_future(future)})

    async def list_faults(request: Request) -> Response:
        return ok({"faults": sim.list_faults()})

    async def list_fault_kinds(request: Request) -> Response:
        routes = sim.contract.route_names
        return ok({"kinds": [kind.public(routes) for kind in fault_kinds.declared()]})

    async def add_fault(request: Request) -> Response:
        kw = _kwargs(await body(request), FAULT_KEYS, "fault")
        if "kind" not in kw:
            raise BadInput("kind is required")
        fault_id = sim.add_fault(kw.pop("kind"), **kw)
        return ok(next((f for f in sim.list_faults() if f["faultId"] == fault_id), {"faultId": fault_id}), 201)

    async def remove_fault(request: Request) -> Response:
        sim.remove_fault(request.path_params["fault_id"])
        return Response(status_code=204)

    async def clear_faults(request: Request) -> Response:
        sim.clear_faults()
        return Response(status_code=204)

    def match_of(request: Request) -> dict[str, str]:
        return {k: v for k, v in request.query_params.items() if k in MATCH_KEYS}

    async def captures(request: Request) -> Response:
        q = request.query_params
        return ok({"captures": sim.captures(route=q.get("route"), match=match_of(request) or None,
                                            after=int_param(request, "after", 0) or 0)})

    async def export(request: Request) -> Response:
        return StreamingResponse(sim.store.export_lines(), media_type="application/x-ndjson")

    async def pushes(request: Request) -> Response:
        q = request.query_params
        return ok({"pushes": sim.pushes(certificate_no=q.get("certificateNo"), event_id=q.get("eventId"))})

    async def dispositions(request: Request) -> Response:
        q = request.query_params
        return ok({"dispositions": sim.dispositions(listing_id=q.get("listingId"), merchant_id=q.get("merchantId"))})

    async def not_found(request: Request) -> Response:
        return JSONResponse({"code": missing, "message": f"no control route {request.method} {request.url.path} "
                                                         "(see conformance/simulator/README.md)"}, status_code=404)

    routes = [
        Route("/_sim/health", guarded(health), methods=["GET"]),
        Route("/_sim/info", guarded(info), methods=["GET"]),
        Route("/_sim/platforms", guarded(platforms), methods=["GET"]),
        Route("/_sim/platforms/{platform_id}", guarded(put_platform), methods=["PUT"]),
        Route("/_sim/certificates", guarded(issue), methods=["POST"]),
        Route("/_sim/certificates", guarded(list_certificates), methods=["GET"]),
        Route("/_sim/certificates/batch", guarded(issue_batch), methods=["POST"]),
        Route("/_sim/certificates/{certificate_no}", guarded(get_certificate), methods=["GET"]),
        Route("/_sim/certificates/{certificate_no}", guarded(patch_certificate), methods=["PATCH"]),
        Route("/_sim/certificates/{certificate_no}/status", guarded(set_status), methods=["POST"]),
        Route("/_sim/status-changes", guarded(set_statuses), methods=["POST"]),
        Route("/_sim/events", guarded(events), methods=["GET"]),
        Route("/_sim/redeliveries", guarded(redeliver), methods=["POST"]),
        Route("/_sim/faults", guarded(list_faults), methods=["GET"]),
        Route("/_sim/faults", guarded(add_fault), methods=["POST"]),
        Route("/_sim/faults", guarded(clear_faults), methods=["DELETE"]),
        Route("/_sim/faults/{fault_id}", guarded(remove_fault), methods=["DELETE"]),
        Route("/_sim/fault-kinds", guarded(list_fault_kinds), methods=["GET"]),
        Route("/_sim/captures", guarded(captures), methods=["GET"]),
        Route("/_sim/captures/export", guarded(export), methods=["GET"]),
        Route("/_sim/pushes", guarded(pushes), methods=["GET"]),
        Route("/_sim/dispositions", guarded(dispositions), methods=["GET"]),
    ]
    async def on_404(request: Request, exc: Exception) -> Response:
        return await not_found(request)

    return Starlette(routes=routes, exception_handlers={404: on_404})
