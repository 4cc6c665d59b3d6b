"""report.html: one self-contained page (no scripts, no external assets) from report.json."""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from conformance import specs

_env = Environment(loader=PackageLoader("conformance.report", "templates"), autoescape=select_autoescape(["html"]))


def render_html(report: dict[str, Any]) -> str:
    s = specs.load()
    areas = {a["code"]: a for a in s.areas}
    by_area: dict[str, list[dict[str, Any]]] = {}
    for r in report["requirements"]:
        by_area.setdefault(r["area"], []).append(r)
    labels = {c.code: c.zh for c in s.code_lists()["verdict"] + s.code_lists()["overallVerdict"]}
    return _env.get_template("report.html.j2").render(
        report=report, by_area=by_area, areas=areas, labels=labels,
        requirements={rid: s.requirement(rid) for rid in (r["id"] for r in report["requirements"])},
    )
