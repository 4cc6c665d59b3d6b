"""Fault switches: each makes the platform break one requirement area while staying conformant elsewhere.

The conformance suite proves it catches each one (tests/selfcheck). A fault is as narrow as its
name: switching one on must not disturb any requirement but the ones in brackets.
"""

from __future__ import annotations

FAULTS: dict[str, str] = {
    "no-interception": "puts every listing the regulator answered about on sale, whatever the answer says (VER-03…08)",
    "ignore-suspended": "treats a SUSPENDED certificate as valid: at listing, re-verification and in events (VER-04, TKD-01)",
    "ignore-expiry-date": "skips the expiry-date check, so a VALID record past its expiryDate passes (VER-05, TKD-03)",
    "no-model-check": "skips the model-coverage check (VER-06)",
    "no-product-check": "skips the product-code check (VER-07)",
    "no-holder-check": "skips the brand / manufacturer holder check (VER-08)",
    "no-normalisation": "uses the certificate number as pasted, without normalising it (MSG-02)",
    "overblock": "intercepts listings in categories outside the catalogue (VER-09)",
    "no-reverify-on-edit": "keeps an edited listing's state without verifying it again (VER-11)",
    "no-takedown": "acknowledges status-change events but never acts on them, nor on the status changes "
                   "re-verification sees; expiry dates are still caught (TKD-01, TKD-02, TKD-06)",
    "slow-takedown": "acts on status-change events only after twice the declared takedown deadline; "
                     "re-verification does not make up for it (TKD-01, TKD-06)",
    "no-reverification": "never re-verifies listings on sale, so an expiry without an event goes unnoticed (TKD-03)",
    "collateral-takedown": "a takedown by event also takes down the merchant's other listings on sale (TKD-04)",
    "no-restore": "keeps listings taken down for a suspension off sale after it is lifted, and refuses to "
                  "re-list them on resubmission (TKD-05)",
    "ignore-order": "applies events in arrival order, so an older sequence can override a newer one (TKD-07)",
    "fail-open": "puts new listings on sale while the regulator is unavailable or answers unusably (RES-01, RES-03)",
    "takedown-on-outage": "takes a listing on sale down when re-verification meets an outage (RES-02)",
    "crash-on-bad-input": "answers 500 to a listing body that is not JSON (SEC-03)",
    "accept-unknown-status": "treats a certificate status outside the code list as valid (RES-05)",
    "no-retry-after": "ignores Retry-After on 429 and keeps calling at its usual pace (RES-04)",
    "accept-unsigned": "accepts notifications whose signature is missing or wrong (SEC-01)",
    "accept-replay": "accepts notifications with a stale timestamp or a reused nonce (SEC-02)",
    "bad-request-format": "sends X-Timestamp with a basic offset (+0800), not RFC 3339, in verification requests (MSG-01)",
    "unsigned-requests": "sends disposition reports without X-Signature, so the regulator refuses them (MSG-03, RPT-01)",
    "no-audit": "keeps no verification records (AUD-01)",
    "no-disposition-report": "reports no dispositions to the regulator (RPT-01)",
    "duplicate-disposition": "reports every disposition twice, under two dispositionIds (RPT-02)",
    "wrong-status-label": "shows the status code instead of its Chinese label in the consumer view (TERM-02)",
    "unstable-under-load": "fails 5 % of test-control requests with 503 above 50 requests/s (AVL-01)",
}

# unstable-under-load: the rate above which it starts failing requests, and the share it fails.
UNSTABLE_RATE_PER_SECOND = 50
UNSTABLE_FAILURE_SHARE = 0.05


def describe() -> str:
    """The fault list as printed by ``--list-faults``: one line per fault."""
    width = max(map(len, FAULTS))
    return "\n".join(f"{name.ljust(width)}  {text}" for name, text in FAULTS.items())


def unknown(names: list[str]) -> list[str]:
    return [n for n in names if n not in FAULTS]
