"""One TLS context per process for the harness's HTTP clients: the suite makes clients per test, and
httpx would build (and load a CA bundle into) a new context for each."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest

from conformance import tls
from conformance.evidence import ExchangeLog, Redactor
from conformance.platform_client import Notifier, PlatformClient
from conformance.simulator.client import SimulatorClient


def test_clients_share_one_context_built_once(monkeypatch: pytest.MonkeyPatch) -> None:
    built: list[dict[str, Any]] = []
    real = httpx.create_ssl_context

    def counting(*args: Any, **kwargs: Any) -> ssl.SSLContext:
        if not isinstance(kwargs.get("verify", args[0] if args else True), ssl.SSLContext):
            built.append(kwargs)  # a context given is passed through; anything else builds one
        return real(*args, **kwargs)

    monkeypatch.setattr(httpx, "create_ssl_context", counting)
    # httpx's own transports build theirs through this module-level name too
    monkeypatch.setattr(httpx._transports.default, "create_ssl_context", counting)
    tls.client_context.cache_clear()
    try:
        log = ExchangeLog(Redactor([]))
        clients: list[Any] = []
        for _ in range(20):
            clients += [PlatformClient("https://127.0.0.1:1/ccc-test/v1", log),
                        Notifier("https://127.0.0.1:1/notify", "s", log),
                        SimulatorClient("http://127.0.0.1:1")]
        for c in clients:
            (c.http if hasattr(c, "http") else c._http).close()
    finally:
        tls.client_context.cache_clear()
    # one context honouring the environment (the platform's clients), one not (the simulator's)
    assert sorted(k.get("trust_env") for k in built) == [False, True], built
    assert tls.client_context() is tls.client_context()
