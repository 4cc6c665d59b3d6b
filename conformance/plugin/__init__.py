"""The pytest plugin (entry point ``pytest11``), as small objects with their state on ``self``
(after pytest's own ``junitxml``): registered once in ``pytest_configure``, each in the processes
where it has work.

- :mod:`~conformance.plugin.options` — ``--ccc-*`` options, read once into ``Options``;
- :mod:`~conformance.plugin.collection` — selection and unknown ids (every process that collects);
- :mod:`~conformance.plugin.recording` — per-test verdicts (where tests run) and the results file
  (the controller);
- :mod:`~conformance.plugin.session` — the simulator and the report when pytest is run directly;
- :mod:`~conformance.plugin.fixtures` — ``ccc``, ``sim``, ``platform``, ``notifier``, ``data``, ``measure``, ``alone``;
- markers ``requirement(*ids)``, ``variant(*ids, param=)``, ``variant_cases(argname, {case: id})``
  (parametrizes, ``pytest_generate_tests`` below), ``capability(name)``, ``exclusive``.

The plugin is inert in a pytest run that collects no test carrying the requirement marker.
"""

from __future__ import annotations

import pytest

from conformance import variants
from conformance.plugin.collection import ConformanceCollection
from conformance.plugin.fixtures import _ccc_item, _ccc_state, alone, ccc, data, measure, notifier, platform, sim
from conformance.plugin.options import Options, addoption
from conformance.plugin.recording import ResultsWriter, VerdictRecorder
from conformance.plugin.session import StandaloneSession, XdistBridge

__all__ = ["_ccc_item", "_ccc_state", "alone", "ccc", "data", "measure", "notifier", "platform", "sim"]

OPTIONS = pytest.StashKey[Options]()
RESULTS = pytest.StashKey[ResultsWriter]()


def pytest_addoption(parser: pytest.Parser) -> None:
    addoption(parser)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for mark in metafunc.definition.iter_markers(variants.CASES_MARKER):
        argname, cases = variants.cases_of(mark)
        metafunc.parametrize(argname, list(cases), ids=list(cases))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "requirement(*ids): the requirement IDs a conformance test verifies")
    config.addinivalue_line("markers", "capability(name): the ICS capability a conformance test needs")
    config.addinivalue_line("markers", "exclusive: a heavy test (bulk, load) that runs with no other test in flight")
    config.addinivalue_line("markers", "variant(*ids, param=None): the variants (specs/variants.yaml) a test covers")
    config.addinivalue_line("markers", "variant_cases(argname, cases): parametrize argname with each case of "
                                       "{case: variant ID}, each instance covering its variant")
    options = config.stash[OPTIONS] = Options.of(config)
    pm = config.pluginmanager
    pm.register(ConformanceCollection(options), "ccc-collection")
    pm.register(VerdictRecorder(options), "ccc-verdicts")
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controller keeps results and owns the session
    results = config.stash[RESULTS] = ResultsWriter(options)
    pm.register(results, "ccc-results")
    if pm.hasplugin("xdist"):
        pm.register(XdistBridge(), "ccc-xdist")
    if options.active and not options.simulator_url:
        pm.register(StandaloneSession(options, results), "ccc-session")
