"""Every automatic requirement of the functional suite is verified by a test, and specs/ says which."""

from __future__ import annotations

from conformance import coverage, specs


def test_markers_name_only_known_requirements() -> None:
    known = set(specs.load().requirements)
    for test, ids in coverage.suite_markers().items():
        assert set(ids) <= known, f"{test} names unknown requirement ids {set(ids) - known}"


def test_every_automatic_functional_requirement_has_a_test() -> None:
    mapping = coverage.verified_by()
    missing = [r.id for r in specs.load().requirements.values()
               if r.suite == "functional" and r.verification in ("automatic", "static") and not mapping.get(r.id)]
    assert not missing, f"requirements without a suite test: {missing}"


def test_verified_by_in_specs_matches_the_markers() -> None:
    """`python -m conformance.coverage --write` refreshes specs/requirements.yaml after a change."""
    mapping = coverage.verified_by()
    for r in specs.load().requirements.values():
        assert sorted(r.verified_by) == mapping.get(r.id, []), (
            f"{r.id}: verified_by {sorted(r.verified_by)} but the markers say {mapping.get(r.id, [])}; "
            "run `python -m conformance.coverage --write`")


def test_every_conformance_test_has_a_unique_stable_id(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ids = coverage.test_ids()
    assert set(ids) == set(coverage.suite_markers()) and len(set(ids.values())) == len(ids)
    # A test without one is refused, so the published trace never falls back to a function name.
    (tmp_path / "test_x.py").write_text('import pytest\n@pytest.mark.requirement("VER-01")\ndef test_a(): pass\n')
    import pytest

    with pytest.raises(coverage.CoverageError, match="stable id"):
        coverage.test_ids(tmp_path)
