"""``SimulatorClient``: the control protocol (control.py) over HTTP against a running simulator.

Every pytest-xdist worker drives the one simulator the platform calls through this client. It
behaves like the in-process ``Simulator``: a bad argument raises ValueError, an unknown certificate
or event KeyError, with the simulator's message.
"""

from __future__ import annotations

from typing import Any

import httpx

from conformance.simulator.control import FAULT_KEYS, ISSUE_KEYS
from conformance.tls import client_context


class SimulatorClient:
    def __init__(self, base_url: str, *, timeout: float = 30.0, transport: httpx.BaseTransport | None = None) -> None:
        self._base_url = base_url.rstrip("/")
        self._http = httpx.Client(base_url=self._base_url, timeout=timeout, transport=transport, trust_env=False,
                                  verify=client_context(trust_env=False))

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> SimulatorClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing -----------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, json: Any = None, params: dict[str, Any] | None = None) -> Any:
        response = self._http.request(method, f"/_sim{path}", json=json,
                                      params={k: v for k, v in (params or {}).items() if v is not None})
        if response.status_code == 400:
            raise ValueError(self._message(response))
        if response.status_code == 404:
            raise KeyError(self._message(response))
        response.raise_for_status()
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    @staticmethod
    def _message(response: httpx.Response) -> str:
        try:
            return str(response.json().get("message"))
        except ValueError:
            return response.text

    # -- the protocol -------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return self._base_url

    def register_platform(self, platform_id: str, secret: str, notification_url: str | None = None,
                          signature_alg: str | None = None) -> None:
        # None leaves the choice to the simulator: the profile's default algorithm
        self._call("PUT", f"/platforms/{platform_id}",
                   json={"secret": secret, "notificationUrl": notification_url, "signatureAlg": signature_alg})

    def issue_certificate(self, *, product_code: str, status: str | None = None, models: list[str] | None = None,
                          brand: str | None = None, applicant: str | None = None, manufacturer: str | None = None,
                          factory: str | None = None, product_name: str | None = None,
                          issue_date: str | None = None, expiry_date: str | None = None) -> dict[str, Any]:
        given = {"product_code": product_code, "status": status, "models": models, "brand": brand,
                 "applicant": applicant, "manufacturer": manufacturer, "factory": factory,
                 "product_name": product_name, "issue_date": issue_date, "expiry_date": expiry_date}
        body = {camel: given[snake] for camel, snake in ISSUE_KEYS.items() if given[snake] is not None}
        return self._call("POST", "/certificates", json=body)

    def issue_certificates(self, count: int, *, statuses: list[str] | None = None,
                           product_codes: list[str] | None = None) -> list[dict[str, Any]]:
        body: dict[str, Any] = {"count": count}
        if statuses is not None:
            body["statuses"] = statuses
        if product_codes is not None:
            body["productCodes"] = product_codes
        return self._call("POST", "/certificates/batch", json=body)["certificates"]

    def get_certificate(self, certificate_no: str) -> dict[str, Any] | None:
        try:
            return self._call("GET", f"/certificates/{certificate_no}")
        except KeyError:
            return None

    def update_certificate(self, certificate_no: str, **fields: Any) -> dict[str, Any]:
        return self._call("PATCH", f"/certificates/{certificate_no}", json=fields)

    def set_status(self, certificate_no: str, status: str, *, reason: str = "", push: bool = True) -> dict[str, Any]:
        return self._call("POST", f"/certificates/{certificate_no}/status",
                          json={"status": status, "reason": reason, "push": push})

    def set_statuses(self, changes: list[tuple[str, str]], *, reason: str = "", push: bool = True) -> list[dict[str, Any]]:
        return self._call("POST", "/status-changes",
                          json={"changes": [list(c) for c in changes], "reason": reason, "push": push})["events"]

    def redeliver(self, event_ids: list[str], platform_id: str | None = None) -> list[dict[str, Any]]:
        return self._call("POST", "/redeliveries", json={"eventIds": event_ids, "platformId": platform_id})["pushes"]

    def events(self, certificate_no: str | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "/events", params={"certificateNo": certificate_no})["events"]

    def add_fault(self, kind: str, *, route: str = "verifications", match: dict[str, str] | None = None,
                  params: dict[str, Any] | None = None, probability: float = 1.0,
                  schedule: dict[str, float] | None = None, ttl_seconds: float | None = None) -> str:
        given = {"kind": kind, "route": route, "match": match, "params": params, "probability": probability,
                 "schedule": schedule, "ttl_seconds": ttl_seconds}
        body = {camel: given[snake] for camel, snake in FAULT_KEYS.items() if given[snake] is not None}
        return self._call("POST", "/faults", json=body)["faultId"]

    def remove_fault(self, fault_id: str) -> None:
        self._call("DELETE", f"/faults/{fault_id}")

    def clear_faults(self) -> None:
        self._call("DELETE", "/faults")

    def list_faults(self) -> list[dict[str, Any]]:
        return self._call("GET", "/faults")["faults"]

    def captures(self, *, route: str | None = None, match: dict[str, str] | None = None,
                 after: int = 0) -> list[dict[str, Any]]:
        return self._call("GET", "/captures", params={"route": route, "after": after, **(match or {})})["captures"]

    def pushes(self, *, certificate_no: str | None = None, event_id: str | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "/pushes", params={"certificateNo": certificate_no, "eventId": event_id})["pushes"]

    def dispositions(self, *, listing_id: str | None = None, merchant_id: str | None = None) -> list[dict[str, Any]]:
        return self._call("GET", "/dispositions",
                          params={"listingId": listing_id, "merchantId": merchant_id})["dispositions"]

    def export_captures(self, path: Any) -> int:
        """Download /_sim/captures/export into path; returns the number of lines."""
        count = 0
        with self._http.stream("GET", "/_sim/captures/export") as response, open(path, "w", encoding="utf-8") as out:
            response.raise_for_status()
            for line in response.iter_lines():
                if line:
                    out.write(line + "\n")
                    count += 1
        return count

    def info(self) -> dict[str, Any]:
        return self._call("GET", "/info")
