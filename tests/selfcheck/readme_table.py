"""The README's "what the suite catches" table, made from reference_platform/faults.py (via catches.py).

`python -m tests.selfcheck.readme_table --write` refreshes README.md; tests/unit/test_readme_catches.py
fails when the two disagree.
"""

from __future__ import annotations

import sys
from pathlib import Path

from reference_platform.faults import FAULTS
from tests.selfcheck.catches import CATCHES

README = Path(__file__).resolve().parents[2] / "README.md"
BEGIN, END = "<!-- what-the-suite-catches -->", "<!-- /what-the-suite-catches -->"


def table() -> str:
    lines = [
        "## What the suite catches",
        "",
        "Each fault switch of the reference platform breaks one behaviour; `tests/selfcheck` runs the",
        "suite against each (only the areas listed) and requires the requirements in the third column to",
        "FAIL, every other SHALL requirement of those areas to PASS — except those in the last column, which",
        "the fault leaves without their precondition and which may only be INCONCLUSIVE, never FAIL. The",
        "clean platform must be CONFORMANT with no FAIL, ERROR or INCONCLUSIVE. Try one:",
        "`ccc-conformance run --fault no-takedown --area TKD`.",
        "",
        "| fault | what the platform does wrong | must FAIL | may be INCONCLUSIVE | areas run |",
        "|---|---|---|---|---|",
    ]
    for fault in sorted(CATCHES):
        areas, breaks, unsettled = CATCHES[fault]
        lines.append(f"| `{fault}` | {FAULTS[fault].does} | {', '.join(sorted(breaks))} | "
                     f"{', '.join(sorted(unsettled)) or '—'} | {', '.join(areas)} |")
    load = sorted(f.name for f in FAULTS.values() if f.phase == "load")
    if load:
        lines += ["", "Load-phase faults misbehave only under load; `tests/selfcheck/test_load_selfcheck.py` runs",
                  "the load phase alone (quick preset) against each and requires exactly these AVL requirements to",
                  "FAIL, the other AVL requirements to PASS. Try one: `ccc-conformance load --quick --fault latency-spike`.",
                  "", "| load fault | what the platform does wrong | must FAIL |", "|---|---|---|"]
        lines += [f"| `{name}` | {FAULTS[name].does} | {', '.join(sorted(FAULTS[name].fails))} |" for name in load]
    return "\n".join(lines)


def render(readme: str) -> str:
    start, end = readme.index(BEGIN), readme.index(END) + len(END) if END in readme else None
    block = f"{BEGIN}\n{table()}\n{END}"
    if end is None:
        return readme[:start] + block + readme[start + len(BEGIN):]
    return readme[:start] + block + readme[end:]


if __name__ == "__main__":
    text = README.read_text(encoding="utf-8")
    new = render(text)
    if "--write" in sys.argv:
        README.write_text(new, encoding="utf-8")
    print("README.md", "updated" if new != text else "up to date")
