"""Collection: the ``--ccc-only`` / ``--ccc-area`` selection, unknown requirement ids, the order tests
are handed out in, and the count the runner's progress bar reads."""

from __future__ import annotations

import pytest

from conformance import specs
from conformance.plugin.options import Options
from conformance.plugin.recording import requirements_of
from conformance.run.selection import Selection


class ConformanceCollection:
    def __init__(self, options: Options) -> None:
        self.options = options
        self.selection = Selection(only=options.only, areas=options.areas)

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        if not any(requirements_of(i) for i in items):
            return  # not a conformance session: the plugin stays inert
        if not self.options.active:
            raise pytest.UsageError("conformance tests need --ccc-ics (and --ccc-pixit); or use `ccc-conformance run`")
        s = specs.load()
        keep, drop = [], []
        for item in items:
            rids = requirements_of(item)
            if unknown := [r for r in rids if r not in s.requirements]:
                raise pytest.UsageError(f"{item.nodeid}: unknown requirement id(s) {', '.join(unknown)}")
            (keep if not rids or any(self.selection.selects(r) for r in rids) else drop).append(item)
            for rid in rids:
                item.user_properties.append(("requirement", rid))
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = deal(keep)
        if self.options.rundir is not None:
            # The runner's progress bar reads the total from here (every xdist worker writes the same).
            self.options.rundir.write_collected(len(items))


def deal(items: list[pytest.Item]) -> list[pytest.Item]:
    """The order tests are handed out in: the modules' tests dealt in turn (first of each module, then
    second of each, …), each module's own order kept; tests that take the platform to themselves last.

    pytest-xdist hands out runs of consecutive tests, and a module's deadline-bound tests (RES's outages,
    each 6-13 s of waiting) would queue on one worker while the others finish early: measured, that
    worker ended 8-13 s after the rest. Dealt in turn, they start on different workers. No conformance
    test shares state with its module's other tests (no module-scoped fixtures), so order is free;
    every worker computes the same order, as xdist requires.

    A test that takes the platform to itself (``exclusive``, or the ``alone`` fixture) holds every other
    worker while it waits for the tests in flight and while it runs; started early, it stopped five
    workers for ~10 s. Last, it starts when the others are running out of tests anyway."""
    def alone(item: pytest.Item) -> bool:
        return item.get_closest_marker("exclusive") is not None or "alone" in getattr(item, "fixturenames", ())

    by_module: dict[object, list[pytest.Item]] = {}
    for item in items:
        if not alone(item):
            by_module.setdefault(item.path, []).append(item)
    queues = [list(reversed(q)) for q in by_module.values()]
    dealt: list[pytest.Item] = []
    while queues:
        dealt += [q.pop() for q in queues]
        queues = [q for q in queues if q]
    return dealt + [item for item in items if alone(item)]
