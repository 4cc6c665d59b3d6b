"""TERM-03 by static review: the ICS's category mapping uses product codes of the CCC catalogue.

The judgement claims no more than ``specs/catalogue.yaml`` knows (profile.md Clarifications:
Catalogue codes). A mapped code FAILs only when it cannot be right:

- it is not a 4-digit product code at all (common.schema.json ``productCode``), or a YAML number;
- it is the code of a product removed from the catalogue (``removed``);
- its first two digits name no group of the catalogue's numbering (``groups``, when the file says
  that list is complete);
- the catalogue is the whole official list (``complete: true``) and does not hold it.

A well-formed code in an existing group that an incomplete catalogue does not hold is not evidence
of a wrong mapping: it is a finding, and TERM-03 is INCONCLUSIVE unless something else FAILs.
Installing the official list (a copy of specs/ with ``complete: true``, see the README) turns those
findings into verdicts without a code change.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from conformance.specs import Specs


@dataclass(frozen=True)
class MappingReview:
    """What the review found: failures (each one line), and codes it could not judge."""

    failures: list[str] = field(default_factory=list)
    unjudged: list[str] = field(default_factory=list)


def review_mapping(s: Specs, mapping: list[Any]) -> MappingReview:
    """Review every ``categoryMapping`` entry of an ICS against the catalogue of ``s``."""
    out = MappingReview()
    for i, entry in enumerate(mapping):
        if not isinstance(entry, dict) or entry.get("productCode") is None:
            continue  # null: a category outside the catalogue, which needs nothing
        failure, unjudged = _judge_code(s, f"/categoryMapping/{i}", entry)
        if failure:
            out.failures.append(failure)
        if unjudged:
            out.unjudged.append(unjudged)
    return out


def _judge_code(s: Specs, where: str, entry: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """(failure, unjudged finding) for one mapped entry; at most one of them is set."""
    code = entry["productCode"]
    at = f"{where}/productCode"
    if isinstance(code, int) and not isinstance(code, bool):
        # YAML reads 0701 unquoted as an (octal) number, so the code is lost; say how to fix it.
        return (f"{at}: {code!r} is a number; write product codes as quoted strings, e.g. \"0701\"", None)
    if not s.matches_common("productCode", code):
        return (f"{at}: {code!r} is not a 4-digit CCC product code", None)
    product = s.catalogue.get(code)
    if product is not None:
        scheme = entry.get("scheme")
        if isinstance(scheme, str) and scheme != product.scheme:
            return (f"{where}/scheme: {scheme!r}, but the catalogue gives {code} ({product.name_zh}) the scheme "
                    f"{product.scheme!r}", None)
        return (None, None)
    removed = s.removed_product(code)
    if removed is not None:
        return (f"{at}: {code!r} was {removed.name_zh} ({removed.name_en}), removed from the CCC catalogue by "
                f"{removed.removed_by}", None)
    group = code[:2]
    if s.catalogue_groups_complete and group not in s.catalogue_groups:
        return (f"{at}: {code!r} has no catalogue group {group} (the product-code groups are "
                f"{', '.join(sorted(s.catalogue_groups))})", None)
    revision = s.catalogue_revision or "?"
    if s.catalogue_complete:
        return (f"{at}: {code!r} is not a product code of the CCC catalogue (revision {revision})", None)
    return (None, f"{at}: code {code} is not in the suite's catalogue revision {revision}; check it against the "
                  f"official list")
