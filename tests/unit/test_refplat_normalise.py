"""Normalisation of pasted certificate numbers and names (profile.md Clarifications: Normalisation)."""

from __future__ import annotations

import pytest

from reference_platform.normalise import NumberCheck, certificate_number, compact, is_blank, name_key, names_match

NUMBER = "2021010701123456"


@pytest.mark.parametrize("pasted", [
    NUMBER,
    f"  {NUMBER}  ",
    "2021 0107 0112 3456",
    "2021-0107-0112-3456",
    "2021—0107–0112‐3456",                 # em dash, en dash, hyphen
    "２０２１０１０７０１１２３４５６",        # full-width digits
    "２０２１　０１０７　０１１２　３４５６",    # ideographic spaces
    "2021\t0107\n0112\u00a03456",           # tab, newline, no-break space
    "2021－0107－0112－3456",               # full-width hyphen-minus
    "2021\u22120107\u00ad01123456",         # minus sign, soft hyphen
])
def test_pasted_numbers_normalise_to_16_digits(pasted: str) -> None:
    assert certificate_number(pasted) == (NumberCheck.VALID, NUMBER)


@pytest.mark.parametrize("pasted", [
    f"https://cx.cnca.cn/certificate?no={NUMBER}",
    f"www.example.com/{NUMBER}",
    NUMBER[:-1],                            # 15 digits
    NUMBER + "7",                           # 17 digits
    "CCC" + NUMBER,
    "٢٠٢١٠١٠٧٠١١٢٣٤٥٦",                    # Arabic-Indic digits are not ASCII digits
    "2021.0107.0112.3456",
    "--",
])
def test_other_numbers_are_invalid(pasted: str) -> None:
    assert certificate_number(pasted) == (NumberCheck.INVALID, None)


@pytest.mark.parametrize("pasted", [None, "", "   ", "\u3000\u3000", "\t\n"])
def test_blank_numbers_are_missing(pasted: str | None) -> None:
    assert certificate_number(pasted) == (NumberCheck.MISSING, None)


def test_without_normalisation_only_the_exact_form_passes() -> None:
    # The no-normalisation fault.
    assert certificate_number(NUMBER, normalise=False) == (NumberCheck.VALID, NUMBER)
    assert certificate_number("2021 0107 0112 3456", normalise=False)[0] is NumberCheck.INVALID


@pytest.mark.parametrize(("listing", "certificate"), [
    ("BCD-215WDPV", "bcd215wdpv"),
    ("ＢＣＤ－２１５", "BCD-215"),
    ("KFR 35GW/(35556)", "KFR-35GW/(35556)"),
    ("Haier", "HAIER"),
    ("海尔　Haier", "海尔haier"),
    ("Straße", "STRASSE"),                  # case-folding, not just lower-casing
])
def test_names_match_ignoring_case_width_spaces_and_dashes(listing: str, certificate: str) -> None:
    assert names_match(listing, certificate)


@pytest.mark.parametrize(("listing", "certificate"), [
    ("BCD-215", "BCD-216"),
    ("", ""),                               # an empty value never matches
    (None, "BCD-215"),
    ("   ", "   "),
    ("BCD-215", None),
])
def test_names_that_do_not_match(listing: str | None, certificate: str | None) -> None:
    assert not names_match(listing, certificate)


def test_helpers() -> None:
    assert compact("Ａ Ｂ-Ｃ") == "ABC"
    assert name_key(None) == ""
    assert is_blank("\u3000") and not is_blank(" x ")
