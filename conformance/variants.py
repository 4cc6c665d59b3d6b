"""The variant matrix at run time: which variants a test instance covers, and how a test names the
ones it found broken.

specs/variants.yaml lists each requirement's variants (loaded by :mod:`conformance.specs`); suite tests
declare the ones they cover with ``@pytest.mark.variant(*ids)`` — for one parametrized instance only
with ``param="<parametrize id>"`` — or, where each case of a test is one variant,
``@pytest.mark.variant_cases("argname", {"case": "VER-06/v5", ...})``, which also parametrizes the
test with the cases (the plugin's ``pytest_generate_tests``), so a case and its variant are written
once. :mod:`conformance.coverage` reads the same markers from source to prove every variant has a
test; this module reads them from a collected item for its result.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from conformance import specs
from conformance.checks import expect
from conformance.verdicts import FAILED_VARIANTS_KEY as FAILED_KEY

MARKER = "variant"
CASES_MARKER = "variant_cases"


def cases_of(mark: Any) -> tuple[str, dict[str, str]]:
    """``variant_cases``' argument name and its {case: variant ID}; a TypeError names a malformed one."""
    args = tuple(mark.args)
    if (len(args) != 2 or mark.kwargs or not isinstance(args[0], str) or not isinstance(args[1], dict) or not args[1]
            or not all(isinstance(k, str) and isinstance(v, str) for k, v in args[1].items())):
        raise TypeError(f"@pytest.mark.{CASES_MARKER} takes an argument name and a non-empty "
                        f"{{case: variant ID}} of strings, not {args!r} {mark.kwargs!r}")
    return args[0], dict(args[1])


def of_item(item: Any) -> list[str]:
    """The variant IDs a collected test instance covers, in marker order, each once."""
    callspec = getattr(item, "callspec", None)
    instance = callspec.id if callspec is not None else None
    ids: list[str] = []
    for mark in item.iter_markers(MARKER):
        param = mark.kwargs.get("param")
        if param is None or param == instance:
            ids += [str(a) for a in mark.args]
    params = getattr(callspec, "params", None) or {}
    for mark in item.iter_markers(CASES_MARKER):
        argname, cases = cases_of(mark)
        if argname in params and params[argname] in cases:
            ids.append(cases[params[argname]])
    return list(dict.fromkeys(ids))


def expect_each(outcomes: Mapping[str, Any], message: str, *, expected: Any = None, **observed: Any) -> None:
    """One check over several variants judged in one test (shared set-up): ``outcomes`` maps a variant
    ID to what was wrong with it, or to None/empty when it held. FAIL names the failed variants, so the
    report shows which of the test's variants broke and which held."""
    failed = {vid: problem for vid, problem in outcomes.items() if problem}
    expect(not failed, f"{message}: {', '.join(failed)}", expected=expected,
           observed={FAILED_KEY: list(failed), "problems": failed, **observed})


def coverage_table(tested: Mapping[str, list[str]], requirement_ids: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Requirement ID → its listed variants, how many have a test, and each variant with its tests.
    ``tested`` is :func:`conformance.coverage.tested_variants`."""
    s = specs.load()
    out: dict[str, dict[str, Any]] = {}
    for rid in requirement_ids or list(s.requirements):
        rows = [{"id": v.id, "kind": v.kind, "technique": v.technique, "en": v.en, "zh": v.zh,
                 "when": v.when, "tests": list(tested.get(v.id, []))} for v in s.variants_of(rid)]
        out[rid] = {"listed": len(rows), "tested": sum(1 for r in rows if r["tests"]), "variants": rows}
    return out
