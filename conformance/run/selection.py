"""What a run judges: ``--only``, ``--area`` and ``--fault``, validated once, before anything starts."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from conformance import specs
from conformance.exitcodes import UsageError


def split(values: str | Sequence[str] | None) -> list[str]:
    """Options given repeatedly and/or comma-separated, as one flat list without blanks."""
    if not values:
        return []
    items = [values] if isinstance(values, str) else list(values)
    return [x.strip() for part in items for x in str(part).split(",") if x.strip()]


@dataclass(frozen=True)
class Selection:
    """What a run sets out to judge. Whether what it *did* judge makes a conformance claim is
    ``conformance.scope``'s to say (a phase may also leave requirements unjudged)."""

    only: list[str] = field(default_factory=list)
    areas: list[str] = field(default_factory=list)
    skip_load: bool = False

    @property
    def functional(self) -> list[str]:
        """The selected requirements the functional suite judges."""
        return self.requirement_ids("functional")

    @property
    def load(self) -> list[str]:
        """The selected requirements the load phase judges (none with ``--skip-load``)."""
        return [] if self.skip_load else self.requirement_ids("load")

    def selects(self, requirement_id: str) -> bool:
        s = specs.load()
        return ((not self.only or requirement_id in self.only)
                and (not self.areas or s.requirement(requirement_id).area in self.areas))

    def requirement_ids(self, suite: str | None = None) -> list[str]:
        """The selected requirements (of one suite, ``functional`` or ``load``, when given), in profile order."""
        return [r.id for r in specs.load().requirements.values()
                if (suite is None or r.suite == suite) and self.selects(r.id)]


def resolve(only: str | Sequence[str] | None = None, areas: str | Sequence[str] | None = None, *,
            skip_load: bool = False) -> Selection:
    """Validate a selection against the profile; unknown ids or areas are a one-line usage error."""
    s = specs.load()
    only_ids = [x.upper() for x in split(only)]
    if unknown := [r for r in only_ids if r not in s.requirements]:
        raise UsageError(f"unknown requirement id {', '.join(unknown)} (see 'ccc-conformance requirements')")
    known_areas = [a["code"] for a in s.areas]
    area_codes = [a.upper() for a in split(areas)]
    if bad := [a for a in area_codes if a not in known_areas]:
        raise UsageError(f"unknown area {', '.join(bad)} (known: {', '.join(known_areas)})")
    return Selection(only=only_ids, areas=area_codes, skip_load=skip_load)


def resolve_faults(faults: str | Sequence[str] | None, *, embedded: bool) -> list[str]:
    """Fault switches of the embedded reference platform, checked against its own list before a run starts."""
    names = split(faults)
    if not names:
        return []
    if not embedded:
        raise UsageError("--fault applies to the embedded reference platform only (no --target/--ics)")
    from conformance.run.counterparts import known_faults

    known = known_faults()
    if unknown := [n for n in names if n not in known]:
        raise UsageError(f"unknown fault {', '.join(unknown)} (see 'ccc-conformance reference-platform --list-faults')")
    return names
