"""Broken verification answers derived from the answer schema, not hand-picked (RES-03, issue 11 §5).

RES-03 is about every way an answer can be unusable (profile Clarifications: Unusable answers): a
body that is not JSON or fails the answer's schema, a ``requestId`` not echoed, a ``certificateNo``
other than the one asked. The schema-invalid part is derived here from
``specs/schemas/verification-answer.schema.json`` itself: starting from the specs' own valid
example answer, every member is removed and replaced in turn by probe values (other JSON types,
edited strings, out-of-range sizes); the schema validator says which of those break it and which
rule each breaks, and one case is kept per (member, broken rule). A field or rule added to the
schema therefore adds its cases by itself, and a relaxed rule drops them.

A status outside the code list is not among them: status codes are open-ended (Clarifications), so
such an answer is an unknown status, RES-05's to judge; a malformed status is, once the schema says
what a well-formed one is. The set is bounded: past ``MAX_CASES`` it is sampled with ``SEED`` (printed in the test's evidence),
always keeping one case per member removed and the non-schema cases.
"""

from __future__ import annotations

import copy
import functools
import json
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from conformance import specs

SCHEMA = "verification-answer"
MAX_CASES = 80
SEED = 20231105  # fixed, so a run's cases can be reproduced; change it to draw another sample


@dataclass(frozen=True)
class Mutation:
    """One broken answer: a name for reports and the simulator's ``mutated-answer`` fault params (or
    another fault kind, for the unusable answers a schema cannot express)."""
    name: str
    kind: str = "mutated-answer"
    params: dict[str, Any] = field(default_factory=dict)


def template(s: specs.Specs | None = None) -> dict[str, Any]:
    """The specs' own valid example of an answer about a certificate (code OK)."""
    s = s or specs.load()
    for path in sorted((s.root / "examples" / "valid" / SCHEMA).glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(doc, dict) and isinstance(doc.get("certificate"), dict) and s.is_valid(SCHEMA, doc):
            return doc
    raise specs.SpecError(f"{s.root / 'examples' / 'valid' / SCHEMA}: no valid example answer with a certificate")


def _members(doc: Any, pointer: str = "") -> Iterator[tuple[str, Any]]:
    """(JSON pointer, value) of every member of the document, depth first; of an array, its first item."""
    if isinstance(doc, dict):
        for key, value in doc.items():
            here = f"{pointer}/{key.replace('~', '~0').replace('/', '~1')}"
            yield here, value
            yield from _members(value, here)
    elif isinstance(doc, list) and doc:
        here = f"{pointer}/0"
        yield here, doc[0]
        yield from _members(doc[0], here)


def _probes(value: Any, rng: random.Random) -> list[Any]:
    """Values to try in place of ``value``: another JSON type (type rules), and edits of the value's
    own kind that the rules on strings, numbers and arrays refuse (enum, const, pattern, format,
    lengths, bounds, sizes). Few on purpose: each costs a validation."""
    noise = "".join(rng.choice("abcxyz019!#") for _ in range(6))
    probes: list[Any] = [True if value is None else None, noise if isinstance(value, int | float) else 0]
    if isinstance(value, str):
        probes += [noise, "", value + "x" * 1001]
    elif isinstance(value, int | float) and not isinstance(value, bool):
        probes += [-1, 1.5, 10**19]
    elif isinstance(value, list):
        probes += [[], [None]]
    return probes


def _leaf_errors(errors: Any) -> Iterator[Any]:
    for error in errors:
        if error.context:
            yield from _leaf_errors(error.context)
        else:
            yield error


def _broken_rule(s: specs.Specs, doc: Any, pointer: str) -> str | None:
    """The schema rule (keyword) the document breaks at ``pointer`` (or, failing that, anywhere); None if valid."""
    errors = list(s.validator(SCHEMA).iter_errors(doc))
    if not errors:
        return None
    leaves = list(_leaf_errors(errors))
    path = [p for p in pointer.split("/")[1:]]
    here = [e for e in leaves if [str(p) for p in e.absolute_path][:len(path)] == path]
    error = (here or leaves)[0]
    if error.validator == "enum" and isinstance(error.validator_value, list) \
            and set(error.validator_value) == set(s.codes("certificateStatus")):
        # Status codes are open-ended (Clarifications): a status outside the list is an unknown
        # status, which must fail closed (RES-05, judged there), not a schema-invalid answer.
        return None
    return str(error.validator)


def _apply(doc: dict[str, Any], op: str, pointer: str, value: Any = None) -> dict[str, Any]:
    out = copy.deepcopy(doc)
    *parents, last = pointer.split("/")[1:]
    node: Any = out
    for token in parents:
        node = node[int(token)] if isinstance(node, list) else node[token]
    key: Any = int(last) if isinstance(node, list) else last
    if op == "remove":
        del node[key]
    else:
        node[key] = value
    return out


@functools.lru_cache(maxsize=4)
def derive(s: specs.Specs | None = None, *, seed: int = SEED, limit: int = MAX_CASES) -> list[Mutation]:
    """The broken answers RES-03 serves, derived from the answer schema (see the module's docstring)."""
    s = s or specs.load()
    rng = random.Random(seed)
    base = template(s)
    removals: list[Mutation] = []
    others: list[Mutation] = []
    seen: set[tuple[str, str]] = set()
    for pointer, value in _members(base):
        for op, probe in [("remove", None), *(("set", p) for p in _probes(value, rng))]:
            rule = _broken_rule(s, _apply(base, op, pointer, probe), pointer)
            if rule is None or (pointer, rule) in seen:
                continue
            seen.add((pointer, rule))
            params = {"op": op, "path": pointer} | ({"value": probe} if op == "set" else {})
            case = Mutation(f"{pointer} {'removed' if op == 'remove' else 'breaks ' + rule}", params=params)
            (removals if op == "remove" else others).append(case)
    # Whole bodies: valid JSON that is not an answer object, and bodies that are not JSON at all.
    for body in (None, [], "", 0):
        rule = _broken_rule(s, body, "")
        if rule is not None:
            others.append(Mutation(f"body {json.dumps(body)} ({rule})", params={"op": "text", "text": json.dumps(body)}))
    fixed = [
        Mutation("truncated JSON (half the bytes)", params={"op": "truncate", "fraction": 0.5}),
        Mutation("truncated JSON (all but the closing brace)", params={"op": "truncate", "fraction": 0.99}),
        Mutation("not JSON (an HTML error page)", params={"op": "text", "text": "<html><body>502 Bad Gateway</body></html>"}),
        Mutation("empty body", params={"op": "text", "text": ""}),
        # Schema-valid, yet unusable (Clarifications): the wrong request's answer, another certificate.
        Mutation("requestId not echoed", kind="wrong-request-id"),
        Mutation("certificateNo other than the one asked", kind="wrong-certificate"),
        Mutation("requestId another well-formed id", params={"op": "set", "path": "/requestId",
                                                              "value": str(uuid.UUID(int=rng.getrandbits(128), version=4))}),
    ]
    room = max(0, limit - len(removals) - len(fixed))
    if len(others) > room:
        others = rng.sample(others, room)
    return removals + others + fixed
