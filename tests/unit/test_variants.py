"""The variant matrix (specs/variants.yaml): complete for every automatic requirement, every variant
covered by a test that verifies its requirement, and carried through results, verdicts and reports."""

from __future__ import annotations

import importlib
import json
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from conformance import coverage, specs
from conformance import variants as variants_mod
from conformance.context import load_context
from conformance.report.build import build_report
from conformance.report.html import render_html
from conformance.verdicts import ConformanceFailure, TestResult, codes, requirement_verdicts

S = specs.load()
C = codes()
ALL_CLAIMED = {k: True for k in ("statusPush", "changeFeedPolling", "selfDeclaration", "consumerView",
                                  "dispositionReporting", "bearerToken")}
# Requirements decided by the static ICS review, or by the load runner: no suite variants.
STATIC = {"ICS-01", "TERM-03", "AUD-02"}


def _automatic() -> list[str]:
    return [r.id for r in S.requirements.values()
            if r.verification == "automatic" and r.suite == "functional" and r.id not in STATIC]


@pytest.mark.parametrize("rid", _automatic())
def test_every_automatic_requirement_has_a_negative_and_a_boundary_variant(rid: str) -> None:
    mine = S.variants_of(rid)
    assert any(v.kind == "negative" for v in mine), f"{rid}: no negative variant in specs/variants.yaml"
    assert any(v.technique == "boundary" for v in mine), f"{rid}: no boundary variant in specs/variants.yaml"


def test_variant_ids_name_their_requirement_and_number_from_one() -> None:
    for rid in S.requirements:
        numbers = [int(v.id.partition("/v")[2]) for v in S.variants_of(rid)]
        assert numbers == list(range(1, len(numbers) + 1)), f"{rid}: variants not numbered v1…v{len(numbers)}"


def test_when_names_only_ics_capabilities() -> None:
    capabilities = set(S.schema("ics")["properties"]["capabilities"]["properties"])
    assert {cap for v in S.variants.values() for cap in v.when} <= capabilities


def test_every_listed_variant_has_a_test() -> None:
    tested = coverage.tested_variants()
    missing = [vid for vid in S.variants if not tested.get(vid)]
    assert not missing, f"variants without a test (add @pytest.mark.variant to the test that covers each): {missing}"


def test_every_variant_marker_names_a_listed_variant() -> None:
    unknown = sorted(vid for vid in coverage.tested_variants() if vid not in S.variants)
    assert not unknown, f"variant markers naming no variant of specs/variants.yaml: {unknown}"


def test_a_variant_is_covered_only_by_tests_of_its_requirement() -> None:
    # Its outcome is part of that requirement's verdict, so the test must count for that requirement.
    markers = coverage.suite_markers()
    wrong = {}
    for vid, tests in coverage.tested_variants().items():
        for test in tests:
            rids = markers.get(test.partition("[")[0], [])
            if S.variants[vid].requirement not in rids:
                wrong[vid] = (test, rids)
    assert not wrong, wrong


def test_param_of_a_variant_marker_is_a_parametrize_id_of_its_test() -> None:
    for key in coverage.variant_markers():
        if "[" not in key:
            continue
        file, _, rest = key.partition("::")
        name, _, param = rest.partition("[")
        func = getattr(importlib.import_module(f"conformance.suite.{file.removesuffix('.py')}"), name)
        marks = getattr(func, "pytestmark", [])
        ids = [str(v) for m in marks if m.name == "parametrize" for v in m.args[1]]
        ids += [case for m in marks if m.name == variants_mod.CASES_MARKER for case in variants_mod.cases_of(m)[1]]
        assert param.rstrip("]") in ids, f"{key}: no parametrize id {param.rstrip(']')!r} (ids: {ids})"


def test_variant_cases_name_the_forms_their_tests_look_up() -> None:
    # The cases are written out in the marker; the test looks each one up in a table of forms.
    from conformance.suite import test_ver
    from conformance.suite._helpers import pasted_certificate_numbers

    def cases(func: Any) -> list[str]:
        return [c for m in func.pytestmark if m.name == variants_mod.CASES_MARKER for c in variants_mod.cases_of(m)[1]]

    assert cases(test_ver.test_ver01_pasted_certificate_number_is_normalised_and_goes_on_sale) == list(
        pasted_certificate_numbers("0" * 16))
    assert cases(test_ver.test_ver02_listing_without_certificate_number_is_intercepted) == list(test_ver._NO_NUMBER)


@pytest.mark.parametrize("args", [(), ("form",), ("form", {}), ("form", {"a": 1}), (1, {"a": "VER-01/v1"})])
def test_a_malformed_variant_cases_marker_is_refused(args: tuple[Any, ...]) -> None:
    with pytest.raises(TypeError, match="variant_cases"):
        variants_mod.cases_of(pytest.mark.variant_cases(*args).mark)


def test_variant_cases_markers_must_be_literal(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text('import pytest\nCASES = {"a": "VER-01/v1"}\n\n'
                                        '@pytest.mark.variant_cases("form", CASES)\ndef test_a(form):\n    pass\n',
                                        encoding="utf-8")
    with pytest.raises(coverage.CoverageError, match="variant_cases marker without a literal"):
        coverage.variant_markers(tmp_path)
    (tmp_path / "test_x.py").write_text('import pytest\n\n@pytest.mark.variant_cases("form", {"a": "VER-01/v1", '
                                        '"b": "VER-01/v2"})\ndef test_a(form):\n    pass\n', encoding="utf-8")
    assert coverage.variant_markers(tmp_path) == {"test_x.py::test_a[a]": ["VER-01/v1"],
                                                  "test_x.py::test_a[b]": ["VER-01/v2"]}


def test_variant_markers_must_be_literal_decorators(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text('import pytest\nIDS = ("VER-01/v1",)\n\n'
                                        '@pytest.mark.variant(*IDS)\ndef test_a():\n    pass\n', encoding="utf-8")
    with pytest.raises(coverage.CoverageError, match="literal"):
        coverage.variant_markers(tmp_path)
    (tmp_path / "test_x.py").write_text('import pytest\nM = pytest.mark.variant("VER-01/v1")\n', encoding="utf-8")
    with pytest.raises(coverage.CoverageError, match="outside"):
        coverage.variant_markers(tmp_path)


def _item(marks: list[Any], callspec_id: str | None = None) -> Any:
    return SimpleNamespace(callspec=SimpleNamespace(id=callspec_id) if callspec_id else None,
                           iter_markers=lambda name: [m for m in marks if m.name == name])


def test_an_item_covers_its_unscoped_variants_and_those_of_its_own_param() -> None:
    marks = [pytest.mark.variant("VER-06/v1", param="other-model").mark,
             pytest.mark.variant("VER-06/v2", param="prefix-of-covered-model").mark,
             pytest.mark.variant("VER-06/v4").mark]
    assert variants_mod.of_item(_item(marks, "other-model")) == ["VER-06/v1", "VER-06/v4"]
    assert variants_mod.of_item(_item(marks)) == ["VER-06/v4"]


def test_an_item_covers_the_variant_of_its_case() -> None:
    marks = [pytest.mark.variant_cases("variant", {"other-model": "VER-06/v1", "no-model": "VER-06/v4"}).mark]
    item = SimpleNamespace(callspec=SimpleNamespace(id="no-model", params={"variant": "no-model"}),
                           iter_markers=lambda name: [m for m in marks if m.name == name])
    assert variants_mod.of_item(item) == ["VER-06/v4"]


def _result(verdict: str, variants: list[str], observed: Any = None, nodeid: str = "t") -> TestResult:
    return TestResult(nodeid=nodeid, requirements=["VER-08"], verdict=verdict, duration_seconds=0.1,
                      message="m", observed=observed, variants=variants)


def test_requirement_verdict_lists_its_variants_and_which_failed() -> None:
    results = [_result(C.PASS, ["VER-08/v1"], nodeid="a"), _result(C.FAIL, ["VER-08/v2"], nodeid="b")]
    (rv,) = requirement_verdicts(results, requirement_ids=["VER-08"], claimed=ALL_CLAIMED)
    assert [(v["id"], v["verdict"]) for v in rv.variants] == [("VER-08/v1", C.PASS), ("VER-08/v2", C.FAIL)]
    assert rv.failed_variants == ["VER-08/v2"]
    assert "VER-08/v2" in rv.reason
    assert "VER-08/v3" in rv.variants_not_run
    assert json.loads(json.dumps(rv.as_json()))["failedVariants"] == ["VER-08/v2"]


def test_a_test_judging_several_variants_fails_only_those_it_names() -> None:
    with pytest.raises(ConformanceFailure) as caught:
        variants_mod.expect_each({"VER-08/v7": None, "VER-08/v8": {"listing": "intercepted"}}, "holder")
    assert "VER-08/v8" in caught.value.message
    observed = caught.value.observed
    (rv,) = requirement_verdicts([_result(C.FAIL, ["VER-08/v7", "VER-08/v8"], observed)],
                                 requirement_ids=["VER-08"], claimed=ALL_CLAIMED)
    assert {v["id"]: v["verdict"] for v in rv.variants} == {"VER-08/v7": C.PASS, "VER-08/v8": C.FAIL}
    variants_mod.expect_each({"VER-08/v7": None, "VER-08/v8": ""}, "holder")  # all held: no failure


def test_a_variant_of_another_capability_combination_is_not_applicable() -> None:
    push_only = S.variants["TKD-01/v6"]
    assert push_only.when == {"statusPush": True, "changeFeedPolling": False}
    results = [TestResult(nodeid="t", requirements=["TKD-01"], verdict=C.PASS, duration_seconds=0.1,
                          variants=["TKD-01/v6", "TKD-01/v7"])]
    (rv,) = requirement_verdicts(results, requirement_ids=["TKD-01"], claimed=ALL_CLAIMED)
    assert {v["id"]: v["verdict"] for v in rv.variants} == {"TKD-01/v6": C.NOT_APPLICABLE, "TKD-01/v7": C.PASS}


def test_report_json_and_html_show_variants_per_requirement() -> None:
    root = S.root
    ctx = load_context(root / "examples" / "ics-reference.yaml", root / "examples" / "pixit-reference.yaml", None)
    results = [_result(C.FAIL, ["VER-08/v7", "VER-08/v8"], {"failedVariants": ["VER-08/v8"]}, nodeid="x::y")]
    report = build_report(ctx, results, run_id="r", started=datetime.now(UTC), only=["VER-08"])
    assert not S.errors("report", report)
    (req,) = report["requirements"]
    assert req["failedVariants"] == ["VER-08/v8"]
    assert report["tests"][0]["variants"] == ["VER-08/v7", "VER-08/v8"]
    html = render_html(report)
    assert "VER-08/v8" in html and '<span class="FAIL">1 ' in html   # "1 failed", in both languages


def test_coverage_table_counts_tested_variants() -> None:
    table = variants_mod.coverage_table(coverage.tested_variants(), ["VER-08", "AVL-01"])
    assert table["VER-08"]["listed"] == table["VER-08"]["tested"] == len(S.variants_of("VER-08"))
    assert table["AVL-01"] == {"listed": 0, "tested": 0, "variants": []}


def test_requirements_command_shows_variant_coverage(capsys: pytest.CaptureFixture[str]) -> None:
    from tests.unit.test_cli import run_cli

    code, out, _ = run_cli(capsys, "requirements", "--format", "json", "--area", "VER")
    assert code == 0
    rows = {r["id"]: r for r in json.loads(out)}
    assert rows["VER-08"]["variantCoverage"] == f"{len(S.variants_of('VER-08'))}/{len(S.variants_of('VER-08'))}"
    assert all(v["tests"] for v in rows["VER-08"]["variants"])
    code, out, _ = run_cli(capsys, "requirements")
    assert code == 0
    assert f"variants (specs/variants.yaml): {len(S.variants)} of {len(S.variants)} tested (100%)" in out
