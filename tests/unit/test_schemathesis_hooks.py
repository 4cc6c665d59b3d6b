"""conformance.schemathesis without a server: the signature covers what would be sent, both algorithms;
the bearer token needs no platform secret; categories become an enum; made-up cursors leave positive cases."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis

from conformance import schemathesis as hooks
from conformance import signing
from conformance.specs import load

SECRET = "unit-secret-秘密-123"


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for var in ("CCC_PIXIT", "CCC_ICS", "CCC_BEARER_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CCC_PLATFORM_ID", "unit-mall")
    monkeypatch.setenv("CCC_PLATFORM_SECRET", SECRET)
    for cached in (hooks.credentials, hooks.bearer_token, hooks.categories):
        cached.cache_clear()
    yield
    for cached in (hooks.credentials, hooks.bearer_token, hooks.categories):
        cached.cache_clear()


def _operation(document: str, path: str, method: str) -> Any:
    return schemathesis.openapi.from_path(str(load().openapi_path(document)))[path][method]


def _verifies(case: Any) -> bool:
    kwargs = case.as_transport_kwargs()
    body = {k: kwargs[k] for k in ("json", "data") if k in kwargs}
    sent = requests.Request(kwargs["method"], kwargs["url"], params=kwargs.get("params"), **body).prepare()
    h = signing.PLATFORM_HEADERS
    alg = case.headers.get(h["alg"], signing.SHA256)
    raw = sent.body or b""
    return signing.verify(SECRET, case.headers[h["signature"]], str(sent.method), str(sent.path_url),
                          case.headers[h["timestamp"]], case.headers[h["nonce"]],
                          raw.encode() if isinstance(raw, str) else raw, alg)


@pytest.mark.parametrize("alg", [None, signing.SM3])
def test_a_signed_body_verifies_with_the_algorithm_the_case_names(alg: str | None) -> None:
    case = _operation("regulator", "/api/v1/verifications", "POST").Case(
        body={"requestId": "6f1c2a4e-8a0b-4c6e-9d3f-2b7e5a1c9d10", "productName": "冰箱"},
        headers={signing.PLATFORM_HEADERS["alg"]: alg} if alg else {}, media_type="application/json")
    hooks.sign_case(case)
    assert case.headers[signing.PLATFORM_HEADERS["id"]] == "unit-mall"
    assert _verifies(case)


def test_the_query_string_is_signed_as_sent() -> None:
    case = _operation("regulator", "/api/v1/status-changes", "GET").Case(query={"limit": 5, "after": "x y"})
    hooks.sign_case(case)
    assert _verifies(case)


def test_the_bearer_token_needs_no_platform_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CCC_PLATFORM_SECRET")
    monkeypatch.setenv("CCC_BEARER_TOKEN", "tok-123456")
    operation = _operation("platform-test", "/health", "GET")
    assert hooks.takes_bearer(operation) and not hooks.is_signed(operation)
    assert hooks.bearer_token() == "tok-123456"


def test_a_missing_secret_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CCC_PLATFORM_SECRET")
    with pytest.raises(hooks.ConfigurationError, match="CCC_PLATFORM_SECRET"):
        hooks.credentials()


def test_the_ics_categories_become_an_enum_on_listing_bodies() -> None:
    raw = copy.deepcopy(load().openapi("platform-test"))
    hooks._add_category_enum(raw, ("fridge", "books"))
    schemas = raw["components"]["schemas"]
    for name in ("listing-create.schema.json", "listing-edit.schema.json"):
        assert schemas[name]["properties"]["categoryId"]["enum"] == ["fridge", "books"]
    assert "enum" not in schemas["listing.schema.json"]["properties"]["categoryId"]


def test_made_up_cursors_leave_positive_cases_only() -> None:
    context = schemathesis.HookContext(operation=_operation("regulator", "/api/v1/status-changes", "GET"))
    assert hooks.map_query(context, {"after": "made-up", "limit": 3}) == {"limit": 3}
    assert hooks.map_query(context, {"after": "", "limit": 3}) == {"after": "", "limit": 3}  # the negative part


def test_the_fuzz_command_passes_the_variables_the_hooks_read() -> None:
    from conformance import fuzz

    assert (fuzz.ICS_VAR, fuzz.PIXIT_VAR) == (hooks.ICS_VAR, hooks.PIXIT_VAR)
