"""The platform's own decision (profile.md §2, Rules: Decision order; Takedown; Events).

Pure functions, no I/O: what a listing's state should be given what the merchant submitted, what the
regulator answered, or which status-change event arrived. The regulator reports facts; these
functions are where the platform decides. The first rule that applies wins:

  category outside the catalogue → ON_SALE without a query
  (self-declaration product with a self-declaration reference → ON_SALE without a query)
  no number → NO_CERTIFICATE; not 16 digits after normalisation → INVALID_CERTIFICATE_NO
  regulator unavailable, malformed answer, unknown status → undecided (pending)
  NOT_FOUND → CERT_NOT_FOUND; status other than VALID → CERT_<STATUS>
  today (Asia/Shanghai) after expiryDate → CERT_EXPIRED
  certificate productCode ≠ the category's code → PRODUCT_MISMATCH
  model not among the certificate's models → MODEL_NOT_COVERED
  neither brand nor manufacturer matches the holder → HOLDER_MISMATCH
  else ON_SALE
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from .clock import parse_date
from .config import SELF_DECLARATION_SCHEME, Category, Codes, Terminology
from .normalise import NumberCheck, certificate_number, is_blank, name_key, names_match


class Basis(StrEnum):
    """Why a listing may be on sale at all; decides what later touches it."""

    NONE = "none"                           # no usable number: intercepted before any query
    CERTIFICATE = "certificate"             # verified, re-verified and touched by events
    SELF_DECLARATION = "self-declaration"   # a self-declaration reference, never queried
    OUT_OF_CATALOGUE = "out-of-catalogue"   # nothing to verify, never queried or touched


@dataclass(frozen=True)
class Checks:
    """Which elements the platform checks. All on for a conformant platform; faults switch some off."""

    intercept: bool = True           # off: no-interception
    suspended_invalid: bool = True   # off: ignore-suspended
    expiry_date: bool = True         # off: ignore-expiry-date
    product: bool = True             # off: no-product-check
    model: bool = True               # off: no-model-check
    holder: bool = True              # off: no-holder-check
    unknown_status_valid: bool = False  # on: accept-unknown-status
    normalise: bool = True           # off: no-normalisation
    overblock: bool = False          # on: overblock
    restore: bool = True             # off: no-restore
    brand_width: bool = True         # off: brand-full-width (brands compared without full-width folding)
    self_declaration_anywhere: bool = False  # on: self-declaration-anywhere
    restore_any: bool = False        # on: restore-any-takedown

    @classmethod
    def from_faults(cls, faults: frozenset[str]) -> Checks:
        return cls(
            intercept="no-interception" not in faults,
            suspended_invalid="ignore-suspended" not in faults,
            expiry_date="ignore-expiry-date" not in faults,
            product="no-product-check" not in faults,
            model="no-model-check" not in faults,
            holder="no-holder-check" not in faults,
            unknown_status_valid="accept-unknown-status" in faults,
            normalise="no-normalisation" not in faults,
            overblock="overblock" in faults,
            restore="no-restore" not in faults,
            brand_width="brand-full-width" not in faults,
            self_declaration_anywhere="self-declaration-anywhere" in faults,
            restore_any="restore-any-takedown" in faults,
        )


@dataclass(frozen=True)
class Verdict:
    """A decision: on sale, or not with a reason. ``definite`` is False while the answer is unusable."""

    on_sale: bool
    reason: str | None
    definite: bool = True


ON_SALE = Verdict(True, None)
UNDECIDED = Verdict(False, Codes.VERIFICATION_UNAVAILABLE, definite=False)


@dataclass(frozen=True)
class Submission:
    """What the decision needs from a listing (as submitted by the merchant)."""

    category: Category
    certificate_no: str | None
    self_declaration_no: str | None
    model: str | None
    brand: str | None
    manufacturer: str | None


@dataclass(frozen=True)
class PreQuery:
    """The outcome before any query: a final verdict, or the normalised number to ask about."""

    basis: Basis
    verdict: Verdict | None          # None: ask the regulator
    certificate_no: str | None       # normalised 16 digits when there is one


def before_query(sub: Submission, *, self_declaration: bool, checks: Checks) -> PreQuery:
    """The rules that need no regulator: catalogue, self-declaration, presence and form of the number."""
    check, number = certificate_number(sub.certificate_no, normalise=checks.normalise)
    if sub.category.product_code is None:
        if checks.overblock:
            return PreQuery(Basis.NONE, Verdict(False, Codes.NO_CERTIFICATE), None)
        return PreQuery(Basis.OUT_OF_CATALOGUE, ON_SALE, None)
    self_declared = sub.category.scheme == SELF_DECLARATION_SCHEME or checks.self_declaration_anywhere
    if self_declaration and self_declared and not is_blank(sub.self_declaration_no):
        return PreQuery(Basis.SELF_DECLARATION, ON_SALE, None)
    if check is NumberCheck.MISSING:
        return PreQuery(Basis.NONE, Verdict(False, Codes.NO_CERTIFICATE), None)
    if check is NumberCheck.INVALID:
        return PreQuery(Basis.NONE, Verdict(False, Codes.INVALID_CERTIFICATE_NO), None)
    return PreQuery(Basis.CERTIFICATE, None, number)


def expired(expiry_date: str | None, today: date) -> bool:
    """Expired when today is after the expiry date; a certificate is valid on that date itself."""
    end = parse_date(expiry_date)
    return end is not None and today > end


def status_is_valid(status: str, terms: Terminology, checks: Checks) -> bool | None:
    """True/False for a known status, None for one outside the code list (never valid, RES-05)."""
    if status == terms.valid_status:
        return True
    if status not in terms.reason_for_status:
        return True if checks.unknown_status_valid else None
    # ignore-suspended: a suspension is taken for valid.
    return not checks.suspended_invalid and status in terms.restorable_statuses


def after_answer(sub: Submission, code: str, certificate: dict[str, Any] | None, today: date,
                 terms: Terminology, checks: Checks) -> Verdict:
    """Decide from a usable answer (code OK with the record, or NOT_FOUND)."""
    if not checks.intercept:
        return ON_SALE
    if code == Codes.NOT_FOUND or certificate is None:
        return Verdict(False, Codes.CERT_NOT_FOUND)
    status = str(certificate.get("status"))
    valid = status_is_valid(status, terms, checks)
    if valid is None:
        return UNDECIDED
    if not valid:
        return Verdict(False, terms.reason_for_status[status])
    if checks.expiry_date and expired(certificate.get("expiryDate"), today):
        return Verdict(False, Codes.CERT_EXPIRED)
    if checks.product and certificate.get("productCode") != sub.category.product_code:
        return Verdict(False, Codes.PRODUCT_MISMATCH)
    if checks.model and not model_covered(sub.model, certificate.get("models") or []):
        return Verdict(False, Codes.MODEL_NOT_COVERED)
    if checks.holder and not holder_matches(sub.brand, sub.manufacturer, certificate, brand_width=checks.brand_width):
        return Verdict(False, Codes.HOLDER_MISMATCH)
    return ON_SALE


def model_covered(model: str | None, models: list[str]) -> bool:
    key = name_key(model)
    return bool(key) and any(key == name_key(m) for m in models if isinstance(m, str))


def holder_matches(brand: str | None, manufacturer: str | None, certificate: dict[str, Any], *,
                   brand_width: bool = True) -> bool:
    """VER-08: the brand is the certificate's brand, or the manufacturer is one of its enterprises.
    ``brand_width=False`` is the brand-full-width fault: brands compared without full-width folding."""
    if names_match(brand, certificate.get("brand"), fold_width=brand_width):
        return True
    return any(names_match(manufacturer, certificate.get(f)) for f in ("applicant", "manufacturer", "factory"))


@dataclass(frozen=True)
class Effect:
    """What an event does to one listing: a new state and reason, the action to report, or a re-check."""

    state: str
    reason: str | None
    action: str | None = None        # INTERCEPTED / TAKEN_DOWN / RESTORED to report, or None
    reverify: bool = False           # ask the regulator again (a definite answer may put it back)


def event_effect(status: str, state: str, reason: str | None, *, expired_now: bool, terms: Terminology,
                 checks: Checks) -> Effect | None:
    """The effect of an applied status-change event on one listing on that certificate, or None."""
    valid = status_is_valid(status, terms, checks)
    if valid is None:
        # An unknown status is never valid: off sale until a definite answer (Unusable answers).
        if state == Codes.ON_SALE:
            return Effect(Codes.TAKEN_DOWN, Codes.VERIFICATION_UNAVAILABLE, Codes.TAKEN_DOWN)
        return None
    if not valid:
        new_reason = terms.reason_for_status[status]
        if state == Codes.ON_SALE:
            return Effect(Codes.TAKEN_DOWN, new_reason, Codes.TAKEN_DOWN)
        # Already down for a status reason: the newer status names it, without a second report.
        if state == Codes.TAKEN_DOWN and reason in terms.status_reasons | {Codes.VERIFICATION_UNAVAILABLE} \
                and reason != new_reason:
            return Effect(Codes.TAKEN_DOWN, new_reason)
        return None
    if state != Codes.TAKEN_DOWN:
        return None
    # restore-any-takedown: every status reason taken for a lifted suspension.
    if reason in (terms.status_reasons if checks.restore_any else terms.restorable_reasons):
        if expired_now:
            return Effect(Codes.TAKEN_DOWN, Codes.CERT_EXPIRED)
        if not checks.restore:
            return None
        # RESTORED carries the reason that was lifted.
        return Effect(Codes.ON_SALE, None, Codes.RESTORED)
    if reason == Codes.VERIFICATION_UNAVAILABLE:
        return Effect(state, reason, reverify=True)
    return None
