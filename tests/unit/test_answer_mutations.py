"""RES-03's broken answers come from the answer schema: every required member removed, every rule
broken at least once per member, each case really unusable, and the set bounded and reproducible."""

from __future__ import annotations

import json

from conformance import specs
from conformance.simulator import mutation
from conformance.suite import answer_mutations

S = specs.load()


def _served(case: answer_mutations.Mutation) -> bytes:
    return mutation.apply(answer_mutations.template(S), {**mutation.PARAMS, **case.params})


def test_every_required_member_is_removed_once() -> None:
    removed = {c.params["path"] for c in answer_mutations.derive(S) if c.params.get("op") == "remove"}
    envelope = set(S.schema("verification-answer")["required"])
    record = set(S.schema("certificate")["required"])
    assert removed == {f"/{k}" for k in envelope} | {f"/certificate/{k}" for k in record}


def test_every_schema_case_breaks_the_schema_and_the_others_are_unusable_otherwise() -> None:
    for case in answer_mutations.derive(S):
        if case.kind != "mutated-answer":
            continue  # served by the simulator's own kinds (tested with the simulator)
        body = _served(case)
        try:
            doc = json.loads(body)
        except ValueError:
            continue  # not JSON: unusable by definition
        if case.params.get("path") == "/requestId" and case.params.get("op") == "set" \
                and S.is_valid("verification-answer", doc):
            continue  # a well-formed id that is not the one sent: unusable, not schema-invalid
        assert S.errors("verification-answer", doc), case.name


def test_rules_of_the_schema_each_get_a_case() -> None:
    names = [c.name for c in answer_mutations.derive(S)]
    for expected in ("/certificate/status breaks", "/certificate/certificateNo breaks pattern",
                     "/certificate/issueDate breaks format", "/certificate/models breaks minItems",
                     "/requestId breaks format"):
        assert any(n.startswith(expected) for n in names), expected


def test_bounded_and_reproducible() -> None:
    small = answer_mutations.derive(S, limit=30)
    assert len(small) <= max(30, sum(1 for c in small if c.params.get("op") == "remove") + 7)
    assert [c.name for c in small] == [c.name for c in answer_mutations.derive(S, limit=30)]
    assert len(answer_mutations.derive(S)) <= answer_mutations.MAX_CASES
