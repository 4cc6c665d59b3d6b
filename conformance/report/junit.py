"""junit.xml from the requirement verdicts, so CI shows what the run exit code means.

One ``<testsuite>`` per area, one ``<testcase>`` per requirement (classname = area, name = id and
title). The verdict is always in a ``verdict`` property. Mapping, chosen so that the JUnit totals
agree with the exit code:

- FAIL of a SHALL → ``<failure>``; ERROR of a SHALL → ``<error>``;
- FAIL or ERROR of a SHOULD/MAY → passed, with ``outcome=warning`` and the reason in system-out
  (a SHOULD never fails a run);
- INCONCLUSIVE and NOT_APPLICABLE → ``<skipped>`` whose ``type`` is the verdict code, so the two
  stay distinct; a failure accepted by a baseline → ``<skipped type="baseline">``.

The element and attribute names follow the de-facto JUnit XML format as Ant's junit report task
and pytest's junitxml write it (testsuites/testsuite/testcase, properties, failure/error/skipped).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from conformance import specs
from conformance.verdicts import codes

BASELINE_TYPE = "baseline"


def _summary(r: dict[str, Any]) -> str:
    lines = [r["reason"]]
    for m in r.get("measurements") or []:
        limit = f" (limit {m['limit']})" if m.get("limit") is not None else ""
        lines.append(f"{m['name']} = {m['value']}{(' ' + m['unit']) if m.get('unit') else ''}{limit}")
    lines += [f"test: {t}" for t in r["tests"]] + [f"evidence: {e}" for e in r.get("evidence") or []]
    return "\n".join(lines)


def junit_tree(report: dict[str, Any]) -> ET.ElementTree:
    c = codes()
    s = specs.load()
    accepted = {a["requirement"] for a in (report["overall"].get("baseline") or {}).get("accepted", [])}
    root = ET.Element("testsuites", name=report["suite"]["name"])
    by_area: dict[str, list[dict[str, Any]]] = {}
    for r in report["requirements"]:
        by_area.setdefault(r["area"], []).append(r)
    order = [a["code"] for a in s.areas]
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for area in sorted(by_area, key=lambda a: order.index(a) if a in order else len(order)):
        suite = ET.SubElement(root, "testsuite", name=area)
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for r in by_area[area]:
            counts["tests"] += 1
            case = ET.SubElement(suite, "testcase", classname=area, name=f"{r['id']} {r['title']}", time="0")
            props = ET.SubElement(case, "properties")
            for name, value in (("requirement", r["id"]), ("level", r["level"]), ("verdict", r["verdict"]),
                                *(("test", t) for t in r["tests"])):
                ET.SubElement(props, "property", name=name, value=value)
            shall = r["level"] == c.SHALL
            text = _summary(r)
            if r["id"] in accepted:
                ET.SubElement(props, "property", name="outcome", value=BASELINE_TYPE)
                ET.SubElement(case, "skipped", type=BASELINE_TYPE,
                              message=f"{r['verdict']} accepted by the baseline: {r['reason']}")
                counts["skipped"] += 1
            elif r["verdict"] in (c.NOT_APPLICABLE, c.INCONCLUSIVE):
                ET.SubElement(case, "skipped", type=r["verdict"], message=f"{r['verdict']}: {r['reason']}")
                counts["skipped"] += 1
            elif r["verdict"] == c.FAIL and shall:
                ET.SubElement(case, "failure", type=r["verdict"], message=r["reason"]).text = text
                counts["failures"] += 1
            elif r["verdict"] == c.ERROR and shall:
                ET.SubElement(case, "error", type=r["verdict"], message=r["reason"]).text = text
                counts["errors"] += 1
            elif r["verdict"] != c.PASS:
                ET.SubElement(props, "property", name="outcome", value="warning")
                ET.SubElement(case, "system-out").text = f"warning ({r['level']} {r['verdict']}): {text}"
            else:
                ET.SubElement(case, "system-out").text = text
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
    for k, v in totals.items():
        root.set(k, str(v))
    root.set("time", str(report["timings"]["durationSeconds"]))
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(report: dict[str, Any], path: Path) -> Path:
    junit_tree(report).write(path, encoding="utf-8", xml_declaration=True)
    return path
