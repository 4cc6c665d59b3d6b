"""Normalisation of what merchants type (profile.md §2 Rules, Clarifications: Normalisation and matching).

Merchants paste certificate numbers with spaces, hyphens, full-width digits (２０２１…) or whole URLs,
and type models and brands in any case or width. Before any comparison the platform maps full-width
forms U+FF01–FF5E to ASCII and U+3000 to a space, drops every whitespace and hyphen/dash character,
and (for names) case-folds. Only ASCII digits count as digits.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from enum import Enum

_FULL_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}

# Every whitespace character Python knows, every Unicode dash (category Pd, which includes the
# hyphen-minus), the minus sign and the soft hyphen: all of them appear in pasted numbers. All of
# them lie in the first two planes, so the scan stops there (a full scan costs half a second).
_SCANNED_PLANES = 0x20000
_DROPPED = "".join(
    ch for ch in map(chr, range(_SCANNED_PLANES))
    if ch.isspace() or unicodedata.category(ch) == "Pd"
) + "\u2212\u00ad"
_DROP = dict.fromkeys(map(ord, _DROPPED))

_SIXTEEN_ASCII_DIGITS = re.compile(r"[0-9]{16}", re.ASCII)


def fold_width(text: str) -> str:
    """Full-width ASCII forms to ASCII and the ideographic space to a space."""
    return text.translate(_FULL_WIDTH)


def compact(text: str) -> str:
    """Width-folded, with all whitespace and dashes dropped (no case change)."""
    return fold_width(text).translate(_DROP)


@functools.lru_cache(maxsize=8192)
def name_key(text: str | None) -> str:
    """The form names (model, brand, applicant, manufacturer, factory) are compared in.

    Empty for None or a blank value; callers must treat an empty key as matching nothing. Cached:
    re-verification compares the same certificate's models for every listing on it, all day.
    """
    if not text:
        return ""
    return compact(text).casefold()


def names_match(listing_value: str | None, certificate_value: str | None, *, fold_width: bool = True) -> bool:
    """``fold_width=False`` (a fault switch) compares without full-width folding, all else the same."""
    if not fold_width:
        def key_of(text: str | None) -> str:
            return text.translate(_DROP).casefold() if text else ""

        bare = key_of(listing_value)
        return bool(bare) and bare == key_of(certificate_value)
    key = name_key(listing_value)
    return bool(key) and key == name_key(certificate_value)


def is_blank(text: str | None) -> bool:
    return text is None or not fold_width(text).strip()


class NumberCheck(Enum):
    """What a submitted certificate number turns out to be before any query."""

    MISSING = "missing"   # none, or blank: NO_CERTIFICATE
    INVALID = "invalid"   # not 16 ASCII digits after normalisation (a pasted URL too): INVALID_CERTIFICATE_NO
    VALID = "valid"


def certificate_number(raw: str | None, *, normalise: bool = True) -> tuple[NumberCheck, str | None]:
    """Classify a pasted number and give its normalised 16-digit form when it has one.

    ``normalise=False`` is the ``no-normalisation`` fault: the number is taken exactly as pasted.
    """
    if is_blank(raw):
        return NumberCheck.MISSING, None
    assert raw is not None
    candidate = compact(raw) if normalise else raw
    if _SIXTEEN_ASCII_DIGITS.fullmatch(candidate):
        return NumberCheck.VALID, candidate
    return NumberCheck.INVALID, None
