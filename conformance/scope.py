"""Which requirements a run judges, and whether that makes it a conformance claim (profile.md, Scope).

CONFORMANT is a claim about the whole profile: a run is ``full`` only when every requirement was
judged — the functional suite's and the load phase's. A selection (``--only``, ``--area``) or a
skipped or incomplete load phase makes it ``partial``: its verdicts stand for what it judged, it says
"partial" wherever it states the overall verdict, and it lists what it did not judge.
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance import specs

FULL, PARTIAL = "full", "partial"
PARTIAL_NOTE = "partial — not a conformance claim"


@dataclass(frozen=True)
class Selection:
    """What a run sets out to judge: the functional suite's requirements and the load phase's."""

    functional: list[str]
    load: list[str]


def select(only: list[str], areas: list[str], *, skip_load: bool = False) -> Selection:
    s = specs.load()
    wanted = {a.upper() for a in areas}

    def chosen(rid: str) -> bool:
        return (not only or rid in only) and (not wanted or s.requirement(rid).area in wanted)

    functional = [r.id for r in s.requirements.values() if r.suite == "functional" and chosen(r.id)]
    load = [] if skip_load else [r.id for r in s.requirements.values() if r.suite == "load" and chosen(r.id)]
    return Selection(functional=functional, load=load)


def of(judged: list[str]) -> tuple[str, list[str]]:
    """(scope, requirements not judged) for the requirement ids a run judged."""
    done = set(judged)
    missing = [rid for rid in specs.load().requirements if rid not in done]
    return (PARTIAL if missing else FULL), missing
