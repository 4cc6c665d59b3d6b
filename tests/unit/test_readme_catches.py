"""The README's "what the suite catches" table is the self-check's mapping, and every fault switch
of the reference platform is either self-checked or named as left to the load runner."""

from __future__ import annotations

from reference_platform.faults import FAULTS
from tests.selfcheck.catches import CATCHES
from tests.selfcheck.readme_table import README, render


def test_readme_table_matches_the_self_check() -> None:
    text = README.read_text(encoding="utf-8")
    assert render(text) == text, "run `python -m tests.selfcheck.readme_table --write`"


def test_catches_name_real_faults_and_known_requirements() -> None:
    from conformance import specs

    s = specs.load()
    areas = {a["code"] for a in s.areas}
    assert set(CATCHES) <= set(FAULTS)
    assert all(f.phase == "load" for name, f in FAULTS.items() if name not in CATCHES)
    for fault, (run_areas, breaks, unsettled) in CATCHES.items():
        assert set(run_areas) <= areas, fault
        assert breaks and not breaks & unsettled, fault
        for rid in breaks | unsettled:
            assert s.requirement(rid).area in run_areas, (fault, rid)
