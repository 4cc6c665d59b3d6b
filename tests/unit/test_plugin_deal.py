"""The order the plugin hands conformance tests out in (plugin/collection.py ``deal``): modules dealt in
turn so one module's deadline-bound tests do not queue on one xdist worker, and tests that take the
platform to themselves last."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from conformance.plugin.collection import deal


@dataclass
class FakeItem:
    name: str
    path: Path
    fixturenames: tuple[str, ...] = ()
    markers: dict[str, Any] = field(default_factory=dict)

    def get_closest_marker(self, name: str) -> Any:
        return self.markers.get(name)


def test_modules_dealt_in_turn_each_in_its_own_order_and_alone_tests_last() -> None:
    res, tkd, ver = Path("test_res.py"), Path("test_tkd.py"), Path("test_ver.py")
    items = [FakeItem("res1", res), FakeItem("res2", res), FakeItem("res3", res),
             FakeItem("tkd06", tkd, fixturenames=("ccc", "alone")), FakeItem("tkd01", tkd),
             FakeItem("bulk", tkd, markers={"exclusive": object()}),
             FakeItem("ver1", ver), FakeItem("ver2", ver)]
    order = [i.name for i in deal(items)]  # type: ignore[arg-type]
    assert order == ["res1", "tkd01", "ver1", "res2", "ver2", "res3", "tkd06", "bulk"]
    assert sorted(order) == sorted(i.name for i in items)
