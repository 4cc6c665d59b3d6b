"""The plugin's command-line options and the typed view of them the plugin objects share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from conformance.run.selection import split
from conformance.rundir import RunDir


def addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("ccc-conformance", "CCC platform conformance suite")
    g.addoption("--ccc-target", help="base URL of the platform's test-control interface (overrides the ICS)")
    g.addoption("--ccc-ics", help="the platform's ICS (YAML)")
    g.addoption("--ccc-pixit", help="the PIXIT (YAML): platform id, secrets, simulator address")
    g.addoption("--ccc-simulator-url", help="a running simulator to use (default: start one where the PIXIT says)")
    g.addoption("--ccc-report-dir", help="write results.jsonl, evidence/ and (unless --ccc-no-report) the report here")
    g.addoption("--ccc-no-report", action="store_true", default=False,
                help="write per-test results and evidence only; the caller (ccc-conformance run) judges and renders")
    g.addoption("--ccc-only", default="", help="comma-separated requirement IDs to verify")
    g.addoption("--ccc-area", default="", help="comma-separated requirement areas to verify (VER,TKD,…)")


@dataclass(frozen=True)
class Options:
    ics: str | None
    pixit: str | None
    target: str | None
    simulator_url: str | None
    rundir: RunDir | None
    render_report: bool
    only: list[str]
    areas: list[str]

    @property
    def active(self) -> bool:
        """A conformance session: the ICS says what the platform claims."""
        return bool(self.ics)

    @classmethod
    def of(cls, config: pytest.Config) -> Options:
        report_dir = config.getoption("ccc_report_dir")
        return cls(ics=config.getoption("ccc_ics"), pixit=config.getoption("ccc_pixit"),
                   target=config.getoption("ccc_target"), simulator_url=config.getoption("ccc_simulator_url"),
                   rundir=RunDir(Path(report_dir)) if report_dir else None,
                   render_report=not config.getoption("ccc_no_report"),
                   only=[x.upper() for x in split(config.getoption("ccc_only"))],
                   areas=[x.upper() for x in split(config.getoption("ccc_area"))])
