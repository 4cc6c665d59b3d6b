"""The pytest plugin (entry point ``pytest11``): options, fixtures, the requirement marker, verdicts.

Declared here, in one module, as pytest declares its hooks in one place:

- options ``--ccc-target``, ``--ccc-ics``, ``--ccc-pixit``, ``--ccc-simulator-url``,
  ``--ccc-report-dir``, ``--ccc-only``, ``--ccc-area``;
- markers ``requirement(*ids)`` (what a test verifies) and ``capability(name)`` (what it needs);
- fixtures ``ccc`` (the RunContext), ``sim`` (the regulator simulator's control), ``platform``
  (the evidence-capturing test-control client), ``notifier`` (signed pushes to the platform),
  ``data`` (per-test merchants, certificates, listings), ``measure`` (record a measured value);
- per-test verdicts (PASS / FAIL / INCONCLUSIVE / NOT_APPLICABLE / ERROR) attached to each report,
  so they travel from pytest-xdist workers to the controller, which writes ``results.jsonl`` and,
  at the end, ``report.json``.

The plugin is inert in a pytest run that collects no test carrying the requirement marker.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from _pytest.outcomes import Skipped

from conformance import specs
from conformance.context import RunContext, load_context
from conformance.evidence import ExchangeLog, Redactor, write_evidence
from conformance.platform_client import Notifier, PlatformClient, WaitClock
from conformance.testdata import DataFactory
from conformance.variants import of_item as variant_ids_of
from conformance.verdicts import Inconclusive, NotApplicable, TestResult, codes, worst

RESULT_ATTR = "ccc_result"
_STATE = pytest.StashKey[dict[str, Any]]()
_SEVERITY = {"SHALL": "critical", "SHOULD": "normal", "MAY": "minor"}  # allure severities by level


# -- options and markers ---------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("ccc-conformance", "CCC platform conformance suite")
    g.addoption("--ccc-target", help="base URL of the platform's test-control interface (overrides the ICS)")
    g.addoption("--ccc-ics", help="the platform's ICS (YAML)")
    g.addoption("--ccc-pixit", help="the PIXIT (YAML): platform id, secrets, simulator address")
    g.addoption("--ccc-simulator-url", help="a running simulator to use (default: start one in-process)")
    g.addoption("--ccc-report-dir", help="write results.jsonl, evidence/ and report.json here")
    g.addoption("--ccc-only", default="", help="comma-separated requirement IDs to verify")
    g.addoption("--ccc-area", default="", help="comma-separated requirement areas to verify (VER,TKD,…)")


# pytest_runtest_logreport gets no config; the plugin module serves one session per process.
_CONFIG: dict[str, pytest.Config] = {}


def pytest_configure(config: pytest.Config) -> None:
    _CONFIG["config"] = config
    config.addinivalue_line("markers", "requirement(*ids): the requirement IDs a conformance test verifies")
    config.addinivalue_line("markers", "capability(name): the ICS capability a conformance test needs")
    config.addinivalue_line("markers", "variant(*ids, param=None): the variants (specs/variants.yaml) a test covers")
    config.addinivalue_line("markers", "exclusive: a heavy test (bulk, load) that runs with no other test in flight")
    config.stash[_STATE] = {"results": {}, "phases": {}, "server": None, "started": datetime.now(UTC)}
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(), "ccc-xdist")


class _XdistHooks:
    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node: Any) -> None:
        # Workers drive the controller's simulator over HTTP; tell them where it is.
        node.workerinput["ccc_simulator_url"] = node.config.getoption("ccc_simulator_url")


def _is_worker(config: pytest.Config) -> bool:
    return hasattr(config, "workerinput")


def _requirements_of(item: pytest.Item) -> list[str]:
    return [rid for m in item.iter_markers("requirement") for rid in m.args]


def _active(config: pytest.Config) -> bool:
    return bool(config.getoption("ccc_ics"))


# -- collection: selection, labels -----------------------------------------------------------------
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    conformance_items = [i for i in items if _requirements_of(i)]
    if not conformance_items:
        return
    if not _active(config):
        raise pytest.UsageError("conformance tests need --ccc-ics (and --ccc-pixit); or use `ccc-conformance run`")
    s = specs.load()
    only = {x.strip() for x in config.getoption("ccc_only").split(",") if x.strip()}
    areas = {x.strip().upper() for x in config.getoption("ccc_area").split(",") if x.strip()}
    keep, drop = [], []
    for item in items:
        rids = _requirements_of(item)
        unknown = [r for r in rids if r not in s.requirements]
        if unknown:
            raise pytest.UsageError(f"{item.nodeid}: unknown requirement id(s) {', '.join(unknown)}")
        selected = not rids or (
            (not only or any(r in only for r in rids))
            and (not areas or any(s.requirement(r).area in areas for r in rids))
        )
        (keep if selected else drop).append(item)
        for rid in rids:
            item.user_properties.append(("requirement", rid))
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    report_dir = config.getoption("ccc_report_dir")
    if report_dir:
        # The runner's progress bar reads the total from here (every xdist worker writes the same).
        Path(report_dir).mkdir(parents=True, exist_ok=True)
        (Path(report_dir) / "collected.json").write_text(json.dumps({"count": len(items)}), encoding="utf-8")


# -- session: the simulator --------------------------------------------------------------------
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if not _active(config) or _is_worker(config) or config.getoption("ccc_simulator_url"):
        return
    # No simulator given: start one here (the controller) and register the platform with it.
    from conformance.simulator.server import SimulatorServer

    ctx = load_context(config.getoption("ccc_ics"), config.getoption("ccc_pixit"), config.getoption("ccc_target"))
    sim_cfg = ctx.pixit.get("simulator") or {}
    server = SimulatorServer(host=sim_cfg.get("host", "127.0.0.1"), port=int(sim_cfg.get("port", 0)))
    server.start()
    server.simulator.register_platform(ctx.platform_id, ctx.platform_secret,
                                       ctx.notification_url if ctx.claims("statusPush") else None,
                                       signature_alg=ctx.signature_alg)
    config.stash[_STATE]["server"] = server
    config.option.ccc_simulator_url = server.url


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = session.config
    state = config.stash.get(_STATE, None)
    if state is None or _is_worker(config):
        return
    server = state.get("server")
    report_dir = config.getoption("ccc_report_dir")
    if report_dir and _active(config) and state["results"]:
        from conformance.report.build import write_report

        if server is not None:
            server.simulator.export_captures(Path(report_dir) / "evidence" / "simulator-captures.jsonl")
        ctx = load_context(config.getoption("ccc_ics"), config.getoption("ccc_pixit"), config.getoption("ccc_target"))
        write_report(Path(report_dir), ctx, list(state["results"].values()), started=state["started"],
                     only=config.getoption("ccc_only"), areas=config.getoption("ccc_area"))
    if server is not None:
        server.stop()


# -- fixtures ------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def ccc(pytestconfig: pytest.Config) -> RunContext:
    """The run's context: ICS, PIXIT, target URL, simulator URL."""
    cfg = pytestconfig
    sim_url = cfg.getoption("ccc_simulator_url") or getattr(cfg, "workerinput", {}).get("ccc_simulator_url")
    return load_context(cfg.getoption("ccc_ics"), cfg.getoption("ccc_pixit"), cfg.getoption("ccc_target"),
                        simulator_url=sim_url)


@pytest.fixture(scope="session")
def sim(ccc: RunContext) -> Any:
    """The regulator simulator's control (HTTP client to the one simulator the platform calls)."""
    from conformance.simulator.client import SimulatorClient

    if not ccc.simulator_url:
        raise RuntimeError("no simulator URL: the plugin starts one unless --ccc-simulator-url is given")
    client = SimulatorClient(ccc.simulator_url)
    yield client
    client.close()


@pytest.fixture
def _ccc_evidence(request: pytest.FixtureRequest, ccc: RunContext) -> Iterator[ExchangeLog]:
    log = ExchangeLog(Redactor(ccc.secrets()))
    request.node.stash[_STATE] = {"log": log, "measurements": [], "data": None}
    yield log


@pytest.fixture
def platform(ccc: RunContext, _ccc_evidence: ExchangeLog) -> Iterator[PlatformClient]:
    """The platform's test-control interface; every exchange is evidence."""
    client = PlatformClient(ccc.target, _ccc_evidence, bearer_token=ccc.bearer_token)
    yield client
    client.close()


@pytest.fixture
def notifier(ccc: RunContext, _ccc_evidence: ExchangeLog) -> Iterator[Notifier]:
    """Sends events to the platform's notification URL, signed as the regulator (or deliberately not)."""
    if not ccc.notification_url:
        raise NotApplicable("the ICS declares no notification URL")
    n = Notifier(ccc.notification_url, ccc.platform_secret, _ccc_evidence, ccc.signature_alg)
    yield n
    n.close()


@pytest.fixture
def data(request: pytest.FixtureRequest, ccc: RunContext, sim: Any, _ccc_evidence: ExchangeLog) -> DataFactory:
    """Fresh merchants, certificates and listings for this test only."""
    factory = DataFactory(ccc, sim)
    request.node.stash[_STATE]["data"] = factory
    return factory


@pytest.fixture
def measure(request: pytest.FixtureRequest, _ccc_evidence: ExchangeLog) -> Any:
    """measure(name, value, unit=None, limit=None): a measured value, reported with the verdict."""

    def record(name: str, value: Any, unit: str | None = None, limit: Any = None) -> None:
        entry: dict[str, Any] = {"name": name, "value": value}
        if unit is not None:
            entry["unit"] = unit
        if limit is not None:
            entry["limit"] = limit
        request.node.stash[_STATE]["measurements"].append(entry)

    return record


@pytest.fixture(autouse=True)
def _ccc_item(request: pytest.FixtureRequest) -> Iterator[None]:
    """For conformance tests: NOT_APPLICABLE when the ICS does not claim what the test needs, allure labels."""
    item = request.node
    rids = _requirements_of(item)
    if not rids:
        yield
        return
    ctx: RunContext = request.getfixturevalue("ccc")
    request.getfixturevalue("_ccc_evidence")
    s = specs.load()
    _allure_labels(rids)
    for m in item.iter_markers("capability"):
        for cap in m.args:
            if not ctx.claims(cap):
                raise NotApplicable(f"the ICS does not claim {cap}")
    caps = [s.requirement(r).capability for r in rids]
    if all(caps) and not any(ctx.claims(c) for c in caps if c):
        raise NotApplicable(f"the ICS does not claim {', '.join(sorted({c for c in caps if c}))}")
    with _run_lock(ctx, exclusive=item.get_closest_marker("exclusive") is not None):
        yield


@contextlib.contextmanager
def _run_lock(ctx: RunContext, *, exclusive: bool) -> Iterator[None]:
    """A readers-writer lock shared by the xdist workers of one run: ordinary tests hold it shared,
    an ``exclusive`` test alone — so a bulk test's load never eats into another test's deadline."""
    key = hashlib.sha256((ctx.simulator_url or ctx.target).encode()).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"ccc-conformance-{key}.lock"
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _allure_labels(rids: list[str]) -> None:
    try:
        import allure
    except ImportError:  # allure-pytest is a dependency, but labels are a nicety, not a verdict
        return
    s = specs.load()
    for rid in rids:
        req = s.requirement(rid)
        allure.dynamic.epic(req.area)
        allure.dynamic.story(rid)
        allure.dynamic.severity(_SEVERITY.get(req.level, "normal"))
        allure.dynamic.link(f"specs/requirements.yaml#{rid}", name=f"{rid} {req.title}")
        allure.dynamic.tag(req.level)


# -- verdicts ------------------------------------------------------------------------------------
def _classify(when: str, call: pytest.CallInfo[None], report: pytest.TestReport) -> tuple[str, str | None, Any, Any]:
    """(verdict, message, expected, observed) of one phase."""
    c = codes()
    if call.excinfo is None:
        return c.PASS, None, None, None
    exc = call.excinfo.value
    if isinstance(exc, NotApplicable):
        return c.NOT_APPLICABLE, exc.msg, None, None
    if isinstance(exc, Inconclusive):
        return c.INCONCLUSIVE, exc.msg, None, None
    if isinstance(exc, Skipped):
        return c.INCONCLUSIVE, f"skipped: {exc.msg}", None, None
    if isinstance(exc, AssertionError):
        expected = getattr(exc, "expected", None)
        observed = getattr(exc, "observed", None)
        message = getattr(exc, "message", None) or str(exc).split("\n", 1)[0] or "assertion failed"
        # In set-up, a failed check means the precondition could not be established.
        verdict = c.FAIL if when == "call" else c.INCONCLUSIVE
        return verdict, message, expected, observed
    return c.ERROR, f"harness error: {type(exc).__name__}: {exc}", None, None


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    rids = _requirements_of(item)
    if not rids:
        return report
    phases = item.stash.setdefault(_PHASES, {})
    phases[call.when] = _classify(call.when, call, report)
    if call.when == "teardown":
        report.__dict__[RESULT_ATTR] = _finish(item, phases, rids)
    return report


_PHASES = pytest.StashKey[dict[str, tuple[str, str | None, Any, Any]]]()


def _finish(item: pytest.Item, phases: dict[str, tuple[str, str | None, Any, Any]], rids: list[str]) -> dict[str, Any]:
    c = codes()
    setup = phases.get("setup", (c.PASS, None, None, None))
    verdict, message, expected, observed = setup if setup[0] != c.PASS else phases.get("call", setup)
    teardown = phases.get("teardown", (c.PASS, None, None, None))
    if teardown[0] in (c.ERROR, c.FAIL) and worst([verdict, teardown[0]]) == teardown[0]:
        verdict, message = teardown[0], f"in teardown: {teardown[1]}"
    state = item.stash.get(_STATE, {})
    evidence = _write_item_evidence(item, state, verdict) if state else []
    result = TestResult(nodeid=item.nodeid, requirements=rids, verdict=verdict,
                        duration_seconds=time.monotonic() - item.stash.get(_T0, time.monotonic()),
                        message=message, expected=_jsonable(expected), observed=_jsonable(observed),
                        measurements=state.get("measurements", []), evidence=evidence,
                        variants=variant_ids_of(item))
    # What a test saw may quote a secret (a request echoed back): redact before it leaves the worker.
    log: ExchangeLog | None = state.get("log")
    out = log.redactor.any(result.as_json()) if log is not None else result.as_json()
    out["waitedSeconds"] = round(WaitClock.take(), 3)  # polling the platform for a state (benchmarks/)
    return out


_T0 = pytest.StashKey[float]()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    item.stash[_T0] = time.monotonic()
    WaitClock.take()


def _write_item_evidence(item: pytest.Item, state: dict[str, Any], verdict: str) -> list[str]:
    """Write the test's exchanges and the simulator's records about its own data; return paths."""
    report_dir = item.config.getoption("ccc_report_dir")
    log: ExchangeLog | None = state.get("log")
    if not report_dir or log is None:
        return []
    doc: dict[str, Any] = {"nodeid": item.nodeid, "verdict": verdict, "exchanges": log.exchanges,
                           "droppedExchanges": log.dropped}
    factory: DataFactory | None = state.get("data")
    if factory is not None:
        doc["data"] = {"merchants": factory.merchants, "certificates": factory.certificates,
                       "listings": factory.listings}
        try:
            doc["simulator"] = _simulator_records(factory)
        except Exception as exc:  # evidence collection must not change a verdict; say what is missing
            doc["simulator"] = {"error": f"could not read the simulator's captures: {type(exc).__name__}: {exc}"}
    path = write_evidence(Path(report_dir) / "evidence", item.nodeid, doc, log.redactor)
    return [str(path.relative_to(report_dir))]


def _simulator_records(factory: DataFactory) -> dict[str, Any]:
    sim = factory.sim
    captures: dict[int, dict[str, Any]] = {}
    for m in factory.merchants:
        for cap in sim.captures(match={"merchantId": m}):
            captures[cap["seq"]] = cap
    pushes = [p for c in factory.certificates for p in sim.pushes(certificate_no=c)]
    dispositions = [d for m in factory.merchants for d in sim.dispositions(merchant_id=m)]
    return {"captures": [captures[k] for k in sorted(captures)], "pushes": pushes, "dispositions": dispositions}


def _jsonable(value: Any) -> Any:
    """Plain JSON types only (an IntEnum passes json.dumps but not xdist's serialiser)."""
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return repr(value)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    result = getattr(report, RESULT_ATTR, None)
    if result is None:
        return
    config = _CONFIG.get("config")
    if config is None or _is_worker(config):
        return
    state = config.stash[_STATE]
    state["results"][result["nodeid"]] = TestResult.from_json(result)
    report_dir = config.getoption("ccc_report_dir")
    if report_dir:
        # Appended as each test ends, so a run that dies still leaves what it established.
        Path(report_dir).mkdir(parents=True, exist_ok=True)
        with open(Path(report_dir) / "results.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(result, ensure_ascii=False) + "\n")


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config) -> None:
    state = config.stash.get(_STATE, None)
    if not state or not state["results"] or _is_worker(config):
        return
    counts: dict[str, int] = {}
    for r in state["results"].values():
        counts[r.verdict] = counts.get(r.verdict, 0) + 1
    terminalreporter.write_sep("-", "conformance verdicts (per test)")
    terminalreporter.write_line(", ".join(f"{k}: {v}" for k, v in sorted(counts.items())))
