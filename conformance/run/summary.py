"""What a run prints at the end: verdicts by area, what did not pass, and where the report is."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from conformance import specs
from conformance.report.render import baseline_note
from conformance.rundir import RunDir
from conformance.scope import PARTIAL, PARTIAL_NOTE
from conformance.verdicts import codes


def print_summary(report: dict[str, Any], rundir: RunDir, console: Console) -> None:
    s = specs.load()
    table = Table(title="Requirements by area", show_lines=False)
    table.add_column("Area")
    for code in s.codes("verdict"):
        table.add_column(code, justify="right")
    counts: dict[str, dict[str, int]] = {}
    for r in report["requirements"]:
        counts.setdefault(r["area"], {}).setdefault(r["verdict"], 0)
        counts[r["area"]][r["verdict"]] += 1
    for area in [a["code"] for a in s.areas if a["code"] in counts]:
        table.add_row(area, *[str(counts[area].get(c, "")) for c in s.codes("verdict")])
    console.print(table)
    c = codes()
    for r in report["requirements"]:
        if r["verdict"] not in (c.PASS, c.NOT_APPLICABLE):
            console.print(f"  {r['id']} {r['verdict']}: {r['reason']}", highlight=False)
    for w in report["overall"]["warnings"]:
        console.print(f"  [yellow]warning:[/yellow] {w}", highlight=False)
    colour = {0: "green", 1: "red", 2: "yellow"}.get(report["overall"]["exitCode"], "white")
    partial = (f" ({PARTIAL_NOTE}; not judged: {len(report['notJudged'])})"
               if report.get("scope") == PARTIAL else "")
    console.print(f"[bold {colour}]{report['overall']['verdict']}[/bold {colour}]{partial}{baseline_note(report)} — report: "
                  f"{rundir.report_html}",
                  highlight=False)
