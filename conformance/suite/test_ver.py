"""VER — verification at listing (上架核查), profile.md §3 VER-01 … VER-12.

Every listing here matches its certificate in every element but the one under test (the profile's
decision order), so a verdict names exactly one rule. A platform may decide at creation or answer
PENDING_VERIFICATION and decide within ``listingDecisionSeconds``: each test waits for the decision.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any

import pytest

from conformance.checks import expect, precondition
from conformance.context import RunContext
from conformance.platform_client import Observation, PlatformClient
from conformance.simulator.control import SimulatorControl
from conformance.suite._helpers import (
    create_and_await_decision,
    edit_fails_verification_again,
    listing_brief,
    pasted_certificate_numbers,
    to_full_width,
    today_in_shanghai,
    unknown_certificate_no,
    verification_captures_for,
)
from conformance.suite.cause import after_next_query, judge_edit_cause, query_epochs
from conformance.suite.vocabulary import INTERCEPTED, ON_SALE, TOLERANCE, R, S, V
from conformance.testdata import DataFactory


def _company(data: DataFactory, role: str) -> str:
    """A company name no certificate carries (the simulator invents its own)."""
    return f"{data.brand()}{role}有限公司"


def _observed(listing: dict[str, Any], obs: Observation, **extra: Any) -> dict[str, Any]:
    return {"listing": listing_brief(listing), "elapsedSeconds": round(obs.elapsed, 3), **extra}


def _expect_on_sale(listing: dict[str, Any], obs: Observation, ccc: RunContext, why: str, **extra: Any) -> None:
    expect(listing.get("state") == ON_SALE and not listing.get("reasonCode"),
           f"{why}: expected ON_SALE within {ccc.decision_deadline:g} s",
           expected={"state": ON_SALE, "reasonCode": None}, observed=_observed(listing, obs, **extra))


def _expect_intercepted(listing: dict[str, Any], obs: Observation, ccc: RunContext, reason: str, why: str,
                        **extra: Any) -> None:
    expect(listing.get("state") == INTERCEPTED and listing.get("reasonCode") == reason,
           f"{why}: expected INTERCEPTED with {reason} within {ccc.decision_deadline:g} s",
           expected={"state": INTERCEPTED, "reasonCode": reason}, observed=_observed(listing, obs, **extra))


# -- VER-01 ---------------------------------------------------------------------------------------
@pytest.mark.requirement("VER-01", id="ver01.valid-covering-certificate-goes-on-sale")
@pytest.mark.variant("VER-01/v1")
def test_ver01_valid_covering_certificate_goes_on_sale(platform: PlatformClient, data: DataFactory,
                                                 ccc: RunContext) -> None:
    category = data.category()
    cert = data.certificate(category)
    listing, obs = create_and_await_decision(platform, data, ccc, data.listing(cert, category))
    _expect_on_sale(listing, obs, ccc, "a catalogue listing whose valid certificate covers its product, model "
                    "and holder must go on sale")


@pytest.mark.requirement("VER-01", id="ver01.pasted-certificate-number-is-normalised-and-goes-on-sale")
@pytest.mark.variant_cases("form", {  # the forms of _helpers.pasted_certificate_numbers
    "spaces": "VER-01/v2", "full-width-digits": "VER-01/v3", "hyphens": "VER-01/v4",
    "ideographic-space-and-tab": "VER-01/v5", "full-width-with-dashes": "VER-01/v6"})
def test_ver01_pasted_certificate_number_is_normalised_and_goes_on_sale(form: str, platform: PlatformClient,
                                                                  data: DataFactory, ccc: RunContext) -> None:
    # Merchants paste numbers with spaces, hyphens and full-width digits; the number is the same.
    category = data.category()
    cert = data.certificate(category)
    pasted = pasted_certificate_numbers(cert["certificateNo"])[form]
    listing, obs = create_and_await_decision(platform, data, ccc,
                                             data.listing(cert, category, certificateNo=pasted))
    _expect_on_sale(listing, obs, ccc, f"a valid certificate number pasted with {form} must be normalised "
                    "and the listing go on sale", pasted=pasted, registryNumber=cert["certificateNo"])


@pytest.mark.requirement("VER-01", id="ver01.certificate-on-its-expiry-date-goes-on-sale")
@pytest.mark.variant("VER-01/v7")
def test_ver01_certificate_on_its_expiry_date_goes_on_sale(platform: PlatformClient, data: DataFactory,
                                                     ccc: RunContext) -> None:
    # A certificate is valid on its expiry date itself (Clarifications); only the day after is expired.
    category = data.category()
    today = today_in_shanghai().isoformat()
    cert = data.certificate(category, expiry_date=today)
    listing, obs = create_and_await_decision(platform, data, ccc, data.listing(cert, category))
    _expect_on_sale(listing, obs, ccc, "a certificate is still valid on its expiry date (Asia/Shanghai)",
                    expiryDate=today)


# -- VER-02 ---------------------------------------------------------------------------------------
_NO_NUMBER = {"omitted": ..., "null": None, "blank": "   ", "ideographic-space": "\u3000"}


@pytest.mark.requirement("VER-02", id="ver02.listing-without-certificate-number-is-intercepted")
@pytest.mark.variant_cases("form", {"omitted": "VER-02/v1", "null": "VER-02/v2", "blank": "VER-02/v3",
                                    "ideographic-space": "VER-02/v4"})  # the keys of _NO_NUMBER
def test_ver02_listing_without_certificate_number_is_intercepted(form: str, platform: PlatformClient,
                                                          data: DataFactory, ccc: RunContext) -> None:
    category = data.category()
    cert = data.certificate(category)  # brand, model and manufacturer are real; only the number is missing
    fields = data.listing(cert, category, certificateNo=None)
    if _NO_NUMBER[form] is not ...:
        fields["certificateNo"] = _NO_NUMBER[form]
    listing, obs = create_and_await_decision(platform, data, ccc, fields)
    _expect_intercepted(listing, obs, ccc, R.NO_CERTIFICATE,
                        f"a catalogue listing without a certificate number ({form}) must be intercepted")


@pytest.mark.requirement("VER-02", id="ver02.self-declaration-product-without-reference-is-intercepted")
@pytest.mark.capability("selfDeclaration")
@pytest.mark.variant("VER-02/v5")
def test_ver02_self_declaration_product_without_reference_is_intercepted(platform: PlatformClient, data: DataFactory,
                                                                  ccc: RunContext) -> None:
    # A self-declaration product still needs its reference: without one it is uncertified goods.
    category = data.category(scheme="self-declaration")
    fields = data.listing(None, category, brand=data.brand(), model=data.model(),
                          manufacturer=_company(data, "电器"))
    listing, obs = create_and_await_decision(platform, data, ccc, fields)
    _expect_intercepted(listing, obs, ccc, R.NO_CERTIFICATE, "a self-declaration product listed with neither a "
                        "self-declaration reference nor a certificate number must be intercepted")


# -- VER-03 ---------------------------------------------------------------------------------------
@pytest.mark.requirement("VER-03", id="ver03.unknown-certificate-is-intercepted")
@pytest.mark.variant("VER-03/v1")
def test_ver03_unknown_certificate_is_intercepted(platform: PlatformClient, data: DataFactory, sim: SimulatorControl,
                                            ccc: RunContext) -> None:
    category = data.category()
    with precondition("a well-formed certificate number the registry does not hold"):
        number = unknown_certificate_no(sim, category["productCode"])
    fields = data.listing(None, category, certificateNo=number, brand=data.brand(), model=data.model(),
                          manufacturer=_company(data, "电器"))
    listing, obs = create_and_await_decision(platform, data, ccc, fields)
    _expect_intercepted(listing, obs, ccc, R.CERT_NOT_FOUND,
                        "a listing whose certificate the regulator does not know must be intercepted")


# -- VER-04 ---------------------------------------------------------------------------------------
@pytest.mark.requirement("VER-04", id="ver04.invalid-certificate-status-is-intercepted")
@pytest.mark.parametrize("status", S.invalid_statuses())
@pytest.mark.variant("VER-04/v1", param="SUSPENDED")
@pytest.mark.variant("VER-04/v2", param="REVOKED")
@pytest.mark.variant("VER-04/v3", param="CANCELLED")
@pytest.mark.variant("VER-04/v4", param="EXPIRED")
def test_ver04_invalid_certificate_status_is_intercepted(status: str, platform: PlatformClient, data: DataFactory,
                                                   ccc: RunContext) -> None:
    category = data.category()
    cert = data.certificate(category, status=status)
    reason = S.reason_for_status(status)
    assert reason is not None  # invalid_statuses() lists exactly the statuses with a reason
    listing, obs = create_and_await_decision(platform, data, ccc, data.listing(cert, category))
    _expect_intercepted(listing, obs, ccc, reason, f"a listing whose certificate is {status} must be intercepted",
                        registryStatus=status)


# -- VER-05 ---------------------------------------------------------------------------------------
@pytest.mark.requirement("VER-05", id="ver05.certificate-past-expiry-date-is-intercepted-while-registry-says-valid")
@pytest.mark.variant("VER-05/v1", "VER-05/v2")
def test_ver05_certificate_past_expiry_date_is_intercepted_while_registry_says_valid(
        platform: PlatformClient, data: DataFactory, sim: SimulatorControl, ccc: RunContext) -> None:
    category = data.category()
    yesterday = (today_in_shanghai() - timedelta(days=1)).isoformat()
    cert = data.certificate(category, expiry_date=yesterday)
    with precondition("the registry still says VALID for a certificate past its expiry date"):
        record = sim.get_certificate(cert["certificateNo"]) or {}
        expect(record.get("status") == S.valid_status() and record.get("expiryDate") == yesterday,
               "the simulator holds the lagging record", observed=record)
    listing, obs = create_and_await_decision(platform, data, ccc, data.listing(cert, category))
    _expect_intercepted(listing, obs, ccc, R.CERT_EXPIRED, "the expiry date wins over a lagging VALID status",
                        registryStatus=record.get("status"), expiryDate=yesterday)


# -- VER-06 ---------------------------------------------------------------------------------------
def _model_not_covered(cert: dict[str, Any], data: DataFactory) -> dict[str, str | None]:
    first = cert["models"][0]
    return {"other-model": data.model(), "prefix-of-covered-model": first[:-1],
            "covered-model-with-suffix": f"{first}X", "no-model": None}


@pytest.mark.requirement("VER-06", id="ver06.model-not-covered-is-intercepted")
@pytest.mark.variant_cases("variant", {
    "other-model": "VER-06/v1", "prefix-of-covered-model": "VER-06/v2", "covered-model-with-suffix": "VER-06/v3",
    "no-model": "VER-06/v4"})
def test_ver06_model_not_covered_is_intercepted(variant: str, platform: PlatformClient, data: DataFactory,
                                          ccc: RunContext) -> None:
    category = data.category()
    cert = data.certificate(category)
    model = _model_not_covered(cert, data)[variant]
    fields = data.listing(cert, category, model=model)
    listing, obs = create_and_await_decision(platform, data, ccc, fields)
    _expect_intercepted(listing, obs, ccc, R.MODEL_NOT_COVERED,
                        f"a model not among the certificate's models ({variant}) must be intercepted",
                        certificateModels=cert["models"], listingModel=model)


def _covered_model_forms(cert: dict[str, Any]) -> dict[str, str]:
    first = cert["models"][0]
    spaced = " ".join(first.replace("-", " ").split())
    return {
        "second-model": cert["models"][1],
        "lower-case": first.lower(),
        "spaces-for-hyphens": f" {spaced} ",
        "full-width": to_full_width(first),
        "full-width-lower-case-ideographic-spaces": to_full_width(spaced.lower()),
    }


@pytest.mark.requirement("VER-06", id="ver06.covered-model-matches-ignoring-case-spaces-and-width")
@pytest.mark.variant_cases("form", {
    "second-model": "VER-06/v5", "lower-case": "VER-06/v6", "spaces-for-hyphens": "VER-06/v7",
    "full-width": "VER-06/v8", "full-width-lower-case-ideographic-spaces": "VER-06/v9"})
def test_ver06_covered_model_matches_ignoring_case_spaces_and_width(form: str, platform: PlatformClient,
                                                              data: DataFactory, ccc: RunContext) -> None:
    category = data.category()
    cert = data.certificate(category)
    model = _covered_model_forms(cert)[form]
    listing, obs = create_and_await_decision(platform, data, ccc, data.listing(cert, category, model=model))
    _expect_on_sale(listing, obs, ccc, f"model matching ignores case, spaces and full-width forms ({form})",
                    certificateModels=cert["models"], listingModel=model)


# -- VER-07 ---------------------------------------------------------------------------------------
@pytest.mark.requirement("VER-07", id="ver07.certificate-for-another-product-is-intercepted")
@pytest.mark.variant("VER-07/v1")
def test_ver07_certificate_for_another_product_is_intercepted(platform: PlatformClient, data: DataFactory,
                                                        ccc: RunContext) -> None:
    certified = data.category()
    listed = data.other_category(certified["productCode"])
    cert = data.certificate(certified)
    listing, obs = create_and_await_decision(platform, data, ccc, data.listing(cert, listed))
    _expect_intercepted(listing, obs, ccc, R.PRODUCT_MISMATCH,
                        "a certificate whose product code differs from the listing category's must be intercepted",
                        certificateProductCode=certified["productCode"], categoryProductCode=listed["productCode"])


# -- VER-08 ---------------------------------------------------------------------------------------
def _holder_certificate(data: DataFactory, category: dict[str, Any]) -> dict[str, Any]:
    """A certificate whose applicant, manufacturer and factory are three different companies."""
    return data.certificate(category, applicant=_company(data, "科技"), manufacturer=_company(data, "电器"),
                            factory=_company(data, "制造"))


@pytest.mark.requirement("VER-08", id="ver08.foreign-brand-and-manufacturer-is-intercepted")
@pytest.mark.variant_cases("variant", {"foreign-brand-and-manufacturer": "VER-08/v1", "neither-given": "VER-08/v2"})
def test_ver08_foreign_brand_and_manufacturer_is_intercepted(variant: str, platform: PlatformClient,
                                                       data: DataFactory, ccc: RunContext) -> None:
    category = data.category()
    cert = _holder_certificate(data, category)
    if variant == "neither-given":  # an empty value never matches
        fields = data.listing(cert, category, brand=None, manufacturer=None)
    else:
        fields = data.listing(cert, category, brand=data.brand(), manufacturer=_company(data, "贸易"))
    listing, obs = create_and_await_decision(platform, data, ccc, fields)
    _expect_intercepted(listing, obs, ccc, R.HOLDER_MISMATCH,
                        "a listing whose brand and manufacturer match none of the certificate's brand, applicant, "
                        "manufacturer or factory must be intercepted (suspected misuse, 冒用)",
                        certificate={k: cert.get(k) for k in ("brand", "applicant", "manufacturer", "factory")},
                        listingBrand=fields.get("brand"), listingManufacturer=fields.get("manufacturer"))


@pytest.mark.requirement("VER-08", id="ver08.one-matching-holder-element-goes-on-sale")
@pytest.mark.variant_cases("holder", {
    "brand": "VER-08/v3", "applicant": "VER-08/v4", "manufacturer": "VER-08/v5", "factory": "VER-08/v6"})
def test_ver08_one_matching_holder_element_goes_on_sale(holder: str, platform: PlatformClient, data: DataFactory,
                                                  ccc: RunContext) -> None:
    category = data.category()
    cert = _holder_certificate(data, category)
    if holder == "brand":
        fields = data.listing(cert, category, manufacturer=_company(data, "贸易"))
    else:
        # Only the listing's manufacturer matches, naming the certificate's applicant, manufacturer or
        # factory; whitespace around it (an ideographic space) must not matter.
        fields = data.listing(cert, category, brand=data.brand(), manufacturer=f"\u3000{cert[holder]} ")
    listing, obs = create_and_await_decision(platform, data, ccc, fields)
    field = "brand" if holder == "brand" else "manufacturer"
    _expect_on_sale(listing, obs, ccc, f"the holder check passes when the listing's {field} matches the "
                    f"certificate's {holder}",
                    certificate={k: cert.get(k) for k in ("brand", "applicant", "manufacturer", "factory")},
                    listingBrand=fields.get("brand"), listingManufacturer=fields.get("manufacturer"))


# -- VER-09 ---------------------------------------------------------------------------------------
@pytest.mark.requirement("VER-09", id="ver09.out-of-catalogue-listing-goes-on-sale-without-query")
@pytest.mark.variant_cases("number", {
    "none": "VER-09/v1", "revoked-certificate": "VER-09/v2", "malformed": "VER-09/v3"})
def test_ver09_out_of_catalogue_listing_goes_on_sale_without_query(number: str, platform: PlatformClient,
                                                             data: DataFactory, sim: SimulatorControl, ccc: RunContext) -> None:
    category = data.out_of_catalogue()
    fields = data.listing(None, category, brand=data.brand(), model=data.model())
    if number == "revoked-certificate":
        # Out-of-catalogue listings are never queried, even when they carry a number (Clarifications).
        fields["certificateNo"] = data.certificate(data.category(), status=V.certificateStatus.REVOKED)[
            "certificateNo"]
    elif number == "malformed":
        fields["certificateNo"] = "ISBN 978-7-02-000220-7"
    listing, obs = create_and_await_decision(platform, data, ccc, fields)
    _expect_on_sale(listing, obs, ccc, f"a listing outside the catalogue (number: {number}) must go on sale")
    captured = verification_captures_for(sim, fields["merchantId"])
    expect(not captured, "a listing outside the catalogue must go on sale without a query to the regulator",
           expected="no verification request for the listing's merchant",
           observed={"listing": listing_brief(listing), "capturedRequests": [c.get("body") for c in captured]})


# -- VER-10 ---------------------------------------------------------------------------------------
@pytest.mark.requirement("VER-10", id="ver10.self-declaration-product-with-reference-goes-on-sale")
@pytest.mark.variant("VER-10/v1")
def test_ver10_self_declaration_product_with_reference_goes_on_sale(platform: PlatformClient, data: DataFactory,
                                                              ccc: RunContext) -> None:
    category = data.category(scheme="self-declaration")
    reference = f"SD{today_in_shanghai().year}{uuid.uuid4().int % 10**10:010d}"
    fields = data.listing(None, category, selfDeclarationNo=reference, brand=data.brand(), model=data.model(),
                          manufacturer=_company(data, "电器"))
    listing, obs = create_and_await_decision(platform, data, ccc, fields)
    _expect_on_sale(listing, obs, ccc, "a self-declaration product (自我声明) listed with its self-declaration "
                    "reference must be accepted", productCode=category["productCode"])


# -- VER-11 ---------------------------------------------------------------------------------------
def _on_sale_before_edit(platform: PlatformClient, data: DataFactory, ccc: RunContext,
                     fields: dict[str, Any]) -> dict[str, Any]:
    with precondition("a listing is on sale before the edit"):
        listing, obs = create_and_await_decision(platform, data, ccc, fields)
        expect(listing.get("state") == ON_SALE, "the listing to edit went on sale",
               observed=_observed(listing, obs))
    return listing


@pytest.mark.requirement("VER-11", id="ver11.edit-of-listing-on-sale-is-verified-again")
@pytest.mark.variant_cases("edited", {"certificate-number": "VER-11/v1", "model": "VER-11/v2", "category": "VER-11/v3"})
def test_ver11_edit_of_listing_on_sale_is_verified_again(edited: str, platform: PlatformClient, data: DataFactory,
                                                   ccc: RunContext, sim: SimulatorControl) -> None:
    category = data.category()
    revoked = V.certificateStatus.REVOKED
    if edited == "certificate-number":
        cert = data.certificate(category)
        # The new certificate differs from the old one in its status only.
        bad = data.certificate(category, status=revoked, models=cert["models"], brand=cert["brand"],
                               applicant=cert["applicant"], manufacturer=cert["manufacturer"],
                               factory=cert["factory"])
        fields = data.listing(cert, category)
        edit, reason = {"certificateNo": bad["certificateNo"]}, S.reason_for_status(revoked)
    elif edited == "model":
        cert = data.certificate(category)
        fields = data.listing(cert, category)
        edit, reason = {"model": data.model()}, R.MODEL_NOT_COVERED
    else:
        # Out of the catalogue, the revoked number is never queried; moving the listing into the
        # certificate's catalogue category must verify it.
        cert = data.certificate(category, status=revoked)
        fields = data.listing(cert, data.out_of_catalogue())
        edit, reason = {"categoryId": category["categoryId"]}, S.reason_for_status(revoked)
    with precondition(f"the platform intercepts a new listing as edited with {reason} (VER-04/06 judge that)"):
        # So that this test judges re-verification on edit only, not the check the edit must fail.
        control, control_obs = create_and_await_decision(platform, data, ccc, {**fields, **edit})
        expect(control.get("state") == INTERCEPTED and control.get("reasonCode") == reason,
               "the control listing was intercepted", observed=_observed(control, control_obs))
    created_at = time.time()
    listing = _on_sale_before_edit(platform, data, ccc, fields)
    listing_id = str(listing["listingId"])
    # The edit, not a periodic re-verification, must make the new query (cause.judge_edit_cause): the
    # edit is made right after the platform re-verified the listing, when its next periodic query is
    # furthest away. An out-of-catalogue listing is never re-verified, so there is nothing to time.
    timed = edited != "category"
    if timed:
        after_next_query(sim, {"certificateNo": cert["certificateNo"]},
                         float(ccc.timing["reverificationIntervalSeconds"]) + TOLERANCE)
        before = [t for t in query_epochs(sim, {"certificateNo": cert["certificateNo"]}) if t >= created_at]
    edited_at = time.time()
    obs = edit_fails_verification_again(platform, ccc, listing_id, edit, edited, reason)
    if timed:
        number_after = str(edit.get("certificateNo") or cert["certificateNo"])
        judge_edit_cause(listing_id=listing_id, created_at=created_at, queries_before=before, edited_at=edited_at,
                         queries_after=query_epochs(sim, {"certificateNo": number_after}),
                         decided_at=edited_at + obs.elapsed)


# -- VER-12 ---------------------------------------------------------------------------------------
@pytest.mark.requirement("VER-12", id="ver12.unchanged-resubmission-is-intercepted-again")
@pytest.mark.variant_cases("cause", {
    "revoked-certificate": "VER-12/v1", "model-not-covered": "VER-12/v2", "no-certificate": "VER-12/v3"})
def test_ver12_unchanged_resubmission_is_intercepted_again(cause: str, platform: PlatformClient, data: DataFactory,
                                                     ccc: RunContext) -> None:
    category = data.category()
    if cause == "revoked-certificate":
        revoked = V.certificateStatus.REVOKED
        cert = data.certificate(category, status=revoked)
        fields, reason = data.listing(cert, category), S.reason_for_status(revoked)
    elif cause == "model-not-covered":
        cert = data.certificate(category)
        fields, reason = data.listing(cert, category, model=data.model()), R.MODEL_NOT_COVERED
    else:
        cert = data.certificate(category)
        fields, reason = data.listing(cert, category, certificateNo=None), R.NO_CERTIFICATE
    with precondition(f"a listing is intercepted with {reason}"):
        first, first_obs = create_and_await_decision(platform, data, ccc, fields)
        expect(first.get("state") == INTERCEPTED and first.get("reasonCode") == reason,
               "the listing to resubmit was intercepted", observed=_observed(first, first_obs))
    listing_id = str(first["listingId"])
    # The merchant resubmits exactly what was refused (every editable field, unchanged).
    unchanged = {k: v for k, v in fields.items() if k != "merchantId"}
    t0 = time.monotonic()
    answer = platform.edit_listing(listing_id, unchanged)
    obs = platform.wait_decided(listing_id, ccc.decision_deadline, start=t0)
    final = obs.value
    expect(answer.get("state") != ON_SALE and final.get("state") == INTERCEPTED
           and final.get("reasonCode") == reason,
           f"an intercepted listing resubmitted unchanged must be intercepted again with {reason}",
           expected={"state": INTERCEPTED, "reasonCode": reason},
           observed={"resubmission": unchanged, "patchAnswer": listing_brief(answer),
                     "listing": listing_brief(final), "elapsedSeconds": round(obs.elapsed, 3)})
