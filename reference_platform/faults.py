"""Fault switches: each makes the platform break one requirement while staying conformant elsewhere.

This is the one declaration of every fault: what it breaks, which requirements the conformance suite
must then FAIL, which it may only leave INCONCLUSIVE (the fault removes their precondition), and the
areas the self-check runs for it. ``--list-faults``, ``tests/selfcheck`` and the README's "what the
suite catches" table all read it. A fault is as narrow as its name: switching one on must not
disturb any requirement it does not list.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Fault:
    name: str
    does: str
    """What the platform does wrong, in one line."""
    fails: frozenset[str]
    """Requirements the suite must FAIL with this fault on."""
    areas: tuple[str, ...]
    """Requirement areas the self-check runs for this fault."""
    may_be_inconclusive: frozenset[str] = field(default_factory=frozenset)
    """Requirements the fault leaves without their precondition: INCONCLUSIVE, never FAIL."""
    phase: str = "functional"
    """Which run judges it: ``functional`` (the suite) or ``load`` (the load phase)."""


def _f(name: str, does: str, fails: set[str], areas: list[str], may_be_inconclusive: set[str] | None = None,
       phase: str = "functional") -> Fault:
    return Fault(name, does, frozenset(fails), tuple(areas), frozenset(may_be_inconclusive or ()), phase)


_ALL = [
    _f("no-interception", "puts every listing the regulator answered about on sale, whatever the answer says",
       {"VER-03", "VER-04", "VER-05", "VER-06", "VER-07", "VER-08"}, ["VER"], {"VER-11", "VER-12"}),
    _f("ignore-suspended", "treats a SUSPENDED certificate as valid: at listing, re-verification and in events",
       {"VER-04", "TKD-01", "TKD-02"}, ["VER", "TKD"]),
    _f("ignore-expiry-date", "skips the expiry-date check, so a VALID record past its expiryDate passes",
       {"VER-05", "TKD-03"}, ["VER", "TKD"]),
    _f("no-model-check", "skips the model-coverage check", {"VER-06"}, ["VER"], {"VER-11", "VER-12"}),
    _f("no-product-check", "skips the product-code check", {"VER-07"}, ["VER"]),
    _f("no-holder-check", "skips the brand / manufacturer holder check", {"VER-08"}, ["VER"], {"VER-11"}),
    _f("narrow-text-columns", "answers 500 to a new listing with a text field longer than 255 characters, "
       "which the contract allows up to 1,000", {"MSG-05"}, ["MSG"]),
    _f("no-normalisation", "uses the certificate number as pasted, without normalising it", {"MSG-02"}, ["MSG"]),
    _f("overblock", "intercepts listings in categories outside the catalogue", {"VER-09"}, ["VER"], {"VER-11"}),
    _f("no-reverify-on-edit", "keeps an edited listing's state without verifying it again", {"VER-11"}, ["VER"]),
    _f("edit-at-reverification", "leaves an edit of a listing on sale to its next periodic re-verification "
       "instead of verifying it when edited", {"VER-11"}, ["VER"]),
    _f("bad-request-format",
       "sends X-Timestamp with a basic offset (+0800), not RFC 3339, in verification requests", {"MSG-01"}, ["MSG"]),
    _f("unsigned-requests", "sends disposition reports without X-Signature, so the regulator refuses them",
       {"MSG-03", "RPT-01", "RPT-02"}, ["MSG", "RPT"], {"MSG-04"}),
    _f("no-audit", "keeps no verification records", {"AUD-01"}, ["AUD"], {"AUD-03"}),
    _f("audit-first-only", "keeps the verification record of a listing's first query only; retries, "
       "re-verifications and edits go unrecorded", {"AUD-01"}, ["AUD"]),
    _f("rewrite-records", "after a listing's second record, overwrites its newest record with each later query "
       "instead of adding one", {"AUD-01", "AUD-03"}, ["AUD"]),
    _f("wrong-status-label", "shows the status code instead of its Chinese label in the consumer view",
       {"TERM-02", "VIS-01"}, ["TERM", "VIS"]),
    _f("no-takedown", "acknowledges status-change events but never acts on them, nor on the status changes "
       "re-verification sees; expiry dates are still caught",
       {"TKD-01", "TKD-02", "TKD-06", "TKD-07"}, ["TKD"], {"TKD-04"}),
    _f("slow-takedown", "acts on status-change events only after twice the declared takedown deadline; "
       "re-verification does not make up for it", {"TKD-01", "TKD-02", "TKD-06", "TKD-07"}, ["TKD"], {"TKD-04"}),
    _f("no-reverification", "never re-verifies listings on sale, so an expiry without an event goes unnoticed",
       {"TKD-03"}, ["TKD"]),
    # Its collateral takedowns come before those listings' own events and are reported under a
    # requestId, so the event tests see takedowns their events did not cause (cause.py): they FAIL too.
    _f("collateral-takedown", "a takedown by event also takes down the merchant's other listings on sale",
       {"TKD-04", "TKD-01", "TKD-02", "TKD-06"}, ["TKD"], {"TKD-07"}),
    _f("no-restore", "keeps listings taken down for a suspension off sale after it is lifted, and refuses to "
       "re-list them on resubmission", {"TKD-05"}, ["TKD"]),
    _f("ignore-order", "applies events in arrival order, so an older sequence can override a newer one",
       {"TKD-07"}, ["TKD"]),
    _f("drop-repeat-events", "acts only on the first status-change event of each certificate; later ones are "
       "acknowledged and dropped", {"TKD-07"}, ["TKD"], {"TKD-04"}),
    _f("events-at-reverification", "acknowledges status-change events but applies them only at the "
       "certificate's next periodic re-verification, reported under that query's requestId",
       {"TKD-01", "TKD-02", "TKD-06", "TKD-07"}, ["TKD"], {"TKD-04"}),
    _f("fail-open", "puts new listings on sale while the regulator is unavailable or answers unusably",
       {"RES-01", "RES-03", "RES-05"}, ["RES"]),
    _f("takedown-on-outage", "takes a listing on sale down when re-verification meets an outage",
       {"RES-02"}, ["RES"]),
    _f("accept-unknown-status", "treats a certificate status outside the code list as valid", {"RES-05"}, ["RES"]),
    _f("ignore-unknown-status-event", "accepts a status-change event whose status is outside its code list but "
       "does nothing with it; an unknown status in a verification answer still fails closed", {"RES-05"}, ["RES"]),
    _f("no-retry-after", "ignores Retry-After on 429 and keeps calling at its usual pace", {"RES-04"}, ["RES"]),
    _f("accept-unsigned", "accepts notifications whose signature is missing or wrong", {"SEC-01"}, ["SEC"]),
    _f("accept-replay", "accepts notifications with a stale timestamp or a reused nonce", {"SEC-02"}, ["SEC"]),
    _f("crash-on-bad-input", "answers 500 to a listing body that is not JSON", {"SEC-03"}, ["SEC"]),
    _f("no-disposition-report", "reports no dispositions to the regulator", {"RPT-01", "RPT-02"}, ["RPT"]),
    _f("duplicate-disposition", "reports every disposition twice, under two dispositionIds", {"RPT-02"}, ["RPT"]),
    # Edge faults (issue 13): each breaks one variant of specs/variants.yaml and leaves the main path right.
    _f("brand-full-width", "compares brands without folding full-width forms (models and company names are "
       "normalised)", {"VER-08"}, ["VER"]),
    _f("events-touch-out-of-catalogue", "applies status-change events to out-of-catalogue listings that carry the "
       "certificate's number", {"VER-09"}, ["VER"]),
    _f("self-declaration-anywhere", "accepts a self-declaration reference in place of a certificate for any "
       "catalogue product", {"VER-10"}, ["VER"]),
    _f("reverify-expiry-off-by-one", "re-verification counts a certificate as expired on its expiry date itself "
       "(the decision at listing is right)", {"TKD-03"}, ["TKD"]),
    _f("ignore-expired-event", "ignores status-change events whose status is EXPIRED, leaving expiry to the dates",
       {"TKD-01", "TKD-02"}, ["TKD"]),
    # Its self-check runs ICS only: with the feed unpolled, a full run also fails TKD-02, and this
    # platform's push path alone may miss TKD-06's bulk deadline on a loaded machine.
    _f("push-disables-polling", "declares push and change-feed polling but, with push on, never polls the feed "
       "(a feed-only platform would poll)", {"ICS-02"}, ["ICS"]),
    _f("restore-any-takedown", "a VALID event restores listings taken down for any certificate status (revoked, "
       "cancelled, expired), not only for a suspension", {"TKD-05"}, ["TKD"]),
    # Load-phase faults misbehave only above LOAD_RATE_PER_SECOND test-control requests/s, which the
    # functional suite's tests of other areas never need; the load self-check runs them (AVL only).
    # A platform failing 5 % of requests all the time also fails them while the regulator flaps: AVL-04.
    _f("unstable-under-load", "fails every 20th test-control request (5 %) with 503 under load",
       {"AVL-01", "AVL-04"}, ["AVL"], phase="load"),
    _f("latency-spike", "delays every 10th test-control request by 1.2 s under load",
       {"AVL-02"}, ["AVL"], phase="load"),
    _f("wrong-under-load", "under load, decides on regulator answers ignoring the certificate's status",
       {"AVL-03"}, ["AVL"], phase="load"),
    _f("down-while-regulator-flaps", "answers test-control requests with 503 while its last regulator call failed",
       {"AVL-04"}, ["AVL"], phase="load"),
    _f("slow-over-time", "delays test-control requests by 25 ms more for every second under load (at most 1 s)",
       {"AVL-05"}, ["AVL"], phase="load"),
]

FAULTS: dict[str, Fault] = {f.name: f for f in _ALL}

# Load-phase faults: "under load" is above this many test-control requests in the last second (the
# quick preset sends 40/s); unstable-under-load fails one request in UNSTABLE_EVERY, latency-spike
# delays one in SPIKE_EVERY by SPIKE_SECONDS, slow-over-time adds SLOW_GROWTH_SECONDS per second.
LOAD_RATE_PER_SECOND = 20
UNSTABLE_EVERY = 20
SPIKE_EVERY = 10
SPIKE_SECONDS = 1.2
SLOW_GROWTH_SECONDS = 0.025
SLOW_MAX_SECONDS = 1.0


def describe() -> str:
    """The fault list as printed by ``--list-faults``: one line per fault, with what it must fail."""
    width = max(map(len, FAULTS))
    return "\n".join(f"{f.name.ljust(width)}  {f.does} ({', '.join(sorted(f.fails))})" for f in FAULTS.values())


def unknown(names: list[str] | frozenset[str] | set[str]) -> list[str]:
    return [n for n in names if n not in FAULTS]
