"""The test-control interface's shapes and error mapping (MSG-05, SEC-03, SEC-04).

The app runs in-process (Starlette's TestClient); its regulator is an address nothing listens on, so
listings that need a query stay pending, which is all these tests need.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():   # starlette's TestClient warns about its httpx dependency on import
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

from conformance import specs as harness_specs
from reference_platform.__main__ import parser, settings_from
from reference_platform.app import create_app

SPECS = harness_specs.load()


def client(tmp_path: Path, *extra: str) -> TestClient:
    args = parser().parse_args(["--regulator-url", "http://127.0.0.1:9", "--platform-id", "p",
                                "--platform-secret", "s", "--mode", "push", *extra])
    return TestClient(create_app(settings_from(args, tmp_path / "platform.db")), base_url="http://127.0.0.1")


@pytest.fixture
def api(tmp_path: Path) -> Iterator[TestClient]:
    with client(tmp_path) as c:
        yield c


BASE = "/ccc-test/v1"


def create(api: TestClient, **fields: Any) -> Any:
    return api.post(f"{BASE}/listings", json={"merchantId": "m1", "categoryId": "books", "title": "书", **fields})


def assert_error(response: Any, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert SPECS.is_valid("error", response.json()), response.json()


def test_health(api: TestClient) -> None:
    response = api.get(f"{BASE}/health")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_create_read_edit_out_of_catalogue(api: TestClient) -> None:
    created = create(api, certificateNo="not checked for books", extra="ignored")
    assert created.status_code == 201
    listing = created.json()
    assert SPECS.is_valid("listing", listing)
    assert listing["state"] == "ON_SALE" and listing["certificateNo"] == "not checked for books"
    listing_id = listing["listingId"]
    assert api.get(f"{BASE}/listings/{listing_id}").json() == listing
    edited = api.patch(f"{BASE}/listings/{listing_id}", json={"title": "新书名"})
    assert edited.status_code == 200 and edited.json()["title"] == "新书名"
    view = api.get(f"{BASE}/listings/{listing_id}/public").json()
    assert SPECS.is_valid("consumer-view", view)
    assert view == {"listingId": listing_id, "title": "新书名", "purchasable": True, "ccc": None}
    records = api.get(f"{BASE}/verification-records", params={"listingId": listing_id}).json()
    assert SPECS.is_valid("verification-records", records)
    assert [r["outcome"] for r in records["records"]] == [None]   # decided without a query


def test_interception_without_a_query(api: TestClient) -> None:
    listing = create(api, categoryId="fridge", certificateNo="https://example.cn/cert?no=2021010701123456").json()
    assert (listing["state"], listing["reasonCode"]) == ("INTERCEPTED", "INVALID_CERTIFICATE_NO")
    view = api.get(f"{BASE}/listings/{listing['listingId']}/public").json()
    assert view["purchasable"] is False and SPECS.is_valid("consumer-view", view)


def test_a_catalogue_listing_waits_for_the_regulator(api: TestClient) -> None:
    listing = create(api, categoryId="fridge", certificateNo="2021010701123456", model="BCD-215").json()
    assert listing["state"] == "PENDING_VERIFICATION" and SPECS.is_valid("listing", listing)


@pytest.mark.parametrize(("body", "status"), [
    (b"{", 400),
    (b"[]", 400),
    (b'"text"', 400),
    (b"", 400),
    (b"\xff\xfe", 400),
    (b'{"merchantId": NaN}', 400),
    (b"[" * 5000 + b"]" * 5000, 400),
    (b"{}", 422),
    (b'{"merchantId": "m", "categoryId": "books"}', 422),
    (b'{"merchantId": 5, "categoryId": "books", "title": "t"}', 422),
    (b'{"merchantId": "m", "categoryId": "books", "title": "   "}', 422),
    (b'{"merchantId": "m", "categoryId": "books", "title": "t", "brand": 1}', 422),
    (b'{"merchantId": "m", "categoryId": "no-such", "title": "t"}', 422),
    (b'{"merchantId": "m", "categoryId": "books", "title": "' + b"x" * 1001 + b'"}', 422),
    (b'{"merchantId": "m", "categoryId": "books", "title": "\\ud800"}', 422),
])
def test_bad_bodies(api: TestClient, body: bytes, status: int) -> None:
    assert_error(api.post(f"{BASE}/listings", content=body, headers={"Content-Type": "application/json"}), status)


def test_media_type_size_method_and_route(api: TestClient) -> None:
    body = json.dumps({"merchantId": "m", "categoryId": "books", "title": "t"})
    assert_error(api.post(f"{BASE}/listings", content=body, headers={"Content-Type": "text/plain"}), 415)
    assert_error(api.post(f"{BASE}/listings", content=body.encode()), 415)   # no media type at all
    big = json.dumps({"merchantId": "m", "categoryId": "books", "title": "t", "pad": "x" * 70000})
    assert_error(api.post(f"{BASE}/listings", content=big, headers={"Content-Type": "application/json"}), 413)
    assert_error(api.delete(f"{BASE}/listings"), 405)
    assert_error(api.put(f"{BASE}/health"), 405)
    assert_error(api.get(f"{BASE}/nothing-here"), 404)
    assert_error(api.get(f"{BASE}/listings/"), 404)
    assert_error(api.get("/"), 404)
    assert_error(api.get(f"{BASE}/listings/no-such-listing"), 404)
    assert_error(api.get(f"{BASE}/listings/{'x' * 300}"), 404)
    assert_error(api.get(f"{BASE}/listings/no-such-listing/public"), 404)
    assert_error(api.patch(f"{BASE}/listings/no-such-listing", json={}), 404)


def test_405_lists_every_allowed_method(api: TestClient) -> None:
    response = api.options(f"{BASE}/listings/any")
    assert_error(response, 405)
    assert response.headers["allow"] == "GET, PATCH"
    assert api.delete(f"{BASE}/listings").headers["allow"] == "POST"


def test_charset_parameter_is_fine(api: TestClient) -> None:
    body = json.dumps({"merchantId": "m", "categoryId": "books", "title": "t"})
    response = api.post(f"{BASE}/listings", content=body, headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 201


def test_edit_validation(api: TestClient) -> None:
    listing_id = create(api).json()["listingId"]
    for body, status in ((b"[]", 400), (b'{"title": null}', 422), (b'{"categoryId": "nope"}', 422),
                         (b'{"model": 3}', 422)):
        assert_error(api.patch(f"{BASE}/listings/{listing_id}", content=body,
                               headers={"Content-Type": "application/json"}), status)
    assert api.get(f"{BASE}/listings/{listing_id}").json()["state"] == "ON_SALE", "a refused edit changes nothing"


def test_records_query(api: TestClient) -> None:
    assert_error(api.get(f"{BASE}/verification-records"), 400)
    assert_error(api.get(f"{BASE}/verification-records", params={"listingId": ""}), 400)
    assert_error(api.get(f"{BASE}/verification-records", params={"listingId": "x" * 201}), 400)
    assert_error(api.get(f"{BASE}/verification-records", params={"listingId": "unknown"}), 404)


def test_bearer_token_guards_every_route(tmp_path: Path) -> None:
    with client(tmp_path, "--bearer-token", "t0ken") as api:
        assert_error(api.get(f"{BASE}/health"), 401)
        assert_error(api.get(f"{BASE}/nothing-here"), 401)
        assert_error(api.get(f"{BASE}/health", headers={"Authorization": "Bearer wrong"}), 401)
        assert_error(api.post(f"{BASE}/listings", json={}), 401)
        assert api.get(f"{BASE}/health", headers={"Authorization": "Bearer t0ken"}).status_code == 200
        # The regulator's pushes are not guarded by the token: they carry signatures.
        assert api.post("/ccc/v1/notifications", content=b"{}").status_code == 401


def test_notification_endpoint_refuses_unsigned_pushes(api: TestClient) -> None:
    response = api.post("/ccc/v1/notifications", json={"eventId": "x"})
    assert response.status_code == 401 and response.json()["code"] == "AUTH_FAILED"


def test_no_notification_endpoint_when_polling_only(tmp_path: Path) -> None:
    with client(tmp_path, "--mode", "poll") as api:
        assert api.post("/ccc/v1/notifications", content=b"{}").status_code == 404
