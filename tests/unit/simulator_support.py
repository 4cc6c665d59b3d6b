"""Shared by the simulator's in-process unit tests: route paths, a secret, and one ASGI call."""

from __future__ import annotations

import asyncio

import httpx

from conformance.simulator.app import build_app
from conformance.simulator.core import Simulator

SECRET = "mall-secret-123"
VERIFY = "/api/v1/verifications"
FEED = "/api/v1/status-changes"
DISPOSE = "/api/v1/dispositions"


def call(sim: Simulator, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None) -> httpx.Response:
    """One request to the simulator's ASGI app, no server needed."""

    async def go() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=build_app(sim)), base_url="http://sim") as client:
            return await client.request(method, path, content=body, headers=headers)

    return asyncio.run(go())
