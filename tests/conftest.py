"""Shared fixtures of the harness's own tests: the repository root and the loaded specs/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from conformance import specs as specs_mod
from tests import machine

REPO_ROOT = Path(__file__).resolve().parent.parent
SELFCHECK_DIR = REPO_ROOT / "tests" / "selfcheck"
BROWSER_TEST = REPO_ROOT / "tests" / "integration" / "test_report_browser.py"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def specs() -> specs_mod.Specs:
    return specs_mod.load()


def _is_run(item: pytest.Item) -> bool:
    """A whole run: the self-check's (tests/selfcheck) and the browser test's (a module fixture)."""
    return item.path.parent == SELFCHECK_DIR or item.path == BROWSER_TEST


def _measures(item: pytest.Item) -> bool:
    return item.get_closest_marker(machine.MARKER) is not None


@pytest.fixture(autouse=True)
def _machine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Under pytest-xdist, each test takes its place on the shared machine (tests/machine.py): a run that
    measures holds its lane, a self-check run shares the machine with the other whole runs (the browser
    test's run takes its share in its module fixture), and any test that does not measure steps back."""
    m = machine.of(request.config, tmp_path_factory)
    item = request.node
    if m is None:
        yield
    elif _measures(item):
        m.measure()
        yield
    else:
        m.step_back()
        if item.path.parent == SELFCHECK_DIR:
            with m.whole_run():
                yield
        else:
            yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    """A lane stops measuring after its last run that measures (it holds on between two of them, so that
    no whole run slips in and holds the next one up until every whole run queued is done)."""
    yield
    m = machine.current(item.config)
    if m is not None and m.measuring and (nextitem is None or not _measures(nextitem)):
        m.done_measuring()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist, deal the whole runs — the self-check's and the browser test's (up to a few
    minutes each) — so that the runs that measure go first and the others fill the machine after them.

    `--dist worksteal` first hands each of N workers a contiguous share of the collection, and a worker
    steals only from the tail of another's queue. The runs marked `latency_sensitive` are dealt to the
    heads of the first `machine.LANES` shares, balanced (the full clean run weighs as much as three load
    runs): those workers measure from the start, one run after another. The other whole runs would stop
    them (tests/machine.py), so they go to the tails of the other shares, behind the quick tests in
    collection order — the integration tests, the longest, first — which run beside the measuring lanes;
    the lanes' shares take the last quick tests (unit tests). Every worker collects the same items and
    knows N, so each reorders identically (xdist checks that the collections agree). Other slow tests
    keep their place: several share a module-scoped run, which spreading them would repeat on every worker."""
    workercount = getattr(config, "workerinput", {}).get("workercount")
    if not workercount or workercount <= machine.LANES:
        return
    lanes: list[list[pytest.Item]] = [[] for _ in range(machine.LANES)]
    weights = [0] * machine.LANES
    for item in sorted((i for i in items if _is_run(i) and _measures(i)), key=lambda i: "clean" not in i.name):
        lane = weights.index(min(weights))
        lanes[lane].append(item)
        weights[lane] += 3 if "clean" in item.name else 1
    runs = sorted((i for i in items if _is_run(i) and not _measures(i)), key=lambda i: i.path != BROWSER_TEST)
    rest = [i for i in items if not _is_run(i)]
    # The shares worksteal sends first: len(pending) // nodes_remaining, node by node.
    shares, left = [], len(items)
    for n in range(workercount, 0, -1):
        shares.append(left // n)
        left -= shares[-1]
    others = workercount - machine.LANES
    dealt: list[list[pytest.Item]] = [[] for _ in shares]
    for w in [*range(machine.LANES, workercount), *range(machine.LANES)]:   # the other shares take quick tests first
        head, tail = (lanes[w], []) if w < machine.LANES else ([], runs[w - machine.LANES::others])
        take = max(0, shares[w] - len(head) - len(tail))
        dealt[w] = head + rest[:take] + tail
        rest = rest[take:]
    items[:] = [i for share in dealt for i in share] + rest
