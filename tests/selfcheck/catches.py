"""What the suite catches: each reference-platform fault switch → the areas to run, the requirements
that must FAIL there, and the requirements the fault may leave INCONCLUSIVE because it removes their
precondition (e.g. no listing is ever intercepted, so "resubmitting an intercepted listing" cannot be
set up). Every other SHALL requirement of those areas must still PASS: no collateral verdicts.

The README's table "what the suite catches" is generated from this mapping
(tests/unit/test_readme_catches.py keeps them equal).
"""

from __future__ import annotations

# fault: (areas to run, requirements that FAIL, requirements that may be INCONCLUSIVE)
CATCHES: dict[str, tuple[list[str], set[str], set[str]]] = {
    "no-interception": (["VER"], {"VER-03", "VER-04", "VER-05", "VER-06", "VER-07", "VER-08"}, {"VER-11", "VER-12"}),
    "ignore-suspended": (["VER", "TKD"], {"VER-04", "TKD-01", "TKD-02"}, set()),
    "ignore-expiry-date": (["VER", "TKD"], {"VER-05", "TKD-03"}, set()),
    "no-model-check": (["VER"], {"VER-06"}, {"VER-11", "VER-12"}),
    "no-product-check": (["VER"], {"VER-07"}, set()),
    "no-holder-check": (["VER"], {"VER-08"}, set()),
    "no-normalisation": (["MSG"], {"MSG-02"}, set()),
    "overblock": (["VER"], {"VER-09"}, {"VER-11"}),
    "no-reverify-on-edit": (["VER"], {"VER-11"}, set()),
    "bad-request-format": (["MSG"], {"MSG-01"}, set()),
    "unsigned-requests": (["MSG", "RPT"], {"MSG-03", "RPT-01", "RPT-02"}, {"MSG-04"}),
    "no-audit": (["AUD"], {"AUD-01"}, {"AUD-03"}),
    "wrong-status-label": (["TERM", "VIS"], {"TERM-02", "VIS-01"}, set()),
    "no-takedown": (["TKD"], {"TKD-01", "TKD-02", "TKD-06", "TKD-07"}, {"TKD-04"}),
    "slow-takedown": (["TKD"], {"TKD-01", "TKD-02", "TKD-06", "TKD-07"}, {"TKD-04"}),
    "no-reverification": (["TKD"], {"TKD-03"}, set()),
    "collateral-takedown": (["TKD"], {"TKD-04"}, set()),
    "no-restore": (["TKD"], {"TKD-05"}, set()),
    "ignore-order": (["TKD"], {"TKD-07"}, set()),
    "fail-open": (["RES"], {"RES-01", "RES-03", "RES-05"}, set()),
    "takedown-on-outage": (["RES"], {"RES-02"}, set()),
    "accept-unknown-status": (["RES"], {"RES-05"}, set()),
    "no-retry-after": (["RES"], {"RES-04"}, set()),
    "accept-unsigned": (["SEC"], {"SEC-01"}, set()),
    "accept-replay": (["SEC"], {"SEC-02"}, set()),
    "crash-on-bad-input": (["SEC"], {"SEC-03"}, set()),
    "no-disposition-report": (["RPT"], {"RPT-01", "RPT-02"}, set()),
    "duplicate-disposition": (["RPT"], {"RPT-02"}, set()),
}
