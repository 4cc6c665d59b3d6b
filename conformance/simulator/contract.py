"""What the simulator takes from ``specs/``: routes, schemas, codes and limits, resolved once.

The regulator's routes, their request and answer schemas and the change feed's query bounds come
from ``specs/openapi/regulator.yaml``; codes from ``terminology.yaml``; limits from ``profile.yaml``.
The few field names the simulator must read or write (``requestId``, ``certificateNo`` …) are checked
against the schemas here at load time, so a renamed field fails loudly instead of drifting.

Validation has two speeds. The decision "valid or not" runs on the hot path (2,000+ requests/s on
one core), where the pure-Python validator of ``conformance.specs`` costs ~200 µs a document; so the
decision uses jsonschema-rs (a dependency of schemathesis, already installed) built from the very same
schema documents and registry, and the error messages — only needed for invalid documents — always
come from ``conformance.specs``. When jsonschema-rs is missing the Python validator decides too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from conformance import signing
from conformance.specs import SchemaValidator, SpecError, Specs

try:  # jsonschema-rs: a compiled validator; optional, see the module docstring.
    import jsonschema_rs as _rs
except ImportError:  # pragma: no cover - exercised only where schemathesis is absent
    _rs = None

# Field names the simulator reads or writes, per schema. Checked against specs/ at load time.
_FIELDS: dict[str, tuple[str, ...]] = {
    "verification-request": ("requestId", "listingId", "merchantId", "certificateNo"),
    "disposition": ("dispositionId", "listingId", "merchantId", "certificateNo"),
    "regulator-answer": ("code", "message", "requestId", "certificate", "dispositionId"),
    "certificate": ("certificateNo", "status", "statusChangedAt", "productCode", "productName", "models", "brand",
                    "applicant", "manufacturer", "factory", "certificationBody", "standards", "issueDate",
                    "expiryDate"),
    "status-change-event": ("eventId", "sequence", "certificateNo", "previousStatus", "status", "effectiveAt",
                            "reason"),
    "change-feed-page": ("events", "nextCursor"),
}


@dataclass(frozen=True)
class Route:
    """One regulator operation, as the OpenAPI document declares it."""

    name: str  # the last path segment: "verifications", "status-changes", "dispositions"
    path: str
    method: str
    operation_id: str
    request_schema: str | None  # schema file stem, e.g. "verification-request"
    answer_schema: str | None  # schema of the success answer
    success_statuses: tuple[int, ...]
    query: dict[str, dict[str, Any]] = field(default_factory=dict)  # parameter name -> its schema


def _schema_stem(ref: str | None) -> str | None:
    if not ref or ".schema.json" not in ref:
        return None
    return ref.rpartition("/")[2].partition("#")[0].removesuffix(".schema.json")


def _json_schema_ref(node: dict[str, Any] | None) -> str | None:
    content = (node or {}).get("content", {}).get("application/json", {})
    return (content.get("schema") or {}).get("$ref")


class Contract:
    """The regulator interface as data, plus fast validators."""

    def __init__(self, specs: Specs) -> None:
        self.specs = specs
        self._check_fields()
        doc = specs.openapi("regulator")
        components = doc.get("components", {}).get("parameters", {})
        self.routes: list[Route] = []
        for path, item in (doc.get("paths") or {}).items():
            for method, op in item.items():
                if method.startswith("x-") or not isinstance(op, dict):
                    continue
                query: dict[str, dict[str, Any]] = {}
                for param in op.get("parameters", []):
                    if "$ref" in param:
                        param = components.get(param["$ref"].rpartition("/")[2], {})
                    if param.get("in") == "query":
                        query[param["name"]] = dict(param.get("schema") or {})
                successes = sorted(int(s) for s in op.get("responses", {}) if s.isdigit() and 200 <= int(s) < 300)
                first_ok = op.get("responses", {}).get(str(successes[0]), {}) if successes else {}
                self.routes.append(Route(
                    name=path.rstrip("/").rpartition("/")[2], path=path, method=method.upper(),
                    operation_id=op.get("operationId", ""),
                    request_schema=_schema_stem(_json_schema_ref(op.get("requestBody"))),
                    answer_schema=_schema_stem(_json_schema_ref(first_ok)),
                    success_statuses=tuple(successes), query=query,
                ))
        if not self.routes:
            raise SpecError(f"{specs.openapi_path('regulator')}: no /paths")
        self.route_names = tuple(r.name for r in self.routes)
        self.by_path = {r.path: r for r in self.routes}
        self.by_name = {r.name: r for r in self.routes}
        self._query_validators = {
            (r.name, name): SchemaValidator(schema) for r in self.routes for name, schema in r.query.items()
        }

        # Codes (terminology.yaml). Named here once; specs.code raises when a code is missing.
        self.statuses: tuple[str, ...] = tuple(specs.codes("certificateStatus"))
        self.valid_status = specs.valid_status()
        self.expired_status = self._code("certificateStatus", "EXPIRED")
        self.ok = self._code("regulatorResultCode", "OK")
        self.not_found = self._code("regulatorResultCode", "NOT_FOUND")
        self.bad_request = self._code("regulatorResultCode", "BAD_REQUEST")
        self.auth_failed = self._code("regulatorResultCode", "AUTH_FAILED")
        self.rate_limited = self._code("regulatorResultCode", "RATE_LIMITED")
        self.unavailable = self._code("regulatorResultCode", "UNAVAILABLE")
        self.http_status = {c.code: int(c.extra["http"]) for c in specs.code_lists()["regulatorResultCode"]
                            if "http" in c.extra}
        self.algorithms: tuple[str, ...] = tuple(specs.codes("signatureAlgorithm"))
        unknown_algs = set(self.algorithms) - set(signing.ALGORITHMS)
        if unknown_algs:
            raise SpecError(f"{specs.root / 'terminology.yaml'}: signatureAlgorithm {sorted(unknown_algs)} "
                            "has no implementation in conformance.signing")

        # Profile parameters.
        self.skew_seconds = float(specs.param("signatureSkewSeconds"))
        self.nonce_memory_seconds = float(specs.param("nonceMemorySeconds"))
        self.max_body_bytes = int(specs.param("maxBodyBytes"))
        self.validity_years = int(specs.profile.get("certificateValidityYears", 5))

        self._fast: dict[str, Any] = {}
        self._rs_registry = None
        if _rs is not None:
            self._rs_registry = _rs.Registry([(f"{n}.schema.json", d) for n, d in specs.schemas.items()])

    def _code(self, list_name: str, code: str) -> str:
        try:
            return self.specs.code(list_name, code).code
        except KeyError as exc:
            raise SpecError(f"{self.specs.root / 'terminology.yaml'}: {exc.args[0]}") from None

    def _check_fields(self) -> None:
        for name, fields in _FIELDS.items():
            props = self._properties(self.specs.schema(name))
            missing = [f for f in fields if f not in props]
            if missing:
                raise SpecError(f"{self.specs.root / 'schemas' / (name + '.schema.json')}: the simulator needs "
                                f"/properties/{', '.join(missing)}")

    def _properties(self, schema: dict[str, Any]) -> set[str]:
        props = set(schema.get("properties", {}))
        for sub in schema.get("allOf", []):
            ref = _schema_stem(sub.get("$ref"))
            props |= self._properties(self.specs.schema(ref)) if ref else set(sub.get("properties", {}))
        return props

    def properties(self, schema_name: str) -> set[str]:
        """Top-level property names a schema declares (following allOf references)."""
        return self._properties(self.specs.schema(schema_name))

    # -- validation ---------------------------------------------------------------------------
    def is_valid(self, schema_name: str, doc: Any) -> bool:
        """The fast decision: is doc valid against specs/schemas/<schema_name>.schema.json?"""
        validator = self._fast.get(schema_name)
        if validator is None:
            if self._rs_registry is not None:
                validator = _rs.validator_for(self.specs.schema(schema_name), registry=self._rs_registry,
                                              validate_formats=True)
            else:
                validator = self.specs.validator(schema_name)
            self._fast[schema_name] = validator
        return bool(validator.is_valid(doc))

    def errors(self, schema_name: str, doc: Any) -> list[str]:
        """'/json/pointer: message' for each error, empty when valid (fast path for valid documents).

        conformance.specs has the last word: when the fast validator objects but specs does not, the
        document is valid.
        """
        if self.is_valid(schema_name, doc):
            return []
        return self.specs.errors(schema_name, doc)

    def query_errors(self, route: Route, params: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
        """Typed query parameters (defaults applied) and '?name: message' errors, per the OpenAPI."""
        values: dict[str, Any] = {}
        errors: list[str] = []
        for name, schema in route.query.items():
            if name not in params:
                if "default" in schema:
                    values[name] = schema["default"]
                continue
            raw: Any = params[name]
            if schema.get("type") == "integer":
                try:
                    raw = int(raw)
                except ValueError:
                    errors.append(f"?{name}: {params[name]!r} is not an integer")
                    continue
            for err in self._query_validators[(route.name, name)].iter_errors(raw):
                errors.append(f"?{name}: {err.message}")
            values[name] = raw
        return values, errors
