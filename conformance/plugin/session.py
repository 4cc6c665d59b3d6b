"""When pytest is run directly (``pytest --pyargs conformance.suite --ccc-ics …``) rather than by
``ccc-conformance run``: start the simulator where the PIXIT says and, at the end, judge and render
the report — through the same functions the runner uses (``conformance.run``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from conformance.context import load_context
from conformance.plugin.options import Options
from conformance.plugin.recording import ResultsWriter
from conformance.run.selection import Selection


class StandaloneSession:
    """Registered in the controller when no simulator URL was given."""

    def __init__(self, options: Options, results: ResultsWriter) -> None:
        self.options = options
        self.results = results
        self.server: Any = None
        self.started = datetime.now(UTC)

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        # Imported here, not at the top: only a session run by pytest directly needs them, and every
        # process of `ccc-conformance run` imports this module.
        from conformance.run import counterparts

        ctx = load_context(self.options.ics, self.options.pixit, self.options.target)  # type: ignore[arg-type]
        self.server = counterparts.start_simulator(ctx)
        # Workers read it from here (XdistBridge) and the session fixtures from the option.
        session.config.option.ccc_simulator_url = self.server.url

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.server is None:
            return
        from conformance.run.conclude import conclude, export_captures

        rundir = self.options.rundir
        try:
            if rundir is not None and self.options.render_report and self.results.results:
                warnings = [w for w in [export_captures(self.server.simulator, rundir)] if w]
                ctx = load_context(self.options.ics, self.options.pixit, self.options.target)  # type: ignore[arg-type]
                conclude(rundir, ctx, Selection(self.options.only, self.options.areas), started=self.started,
                         warnings=warnings)
        finally:
            self.server.stop()


class XdistBridge:
    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        # Workers drive the controller's simulator over HTTP; tell them where it is.
        node.workerinput["ccc_simulator_url"] = node.config.getoption("ccc_simulator_url")
