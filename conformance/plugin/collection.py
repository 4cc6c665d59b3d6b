"""Collection: the ``--ccc-only`` / ``--ccc-area`` selection, unknown requirement ids, and the count the
runner's progress bar reads."""

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
            items[:] = keep
        if self.options.rundir is not None:
            # The runner's progress bar reads the total from here (every xdist worker writes the same).
            self.options.rundir.write_collected(len(items))
