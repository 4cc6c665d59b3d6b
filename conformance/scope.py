"""Which requirements a run judges, and whether that makes it a conformance claim (profile.md, Scope).

What a run sets out to judge is ``conformance.run.selection``'s; this module says what the requirements
it did judge amount to. CONFORMANT is a claim about the whole profile: a run is ``full`` only when every requirement was
judged — the functional suite's and the load phase's. A selection (``--only``, ``--area``) or a
skipped or incomplete load phase makes it ``partial``: its verdicts stand for what it judged, it says
"partial" wherever it states the overall verdict, and it lists what it did not judge.
"""

from __future__ import annotations

from conformance import specs

FULL, PARTIAL = "full", "partial"
PARTIAL_NOTE = "partial — not a conformance claim"


def of(judged: list[str]) -> tuple[str, list[str]]:
    """(scope, requirements not judged) for the requirement ids a run judged."""
    done = set(judged)
    missing = [rid for rid in specs.load().requirements if rid not in done]
    return (PARTIAL if missing else FULL), missing
