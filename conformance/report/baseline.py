"""Known-failure baselines (``run --baseline FILE``): accept listed failures until their expiry date.

A baseline never changes a verdict: the requirement stays FAIL in report.json and report.html. It
changes only the exit code, and says so: when every SHALL requirement that keeps the run from
being CONFORMANT is listed with an expiry date not yet passed, the run exits 0 and the report carries
``overall.baseline`` naming what was accepted. An expired entry accepts nothing.
"""

from __future__ import annotations

import copy
import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from conformance import specs
from conformance.report.options import OptionError
from conformance.verdicts import RequirementVerdict, codes, overall


class BaselineError(OptionError):
    """The baseline file cannot be used: one line, exit 3."""


def _plain(value: Any) -> Any:
    # YAML reads an unquoted 2027-01-31 as a date; the schema (like JSON) wants the string.
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def load_baseline(path: Path) -> dict[str, Any]:
    """The baseline document, validated against specs/schemas/baseline.schema.json."""
    try:
        doc = _plain(yaml.safe_load(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise BaselineError(f"{path}: baseline file not found") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BaselineError(f"{path}: cannot read the baseline ({' '.join(str(exc).split())})") from None
    s = specs.load()
    errors = s.errors("baseline", doc)
    if errors:
        raise BaselineError(f"{path}: not a valid baseline ({'; '.join(errors[:3])}; see specs/schemas/baseline.schema.json)")
    unknown = [e["requirement"] for e in doc["knownFailures"] if e["requirement"] not in s.requirements]
    if unknown:
        raise BaselineError(f"{path}: unknown requirement id(s) {', '.join(unknown)} (see `ccc-conformance requirements`)")
    return doc


def apply_baseline(report: dict[str, Any], baseline: dict[str, Any], *, source: str,
                   today: dt.date | None = None) -> dict[str, Any]:
    """A copy of ``report`` with ``overall.baseline`` and, when only unexpired entries fail, exit code 0."""
    c = codes()
    today = today or dt.date.today()
    out = copy.deepcopy(report)
    entries = {e["requirement"]: e for e in baseline["knownFailures"]}
    bad = {c.FAIL, c.ERROR, c.INCONCLUSIVE}
    accepted, expired, stale = [], [], []
    for r in out["requirements"]:
        entry = entries.get(r["id"])
        if entry is None:
            continue
        item = {"requirement": r["id"], "verdict": r["verdict"], "reason": entry["reason"], "expires": entry["expires"]}
        if r["verdict"] not in bad:
            stale.append(item)  # passes now: the entry can go
        elif dt.date.fromisoformat(entry["expires"]) < today:
            expired.append(item)
        else:
            accepted.append(item)
    remaining = [RequirementVerdict(id=r["id"], level=r["level"], area=r["area"], title=r["title"],
                                    verdict=r["verdict"], tests=r["tests"], reason=r["reason"])
                 for r in out["requirements"] if r["id"] not in {a["requirement"] for a in accepted}]
    without = overall(remaining)
    # Removing requirements can only improve the verdict, so this is never worse than the original.
    exit_code = without.exit_code if accepted else out["overall"]["exitCode"]
    note = []
    if accepted:
        note.append(f"baseline {source}: {len(accepted)} known failure(s) accepted until their expiry "
                    f"({', '.join(a['requirement'] for a in accepted)})")
    if expired:
        note.append(f"baseline {source}: expired entries count as failures "
                    f"({', '.join(a['requirement'] + ' expired ' + a['expires'] for a in expired)})")
    if stale:
        note.append(f"baseline {source}: entries no longer needed ({', '.join(a['requirement'] for a in stale)})")
    out["overall"]["baseline"] = {"file": source, "accepted": accepted, "expired": expired, "noLongerFailing": stale,
                                  "verdictWithoutAccepted": without.verdict, "exitCode": exit_code}
    out["overall"]["exitCode"] = exit_code
    out["overall"]["warnings"] = list(out["overall"]["warnings"]) + note
    return out
