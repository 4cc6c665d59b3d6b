"""The pytest plugin, black-box through ``pytester``: per-test verdicts from what a test raised, their
hand-over from xdist workers, selection, and the report when pytest is run directly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance import specs
from conformance.plugin.classify import PhaseOutcome, classify, combine
from conformance.verdicts import ConformanceFailure, Inconclusive, NotApplicable

pytest_plugins = ["pytester"]

EXAMPLES = specs.specs_dir() / "examples"
V = specs.load().vocab.verdict

TESTS = '''
import pytest
from conformance.checks import expect, inconclusive, not_applicable, precondition

@pytest.mark.requirement("VER-01")
def test_passes():
    expect(True, "fine")

@pytest.mark.requirement("VER-02")
def test_fails():
    expect(1 == 2, "one is not two", expected=2, observed=1)

@pytest.mark.requirement("VER-03")
def test_inconclusive():
    with precondition("a listing on sale"):
        expect(False, "never on sale")

@pytest.mark.requirement("VER-04")
def test_not_applicable():
    not_applicable("not claimed")

@pytest.mark.requirement("VER-05")
def test_errors():
    raise KeyError("harness bug")

@pytest.fixture
def broken_setup():
    expect(False, "could not set up")

@pytest.mark.requirement("VER-06")
def test_setup_check_is_inconclusive(broken_setup):
    pass

@pytest.mark.requirement("VER-07")
def test_measures(measure):
    measure("latency", 1.5, "s", limit=5)

def test_not_a_conformance_test():
    assert True
'''


def _run(pytester: pytest.Pytester, *extra: str, simulator: bool = False) -> Path:
    pytester.makepyfile(test_conf=TESTS)
    out = pytester.path / "out"
    args = ["-p", "no:cacheprovider", "--ccc-ics", str(EXAMPLES / "ics-reference.yaml"),
            "--ccc-pixit", str(EXAMPLES / "pixit-reference.yaml"), "--ccc-report-dir", str(out), *extra]
    if not simulator:
        args += ["--ccc-simulator-url", "http://127.0.0.1:9", "--ccc-no-report"]
    pytester.runpytest_subprocess(*args)
    return out


def _verdicts(out: Path) -> dict[str, dict[str, Any]]:
    lines = (out / "results.jsonl").read_text(encoding="utf-8").splitlines()
    return {json.loads(line)["nodeid"].split("::")[-1]: json.loads(line) for line in lines}


EXPECTED = {"test_passes": V.PASS, "test_fails": V.FAIL, "test_inconclusive": V.INCONCLUSIVE,
            "test_not_applicable": V.NOT_APPLICABLE, "test_errors": V.ERROR,
            "test_setup_check_is_inconclusive": V.INCONCLUSIVE, "test_measures": V.PASS}


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_each_test_gets_its_verdict(pytester: pytest.Pytester, workers: list[str]) -> None:
    out = _run(pytester, *workers)
    got = _verdicts(out)
    assert {name: r["verdict"] for name, r in got.items()} == EXPECTED  # the plain test is not judged
    assert got["test_fails"]["message"] == "one is not two"
    assert (got["test_fails"]["expected"], got["test_fails"]["observed"]) == (2, 1)
    assert got["test_errors"]["message"].startswith("harness error: KeyError")
    assert got["test_measures"]["measurements"] == [{"name": "latency", "value": 1.5, "unit": "s", "limit": 5}]
    assert json.loads((out / "collected.json").read_text()) == {"count": 8}
    assert not (out / "report.json").exists(), "--ccc-no-report: the caller renders"


def test_selection_deselects(pytester: pytest.Pytester) -> None:
    out = _run(pytester, "--ccc-only", "VER-01,VER-02")
    assert set(_verdicts(out)) == {"test_passes", "test_fails"}


def test_unknown_requirement_id_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_conf='import pytest\n@pytest.mark.requirement("NOPE-1")\ndef test_x(): pass\n')
    result = pytester.runpytest_subprocess("--ccc-ics", str(EXAMPLES / "ics-reference.yaml"),
                                           "--ccc-simulator-url", "http://127.0.0.1:9")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*unknown requirement id(s) NOPE-1*"])


def test_run_directly_starts_a_simulator_and_writes_the_report(pytester: pytest.Pytester) -> None:
    out = _run(pytester, simulator=True)
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    verdicts = {r["id"]: r["verdict"] for r in report["requirements"]}
    assert verdicts["VER-02"] == V.FAIL and verdicts["VER-01"] == V.PASS
    assert (out / "MANIFEST.sha256").is_file() and (out / "evidence" / "simulator-captures.jsonl").is_file()


def test_inert_without_conformance_tests(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_plain="def test_x():\n    assert True\n")
    assert pytester.runpytest_subprocess().ret == 0


# -- classification, without pytest ----------------------------------------------------------------
@pytest.mark.parametrize(("when", "exc", "verdict"), [
    ("call", None, V.PASS),
    ("call", ConformanceFailure("x"), V.FAIL),
    ("setup", ConformanceFailure("x"), V.INCONCLUSIVE),
    ("call", Inconclusive("x"), V.INCONCLUSIVE),
    ("setup", NotApplicable("x"), V.NOT_APPLICABLE),
    ("call", RuntimeError("x"), V.ERROR),
])
def test_classify(when: str, exc: BaseException | None, verdict: str) -> None:
    assert classify(when, exc).verdict == verdict


def test_a_failing_teardown_outranks_a_pass_but_keeps_the_call_evidence() -> None:
    out = combine({"setup": PhaseOutcome(V.PASS), "call": PhaseOutcome(V.PASS, None, 1, 2),
                   "teardown": PhaseOutcome(V.ERROR, "boom")})
    assert (out.verdict, out.message, out.expected) == (V.ERROR, "in teardown: boom", 1)
    assert combine({"setup": PhaseOutcome(V.INCONCLUSIVE, "no"), "call": PhaseOutcome(V.PASS)}).verdict == V.INCONCLUSIVE


def test_variant_cases_parametrize_and_each_instance_covers_its_variant(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_cases='''
import pytest
from conformance.checks import expect

@pytest.mark.requirement("VER-06")
@pytest.mark.variant_cases("variant", {"other-model": "VER-06/v1", "no-model": "VER-06/v4"})
def test_model(variant):
    expect(variant in ("other-model", "no-model"), "a declared case")
''')
    out = pytester.path / "out"
    pytester.runpytest_subprocess("-p", "no:cacheprovider", "--ccc-ics", str(EXAMPLES / "ics-reference.yaml"),
                                  "--ccc-pixit", str(EXAMPLES / "pixit-reference.yaml"), "--ccc-report-dir", str(out),
                                  "--ccc-simulator-url", "http://127.0.0.1:9", "--ccc-no-report")
    got = {name: (r["verdict"], r["variants"]) for name, r in _verdicts(out).items()}
    assert got == {"test_model[other-model]": (V.PASS, ["VER-06/v1"]), "test_model[no-model]": (V.PASS, ["VER-06/v4"])}
