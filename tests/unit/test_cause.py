"""The cause judgements (conformance/suite/cause.py): an event or an edit is credited with a change only
on the evidence the contract gives, FAIL where that evidence is unambiguous, INCONCLUSIVE where not."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from conformance import specs
from conformance.suite.cause import EventChange, judge_edit_cause, judge_event_cause
from conformance.verdicts import ConformanceFailure, Inconclusive

V = specs.load().vocab
NUMBER = "2023010701000001"


def _at(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


class FakeSim:
    def __init__(self, queries: list[float], reports: list[dict[str, Any]]) -> None:
        self.queries, self.reports = queries, reports

    def captures(self, *, route: str, match: dict[str, str]) -> list[dict[str, Any]]:
        return [{"receivedAt": _at(t), "body": {"certificateNo": match["certificateNo"]}} for t in self.queries]

    def dispositions(self, *, merchant_id: str) -> list[dict[str, Any]]:
        return self.reports


def _ccc(reporting: bool) -> Any:
    return SimpleNamespace(claims=lambda capability: reporting and capability == "dispositionReporting",
                           timing={"takedownDeadlineSeconds": 3})


def _judge(sim: FakeSim, reporting: bool, stimulus: float) -> dict[str, int]:
    return judge_event_cause(_ccc(reporting), sim, stimulus=stimulus,
                             changes=[EventChange("L1", NUMBER, stimulus + 2.0)],
                             event_ids={NUMBER: {"E1"}}, merchants=["m"])


def _report(stimulus: float, **cause: str) -> dict[str, Any]:
    return {"listingId": "L1", "action": V.dispositionAction.TAKEN_DOWN, "receivedAt": _at(stimulus + 0.1), **cause}


def test_a_report_naming_the_event_proves_it_even_after_a_query() -> None:
    stimulus = time.time() - 60
    assert _judge(FakeSim([stimulus + 1.0], [_report(stimulus, eventId="E1")]), True, stimulus) == \
        {"causeByReport": 1, "causeByNoQuery": 0}


def test_a_report_naming_a_query_fails() -> None:
    stimulus = time.time() - 60
    with pytest.raises(ConformanceFailure, match="re-verification, not the event"):
        _judge(FakeSim([stimulus + 1.0], [_report(stimulus, requestId="R1")]), True, stimulus)


def test_no_query_between_event_and_change_proves_the_event() -> None:
    stimulus = time.time() - 60
    assert _judge(FakeSim([stimulus - 1.0, stimulus + 5.0], []), False, stimulus)["causeByNoQuery"] == 1


def test_a_query_between_and_no_report_is_inconclusive() -> None:
    stimulus = time.time() - 60
    with pytest.raises(Inconclusive, match="not demonstrated"):
        _judge(FakeSim([stimulus + 1.0], []), False, stimulus)


def test_an_edit_verified_only_when_the_period_came_round_fails() -> None:
    with pytest.raises(ConformanceFailure, match="periodic re-verification came round"):
        judge_edit_cause(listing_id="L1", created_at=100.0, queries_before=[100.05, 102.2], edited_at=102.3,
                         queries_after=[104.3], decided_at=104.5)


@pytest.mark.parametrize("before, after", [([100.05, 102.2], [102.35]),   # queried on the edit
                                           ([100.05], [104.3])])           # no period seen: no judgement
def test_an_edit_verified_promptly_or_without_a_known_period_passes(before: list[float], after: list[float]) -> None:
    judge_edit_cause(listing_id="L1", created_at=100.0, queries_before=before, edited_at=102.3,
                     queries_after=after, decided_at=104.5)
