"""The platform's decision table (profile.md §2 Rules: Decision order; Takedown; Events)."""

from __future__ import annotations

import itertools
from datetime import date
from typing import Any

import pytest

from reference_platform.config import Category, Codes, load_terminology, specs_dir
from reference_platform.decision import (
    Basis,
    Checks,
    Submission,
    after_answer,
    before_query,
    event_effect,
    expired,
    holder_matches,
    model_covered,
)

TERMS = load_terminology(specs_dir())
TODAY = date(2025, 12, 15)
FRIDGE = Category("fridge", "冰箱", "0701", "certificate")
FUSE = Category("fuse", "熔断体", "0205", "self-declaration")
BOOKS = Category("books", "图书", None, None)
NUMBER = "2021010701123456"


def cert(**fields: Any) -> dict[str, Any]:
    record = {"certificateNo": NUMBER, "status": "VALID", "productCode": "0701", "models": ["BCD-215", "BCD-216"],
              "brand": "海尔", "applicant": "海尔智家股份有限公司", "manufacturer": "青岛海尔电冰箱有限公司",
              "factory": "青岛海尔电冰箱有限公司(黄岛)", "issueDate": "2021-01-01", "expiryDate": "2026-01-01"}
    return {**record, **fields}


def sub(category: Category = FRIDGE, **fields: Any) -> Submission:
    values = {"certificate_no": NUMBER, "self_declaration_no": None, "model": "BCD-215", "brand": "海尔",
              "manufacturer": None, **fields}
    return Submission(category, **values)


def decide(submission: Submission, record: dict[str, Any] | None, checks: Checks = Checks(),
           code: str = Codes.OK) -> tuple[bool, str | None, bool]:
    verdict = after_answer(submission, code, record, TODAY, TERMS, checks)
    return verdict.on_sale, verdict.reason, verdict.definite


# -- before any query ---------------------------------------------------------------------------------
@pytest.mark.parametrize(("submission", "basis", "result"), [
    (sub(BOOKS, certificate_no=None), Basis.OUT_OF_CATALOGUE, (True, None)),
    (sub(BOOKS, certificate_no="garbage"), Basis.OUT_OF_CATALOGUE, (True, None)),   # never queried
    (sub(certificate_no=None), Basis.NONE, (False, Codes.NO_CERTIFICATE)),
    (sub(certificate_no="  \u3000 "), Basis.NONE, (False, Codes.NO_CERTIFICATE)),
    (sub(certificate_no="https://x.cn/?no=" + NUMBER), Basis.NONE, (False, Codes.INVALID_CERTIFICATE_NO)),
    (sub(certificate_no=NUMBER[:15]), Basis.NONE, (False, Codes.INVALID_CERTIFICATE_NO)),
    (sub(FUSE, certificate_no=None, self_declaration_no="SD-2024-0001"), Basis.SELF_DECLARATION, (True, None)),
    (sub(FUSE, certificate_no=None, self_declaration_no=" "), Basis.NONE, (False, Codes.NO_CERTIFICATE)),
    # A self-declaration reference does not replace a certificate for a certificate product.
    (sub(certificate_no=None, self_declaration_no="SD-2024-0001"), Basis.NONE, (False, Codes.NO_CERTIFICATE)),
])
def test_decisions_without_a_query(submission: Submission, basis: Basis, result: tuple[bool, str | None]) -> None:
    pre = before_query(submission, self_declaration=True, checks=Checks())
    assert pre.basis is basis
    assert pre.verdict is not None and (pre.verdict.on_sale, pre.verdict.reason) == result


def test_a_valid_number_is_asked_about_in_its_normalised_form() -> None:
    pre = before_query(sub(certificate_no="２０２１ ０１０７-０１１２ ３４５６"), self_declaration=True, checks=Checks())
    assert pre.verdict is None and pre.certificate_no == NUMBER and pre.basis is Basis.CERTIFICATE


def test_self_declaration_needs_the_capability() -> None:
    pre = before_query(sub(FUSE, certificate_no=None, self_declaration_no="SD-1"), self_declaration=False,
                       checks=Checks())
    assert pre.verdict is not None and pre.verdict.reason == Codes.NO_CERTIFICATE


def test_a_self_declared_product_may_still_carry_a_certificate() -> None:
    pre = before_query(sub(FUSE), self_declaration=True, checks=Checks())
    assert pre.verdict is None and pre.basis is Basis.CERTIFICATE


def test_overblock_fault_intercepts_out_of_catalogue() -> None:
    pre = before_query(sub(BOOKS, certificate_no=None), self_declaration=True, checks=Checks(overblock=True))
    assert pre.verdict is not None and not pre.verdict.on_sale


# -- after the answer: the full table, one element failing at a time and in combination --------------
STATUSES = ["VALID", "SUSPENDED", "REVOKED", "CANCELLED", "EXPIRED"]
ORDER = ["status", "expiry", "product", "model", "holder"]


@pytest.mark.parametrize(("status", "past_expiry", "other_product", "uncovered_model", "stranger"),
                         list(itertools.product(STATUSES, [False, True], [False, True], [False, True], [False, True])))
def test_decision_table(status: str, past_expiry: bool, other_product: bool, uncovered_model: bool,
                        stranger: bool) -> None:
    record = cert(status=status, expiryDate="2025-12-14" if past_expiry else "2025-12-15",
                  productCode="0703" if other_product else "0701")
    submission = sub(model="BCD-999" if uncovered_model else "bcd 215",
                     brand="别家" if stranger else "海尔")
    failing = {"status": status != "VALID", "expiry": past_expiry, "product": other_product,
               "model": uncovered_model, "holder": stranger}
    first = next((element for element in ORDER if failing[element]), None)
    expected = {None: None, "status": f"CERT_{status}", "expiry": Codes.CERT_EXPIRED,
                "product": Codes.PRODUCT_MISMATCH, "model": Codes.MODEL_NOT_COVERED,
                "holder": Codes.HOLDER_MISMATCH}[first]
    assert decide(submission, record) == (first is None, expected, True)


def test_not_found() -> None:
    assert decide(sub(), None, code=Codes.NOT_FOUND) == (False, Codes.CERT_NOT_FOUND, True)


def test_valid_on_its_expiry_date_and_expired_the_day_after() -> None:
    assert not expired("2025-12-15", TODAY)
    assert expired("2025-12-14", TODAY)
    assert not expired(None, TODAY) and not expired("not a date", TODAY)


def test_an_unknown_status_is_never_valid() -> None:
    assert decide(sub(), cert(status="FROZEN")) == (False, Codes.VERIFICATION_UNAVAILABLE, False)
    # ... unless the accept-unknown-status fault is on.
    assert decide(sub(), cert(status="FROZEN"), Checks(unknown_status_valid=True)) == (True, None, True)


def test_model_coverage() -> None:
    assert model_covered("ｂｃｄ－２１６", ["BCD-215", "BCD-216"])
    assert not model_covered(None, ["BCD-215"])
    assert not model_covered("", [""])
    assert decide(sub(model=None), cert()) == (False, Codes.MODEL_NOT_COVERED, True)


@pytest.mark.parametrize(("brand", "manufacturer", "passes"), [
    ("海尔", None, True),
    ("HAIER", None, False),                          # the certificate's brand is 海尔
    (None, "海尔智家股份有限公司", True),              # applicant
    ("别家", "青岛海尔电冰箱有限公司", True),           # manufacturer
    (None, "青岛海尔电冰箱有限公司（黄岛）", True),     # factory, full-width brackets
    (None, None, False),
    ("别家", "别家电器", False),
])
def test_holder_check(brand: str | None, manufacturer: str | None, passes: bool) -> None:
    assert holder_matches(brand, manufacturer, cert()) is passes


def test_holder_check_with_a_certificate_without_brand() -> None:
    assert not holder_matches("海尔", None, cert(brand=None))
    assert holder_matches("海尔", "海尔智家股份有限公司", cert(brand=None))


@pytest.mark.parametrize(("checks", "record", "listing"), [
    (Checks(intercept=False), cert(status="REVOKED"), sub()),
    (Checks(suspended_invalid=False), cert(status="SUSPENDED"), sub()),
    (Checks(expiry_date=False), cert(expiryDate="2020-01-01"), sub()),
    (Checks(product=False), cert(productCode="0703"), sub()),
    (Checks(model=False), cert(), sub(model="BCD-999")),
    (Checks(holder=False), cert(), sub(brand="别家")),
])
def test_each_fault_switches_off_exactly_its_check(checks: Checks, record: dict[str, Any],
                                                   listing: Submission) -> None:
    assert decide(listing, record, checks)[0] is True
    assert decide(listing, record)[0] is False


def test_checks_from_faults() -> None:
    checks = Checks.from_faults(frozenset({"no-model-check", "accept-unknown-status"}))
    assert not checks.model and checks.unknown_status_valid and checks.holder and checks.intercept


# -- events -------------------------------------------------------------------------------------------
def effect(status: str, state: str, reason: str | None, expired_now: bool = False,
           checks: Checks = Checks()) -> tuple[str, str | None, str | None, bool] | None:
    found = event_effect(status, state, reason, expired_now=expired_now, terms=TERMS, checks=checks)
    return None if found is None else (found.state, found.reason, found.action, found.reverify)


@pytest.mark.parametrize("status", ["SUSPENDED", "REVOKED", "CANCELLED", "EXPIRED"])
def test_an_invalid_status_takes_down_a_listing_on_sale(status: str) -> None:
    assert effect(status, "ON_SALE", None) == ("TAKEN_DOWN", f"CERT_{status}", "TAKEN_DOWN", False)


def test_a_later_takedown_status_renames_the_reason_without_a_report() -> None:
    assert effect("REVOKED", "TAKEN_DOWN", "CERT_SUSPENDED") == ("TAKEN_DOWN", "CERT_REVOKED", None, False)
    assert effect("REVOKED", "TAKEN_DOWN", "CERT_REVOKED") is None
    assert effect("REVOKED", "TAKEN_DOWN", "MODEL_NOT_COVERED") is None


def test_events_leave_listings_off_sale_for_other_reasons_alone() -> None:
    assert effect("REVOKED", "INTERCEPTED", "CERT_SUSPENDED") is None
    assert effect("REVOKED", "PENDING_VERIFICATION", None) is None
    assert effect("VALID", "INTERCEPTED", "CERT_SUSPENDED") is None
    assert effect("VALID", "ON_SALE", None) is None
    assert effect("VALID", "TAKEN_DOWN", "CERT_REVOKED") is None


def test_a_lifted_suspension_restores() -> None:
    assert effect("VALID", "TAKEN_DOWN", "CERT_SUSPENDED") == ("ON_SALE", None, "RESTORED", False)
    # ... unless the certificate has expired meanwhile: then that is the reason.
    assert effect("VALID", "TAKEN_DOWN", "CERT_SUSPENDED", expired_now=True) == \
        ("TAKEN_DOWN", "CERT_EXPIRED", None, False)
    assert effect("VALID", "TAKEN_DOWN", "CERT_SUSPENDED", checks=Checks(restore=False)) is None


def test_unknown_status_in_an_event() -> None:
    assert effect("FROZEN", "ON_SALE", None) == ("TAKEN_DOWN", "VERIFICATION_UNAVAILABLE", "TAKEN_DOWN", False)
    assert effect("FROZEN", "TAKEN_DOWN", "CERT_REVOKED") is None
    # A definite answer is needed to put it back: a VALID event has the platform ask again.
    assert effect("VALID", "TAKEN_DOWN", "VERIFICATION_UNAVAILABLE") == \
        ("TAKEN_DOWN", "VERIFICATION_UNAVAILABLE", None, True)


def test_ignore_suspended_fault_in_events() -> None:
    assert effect("SUSPENDED", "ON_SALE", None, checks=Checks(suspended_invalid=False)) is None
