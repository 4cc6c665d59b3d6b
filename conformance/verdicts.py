"""The verdict model (profile.md §4): per test, per requirement, overall; worst wins.

Verdict and level codes come from ``specs/terminology.yaml`` (lists ``verdict``, ``overallVerdict``,
``requirementLevel``); their order there is their severity. Tests signal a verdict other than PASS
or FAIL by raising :class:`NotApplicable` or :class:`Inconclusive`; a :class:`ConformanceFailure`
(or any ``AssertionError``) is a FAIL; anything else raised by the harness is an ERROR.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from _pytest.outcomes import Skipped

from conformance import specs


class _Codes:
    """Verdict codes by role, read from terminology.yaml by name (``specs.vocab``), so no module spells
    them and reordering the list cannot swap two roles; the list's order is only their severity."""

    def __init__(self) -> None:
        s = specs.load()
        v = s.vocab
        self.order: list[str] = s.codes("verdict")
        self.NOT_APPLICABLE, self.PASS = v.verdict.NOT_APPLICABLE, v.verdict.PASS
        self.INCONCLUSIVE, self.ERROR, self.FAIL = v.verdict.INCONCLUSIVE, v.verdict.ERROR, v.verdict.FAIL
        self.CONFORMANT = v.overallVerdict.CONFORMANT
        self.NON_CONFORMANT = v.overallVerdict.NON_CONFORMANT
        self.INCOMPLETE = v.overallVerdict.INCOMPLETE
        self.exit_codes = {c.code: int(c.extra["exitCode"]) for c in s.code_lists()["overallVerdict"]}
        self.SHALL, self.SHOULD, self.MAY = v.requirementLevel.SHALL, v.requirementLevel.SHOULD, v.requirementLevel.MAY


_codes: _Codes | None = None


def codes() -> _Codes:
    global _codes
    if _codes is None:
        _codes = _Codes()
    return _codes


class NotApplicable(Skipped):
    """The ICS does not claim what this test needs."""


class Inconclusive(Skipped):
    """The harness could not establish the test's precondition."""


class ConformanceFailure(AssertionError):
    """Observed behaviour contradicts the requirement. Carries what was expected and observed."""

    def __init__(self, message: str, *, expected: Any = None, observed: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.expected = expected
        self.observed = observed


def worst(verdicts: Iterable[str]) -> str:
    """The most severe verdict; NOT_APPLICABLE for none."""
    order = codes().order
    found = list(verdicts)
    return max(found, key=order.index) if found else codes().NOT_APPLICABLE


@dataclass
class TestResult:
    __test__ = False  # not a pytest test class, whatever its name

    nodeid: str
    requirements: list[str]
    verdict: str
    duration_seconds: float
    message: str | None = None
    expected: Any = None
    observed: Any = None
    measurements: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    variants: list[str] = field(default_factory=list)
    """The variants of specs/variants.yaml this test instance covers (its ``variant`` markers)."""
    test_id: str | None = None
    """The test's stable id (its requirement marker's ``id=``), what ``verified_by`` publishes."""

    def as_json(self) -> dict[str, Any]:
        return {"nodeid": self.nodeid, "testId": self.test_id, "requirements": self.requirements, "verdict": self.verdict,
                "durationSeconds": round(self.duration_seconds, 3), "message": self.message,
                "expected": self.expected, "observed": self.observed,
                "measurements": self.measurements, "evidence": self.evidence, "variants": self.variants}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> TestResult:
        return cls(nodeid=d["nodeid"], requirements=list(d["requirements"]), verdict=d["verdict"],
                   duration_seconds=float(d.get("durationSeconds", 0)), message=d.get("message"),
                   expected=d.get("expected"), observed=d.get("observed"),
                   measurements=list(d.get("measurements") or []), evidence=list(d.get("evidence") or []),
                   variants=list(d.get("variants") or []), test_id=d.get("testId"))


@dataclass
class RequirementVerdict:
    id: str
    level: str
    area: str
    title: str
    verdict: str
    tests: list[str]
    reason: str
    measurements: list[dict[str, Any]] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)
    variants: list[dict[str, Any]] = field(default_factory=list)
    """Each variant of the requirement a test covered: id, kind, technique, en, verdict, tests."""
    variants_not_run: list[str] = field(default_factory=list)

    @property
    def failed_variants(self) -> list[str]:
        return [v["id"] for v in self.variants if v["verdict"] == codes().FAIL]

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "level": self.level, "area": self.area, "title": self.title,
                "verdict": self.verdict, "tests": self.tests, "reason": self.reason,
                "measurements": self.measurements, "evidence": self.evidence,
                "variants": self.variants, "failedVariants": self.failed_variants,
                "variantsNotRun": self.variants_not_run}


# Where a failed test that judged several variants names those that failed, in its ``observed``
# (conformance.variants.expect_each); the rest of its variants held. A failed test that names none
# failed all of its variants.
FAILED_VARIANTS_KEY = "failedVariants"


def _variant_verdict(result: TestResult, vid: str) -> str:
    if result.verdict == codes().FAIL and isinstance(result.observed, dict):
        named = result.observed.get(FAILED_VARIANTS_KEY)
        if isinstance(named, list) and named and vid not in named:
            return codes().PASS
    return result.verdict


def variant_outcomes(rid: str, mine: list[TestResult], claimed: dict[str, bool]) -> tuple[list[dict[str, Any]], list[str]]:
    """Per variant of ``rid`` that a test covered: the worst of its tests' verdicts for it
    (NOT_APPLICABLE when the ICS is not the capability combination the variant is about); and the
    variants no test of this run covered."""
    out, not_run = [], []
    for v in specs.load().variants_of(rid):
        tests = [r for r in mine if v.id in r.variants]
        if not tests:
            not_run.append(v.id)
            continue
        verdict = codes().NOT_APPLICABLE if not v.applies(claimed) else worst(_variant_verdict(r, v.id) for r in tests)
        out.append({"id": v.id, "kind": v.kind, "technique": v.technique, "en": v.en, "verdict": verdict,
                    "tests": [r.nodeid for r in tests]})
    return out, not_run


def requirement_verdicts(
    results: list[TestResult],
    *,
    requirement_ids: list[str],
    claimed: dict[str, bool],
) -> list[RequirementVerdict]:
    """One verdict per requirement in ``requirement_ids``: worst of its tests.

    ``claimed`` is the ICS capabilities; a requirement whose capability is not claimed is
    NOT_APPLICABLE whatever its tests did (statically reviewed requirements have suite tests too,
    conformance/suite/test_ics.py). A requirement with no test result is INCONCLUSIVE: nothing
    established it.
    """
    c = codes()
    s = specs.load()
    out = []
    for rid in requirement_ids:
        req = s.requirement(rid)
        mine = [r for r in results if rid in r.requirements]
        if req.capability and not claimed.get(req.capability, False):
            verdict, reason = c.NOT_APPLICABLE, f"the ICS does not claim {req.capability}"
        elif not mine:
            verdict, reason = c.INCONCLUSIVE, "no test of this requirement ran"
        else:
            verdict = worst(r.verdict for r in mine)
            bad = [r for r in mine if r.verdict == verdict and verdict != c.PASS]
            reason = (bad[0].message or verdict) if bad else f"{len(mine)} test(s) passed"
        variants, not_run = variant_outcomes(rid, mine, claimed)
        failed = [v["id"] for v in variants if v["verdict"] == c.FAIL]
        if failed and verdict == c.FAIL:
            reason = f"{reason} [failed variants: {', '.join(failed)}]"
        out.append(RequirementVerdict(
            id=rid, level=req.level, area=req.area, title=req.title, verdict=verdict,
            tests=[r.nodeid for r in mine], reason=reason,
            measurements=[m for r in mine for m in r.measurements],
            evidence=sorted({e for r in mine for e in r.evidence}),
            variants=variants, variants_not_run=not_run,
        ))
    return out


@dataclass
class Overall:
    verdict: str
    exit_code: int
    counts: dict[str, int]
    warnings: list[str]


def overall(requirements: list[RequirementVerdict]) -> Overall:
    """CONFORMANT when every applicable SHALL passed; a failed SHALL makes it NON_CONFORMANT; a SHALL
    left undecided makes it INCOMPLETE. SHOULD and MAY outcomes other than PASS are warnings."""
    c = codes()
    counts = {v: 0 for v in c.order}
    warnings = []
    shall = [r for r in requirements if r.level == c.SHALL]
    for r in requirements:
        counts[r.verdict] += 1
        if r.level != c.SHALL and r.verdict not in (c.PASS, c.NOT_APPLICABLE):
            warnings.append(f"{r.id} ({r.level}) {r.verdict}: {r.reason}")
    if any(r.verdict == c.FAIL for r in shall):
        verdict = c.NON_CONFORMANT
    elif any(r.verdict in (c.INCONCLUSIVE, c.ERROR) for r in shall):
        verdict = c.INCOMPLETE
    else:
        verdict = c.CONFORMANT
    return Overall(verdict=verdict, exit_code=c.exit_codes[verdict], counts=counts, warnings=warnings)
