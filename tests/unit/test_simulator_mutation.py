"""The mutated-answer fault applies exactly the one stated change to a real answer."""

from __future__ import annotations

import json

import pytest

from conformance.simulator import mutation

ANSWER = {"code": "OK", "message": "m", "requestId": "r", "certificate": {"status": "VALID", "models": ["A", "B"]}}


def test_set_and_remove_follow_the_pointer_and_leave_the_rest() -> None:
    changed = json.loads(mutation.apply(ANSWER, {**mutation.PARAMS, "op": "set", "path": "/certificate/models/1",
                                                 "value": 7}))
    assert changed["certificate"]["models"] == ["A", 7] and changed["requestId"] == "r"
    removed = json.loads(mutation.apply(ANSWER, {**mutation.PARAMS, "op": "remove", "path": "/certificate/status"}))
    assert "status" not in removed["certificate"] and ANSWER["certificate"]["status"] == "VALID"


def test_truncate_and_text_are_not_json() -> None:
    cut = mutation.apply(ANSWER, {**mutation.PARAMS, "op": "truncate", "fraction": 0.5})
    with pytest.raises(ValueError):
        json.loads(cut)
    assert mutation.apply(ANSWER, {**mutation.PARAMS, "op": "text", "text": "<html>"}) == b"<html>"


def test_a_path_the_answer_lacks_serves_it_unchanged() -> None:
    same = json.loads(mutation.apply(ANSWER, {**mutation.PARAMS, "op": "remove", "path": "/nothing/here"}))
    assert same == ANSWER


@pytest.mark.parametrize("params", [{"op": "swap"}, {"op": "set", "path": "status"},
                                    {"op": "truncate", "fraction": 1}, {"op": "text", "text": 3}])
def test_bad_params_are_refused_with_a_reason(params: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="mutated-answer"):
        mutation.check({**mutation.PARAMS, **params})


def test_a_member_the_certificate_lacks_is_made_so_the_rule_is_really_broken() -> None:
    # A certificate without standards (a power cord, say) must still be served a broken standards list.
    answer = {"code": "OK", "certificate": {"certificateNo": "2025010101299339", "status": "VALID"}}
    served = json.loads(mutation.apply(answer, {"op": "set", "path": "/certificate/standards/0", "value": 123}))
    assert served["certificate"]["standards"] == [123]
    assert json.loads(mutation.apply(answer, {"op": "remove", "path": "/certificate/standards/0"})) == answer
