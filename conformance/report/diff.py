"""``ccc-conformance diff RUN_A RUN_B``: what changed between two runs, regressions first.

A regression is a requirement both runs judged whose verdict got worse from A to B, in
terminology.yaml's verdict order (worst last). A requirement only one run judged is listed as added or
removed, never as a regression: narrowing a run's scope is not a change in the platform.
Measurements are compared by name per requirement: A's and B's value (or median of many) side by side.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.report.options import OptionError
from conformance.verdicts import codes

REGRESSION, IMPROVEMENT, ADDED, REMOVED, SAME = "regression", "improvement", "added", "removed", "unchanged"
_ORDER = [REGRESSION, IMPROVEMENT, REMOVED, ADDED, SAME]


class DiffError(OptionError):
    """A run folder or report.json that cannot be read: one line, exit 3."""


def load_report(path: Path) -> dict[str, Any]:
    """report.json of a run folder (or the file itself)."""
    file = path / "report.json" if path.is_dir() else path
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise DiffError(f"{file}: not found (give a run folder holding report.json)") from None
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise DiffError(f"{file}: not a readable report.json ({exc})") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("requirements"), list):
        raise DiffError(f"{file}: not a ccc-conformance report.json (no requirements list)")
    return doc


def _summary(measurements: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    groups: dict[str, list[dict[str, Any]]] = {}
    for m in measurements or []:
        groups.setdefault(m["name"], []).append(m)
    for name, items in groups.items():
        values = [m["value"] for m in items]
        numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in values)
        value = (statistics.median(values) if numeric and len(values) > 1 else values[0]) if values else None
        out[name] = {"value": value, "n": len(values), "unit": items[0].get("unit", ""), "limit": items[0].get("limit")}
    return out


@dataclass
class Change:
    requirement: str
    level: str
    kind: str
    before: str | None
    after: str | None
    reason: str = ""
    measurements: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Diff:
    a: dict[str, Any]
    b: dict[str, Any]
    changes: list[Change]

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.kind == REGRESSION]

    def as_json(self) -> dict[str, Any]:
        return {
            "a": {"runId": self.a.get("runId"), "verdict": self.a.get("overall", {}).get("verdict")},
            "b": {"runId": self.b.get("runId"), "verdict": self.b.get("overall", {}).get("verdict")},
            "regressions": len(self.regressions),
            "changes": [c.__dict__ for c in self.changes],
        }


def diff_reports(a: dict[str, Any], b: dict[str, Any]) -> Diff:
    order = codes().order
    ra = {r["id"]: r for r in a["requirements"]}
    rb = {r["id"]: r for r in b["requirements"]}
    changes = []
    for rid in sorted(ra.keys() | rb.keys()):
        x, y = ra.get(rid), rb.get(rid)
        before, after = (x or {}).get("verdict"), (y or {}).get("verdict")
        if x is None:
            kind = ADDED
        elif y is None:
            kind = REMOVED
        elif order.index(after) > order.index(before):
            kind = REGRESSION
        elif order.index(after) < order.index(before):
            kind = IMPROVEMENT
        else:
            kind = SAME
        ma, mb = _summary((x or {}).get("measurements") or []), _summary((y or {}).get("measurements") or [])
        side = [{"name": n, "a": ma.get(n, {}).get("value"), "b": mb.get(n, {}).get("value"),
                 "unit": (ma.get(n) or mb.get(n) or {}).get("unit", ""),
                 "limit": (mb.get(n) or ma.get(n) or {}).get("limit")} for n in sorted(ma.keys() | mb.keys())]
        changes.append(Change(requirement=rid, level=(y or x or {}).get("level", ""), kind=kind, before=before,
                              after=after, reason=(y or {}).get("reason", "") if kind == REGRESSION else "",
                              measurements=side))
    changes.sort(key=lambda c: (_ORDER.index(c.kind), c.requirement))
    return Diff(a=a, b=b, changes=changes)


def _fmt(v: Any) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.3f}".rstrip("0").rstrip(".")
    return str(v)


def _rows(d: Diff, all_rows: bool) -> list[Change]:
    return [c for c in d.changes if all_rows or c.kind != SAME]


def render_markdown(d: Diff, all_rows: bool = False) -> str:
    a, b = d.a, d.b
    lines = [f"### ccc-conformance diff: `{a.get('runId')}` → `{b.get('runId')}`", "",
             f"Overall: **{a['overall']['verdict']}** → **{b['overall']['verdict']}** · "
             f"{len(d.regressions)} regression(s)", ""]
    rows = _rows(d, all_rows)
    if rows:
        lines += ["| requirement | level | change | A | B | measurements (A → B) |", "|---|---|---|---|---|---|"]
        for c in rows:
            ms = "; ".join(f"{m['name']} {_fmt(m['a'])} → {_fmt(m['b'])}{(' ' + m['unit']) if m['unit'] else ''}"
                           + (f" (limit {_fmt(m['limit'])})" if m["limit"] not in (None, "") else "")
                           for m in c.measurements if m["a"] != m["b"] or c.kind != SAME)
            lines.append(f"| {c.requirement} | {c.level} | {'**' + c.kind + '**' if c.kind == REGRESSION else c.kind} "
                         f"| {c.before or '—'} | {c.after or '—'} | {ms.replace('|', '/')} |")
    else:
        lines.append("No requirement verdict changed.")
    return "\n".join(lines) + "\n"


def render_table(d: Diff, all_rows: bool = False) -> str:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{d.a.get('runId')} ({d.a['overall']['verdict']}) → {d.b.get('runId')} ({d.b['overall']['verdict']})")
    for col in ("requirement", "level", "change", "A", "B", "measurements (A → B)"):
        table.add_column(col, overflow="fold")
    for c in _rows(d, all_rows):
        ms = "\n".join(f"{m['name']} {_fmt(m['a'])} → {_fmt(m['b'])}{(' ' + m['unit']) if m['unit'] else ''}"
                       + (f" (limit {_fmt(m['limit'])})" if m["limit"] not in (None, "") else "")
                       for m in c.measurements)
        style = "bold red" if c.kind == REGRESSION else ("green" if c.kind == IMPROVEMENT else "")
        table.add_row(c.requirement, c.level, c.kind, c.before or "—", c.after or "—", ms, style=style)
    console = Console(width=160, record=True)
    with console.capture() as cap:
        console.print(table)
        console.print(f"{len(d.regressions)} regression(s)"
                      + ("" if _rows(d, all_rows) else "; no requirement verdict changed"))
    return cap.get()
