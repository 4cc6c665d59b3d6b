"""MSG — message formats (报文格式), profile.md §3 MSG-01 … MSG-05.

What the platform sends to the regulator is judged from the simulator's captures of the test's own
merchant, re-validated here against specs/ (the simulator's own ``schemaValid`` is cross-checked, not
trusted alone). The test-control interface is judged against specs/openapi/platform-test.yaml: first
by explicit requests for every documented answer, then by a bounded schemathesis run.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest

from conformance import signing, specs
from conformance.checks import expect, inconclusive, precondition
from conformance.context import RunContext
from conformance.platform_client import PlatformClient
from conformance.simulator.capture import REDACTED as _SECRET_MARK  # how captures show a leaked secret
from conformance.simulator.control import SimulatorControl
from conformance.suite import edge_inputs
from conformance.suite._helpers import (
    await_simulator_captures,
    create_and_await_decision,
    listing_brief,
    pasted_certificate_numbers,
    status_change_route,
    verification_captures_for,
)
from conformance.suite.vocabulary import S, V
from conformance.testdata import DataFactory

API = "platform-test"


def _header(capture: dict[str, Any], name: str) -> str | None:
    """A captured request header, case-insensitively (HTTP header names are)."""
    for key, value in (capture.get("headers") or {}).items():
        if key.lower() == name.lower():
            return value
    return None


def _listing_ids_covered(captures: list[dict[str, Any]], listing_ids: set[str]) -> bool:
    seen = {c["body"].get("listingId") for c in captures if isinstance(c.get("body"), dict)}
    return listing_ids <= seen


# -- MSG-01 ---------------------------------------------------------------------------------------
def _request_problems(cap: dict[str, Any], sent: dict[str, dict[str, Any]], category: dict[str, Any]) -> list[str]:
    """Everything wrong with one captured verification request, each as 'seq N: what'."""
    where = f"seq {cap.get('seq')}"
    problems: list[str] = []
    body = cap.get("body")
    if not isinstance(body, dict):
        return [f"{where}: body is not a JSON object ({str(cap.get('bodyText'))[:200]!r})"]
    problems += [f"{where}: body {e}" for e in S.errors("verification-request", body)]
    if cap.get("schemaValid") is False and not problems:
        problems += [f"{where}: the simulator found the body schema-invalid: {e}" for e in cap.get("schemaErrors") or []]
    timestamp = _header(cap, signing.PLATFORM_HEADERS["timestamp"])
    if timestamp is None:
        problems.append(f"{where}: no {signing.PLATFORM_HEADERS['timestamp']} header")
    else:
        problems += [f"{where}: {signing.PLATFORM_HEADERS['timestamp']} {timestamp!r}: {e}"
                     for e in specs.load().definition_errors("timestamp", timestamp)]
    if not (_header(cap, signing.PLATFORM_HEADERS["nonce"]) or "").strip():
        problems.append(f"{where}: no {signing.PLATFORM_HEADERS['nonce']} header")
    fields = sent.get(str(body.get("listingId")))
    if fields is None:
        problems.append(f"{where}: listingId {body.get('listingId')!r} is none of the merchant's listings")
        return problems
    # productCode is the listing category's catalogue code; productName is the listing title (profile §2).
    expected = {"merchantId": fields["merchantId"], "productCode": category["productCode"],
                "productName": fields["title"]}
    problems += [f"{where}: {k} {body.get(k)!r}, expected {v!r}" for k, v in expected.items() if body.get(k) != v]
    for optional in ("brand", "model", "manufacturer"):
        if not fields.get(optional) and optional in body:
            problems.append(f"{where}: {optional} sent as {body[optional]!r} for a listing without one "
                            "(must be omitted)")
    return problems


@pytest.mark.requirement("MSG-01", id="msg01.verification-requests-match-their-schema")
@pytest.mark.variant("MSG-01/v1", "MSG-01/v2", "MSG-01/v3")
def test_msg01_verification_requests_match_their_schema(platform: PlatformClient, data: DataFactory, sim: SimulatorControl,
                                                  ccc: RunContext) -> None:
    merchant = data.merchant()
    category = data.category()
    cert = data.certificate(category)
    # One listing with every optional element, one without brand and manufacturer (omitted, not null).
    variants = [data.listing(cert, category, merchant=merchant),
                data.listing(cert, category, merchant=merchant, brand=None, manufacturer=None)]
    sent: dict[str, dict[str, Any]] = {}
    for fields in variants:
        listing = data.remember_listing(platform.create_listing(fields))
        sent[str(listing["listingId"])] = fields
    with precondition("the platform queried the regulator about the new listings"):
        obs = await_simulator_captures(sim, "verifications", {"merchantId": merchant}, ccc.decision_deadline,
                                       enough=lambda caps: _listing_ids_covered(caps, set(sent)))
        expect(obs.satisfied, "a verification request for each listing",
               observed=[c.get("body") for c in obs.value])
    problems = [p for cap in obs.value for p in _request_problems(cap, sent, category)]
    nonces = [_header(c, signing.PLATFORM_HEADERS["nonce"]) for c in obs.value]
    if len(set(nonces)) != len(nonces):
        problems.append(f"nonces are reused: {nonces}")
    expect(not problems, "verification requests must validate against verification-request.schema.json, with an "
           "RFC 3339 X-Timestamp carrying an offset, an X-Nonce and a UUID requestId",
           expected="no deviation", observed={"problems": problems,
                                              "requests": [{"seq": c.get("seq"), "headers": c.get("headers"),
                                                            "body": c.get("body")} for c in obs.value]})


# -- MSG-02 ---------------------------------------------------------------------------------------
@pytest.mark.requirement("MSG-02", id="msg02.pasted-number-is-sent-normalised")
@pytest.mark.variant_cases("form", {"spaces": "MSG-02/v1", "full-width-digits": "MSG-02/v2", "hyphens": "MSG-02/v3"})
def test_msg02_pasted_number_is_sent_normalised(form: str, platform: PlatformClient, data: DataFactory, sim: SimulatorControl,
                                          ccc: RunContext) -> None:
    category = data.category()
    cert = data.certificate(category)
    number = cert["certificateNo"]
    pasted = pasted_certificate_numbers(number)[form]
    fields = data.listing(cert, category, certificateNo=pasted)
    listing, _ = create_and_await_decision(platform, data, ccc, fields)
    sent = [c.get("body", {}).get("certificateNo") if isinstance(c.get("body"), dict) else None
            for c in verification_captures_for(sim, fields["merchantId"], str(listing["listingId"]))]
    expect(sent and all(s == number for s in sent),
           f"a number pasted with {form} must be sent to the regulator normalised",
           expected={"certificateNo": number}, observed={"pasted": pasted, "sentNumbers": sent,
                                                         "listing": listing_brief(listing)})


def _not_sixteen_digits(number: str) -> dict[str, str]:
    return {
        "fifteen-digits": number[:-1],
        "seventeen-digits": f"{number}7",
        "pasted-url": f"https://www.cqc.com.cn/ccc/cert?no={number}",
        "letter-inside": f"{number[:8]}O{number[9:]}",
        # Only ASCII 0–9 are digits (Clarifications); str.isdigit() would accept these Arabic-Indic ones.
        "arabic-indic-digits": "".join(chr(0x0660 + int(d)) for d in number),
    }


@pytest.mark.requirement("MSG-02", id="msg02.number-not-sixteen-digits-is-intercepted-without-query")
@pytest.mark.variant_cases("form", {
    "fifteen-digits": "MSG-02/v4", "seventeen-digits": "MSG-02/v5", "pasted-url": "MSG-02/v6",
    "letter-inside": "MSG-02/v7", "arabic-indic-digits": "MSG-02/v8"})
def test_msg02_number_not_sixteen_digits_is_intercepted_without_query(form: str, platform: PlatformClient,
                                                                data: DataFactory, sim: SimulatorControl,
                                                                ccc: RunContext) -> None:
    category = data.category()
    # Built from a real, valid certificate, so a platform that extracts digits would find it.
    cert = data.certificate(category)
    bad = _not_sixteen_digits(cert["certificateNo"])[form]
    fields = data.listing(cert, category, certificateNo=bad)
    listing, obs = create_and_await_decision(platform, data, ccc, fields)
    reason = V.reasonCode.INVALID_CERTIFICATE_NO
    captured = verification_captures_for(sim, fields["merchantId"])
    expect(listing.get("state") == V.listingState.INTERCEPTED and listing.get("reasonCode") == reason
           and not captured,
           f"a number that is not 16 digits after normalisation ({form}) must be intercepted with {reason} "
           "without a query to the regulator",
           expected={"state": V.listingState.INTERCEPTED, "reasonCode": reason, "verificationRequests": []},
           observed={"submitted": bad, "listing": listing_brief(listing), "elapsedSeconds": round(obs.elapsed, 3),
                     "verificationRequests": [c.get("body") for c in captured]})


# -- MSG-03 ---------------------------------------------------------------------------------------
def _signature_problems(cap: dict[str, Any], ccc: RunContext) -> list[str]:
    where = f"seq {cap.get('seq')} {cap.get('method')} {cap.get('path')}"
    problems = []
    if cap.get("signatureValid") is not True:
        problems.append(f"{where}: the simulator found the signature invalid ({cap.get('authError')})")
    url = f"{cap.get('path', '')}?{cap.get('rawQuery', '')}"
    if _SECRET_MARK in url:
        problems.append(f"{where}: the platform secret appears in the URL")
    elif cap.get("secretExposed"):
        problems.append(f"{where}: the platform secret travels in the request (only its HMAC may)")
    if _header(cap, signing.PLATFORM_HEADERS["id"]) != ccc.platform_id:
        problems.append(f"{where}: {signing.PLATFORM_HEADERS['id']} is "
                        f"{_header(cap, signing.PLATFORM_HEADERS['id'])!r}, not the PIXIT's platform id")
    # Checked here too, not only by the simulator: the harness holds the same secret.
    sig = _header(cap, signing.PLATFORM_HEADERS["signature"])
    ts = _header(cap, signing.PLATFORM_HEADERS["timestamp"]) or ""
    nonce = _header(cap, signing.PLATFORM_HEADERS["nonce"]) or ""
    alg = _header(cap, signing.PLATFORM_HEADERS["alg"]) or signing.SHA256
    path = cap.get("path", "") + (f"?{cap['rawQuery']}" if cap.get("rawQuery") else "")
    if not sig:
        problems.append(f"{where}: no {signing.PLATFORM_HEADERS['signature']} header")
    elif alg not in signing.ALGORITHMS:
        problems.append(f"{where}: unknown {signing.PLATFORM_HEADERS['alg']} {alg!r}")
    elif _SECRET_MARK not in cap.get("bodyText", "") and not signing.verify(
            ccc.platform_secret, sig, cap.get("method", ""), path, ts, nonce,
            cap.get("bodyText", "").encode("utf-8"), alg):
        problems.append(f"{where}: the signature does not verify with the platform secret ({alg})")
    return problems


@pytest.mark.requirement("MSG-03", id="msg03.regulator-calls-are-signed-and-keep-the-secret-out-of-urls")
@pytest.mark.variant("MSG-03/v1", "MSG-03/v2", "MSG-03/v3")
def test_msg03_regulator_calls_are_signed_and_keep_the_secret_out_of_urls(platform: PlatformClient, data: DataFactory,
                                                                     sim: SimulatorControl, ccc: RunContext) -> None:
    merchant = data.merchant()
    category = data.category()
    valid = data.certificate(category)
    revoked = data.certificate(category, status=V.certificateStatus.REVOKED)
    # Queries, and (when reported) the disposition of an interception: both are regulator calls.
    ids = set()
    for cert in (valid, revoked):
        listing = data.remember_listing(platform.create_listing(data.listing(cert, category, merchant=merchant)))
        ids.add(str(listing["listingId"]))
    with precondition("the platform queried the regulator about the new listings"):
        obs = await_simulator_captures(sim, "verifications", {"merchantId": merchant}, ccc.decision_deadline,
                                       enough=lambda caps: _listing_ids_covered(caps, ids))
        expect(obs.satisfied, "a verification request for each listing", observed=[c.get("body") for c in obs.value])
    first_seq = min(int(c["seq"]) for c in obs.value)
    if ccc.claims("dispositionReporting"):
        await_simulator_captures(sim, "dispositions", {"merchantId": merchant}, ccc.takedown_deadline)
    captures = sim.captures(match={"merchantId": merchant})
    if ccc.claims("changeFeedPolling"):
        # Polls carry no merchant; those received since this test's first query are the platform's own.
        captures += sim.captures(route="status-changes", after=first_seq)
    problems = [p for cap in captures for p in _signature_problems(cap, ccc)]
    expect(not problems, "every call to the regulator must be signed correctly (HMAC over METHOD, PATH, "
           "TIMESTAMP, NONCE and the body's SHA-256) and no secret may appear in a URL",
           expected="no deviation",
           observed={"problems": problems, "calls": [{"seq": c.get("seq"), "route": c.get("route"),
                                                      "path": c.get("path"), "headers": c.get("headers"),
                                                      "authError": c.get("authError")} for c in captures]})


# -- MSG-04 ---------------------------------------------------------------------------------------
@pytest.mark.requirement("MSG-04", id="msg04.disposition-reports-match-their-schema")
@pytest.mark.capability("dispositionReporting")
@pytest.mark.variant("MSG-04/v1", "MSG-04/v2", "MSG-04/v3")
def test_msg04_disposition_reports_match_their_schema(platform: PlatformClient, data: DataFactory, sim: SimulatorControl,
                                                ccc: RunContext) -> None:
    merchant = data.merchant()
    category = data.category()
    revoked = data.certificate(category, status=V.certificateStatus.REVOKED)
    listings: dict[str, dict[str, Any]] = {}
    # An interception after a query (requestId), one without a number (certificateNo null) and, when
    # the platform hears of status changes, a takedown caused by an event (eventId).
    for fields in (data.listing(revoked, category, merchant=merchant),
                   data.listing(revoked, category, merchant=merchant, certificateNo=None)):
        listing = data.remember_listing(platform.create_listing(fields))
        listings[str(listing["listingId"])] = fields
    if ccc.claims("statusPush") or ccc.claims("changeFeedPolling"):
        valid = data.certificate(category)
        with precondition("a listing on sale to take down"):
            on_sale, _ = create_and_await_decision(platform, data, ccc,
                                                   data.listing(valid, category, merchant=merchant))
            expect(on_sale.get("state") == V.listingState.ON_SALE, "the listing went on sale",
                   observed=listing_brief(on_sale))
        listings[str(on_sale["listingId"])] = {}
        sim.set_status(valid["certificateNo"], V.certificateStatus.SUSPENDED, reason="conformance MSG-04",
                       push=status_change_route(ccc).push)
    # Reports are due within the takedown deadline of each action; the takedown's own allowance covers
    # the last of them.
    timeout = max(ccc.takedown_deadline, status_change_route(ccc).allowance)
    obs = await_simulator_captures(sim, "dispositions", {"merchantId": merchant}, timeout,
                                   enough=lambda caps: _listing_ids_covered(caps, set(listings)))
    if not obs.value:
        inconclusive(f"no disposition report for the test's merchant arrived within {timeout:g} s "
                     "(reporting itself is RPT-01); nothing to validate")
    problems = []
    for cap in obs.value:
        where = f"seq {cap.get('seq')}"
        body = cap.get("body")
        if not isinstance(body, dict):
            problems.append(f"{where}: body is not a JSON object ({str(cap.get('bodyText'))[:200]!r})")
            continue
        errors = S.errors("disposition", body)
        problems += [f"{where}: {e}" for e in errors]
        if not errors and cap.get("schemaValid") is False:
            problems += [f"{where}: the simulator found it schema-invalid: {e}" for e in cap.get("schemaErrors") or []]
        if str(body.get("listingId")) not in listings:
            problems.append(f"{where}: listingId {body.get('listingId')!r} is none of the merchant's listings")
    expect(not problems, "disposition reports must validate against disposition.schema.json",
           expected="no deviation",
           observed={"problems": problems, "reports": [c.get("body") for c in obs.value],
                     "listingsWithoutReport": sorted(set(listings) - {
                         str(c["body"].get("listingId")) for c in obs.value if isinstance(c.get("body"), dict)})})


# -- MSG-05: explicit requests -----------------------------------------------------------------------
class _Conformance:
    """Collects deviations of test-control answers from the OpenAPI description."""

    def __init__(self) -> None:
        self.problems: list[str] = []
        self.seen: list[dict[str, Any]] = []

    def check(self, what: str, r: httpx.Response, path: str | None, method: str, expected: tuple[int, ...],
              schema: str | None = None) -> Any:
        """``path`` is the OpenAPI path template (None: a route the OpenAPI does not have; then
        ``schema`` names the body's schema). Returns the parsed body."""
        self.seen.append({"what": what, "status": r.status_code, "contentType": r.headers.get("content-type")})
        if r.status_code not in expected:
            self.problems.append(f"{what}: status {r.status_code}, expected {' or '.join(map(str, expected))}")
        media = (r.headers.get("content-type") or "").split(";")[0].strip().lower()
        if media != "application/json":
            self.problems.append(f"{what}: content type {r.headers.get('content-type')!r}, expected application/json")
        name = specs.load().response_schema_name(API, path, method, r.status_code) if path else schema
        if name is None:
            self.problems.append(f"{what}: status {r.status_code} is not documented for {method.upper()} {path}")
            return None
        try:
            body = r.json()
        except ValueError:
            self.problems.append(f"{what}: body is not JSON ({r.text[:200]!r})")
            return None
        self.problems += [f"{what}: {name} {e}" for e in S.errors(name, body)]
        return body


@pytest.mark.requirement("MSG-05", id="msg05.test-control-interface-answers-as-documented")
@pytest.mark.variant("MSG-05/v1", "MSG-05/v2")
def test_msg05_test_control_interface_answers_as_documented(platform: PlatformClient, data: DataFactory,
                                                      ccc: RunContext) -> None:
    c = _Conformance()
    category = data.category()
    cert = data.certificate(category)
    pasted = pasted_certificate_numbers(cert["certificateNo"])["spaces"]
    fields = data.listing(cert, category, certificateNo=pasted)
    unknown_id = f"no-such-listing-{uuid.uuid4().hex}"
    json_headers = {"Content-Type": "application/json"}

    created = c.check("POST /listings", platform.request("POST", "/listings", json=fields), "/listings", "post",
                      (201,))
    if not isinstance(created, dict) or "listingId" not in created:
        expect(False, "creating a listing must answer 201 with the listing", expected="201 listing",
               observed={"problems": c.problems})
    data.remember_listing(created)
    lid = str(created["listingId"])
    echoed = {k: created.get(k) for k in ("merchantId", "categoryId", "title", "certificateNo")}
    if echoed != {k: fields[k] for k in echoed}:
        c.problems.append(f"POST /listings: the listing does not echo the submitted fields "
                          f"(certificateNo as submitted): {echoed}")
    got = c.check("GET /listings/{id}", platform.request("GET", f"/listings/{lid}"), "/listings/{listingId}", "get",
                  (200,))
    if isinstance(got, dict) and got.get("listingId") != created["listingId"]:
        c.problems.append(f"GET /listings/{{id}}: listingId {got.get('listingId')!r}, expected {lid!r}")
    new_title = f"{fields['title']} (edited)"
    edited = c.check("PATCH /listings/{id} title", platform.request("PATCH", f"/listings/{lid}",
                                                                    json={"title": new_title}),
                     "/listings/{listingId}", "patch", (200,))
    if isinstance(edited, dict) and edited.get("title") != new_title:
        c.problems.append(f"PATCH /listings/{{id}}: title {edited.get('title')!r}, expected {new_title!r}")
    if ccc.claims("consumerView"):
        c.check("GET /listings/{id}/public", platform.request("GET", f"/listings/{lid}/public"),
                "/listings/{listingId}/public", "get", (200, 404, 410))
        c.check("GET /listings/{unknown}/public", platform.request("GET", f"/listings/{unknown_id}/public"),
                "/listings/{listingId}/public", "get", (404,))
    c.check("GET /verification-records", platform.request("GET", "/verification-records", params={"listingId": lid}),
            "/verification-records", "get", (200,))
    c.check("GET /health", platform.request("GET", "/health"), "/health", "get", (200,))

    # Documented errors (profile Clarifications, Error mapping), each with an error body {code, message}.
    c.check("GET /listings/{unknown}", platform.request("GET", f"/listings/{unknown_id}"),
            "/listings/{listingId}", "get", (404,))
    c.check("PATCH /listings/{unknown}", platform.request("PATCH", f"/listings/{unknown_id}", json={"title": "x"}),
            "/listings/{listingId}", "patch", (404,))
    c.check("POST /listings unparseable JSON", platform.request("POST", "/listings", content=b'{"merchantId": ',
                                                                headers=json_headers), "/listings", "post", (400,))
    c.check("POST /listings body not an object", platform.request("POST", "/listings", json=[fields]),
            "/listings", "post", (400,))
    c.check("PATCH /listings/{id} unparseable JSON", platform.request("PATCH", f"/listings/{lid}", content=b"{",
                                                                      headers=json_headers),
            "/listings/{listingId}", "patch", (400,))
    c.check("GET /verification-records without listingId", platform.request("GET", "/verification-records"),
            "/verification-records", "get", (400,))
    no_title = {k: v for k, v in fields.items() if k != "title"}
    c.check("POST /listings without title", platform.request("POST", "/listings", json=no_title), "/listings",
            "post", (422,))
    unknown_category = {**fields, "categoryId": f"no-such-category-{uuid.uuid4().hex[:8]}"}
    c.check("POST /listings unknown categoryId", platform.request("POST", "/listings", json=unknown_category),
            "/listings", "post", (422,))
    c.check("PATCH /listings/{id} unknown categoryId",
            platform.request("PATCH", f"/listings/{lid}", json={"categoryId": unknown_category["categoryId"]}),
            "/listings/{listingId}", "patch", (422,))
    c.check("POST /listings text/plain", platform.request("POST", "/listings", content=json.dumps(fields).encode(),
                                                          headers={"Content-Type": "text/plain"}),
            "/listings", "post", (415,))
    # Over 64 KiB only through an unknown field (ignored), so size is the answer's only reason.
    big = json.dumps({**fields, "padding": "x" * (int(S.param("maxBodyBytes")) + 1024)}).encode()
    c.check("POST /listings body over 64 KiB", platform.request("POST", "/listings", content=big,
                                                                headers=json_headers), "/listings", "post", (413,))
    c.check("GET an unknown route", platform.request("GET", f"/no-such-route-{uuid.uuid4().hex[:8]}"), None, "get",
            (404,), schema="error")
    c.check("DELETE /listings/{id} (wrong method)", platform.request("DELETE", f"/listings/{lid}"), None, "delete",
            (405,), schema="error")
    expect(not c.problems, "the test-control interface must answer as specs/openapi/platform-test.yaml says "
           "(status codes, application/json, response schemas)", expected="no deviation",
           observed={"problems": c.problems, "answers": c.seen})


# -- MSG-05: schemathesis ----------------------------------------------------------------------------
_CHECK_NAMES = ("not_a_server_error", "status_code_conformance", "content_type_conformance",
                "response_schema_conformance")
_EXAMPLES_PER_OPERATION = 20


@pytest.mark.requirement("MSG-05", id="msg05.test-control-interface-conforms-under-generated-requests")
@pytest.mark.variant("MSG-05/v3")
def test_msg05_test_control_interface_conforms_under_generated_requests(platform: PlatformClient, data: DataFactory,
                                                                  ccc: RunContext, measure: Any) -> None:
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from schemathesis.errors import FailureGroup

    # schemathesis's public configuration selects the checks; validate_response runs those it enables.
    config = schemathesis.Config.from_dict({"checks": {"enabled": False, **{n: {"enabled": True} for n in _CHECK_NAMES}}})
    schema = schemathesis.openapi.from_dict(S.openapi_bundled(API), config=config)
    if not ccc.claims("consumerView"):
        schema = schema.exclude(path="/listings/{listingId}/public")
    category = data.category()
    with precondition("a listing on sale for the operations that read one, another for those that edit one"):
        on_sale, _ = create_and_await_decision(platform, data, ccc,
                                               data.listing(data.certificate(category), category))
        expect(on_sale.get("state") == V.listingState.ON_SALE, "on sale", observed=listing_brief(on_sale))
        # Generated edits change the listing at will, so they get their own.
        to_edit = data.remember_listing(platform.create_listing(data.listing(data.certificate(category), category)))
    existing = {"get": str(on_sale["listingId"]), "patch": str(to_edit["listingId"])}
    headers = {"Authorization": f"Bearer {ccc.bearer_token}"} if ccc.bearer_token else {}
    failures: list[dict[str, Any]] = []
    calls = 0

    harness_errors: list[BaseException] = []

    def record(case: Any, response: Any, messages: list[str]) -> None:
        failures.append({"operation": case.operation.label, "status": getattr(response, "status_code", None),
                         "problems": messages,
                         "curl": platform.log.redactor.text(case.as_curl_command(headers=headers, base_url=ccc.target))})
        if response is not None:
            # Evidence in the house format, redacted like every other exchange. A schemathesis Response
            # holds each header as a list of values, and the sent request as requests' PreparedRequest.
            red = platform.log.redactor
            sent = response.request
            platform.log.add({"sentAt": None, "source": "schemathesis", "request": {
                "method": sent.method, "url": red.text(str(sent.url)), "headers": red.headers(sent.headers.items()),
                "body": red.any(_text(sent.body))},
                "response": {"status": response.status_code,
                             "headers": red.headers((k, ", ".join(v)) for k, v in response.headers.items()),
                             "body": red.any(_text(response.content))}})

    def exercise(case: Any) -> None:
        # Nothing may escape to Hypothesis: it would shrink and replay instead of going on. Platform
        # failures are collected; a harness failure is kept and raised after the run (ERROR).
        nonlocal calls
        calls += 1
        try:
            try:
                # A connection per case: each case stands alone, and no keep-alive connection carries
                # the delayed-ACK stalls some servers show on a connection's later requests (~40 ms each).
                response = case.call(base_url=ccc.target, headers=headers, timeout=10)
            except requests.RequestException as exc:
                record(case, None, [f"no answer: {type(exc).__name__}: {exc}"])
                return
            try:
                case.validate_response(response, headers=headers)
            except FailureGroup as group:
                record(case, response, [_failure_text(f) for f in group.exceptions])
            except AssertionError as failure:  # one failure: a schemathesis Failure is an AssertionError
                record(case, response, [_failure_text(failure)])
        except Exception as exc:
            harness_errors.append(exc)

    started = time.monotonic()
    for result in schema.get_all_operations():
        operation = result.ok()
        params = [{}]
        if "{listingId}" in operation.path:
            params.append({"listingId": existing[operation.method.lower()]})  # and once on a listing that exists
        for fixed in params:
            strategy = operation.as_strategy(path_parameters=fixed or None)
            run = settings(max_examples=_EXAMPLES_PER_OPERATION, derandomize=True, database=None, deadline=None,
                           phases=[Phase.explicit, Phase.generate],
                           suppress_health_check=list(HealthCheck))(given(case=strategy)(exercise))
            run()
    elapsed = time.monotonic() - started
    if harness_errors:
        raise harness_errors[0]
    measure("generatedRequests", calls)
    measure("generatedRequestsSeconds", round(elapsed, 2), "s")
    expect(not failures, f"generated requests ({calls} in {elapsed:.1f} s) must get answers that conform to "
           "specs/openapi/platform-test.yaml: no 5xx, documented status codes, content types and schemas",
           expected="no check failure", observed={"failures": failures[:25], "failureCount": len(failures),
                                                  "requests": calls})


def _failure_text(failure: BaseException) -> str:
    title = getattr(failure, "title", type(failure).__name__)
    return f"{title}: {getattr(failure, 'message', str(failure))}"[:500]


def _text(body: Any) -> Any:
    if isinstance(body, bytes):
        return body.decode("utf-8", "replace")[:2000]
    return body


# -- MSG-05: valid input at the contract's edges (issue 11 §5) --------------------------------------
@pytest.mark.requirement("MSG-05", id="msg05.listing-at-the-contracts-edges-is-accepted-and-decided")
@pytest.mark.parametrize("edge", ["max-length-cjk", "max-length-supplementary", "optional-absent", "optional-null"])
def test_msg05_listing_at_the_contracts_edges_is_accepted_and_decided(edge: str, ccc: RunContext,
                                                                 platform: PlatformClient,
                                                                 data: DataFactory) -> None:
    """A listing whose text fields are as long as the create schema allows (in CJK, or in four-byte
    supplementary-plane characters), or whose optional fields are absent or null, is valid input: it
    is accepted (201, a schema-valid listing), decided within listingDecisionSeconds, echoed unchanged,
    and no read of it gets a 5xx. Its category is a real one of the ICS and its certificate number a
    real one, so the values reach the platform's regulator query and its decision, not just its
    validation."""
    category = data.category()
    limits = edge_inputs.text_fields()
    if edge.startswith("max-length"):
        script = edge.removeprefix("max-length-")

        def fill(name: str, prefix: str = "") -> str:
            return edge_inputs.filled(script, limits[name][0], prefix)
        # The certificate names the same long brand, model and manufacturer, so every check compares them.
        brand, model, manufacturer = fill("brand"), fill("model"), fill("manufacturer")
        cert = data.certificate(category, brand=brand, models=[model, data.model()], manufacturer=manufacturer)
        fields = {name: fill(name, prefix=data.merchant() if name == "merchantId" else "") for name in limits}
        fields.update(categoryId=category["categoryId"], certificateNo=cert["certificateNo"], brand=brand,
                      model=model, manufacturer=manufacturer)
    else:
        cert = data.certificate(category)
        fields = data.listing(cert, category)
        for name in edge_inputs.optional_fields():
            if name != "certificateNo":   # kept, so the platform has a certificate to query about
                fields.pop(name, None)
                if edge == "optional-null":
                    fields[name] = None
    t0 = time.monotonic()
    created = platform.request("POST", "/listings", json=fields)
    body = created.json() if created.headers.get("content-type", "").startswith("application/json") else None
    expect(created.status_code == 201 and isinstance(body, dict) and not S.errors("listing", body),
           f"valid input at the contract's edges ({edge}) was not accepted with 201 and a schema-valid listing",
           expected={"status": 201, "schema": "listing"},
           observed={"status": created.status_code, "body": body if body is not None else created.text[:300],
                     "schemaErrors": S.errors("listing", body)[:5] if isinstance(body, dict) else None})
    assert isinstance(body, dict)
    lid = str(body["listingId"])
    data.remember_listing(body)
    decided = platform.wait_decided(lid, ccc.decision_deadline, start=t0)
    expect(decided.satisfied,
           f"the listing ({edge}) was not decided within {ccc.decision_deadline:g} s",
           expected={"stateOtherThan": V.listingState.PENDING_VERIFICATION},
           observed=listing_brief(decided.value))
    view = decided.value
    garbled = {name: {"sent": value[:40] if isinstance(value, str) else value,
                      "shown": str(view.get(name))[:40] if view.get(name) is not None else None}
               for name, value in fields.items() if isinstance(value, str) and view.get(name) != value}
    expect(not garbled, f"the listing ({edge}) does not show the text submitted, unchanged",
           expected="every submitted text field echoed as sent", observed=garbled)
    reads = {"public": platform.request("GET", f"/listings/{lid}/public").status_code,
             "records": platform.request("GET", "/verification-records", params={"listingId": lid}).status_code}
    expect(all(status < 500 for status in reads.values()),
           f"reading the listing ({edge}) got a 5xx", expected="no 5xx", observed=reads)
