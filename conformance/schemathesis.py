"""Schemathesis hooks for the CCC interfaces: load into schemathesis's own CLI.

    SCHEMATHESIS_HOOKS=conformance.schemathesis schemathesis run specs/openapi/regulator.yaml --url URL

What it adds, through schemathesis's public extension points (``schemathesis.auth``,
``schemathesis.hook``):

- **Regulator interface** (a document whose security schemes name the ``X-Signature`` header): every
  request is signed as profile.md §2 says (``conformance.signing``: HMAC-SHA256, or HMAC-SM3 when the
  case's ``X-Signature-Alg`` header or the PIXIT's ``signatureAlgorithm`` says so), with a fresh
  timestamp and nonce at send time, over the exact path, query and body bytes sent.
- **Test-control interface** (a document with an HTTP bearer scheme): ``Authorization: Bearer`` with
  the PIXIT's ``bearerToken``, when there is one.
- **Real categories**: with an ICS, the ``categoryId`` of listing bodies is drawn from the ICS's
  category mapping (an ``enum`` added to the loaded schema), so generated listings reach the
  platform's decision and the OpenAPI links have listings to follow; other values stay negative cases.
- **Change-feed cursors**: ``after`` only takes a ``nextCursor`` the feed returned, so positive cases
  leave it out (a made-up cursor is a documented 400); negative cases keep whatever they generate.

Configuration, from the environment (the suite's PIXIT conventions): ``CCC_PIXIT`` (a PIXIT file)
and/or ``CCC_PLATFORM_ID``, ``CCC_PLATFORM_SECRET``, ``CCC_BEARER_TOKEN``; ``CCC_ICS`` (an ICS file,
for the categories). Nothing is read until the first request needs it; a missing secret is one
clear error, not a run of 401s.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import Any

import requests
import schemathesis

from conformance import ics as ics_mod
from conformance import signing
from conformance.specs import SchemaValidator

PIXIT_VAR = "CCC_PIXIT"
ICS_VAR = "CCC_ICS"
_CURSOR_PARAMETER = "after"  # the change feed's cursor (regulator.yaml listStatusChanges)
_CATEGORY_FIELD = "categoryId"
_signed: set[str] = set()  # ids of the cases this module signed (re-signed before each send)


class ConfigurationError(RuntimeError):
    """The PIXIT or the ICS cannot be read; the message says what to set."""


@dataclass(frozen=True)
class Credentials:
    platform_id: str
    secret: str
    algorithm: str
    bearer_token: str | None


@cache
def credentials() -> Credentials:
    """The PIXIT named by CCC_PIXIT and/or the CCC_* variables, read once."""
    path = os.environ.get(PIXIT_VAR) or None
    try:
        pixit = ics_mod.load_pixit(path)
    except ics_mod.IcsError as exc:
        raise ConfigurationError(f"conformance.schemathesis: {exc} ({PIXIT_VAR} names a PIXIT file)") from None
    return Credentials(str(pixit["platformId"]), str(pixit["platformSecret"]),
                       str(pixit.get("signatureAlgorithm") or signing.SHA256), pixit.get("bearerToken") or None)


@cache
def categories() -> tuple[str, ...]:
    """The ICS's category ids (mapped or outside the catalogue), or () without CCC_ICS."""
    path = os.environ.get(ICS_VAR)
    if not path:
        return ()
    try:
        doc = ics_mod.load_ics(path)
    except ics_mod.IcsError as exc:
        raise ConfigurationError(f"conformance.schemathesis: {exc} ({ICS_VAR} names an ICS file)") from None
    return tuple(str(c[_CATEGORY_FIELD]) for c in doc.get("categoryMapping") or [] if _CATEGORY_FIELD in c)


# -- which interface an operation belongs to (from its document's security schemes) ------------
def _schemes(operation: Any) -> list[dict[str, Any]]:
    raw = operation.schema.raw_schema
    return [s for s in ((raw.get("components") or {}).get("securitySchemes") or {}).values() if isinstance(s, dict)]


def is_signed(operation: Any) -> bool:
    name = signing.PLATFORM_HEADERS["signature"].lower()
    return any(s.get("in") == "header" and str(s.get("name", "")).lower() == name for s in _schemes(operation))


def takes_bearer(operation: Any) -> bool:
    return any(s.get("type") == "http" and str(s.get("scheme", "")).lower() == "bearer" for s in _schemes(operation))


# -- signing --------------------------------------------------------------------------------
def _algorithm(case: Any, default: str) -> str:
    """The case's own X-Signature-Alg when it names a known algorithm (both get exercised), else the PIXIT's."""
    header = signing.PLATFORM_HEADERS["alg"].lower()
    for key, value in (case.headers or {}).items():
        if key.lower() == header:
            return value if value in signing.ALGORITHMS else signing.SHA256
    return default


def sign_case(case: Any) -> None:
    """Put fresh signature headers on the case, over the exact request it is about to send.

    The path, query and body are those requests prepares from the case's transport arguments: the
    same code, the same bytes, as the send that follows.
    """
    creds = credentials()
    alg = _algorithm(case, creds.algorithm)
    kwargs = case.as_transport_kwargs()
    body = {k: kwargs[k] for k in ("json", "data") if k in kwargs}
    prepared = requests.Request(kwargs["method"], kwargs["url"], params=kwargs.get("params"),
                                headers=kwargs.get("headers"), **body).prepare()
    raw = prepared.body or b""
    signed = signing.make_headers(creds.secret, str(prepared.method), str(prepared.path_url),
                                  raw.encode("utf-8") if isinstance(raw, str) else raw, alg)
    # A generated X-Signature-Alg stays as generated: it is what the signature used.
    case.headers = {**(case.headers or {}), **signed.as_platform(creds.platform_id)}
    _signed.add(case.id)


@schemathesis.auth()
class CccAuth:
    """Marks the credentials as the run's own (so schemathesis's ignored_auth probes strip them) and
    sets them on each generated case; ``before_call`` refreshes the signature at send time."""

    def get(self, case: Any, context: Any) -> Credentials | None:
        operation = context.operation
        if is_signed(operation):
            return credentials()
        token = bearer_token() if takes_bearer(operation) else None
        return Credentials("", "", signing.SHA256, token) if token else None

    def set(self, case: Any, data: Credentials, context: Any) -> None:
        if is_signed(context.operation):
            sign_case(case)
        else:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data.bearer_token}"}


@cache
def bearer_token() -> str | None:
    """The test-control token: the PIXIT's, or the variable alone (no platform secret needed for
    this interface); None sends no token."""
    try:
        return credentials().bearer_token
    except ConfigurationError:
        var = next(v for v, (pointer, _) in ics_mod.PIXIT_ENV.items() if pointer == ("bearerToken",))
        return os.environ.get(var) or None


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    # Signed at generation time, the case may be sent later or again: a stale timestamp or a reused
    # nonce would be refused. Re-sign just before each send (only cases that carry our signature).
    if case.id in _signed:
        sign_case(case)


# -- generation -----------------------------------------------------------------------------
def _add_category_enum(raw_schema: dict[str, Any], ids: tuple[str, ...]) -> None:
    """An ``enum`` on every request body schema's categoryId (the inlined listing-create / -edit)."""
    for name, schema in ((raw_schema.get("components") or {}).get("schemas") or {}).items():
        props = schema.get("properties") if isinstance(schema, dict) else None
        if not name.startswith(("listing-create", "listing-edit")) or not isinstance(props, dict):
            continue
        if _CATEGORY_FIELD in props:
            props[_CATEGORY_FIELD] = {**props[_CATEGORY_FIELD], "enum": list(ids)}


@schemathesis.hook
def before_load_schema(context: Any, raw_schema: dict[str, Any]) -> None:
    ids = categories()
    if ids:
        _add_category_enum(raw_schema, ids)


def _query_parameter_schema(operation: Any, name: str) -> dict[str, Any] | None:
    raw = operation.schema.raw_schema
    definition = ((raw.get("paths") or {}).get(operation.path) or {}).get(operation.method.lower()) or {}
    for parameter in definition.get("parameters") or []:
        if isinstance(parameter, dict) and parameter.get("in") == "query" and parameter.get("name") == name:
            return parameter.get("schema") or {}
    return None


@schemathesis.hook
def map_query(context: Any, query: dict[str, Any] | None) -> dict[str, Any] | None:
    # Only a nextCursor the feed returned is a cursor (a made-up one is a documented 400), so a
    # schema-valid made-up cursor is left out; an invalid one is the case's negative part and stays.
    # Real cursors are followed by the stateful phase (regulator.yaml's NextPage link).
    operation = context.operation
    if not isinstance(query, dict) or _CURSOR_PARAMETER not in query or operation is None or not is_signed(operation):
        return query
    schema = _query_parameter_schema(operation, _CURSOR_PARAMETER)
    if schema is not None and SchemaValidator(schema).is_valid(query[_CURSOR_PARAMETER]):
        return {k: v for k, v in query.items() if k != _CURSOR_PARAMETER}
    return query
