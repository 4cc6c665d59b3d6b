"""The reference platform's edge fault switches (issue 13) in its pure decision functions: each breaks
one variant and leaves the main path as a conformant platform decides it."""

from __future__ import annotations

from reference_platform.config import Codes
from reference_platform.decision import Basis, Checks, before_query, event_effect, holder_matches
from tests.unit.test_refplat_decision import FRIDGE, FUSE, TERMS, cert, sub

EDGE = Checks.from_faults(frozenset({"brand-full-width", "self-declaration-anywhere", "restore-any-takedown"}))


def test_brand_full_width_misses_only_full_width_brands() -> None:
    record = cert(brand="Norvik")
    assert holder_matches("Ｎｏｒｖｉｋ", None, record)
    assert not holder_matches("Ｎｏｒｖｉｋ", None, record, brand_width=EDGE.brand_width)
    # the main path, case and spaces still fold; company names still fold full-width
    assert holder_matches("NOR vik", None, record, brand_width=EDGE.brand_width)
    assert holder_matches(None, "青岛海尔电冰箱有限公司", cert(manufacturer="青岛海尔电冰箱有限公司"), brand_width=False)


def test_self_declaration_anywhere_accepts_a_reference_on_a_certificate_product() -> None:
    submission = sub(FRIDGE, certificate_no=None, self_declaration_no="SD-2024-0001")
    assert before_query(submission, self_declaration=True, checks=Checks()).verdict.reason == Codes.NO_CERTIFICATE
    assert before_query(submission, self_declaration=True, checks=EDGE).basis is Basis.SELF_DECLARATION
    fuse = sub(FUSE, certificate_no=None, self_declaration_no="SD-2024-0001")
    assert before_query(fuse, self_declaration=True, checks=Checks()).basis is Basis.SELF_DECLARATION


def test_restore_any_takedown_restores_what_only_a_suspension_may() -> None:
    valid = TERMS.valid_status
    for reason in sorted(TERMS.status_reasons):
        conformant = event_effect(valid, Codes.TAKEN_DOWN, reason, expired_now=False, terms=TERMS, checks=Checks())
        faulty = event_effect(valid, Codes.TAKEN_DOWN, reason, expired_now=False, terms=TERMS, checks=EDGE)
        assert faulty is not None and faulty.state == Codes.ON_SALE, reason
        assert (conformant is not None and conformant.state == Codes.ON_SALE) == (reason in TERMS.restorable_reasons)
