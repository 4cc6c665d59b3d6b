"""What the platform reads from ``specs/`` and from its own ICS, and its runtime settings.

A real platform would read the published code lists, schemas and catalogue the same way: the
profile's codes and parameters come from the files, so a change there is followed here. Only the
names of the platform's own states and actions are spelled in code (``Codes``), and they are checked
against ``terminology.yaml`` at start-up so that a renamed code fails loudly instead of silently.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import tzinfo
from pathlib import Path
from typing import Any, ClassVar

import yaml

from .clock import zone
from .faults import FAULTS
from .schemacheck import SchemaError, SchemaSet, Validator

SPECS_ENV = "CCC_SPECS_DIR"
# catalogue.yaml's `scheme` values: a product needs a CCC certificate, or a self-declaration filing.
CERTIFICATE_SCHEME = "certificate"
SELF_DECLARATION_SCHEME = "self-declaration"


class ConfigError(Exception):
    """A problem with the ICS, specs/ or the command line; the message says what and how to fix it."""


def specs_dir() -> Path:
    """$CCC_SPECS_DIR, the source checkout's specs/, or the copy an installed wheel carries."""
    if env := os.environ.get(SPECS_ENV):
        return Path(env)
    root = Path(__file__).resolve().parents[1]
    for candidate in (root / "specs", root / "conformance" / "_data" / "specs"):
        if (candidate / "profile.yaml").is_file():
            return candidate
    raise ConfigError(f"specs/ not found under {root}; set {SPECS_ENV} to its path")



# libyaml's safe loader where PyYAML was built with it (its wheels are): the same documents, several
# times faster — every process of a run reads specs/ once, and a self-check starts dozens of them.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

def _yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({exc})") from exc


class Codes:
    """The contract's codes this platform acts on, named once (checked against terminology.yaml)."""

    # listingState
    ON_SALE = "ON_SALE"
    INTERCEPTED = "INTERCEPTED"
    TAKEN_DOWN = "TAKEN_DOWN"
    PENDING = "PENDING_VERIFICATION"
    # reasonCode (the ones not derived from a certificate status)
    NO_CERTIFICATE = "NO_CERTIFICATE"
    INVALID_CERTIFICATE_NO = "INVALID_CERTIFICATE_NO"
    VERIFICATION_UNAVAILABLE = "VERIFICATION_UNAVAILABLE"
    CERT_NOT_FOUND = "CERT_NOT_FOUND"
    CERT_EXPIRED = "CERT_EXPIRED"
    PRODUCT_MISMATCH = "PRODUCT_MISMATCH"
    MODEL_NOT_COVERED = "MODEL_NOT_COVERED"
    HOLDER_MISMATCH = "HOLDER_MISMATCH"
    # dispositionAction
    RESTORED = "RESTORED"
    # regulatorResultCode of a usable answer
    OK = "OK"
    NOT_FOUND = "NOT_FOUND"
    # verificationOutcome when no usable answer came back
    UNAVAILABLE = "UNAVAILABLE"

    _CHECKS: ClassVar[dict[str, tuple[str, ...]]] = {
        "listingState": (ON_SALE, INTERCEPTED, TAKEN_DOWN, PENDING),
        "reasonCode": (NO_CERTIFICATE, INVALID_CERTIFICATE_NO, VERIFICATION_UNAVAILABLE, CERT_NOT_FOUND,
                       CERT_EXPIRED, PRODUCT_MISMATCH, MODEL_NOT_COVERED, HOLDER_MISMATCH),
        "dispositionAction": (INTERCEPTED, TAKEN_DOWN, RESTORED),
        "regulatorResultCode": (OK, NOT_FOUND),
        "verificationOutcome": (NOT_FOUND, UNAVAILABLE),
    }


@dataclass(frozen=True)
class Terminology:
    statuses: tuple[str, ...]                # certificateStatus codes
    valid_status: str                        # the one status with no reason code
    reason_for_status: dict[str, str]        # SUSPENDED → CERT_SUSPENDED, …
    restorable_statuses: frozenset[str]      # statuses whose lifting restores (SUSPENDED)
    status_labels: dict[str, str]            # VALID → 有效 (consumer view, TERM-02)

    @property
    def restorable_reasons(self) -> frozenset[str]:
        return frozenset(self.reason_for_status[s] for s in self.restorable_statuses)

    @property
    def status_reasons(self) -> frozenset[str]:
        return frozenset(self.reason_for_status.values())


def load_terminology(root: Path) -> Terminology:
    path = root / "terminology.yaml"
    lists = (_yaml(path) or {}).get("codeLists") or {}

    def codes(name: str) -> list[dict[str, Any]]:
        found = (lists.get(name) or {}).get("codes")
        if not found:
            raise ConfigError(f"{path}: missing /codeLists/{name}/codes")
        return found

    for name, wanted in Codes._CHECKS.items():
        known = {c["code"] for c in codes(name)}
        if missing := [w for w in wanted if w not in known]:
            raise ConfigError(f"{path}: /codeLists/{name} lacks {', '.join(missing)} (the platform acts on them)")
    statuses = codes("certificateStatus")
    valid = [c["code"] for c in statuses if not c.get("reasonCode")]
    if len(valid) != 1:
        raise ConfigError(f"{path}: exactly one certificateStatus must have no reasonCode (the valid one)")
    return Terminology(
        statuses=tuple(c["code"] for c in statuses),
        valid_status=valid[0],
        reason_for_status={c["code"]: c["reasonCode"] for c in statuses if c.get("reasonCode")},
        restorable_statuses=frozenset(c["code"] for c in statuses if c.get("restorable")),
        status_labels={c["code"]: c["zh"] for c in statuses},
    )


@dataclass(frozen=True)
class Profile:
    """The profile parameters the platform obeys (specs/profile.yaml)."""

    regulator_timeout: float
    answer_reuse: float
    signature_skew: float
    nonce_memory: float
    max_body_bytes: int
    max_text_length: int
    retry_wait_max_fraction: float
    timezone: str


def load_profile(root: Path) -> Profile:
    path = root / "profile.yaml"
    doc = _yaml(path) or {}
    params = doc.get("parameters") or {}

    def param(name: str) -> Any:
        try:
            return params[name]["value"]
        except (KeyError, TypeError):
            raise ConfigError(f"{path}: missing /parameters/{name}/value") from None

    return Profile(
        regulator_timeout=float(param("regulatorTimeoutSeconds")),
        answer_reuse=float(param("answerReuseSeconds")),
        signature_skew=float(param("signatureSkewSeconds")),
        nonce_memory=float(param("nonceMemorySeconds")),
        max_body_bytes=int(param("maxBodyBytes")),
        max_text_length=int(param("maxTextLength")),
        retry_wait_max_fraction=float(param("retryWaitMaxFraction")),
        timezone=str(doc.get("timezone") or "Asia/Shanghai"),
    )


def load_catalogue_schemes(root: Path) -> dict[str, str]:
    """Catalogue product code → ``certificate`` or ``self-declaration`` (specs/catalogue.yaml)."""
    path = root / "catalogue.yaml"
    if not path.is_file():
        return {}
    doc = _yaml(path) or {}
    schemes: dict[str, str] = {}
    for category in doc.get("categories") or []:
        for product in (category or {}).get("products") or []:
            if isinstance(product, dict) and product.get("code"):
                schemes[str(product["code"])] = str(product.get("scheme") or CERTIFICATE_SCHEME)
    return schemes


class Schemas:
    """The specs/schemas/ documents the platform checks against (see :mod:`schemacheck`).

    Schemas name each other by file name (``$ref: common.schema.json#/$defs/text``); all of them are
    registered together when the platform starts, so a reference to a missing file stops it there.
    """

    def __init__(self, root: Path) -> None:
        folder = root / "schemas"
        docs: dict[str, Any] = {}
        for path in sorted(folder.glob("*.schema.json")):
            try:
                docs[path.name] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise ConfigError(f"{path}: cannot read as JSON ({exc})") from exc
        if not docs:
            raise ConfigError(f"{folder}: no *.schema.json files")
        try:
            self._set = SchemaSet(docs)
        except SchemaError as exc:
            raise ConfigError(f"{folder}: the platform cannot check against these schemas ({exc})") from exc

    def validator(self, name: str) -> Validator:
        file = f"{name}.schema.json"
        if file not in self._set:
            raise ConfigError(f"specs/schemas/{file} is missing")
        try:
            return self._set.validator(file)
        except SchemaError as exc:
            raise ConfigError(f"specs/schemas/{file}: the platform cannot check it ({exc})") from exc

    def errors(self, name: str, doc: Any) -> list[str]:
        """The first error as '/json/pointer: message' (empty when valid)."""
        error = self.validator(name).first_error(doc)
        return [] if error is None else [error]

    def is_valid(self, name: str, doc: Any) -> bool:
        return self.validator(name).is_valid(doc)


@dataclass(frozen=True)
class Category:
    """One of the platform's own categories and what the ICS maps it to."""

    category_id: str
    name: str
    product_code: str | None      # None: outside the catalogue, nothing to verify
    scheme: str | None            # certificate | self-declaration; None outside the catalogue


@dataclass(frozen=True)
class Timing:
    listing_decision: float
    takedown_deadline: float
    reverification_interval: float
    poll_interval: float


@dataclass(frozen=True)
class Ics:
    path: Path
    timing: Timing
    capabilities: dict[str, bool]
    categories: dict[str, Category]
    notification_url: str | None


def load_ics(path: Path, schemas: Schemas, catalogue: dict[str, str]) -> Ics:
    doc = _yaml(path)
    if errors := schemas.errors("ics", doc):
        raise ConfigError(f"{path}: not a valid ICS ({errors[0]})")
    timing = doc["timing"]
    categories: dict[str, Category] = {}
    for entry in doc["categoryMapping"]:
        code = entry["productCode"]
        # The ICS may say how a product is assessed; otherwise the catalogue does, and a code the
        # catalogue does not list is treated as needing a certificate (the stricter reading).
        scheme = None if code is None else entry.get("scheme") or catalogue.get(code, CERTIFICATE_SCHEME)
        categories[entry["categoryId"]] = Category(entry["categoryId"], entry["name"], code, scheme)
    return Ics(
        path=path,
        timing=Timing(
            listing_decision=float(timing["listingDecisionSeconds"]),
            takedown_deadline=float(timing["takedownDeadlineSeconds"]),
            reverification_interval=float(timing["reverificationIntervalSeconds"]),
            poll_interval=float(timing["pollIntervalSeconds"]),
        ),
        capabilities=dict(doc["capabilities"]),
        categories=categories,
        notification_url=doc["endpoints"].get("notificationUrl"),
    )


@dataclass(frozen=True)
class Settings:
    """Everything one platform process runs with."""

    regulator_url: str
    platform_id: str
    platform_secret: str
    signature_alg: str
    bearer_token: str | None
    db_path: Path
    push: bool
    poll: bool
    faults: frozenset[str]
    ics: Ics
    profile: Profile
    terminology: Terminology
    schemas: Schemas
    specs: Path
    host: str = "127.0.0.1"
    port: int = 8780

    @property
    def tz(self) -> tzinfo:
        return zone(self.profile.timezone)

    def fault(self, name: str) -> bool:
        # A misspelt name would silently switch nothing off: only declared faults may be asked about.
        if name not in FAULTS:
            raise KeyError(f"unknown fault switch {name!r}")
        return name in self.faults

    @property
    def retry_cap(self) -> float:
        """The longest wait between two attempts, Retry-After excepted (Clarifications: Retries)."""
        return self.ics.timing.listing_decision * self.profile.retry_wait_max_fraction


def default_ics(root: Path) -> Path:
    return root / "examples" / "ics-reference.yaml"
