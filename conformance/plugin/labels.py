"""Allure labels from the requirement markers: epic = area, story = requirement, severity = level."""

from __future__ import annotations

from conformance import specs

_SEVERITY = {"SHALL": "critical", "SHOULD": "normal", "MAY": "minor"}  # allure severities by level


def allure_labels(requirement_ids: list[str]) -> None:
    try:
        import allure
    except ImportError:  # allure-pytest is a dependency, but labels are a nicety, not a verdict
        return
    s = specs.load()
    for rid in requirement_ids:
        req = s.requirement(rid)
        allure.dynamic.epic(req.area)
        allure.dynamic.story(rid)
        allure.dynamic.severity(_SEVERITY.get(req.level, "normal"))
        allure.dynamic.link(f"specs/requirements.yaml#{rid}", name=f"{rid} {req.title}")
        allure.dynamic.tag(req.level)
