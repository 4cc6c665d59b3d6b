"""VER at its edges — the variants of specs/variants.yaml that the main-path tests of test_ver.py leave
open: each normalisation rule on each holder field, the nearest unknown number, the neighbouring
product, edits of brand and manufacturer, the "only" of self-declaration, out-of-catalogue listings
left alone by events, and "on sale only after the answer".

As in test_ver.py, every listing matches its certificate in every element but the one under test.
Where several variants share one set-up they are judged in one test (``variants.expect_each``), and
a FAIL names the variants that broke.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from conformance.checks import expect, precondition
from conformance.context import RunContext
from conformance.platform_client import PlatformClient
from conformance.simulator.control import SimulatorControl
from conformance.suite._helpers import (
    create_and_await_decision,
    create_listings_concurrently,
    create_listings_on_sale,
    edit_fails_verification_again,
    listing_brief,
    received_epoch,
    status_change_route,
    to_full_width,
    today_in_shanghai,
    verification_captures_for,
    watch_listings,
)
from conformance.suite.vocabulary import INTERCEPTED, ON_SALE, R, S, V
from conformance.testdata import DataFactory
from conformance.variants import expect_each

PENDING = V.listingState.PENDING_VERIFICATION


def _tag() -> str:
    """Six letters and digits with at least one letter in each case-sensitive position (so case folding
    and full-width folding both have something to do)."""
    return f"Q{uuid.uuid4().hex[:5].upper()}"


def _decided(platform: PlatformClient, ccc: RunContext, ids: list[str], t0: float) -> dict[str, dict[str, Any]]:
    seen = watch_listings(platform, ids, lambda v: v.get("state") != PENDING, ccc.decision_deadline, start=t0)
    return {lid: s.value or {} for lid, s in seen.items()}


# -- VER-01 ---------------------------------------------------------------------------------------
@pytest.mark.requirement("VER-01", id="ver01.listing-goes-on-sale-only-after-the-regulator-answered")
@pytest.mark.variant("VER-01/v8")
def test_ver01_listing_goes_on_sale_only_after_the_regulator_answered(platform: PlatformClient, data: DataFactory,
                                                                sim: SimulatorControl, ccc: RunContext) -> None:
    # A platform that sells first and checks later (optimistic listing) would show ON_SALE before the
    # regulator ever heard of the listing. The simulator's receipt time and the harness's reading share
    # this host's clock.
    category = data.category()
    cert = data.certificate(category)
    fields = data.listing(cert, category)
    t0 = time.monotonic()
    created = data.remember_listing(platform.create_listing(fields))
    first_seen_on_sale = time.time() if created.get("state") == ON_SALE else None
    lid = str(created["listingId"])
    if first_seen_on_sale is None:
        obs = platform.wait_listing(lid, lambda v: v.get("state") != PENDING, ccc.decision_deadline, start=t0)
        first_seen_on_sale = time.time() if (obs.value or {}).get("state") == ON_SALE else None
    with precondition("the listing with a valid covering certificate went on sale (VER-01/v1 judges that)"):
        expect(first_seen_on_sale is not None, "the listing did not go on sale", observed=listing_brief(created))
    assert first_seen_on_sale is not None
    received = [t for c in verification_captures_for(sim, fields["merchantId"], lid) if (t := received_epoch(c))]
    tolerance = float(S.param("measurementToleranceSeconds"))
    expect(received and min(received) <= first_seen_on_sale + tolerance,
           "the listing was on sale before the regulator received a verification request about it",
           expected="a verification request received before the listing is first seen ON_SALE",
           observed={"firstSeenOnSaleEpoch": round(first_seen_on_sale, 3),
                     "requestsReceivedEpoch": [round(t, 3) for t in received], "listing": listing_brief(created)})


# -- VER-03 ---------------------------------------------------------------------------------------
@pytest.mark.requirement("VER-03", id="ver03.number-one-digit-from-a-registered-one-is-not-found")
@pytest.mark.variant("VER-03/v2")
def test_ver03_number_one_digit_from_a_registered_one_is_not_found(platform: PlatformClient, data: DataFactory,
                                                                   sim: SimulatorControl,
                                                             ccc: RunContext) -> None:
    # The nearest neighbour of a real number: a platform matching loosely (prefix, edit distance) finds it.
    category = data.category()
    cert = data.certificate(category)
    number = cert["certificateNo"]
    with precondition("a number differing from a registered one in its last digit that the registry does not hold"):
        candidates = [number[:-1] + str((int(number[-1]) + k) % 10) for k in range(1, 10)]
        neighbour = next(n for n in candidates if sim.get_certificate(n) is None)
    listing, obs = create_and_await_decision(platform, data, ccc, data.listing(cert, category, certificateNo=neighbour))
    expect(listing.get("state") == INTERCEPTED and listing.get("reasonCode") == R.CERT_NOT_FOUND,
           f"a number one digit away from a registered certificate must be intercepted with {R.CERT_NOT_FOUND}",
           expected={"state": INTERCEPTED, "reasonCode": R.CERT_NOT_FOUND},
           observed={"listing": listing_brief(listing), "registered": number, "submitted": neighbour,
                     "elapsedSeconds": round(obs.elapsed, 3)})


# -- VER-07 ---------------------------------------------------------------------------------------
@pytest.mark.requirement("VER-07", id="ver07.certificate-for-a-neighbouring-product-is-intercepted")
@pytest.mark.variant("VER-07/v2")
def test_ver07_certificate_for_a_neighbouring_product_is_intercepted(platform: PlatformClient, data: DataFactory,
                                                               ccc: RunContext) -> None:
    # Two products of one catalogue category (e.g. 0701 fridges and 0703 air-conditioners): a platform
    # comparing only the category group would let one pass for the other.
    with precondition("the ICS maps two certificate products of the same catalogue category"):
        certificate_scheme = ccc.scheme_of(data.category()["productCode"])
        mapped = [c for c in ccc.category_mapping() if c.get("productCode") in S.catalogue
                  and ccc.scheme_of(c["productCode"]) == certificate_scheme]
        by_group: dict[str, list[dict[str, Any]]] = {}
        for c in mapped:
            group = by_group.setdefault(S.catalogue[c["productCode"]].category, [])
            if all(o["productCode"] != c["productCode"] for o in group):
                group.append(c)
        pair = next(g[:2] for g in by_group.values() if len(g) >= 2)
    certified, listed = pair
    cert = data.certificate(certified)
    listing, obs = create_and_await_decision(platform, data, ccc, data.listing(cert, listed))
    expect(listing.get("state") == INTERCEPTED and listing.get("reasonCode") == R.PRODUCT_MISMATCH,
           f"a certificate for a neighbouring product of the same catalogue category must be intercepted with "
           f"{R.PRODUCT_MISMATCH}", expected={"state": INTERCEPTED, "reasonCode": R.PRODUCT_MISMATCH},
           observed={"listing": listing_brief(listing), "certificateProductCode": certified["productCode"],
                     "categoryProductCode": listed["productCode"], "elapsedSeconds": round(obs.elapsed, 3)})


# -- VER-08 ---------------------------------------------------------------------------------------
def _rules(value: str) -> dict[str, str]:
    """The value as a merchant might type it, one normalisation rule at a time."""
    return {"case": value.swapcase(), "full-width": to_full_width(value),
            "spaces-and-hyphens": f"{value[:2]} {value[2:4]}-{value[4:]}"}


# Holder field × rule → variant (specs/variants.yaml, VER-08/v7 … v18).
_HOLDER_VARIANTS = {
    ("brand", "case"): "VER-08/v7", ("brand", "full-width"): "VER-08/v8", ("brand", "spaces-and-hyphens"): "VER-08/v9",
    ("applicant", "case"): "VER-08/v10", ("applicant", "full-width"): "VER-08/v11",
    ("applicant", "spaces-and-hyphens"): "VER-08/v12",
    ("manufacturer", "case"): "VER-08/v13", ("manufacturer", "full-width"): "VER-08/v14",
    ("manufacturer", "spaces-and-hyphens"): "VER-08/v15",
    ("factory", "case"): "VER-08/v16", ("factory", "full-width"): "VER-08/v17",
    ("factory", "spaces-and-hyphens"): "VER-08/v18",
}


@pytest.mark.requirement("VER-08", id="ver08.holder-matching-normalises-every-holder-field")
@pytest.mark.variant("VER-08/v7", "VER-08/v8", "VER-08/v9", "VER-08/v10", "VER-08/v11", "VER-08/v12")
@pytest.mark.variant("VER-08/v13", "VER-08/v14", "VER-08/v15", "VER-08/v16", "VER-08/v17", "VER-08/v18")
def test_ver08_holder_matching_normalises_every_holder_field(platform: PlatformClient, data: DataFactory,
                                                       ccc: RunContext) -> None:
    # One certificate whose brand, applicant, manufacturer and factory are four different names with
    # ASCII letters in them; one listing per field × rule that matches through that field alone.
    category = data.category()
    tag = _tag()
    names = {"brand": f"Norvik{tag}", "applicant": f"Aurelo{tag}Tech", "manufacturer": f"Tessen{tag}Works",
             "factory": f"Lumora{tag}Plant"}
    cert = data.certificate(category, brand=names["brand"], applicant=names["applicant"],
                            manufacturer=names["manufacturer"], factory=names["factory"])
    foreign_brand, foreign_maker = f"Other{_tag()}", f"Other{_tag()}Trading"
    cases: dict[str, dict[str, Any]] = {}
    for (field, rule), vid in _HOLDER_VARIANTS.items():
        typed = _rules(names[field])[rule]
        if field == "brand":
            cases[vid] = data.listing(cert, category, brand=typed, manufacturer=foreign_maker)
        else:
            cases[vid] = data.listing(cert, category, brand=foreign_brand, manufacturer=typed)
    t0 = time.monotonic()
    created = create_listings_concurrently(platform, data, list(cases.values()))
    ids = {vid: str(c["listingId"]) for vid, c in zip(cases, created, strict=True)}
    final = _decided(platform, ccc, list(ids.values()), t0)
    outcomes = {vid: None if final[lid].get("state") == ON_SALE and not final[lid].get("reasonCode")
                else {"listing": listing_brief(final[lid]), "brand": cases[vid].get("brand"),
                      "manufacturer": cases[vid].get("manufacturer")}
                for vid, lid in ids.items()}
    expect_each(outcomes, "the holder check must compare brand, applicant, manufacturer and factory on normalised, "
                "case-folded text (full-width folded, spaces and hyphens dropped); these listings matching through "
                f"one field were not ON_SALE within {ccc.decision_deadline:g} s",
                expected={"state": ON_SALE}, certificate=names)


# -- VER-09 ---------------------------------------------------------------------------------------
@pytest.mark.requirement("VER-09", id="ver09.out-of-catalogue-listing-is-never-touched-by-events")
@pytest.mark.variant("VER-09/v4")
def test_ver09_out_of_catalogue_listing_is_never_touched_by_events(platform: PlatformClient, data: DataFactory,
                                                                   sim: SimulatorControl,
                                                             ccc: RunContext) -> None:
    # The out-of-catalogue listing carries the number of a certificate that a catalogue listing (another
    # merchant's) is verified on. The certificate is revoked: the catalogue listing comes down, which
    # shows the change reached the platform; the out-of-catalogue one must stay on sale.
    route = status_change_route(ccc)
    with precondition("a catalogue listing on sale on a valid certificate, and an out-of-catalogue listing "
                      "carrying the same number on sale"):
        category = data.category()
        cert = data.certificate(category)
        (control,) = create_listings_on_sale(platform, data, ccc, [data.listing(cert, category)])
        outside, _ = create_and_await_decision(platform, data, ccc,
                                                         data.listing(cert, data.out_of_catalogue()))
        expect(outside.get("state") == ON_SALE, "the out-of-catalogue listing went on sale",
               observed=listing_brief(outside))
    control_id, outside_id = str(control["listingId"]), str(outside["listingId"])
    t0 = time.monotonic()
    sim.set_status(cert["certificateNo"], V.certificateStatus.REVOKED, push=route.push)
    with precondition(f"the catalogue listing on the revoked certificate is taken down ({route.how})"):
        down = watch_listings(platform, [control_id], lambda v: v.get("state") == V.listingState.TAKEN_DOWN,
                              route.allowance, start=t0)[control_id]
        expect(down.satisfied, "the catalogue listing was not taken down", observed=listing_brief(down.value))
    # For one more takedown deadline: a late effect on the out-of-catalogue listing is seen too.
    hit = watch_listings(platform, [outside_id], lambda v: v.get("state") != ON_SALE,
                         ccc.takedown_deadline, start=time.monotonic())[outside_id]
    expect(not hit.satisfied,
           "an out-of-catalogue listing carrying a certificate's number was taken off sale by that certificate's "
           "status change (out-of-catalogue listings are never touched by events)",
           expected={"state": ON_SALE}, observed={"listing": listing_brief(hit.value),
                                                  "carriedNumber": cert["certificateNo"]})


# -- VER-10 ---------------------------------------------------------------------------------------
@pytest.mark.requirement("VER-10", id="ver10.self-declaration-reference-is-accepted-only-where-it-applies")
@pytest.mark.capability("selfDeclaration")
@pytest.mark.variant("VER-10/v2", param="certificate-product")
@pytest.mark.variant("VER-10/v3", param="blank-reference")
@pytest.mark.parametrize("case", ["certificate-product", "blank-reference"])
def test_ver10_self_declaration_reference_is_accepted_only_where_it_applies(case: str, platform: PlatformClient,
                                                                      data: DataFactory, ccc: RunContext) -> None:
    # Self-declaration replaces a certificate only for products the catalogue puts under that scheme,
    # and only with an actual reference.
    reference = f"SD{today_in_shanghai().year}{uuid.uuid4().int % 10**10:010d}"
    if case == "certificate-product":
        category = data.category()
    else:
        category, reference = data.category(scheme="self-declaration"), "   "
    fields = data.listing(None, category, selfDeclarationNo=reference, brand=data.brand(), model=data.model(),
                          manufacturer=f"{data.brand()}电器有限公司")
    listing, obs = create_and_await_decision(platform, data, ccc, fields)
    expect(listing.get("state") == INTERCEPTED and listing.get("reasonCode") == R.NO_CERTIFICATE,
           f"a self-declaration reference ({case}) must not stand in for a certificate: expected INTERCEPTED with "
           f"{R.NO_CERTIFICATE}", expected={"state": INTERCEPTED, "reasonCode": R.NO_CERTIFICATE},
           observed={"listing": listing_brief(listing), "productCode": category["productCode"],
                     "selfDeclarationNo": reference, "elapsedSeconds": round(obs.elapsed, 3)})


# -- VER-11 ---------------------------------------------------------------------------------------
@pytest.mark.requirement("VER-11", id="ver11.edit-of-brand-or-manufacturer-is-verified-again")
@pytest.mark.variant("VER-11/v4", param="brand")
@pytest.mark.variant("VER-11/v5", param="manufacturer")
@pytest.mark.parametrize("edited", ["brand", "manufacturer"])
def test_ver11_edit_of_brand_or_manufacturer_is_verified_again(edited: str, platform: PlatformClient, data: DataFactory,
                                                         ccc: RunContext) -> None:
    # The listing passes the holder check through the edited field alone, so the edit makes it fail.
    category = data.category()
    cert = data.certificate(category)
    foreign = {"brand": f"Other{_tag()}", "manufacturer": f"Other{_tag()}Trading"}
    kept = "manufacturer" if edited == "brand" else "brand"
    fields = data.listing(cert, category, **{kept: foreign[kept]})
    edit, reason = {edited: foreign[edited]}, R.HOLDER_MISMATCH
    with precondition(f"the platform intercepts a new listing as edited with {reason} (VER-08 judges that)"):
        control, _ = create_and_await_decision(platform, data, ccc, {**fields, **edit})
        expect(control.get("state") == INTERCEPTED and control.get("reasonCode") == reason,
               "the control listing was intercepted", observed=listing_brief(control))
    with precondition("a listing is on sale before the edit"):
        (listing,) = create_listings_on_sale(platform, data, ccc, [fields])
    listing_id = str(listing["listingId"])
    edit_fails_verification_again(platform, ccc, listing_id, edit, edited, reason)
