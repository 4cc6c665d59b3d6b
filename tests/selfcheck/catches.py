"""What the suite catches: each reference-platform fault switch → the areas to run, and the
requirements that must FAIL there. Every other SHALL requirement of those areas must still pass.

The README's table "what the suite catches" is this mapping (tests/unit/test_readme.py keeps them equal).
"""

from __future__ import annotations

CATCHES: dict[str, tuple[list[str], set[str]]] = {
    "no-interception": (["VER"], {"VER-03", "VER-04", "VER-05", "VER-06", "VER-07", "VER-08"}),
    "ignore-suspended": (["VER", "TKD"], {"VER-04", "TKD-01"}),
    "ignore-expiry-date": (["VER", "TKD"], {"VER-05", "TKD-03"}),
    "no-model-check": (["VER"], {"VER-06"}),
    "no-product-check": (["VER"], {"VER-07"}),
    "no-holder-check": (["VER"], {"VER-08"}),
    "no-normalisation": (["MSG"], {"MSG-02"}),
    "overblock": (["VER"], {"VER-09"}),
    "no-reverify-on-edit": (["VER"], {"VER-11"}),
    "no-takedown": (["TKD"], {"TKD-01", "TKD-02", "TKD-06"}),
    "slow-takedown": (["TKD"], {"TKD-01", "TKD-06"}),
    "no-reverification": (["TKD"], {"TKD-03"}),
    "collateral-takedown": (["TKD"], {"TKD-04"}),
    "no-restore": (["TKD"], {"TKD-05"}),
    "ignore-order": (["TKD"], {"TKD-07"}),
    "fail-open": (["RES"], {"RES-01", "RES-03"}),
    "accept-unknown-status": (["RES"], {"RES-05"}),
    "no-retry-after": (["RES"], {"RES-04"}),
    "accept-unsigned": (["SEC"], {"SEC-01"}),
    "accept-replay": (["SEC"], {"SEC-02"}),
    "bad-request-format": (["MSG"], {"MSG-01"}),
    "unsigned-requests": (["MSG"], {"MSG-03"}),
    "no-audit": (["AUD"], {"AUD-01"}),
    "no-disposition-report": (["RPT"], {"RPT-01"}),
    "duplicate-disposition": (["RPT"], {"RPT-02"}),
    "wrong-status-label": (["TERM", "VIS"], {"TERM-02"}),
}
