"""The fixtures a conformance test reads like prose: ``ccc`` (the RunContext), ``sim`` (the regulator
simulator's control), ``platform`` (the evidence-capturing test-control client), ``notifier`` (signed
pushes to the platform), ``data`` (this test's own merchants, certificates, listings), ``measure``
(a measured value, reported with the verdict), ``alone`` (a block with the platform to itself)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from conformance import specs
from conformance.context import RunContext, load_context
from conformance.evidence import ExchangeLog, Redactor
from conformance.platform_client import Notifier, PlatformClient
from conformance.plugin.labels import allure_labels
from conformance.plugin.lock import RunLock, run_lock
from conformance.plugin.recording import requirements_of
from conformance.plugin.teststate import TEST_STATE, TestState
from conformance.simulator.control import SimulatorControl
from conformance.testdata import DataFactory
from conformance.verdicts import NotApplicable


@pytest.fixture(scope="session")
def ccc(pytestconfig: pytest.Config) -> RunContext:
    """The run's context: ICS, PIXIT, target URL, simulator URL."""
    cfg = pytestconfig
    sim_url = cfg.getoption("ccc_simulator_url") or getattr(cfg, "workerinput", {}).get("ccc_simulator_url")
    return load_context(cfg.getoption("ccc_ics"), cfg.getoption("ccc_pixit"), cfg.getoption("ccc_target"),
                        simulator_url=sim_url)


@pytest.fixture(scope="session")
def sim(ccc: RunContext, pytestconfig: pytest.Config) -> SimulatorControl:
    """The regulator simulator's control (HTTP client to the one simulator the platform calls)."""
    from conformance.simulator.client import SimulatorClient

    if not ccc.simulator_url:
        raise RuntimeError("no simulator URL: the plugin starts one unless --ccc-simulator-url is given")
    client = SimulatorClient(ccc.simulator_url)
    # Closed when pytest unconfigures, not at session teardown: the last test's evidence (written
    # when its teardown report is made, after session fixtures end) still reads the simulator.
    pytestconfig.add_cleanup(client.close)
    return client


@pytest.fixture
def _ccc_state(request: pytest.FixtureRequest, ccc: RunContext) -> TestState:
    state = TestState(ExchangeLog(Redactor(ccc.secrets())))
    request.node.stash[TEST_STATE] = state
    return state


@pytest.fixture
def platform(ccc: RunContext, _ccc_state: TestState) -> Iterator[PlatformClient]:
    """The platform's test-control interface; every exchange is evidence."""
    client = PlatformClient(ccc.target, _ccc_state.log, bearer_token=ccc.bearer_token)
    yield client
    client.close()


@pytest.fixture
def notifier(ccc: RunContext, _ccc_state: TestState) -> Iterator[Notifier]:
    """Sends events to the platform's notification URL, signed as the regulator (or deliberately not)."""
    if not ccc.notification_url:
        raise NotApplicable("the ICS declares no notification URL")
    n = Notifier(ccc.notification_url, ccc.platform_secret, _ccc_state.log, ccc.signature_alg)
    yield n
    n.close()


@pytest.fixture
def data(ccc: RunContext, sim: SimulatorControl, _ccc_state: TestState) -> DataFactory:
    """Fresh merchants, certificates and listings for this test only."""
    _ccc_state.data = DataFactory(ccc, sim)
    return _ccc_state.data


@pytest.fixture
def measure(_ccc_state: TestState) -> Callable[..., None]:
    """measure(name, value, unit=None, limit=None): a measured value, reported with the verdict."""
    return _ccc_state.measure


@pytest.fixture(autouse=True)
def _ccc_item(request: pytest.FixtureRequest) -> Iterator[None]:
    """For conformance tests: NOT_APPLICABLE when the ICS does not claim what the test needs, allure
    labels, and the run lock (shared, or alone for an ``exclusive`` test)."""
    item = request.node
    rids = requirements_of(item)
    if not rids:
        yield
        return
    ctx: RunContext = request.getfixturevalue("ccc")
    request.getfixturevalue("_ccc_state")
    allure_labels(rids)
    for m in item.iter_markers("capability"):
        for cap in m.args:
            if not ctx.claims(cap):
                raise NotApplicable(f"the ICS does not claim {cap}")
    s = specs.load()
    caps = [s.requirement(r).capability for r in rids]
    if all(caps) and not any(ctx.claims(c) for c in caps if c):
        raise NotApplicable(f"the ICS does not claim {', '.join(sorted({c for c in caps if c}))}")
    with run_lock(ctx.simulator_url or ctx.target, exclusive=item.get_closest_marker("exclusive") is not None) as held:
        item.stash[_RUN_LOCK] = held
        yield


_RUN_LOCK = pytest.StashKey[RunLock]()


@pytest.fixture
def alone(request: pytest.FixtureRequest) -> Callable[[], contextlib.AbstractContextManager[None]]:
    """``with alone():`` — no other test runs on the platform inside the block (a bulk set-up and what it
    measures); the rest of the test shares the platform. Narrower than marking the whole test ``exclusive``."""
    if _RUN_LOCK not in request.node.stash:
        raise RuntimeError("`alone` is for conformance tests (a requirement marker)")
    return request.node.stash[_RUN_LOCK].alone


