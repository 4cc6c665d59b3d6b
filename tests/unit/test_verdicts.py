"""The verdict model: worst wins, SHOULD failures warn, SHALL failures decide."""

from __future__ import annotations

import pytest

from conformance import specs
from conformance.verdicts import TestResult, codes, overall, requirement_verdicts, worst

C = codes()
ALL_CLAIMED = {k: True for k in ("statusPush", "changeFeedPolling", "selfDeclaration", "consumerView",
                                  "dispositionReporting", "bearerToken")}


def result(rids: list[str], verdict: str, nodeid: str = "t", message: str | None = None) -> TestResult:
    return TestResult(nodeid=nodeid, requirements=rids, verdict=verdict, duration_seconds=0.1, message=message)


def test_order_comes_from_terminology() -> None:
    assert C.order == specs.load().codes("verdict")
    assert worst([C.PASS, C.NOT_APPLICABLE]) == C.PASS
    assert worst([C.PASS, C.INCONCLUSIVE]) == C.INCONCLUSIVE
    assert worst([C.INCONCLUSIVE, C.ERROR]) == C.ERROR
    # demonstrated non-conformance outranks a harness error
    assert worst([C.ERROR, C.FAIL, C.PASS]) == C.FAIL
    assert worst([]) == C.NOT_APPLICABLE


def test_requirement_takes_worst_of_its_tests_with_the_failing_message() -> None:
    rv = requirement_verdicts([result(["VER-01"], C.PASS, "a"), result(["VER-01"], C.FAIL, "b", "listing on sale")],
                              requirement_ids=["VER-01"], claimed=ALL_CLAIMED)
    assert rv[0].verdict == C.FAIL
    assert rv[0].reason == "listing on sale"
    assert rv[0].tests == ["a", "b"]


def test_unclaimed_capability_is_not_applicable_even_if_a_test_ran() -> None:
    claimed = dict(ALL_CLAIMED, statusPush=False)
    rv = requirement_verdicts([result(["TKD-01"], C.FAIL)], requirement_ids=["TKD-01"], claimed=claimed)
    assert rv[0].verdict == C.NOT_APPLICABLE


def test_requirement_without_results_is_inconclusive() -> None:
    rv = requirement_verdicts([], requirement_ids=["VER-02"], claimed=ALL_CLAIMED)
    assert rv[0].verdict == C.INCONCLUSIVE


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ({"VER-01": "PASS", "VER-07": "PASS"}, "CONFORMANT"),
        ({"VER-01": "FAIL", "VER-07": "PASS"}, "NON_CONFORMANT"),
        ({"VER-01": "INCONCLUSIVE"}, "INCOMPLETE"),
        ({"VER-01": "ERROR", "VER-02": "FAIL"}, "NON_CONFORMANT"),
        ({"VER-01": "PASS", "VER-07": "FAIL"}, "CONFORMANT"),  # VER-07 is a SHOULD: a warning
        ({"VER-01": "NOT_APPLICABLE"}, "CONFORMANT"),
    ],
)
def test_overall(verdicts: dict[str, str], expected: str) -> None:
    results = [result([rid], v, rid) for rid, v in verdicts.items()]
    rv = requirement_verdicts(results, requirement_ids=list(verdicts), claimed=ALL_CLAIMED)
    total = overall(rv)
    assert total.verdict == expected
    assert total.exit_code == {"CONFORMANT": 0, "NON_CONFORMANT": 1, "INCOMPLETE": 2}[expected]
    if verdicts.get("VER-07") == "FAIL":
        assert any(w.startswith("VER-07") for w in total.warnings)


def test_result_round_trips_through_json() -> None:
    r = result(["SEC-01"], C.FAIL, "x", "refused")
    r.measurements = [{"name": "latency", "value": 1.5, "unit": "s"}]
    assert TestResult.from_json(r.as_json()) == r


def test_roles_are_taken_by_name_and_their_severity_order_is_the_profiles() -> None:
    # profile.md §4: FAIL outranks ERROR (a demonstrated FAIL stands), NOT_APPLICABLE is the mildest.
    c = codes()
    assert c.order == [c.NOT_APPLICABLE, c.PASS, c.INCONCLUSIVE, c.ERROR, c.FAIL]
    assert (c.PASS, c.FAIL, c.ERROR) == ("PASS", "FAIL", "ERROR")
    assert c.exit_codes == {c.CONFORMANT: 0, c.NON_CONFORMANT: 1, c.INCOMPLETE: 2}
