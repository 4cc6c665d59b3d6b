"""The load verdicts in the run's other outputs: a ``load`` suite in junit.xml, results in allure-results/.

pytest writes both for the functional suite; the load phase runs after it, outside pytest, so its
``TestResult``s are added here in the same formats (one testcase / allure result per AVL requirement,
its figures as properties / parameters), and CI and Allure see one run.
"""

from __future__ import annotations

import json
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

from conformance import specs
from conformance.verdicts import TestResult, codes

SUITE = "load"
_SEVERITY = {"SHALL": "critical", "SHOULD": "normal", "MAY": "minor"}


def write(run_dir: Path, results: list[TestResult]) -> None:
    if results:
        _junit(run_dir / "junit.xml", results)
        _allure(run_dir / "allure-results", results)


def _junit(path: Path, results: list[TestResult]) -> None:
    c = codes()
    if path.is_file():
        tree = ET.parse(path)
        root = tree.getroot()
    else:
        root = ET.Element("testsuites")
        tree = ET.ElementTree(root)
    if root.tag == "testsuite":   # pytest writes one <testsuite>; wrap it so ours sits beside it
        wrapper = ET.Element("testsuites")
        wrapper.append(root)
        root = wrapper
        tree = ET.ElementTree(root)
    failed = [r for r in results if r.verdict == c.FAIL]
    errors = [r for r in results if r.verdict in (c.ERROR, c.INCONCLUSIVE)]
    took = max((r.duration_seconds for r in results), default=0.0)
    suite = ET.SubElement(root, "testsuite", name=SUITE, tests=str(len(results)), failures=str(len(failed)),
                          errors=str(len(errors)), skipped="0", time=f"{took:.3f}")
    for r in results:
        case = ET.SubElement(suite, "testcase", classname=SUITE, name=r.nodeid, time=f"{r.duration_seconds:.3f}")
        props = ET.SubElement(case, "properties")
        for rid in r.requirements:
            ET.SubElement(props, "property", name="requirement", value=rid)
        for m in r.measurements:
            ET.SubElement(props, "property", name=m["name"], value=str(m.get("value")))
        if r.verdict == c.FAIL:
            ET.SubElement(case, "failure", message=r.message or r.verdict).text = json.dumps(
                {"expected": r.expected, "observed": r.observed}, ensure_ascii=False, default=str)[:20000]
        elif r.verdict in (c.ERROR, c.INCONCLUSIVE):
            ET.SubElement(case, "error", message=f"{r.verdict}: {r.message or ''}")
    tree.write(path, encoding="utf-8", xml_declaration=True)


def _allure(folder: Path, results: list[TestResult]) -> None:
    c, s = codes(), specs.load()
    folder.mkdir(parents=True, exist_ok=True)
    status = {c.PASS: "passed", c.FAIL: "failed", c.ERROR: "broken", c.INCONCLUSIVE: "broken", c.NOT_APPLICABLE: "skipped"}
    now = int(time.time() * 1000)
    for r in results:
        labels = [{"name": "suite", "value": SUITE}, {"name": "framework", "value": "ccc-conformance"}]
        for rid in r.requirements:
            req = s.requirement(rid)
            labels += [{"name": "epic", "value": req.area}, {"name": "story", "value": rid},
                       {"name": "severity", "value": _SEVERITY.get(req.level, "normal")}, {"name": "tag", "value": req.level}]
        doc = {"uuid": str(uuid.uuid4()), "historyId": r.nodeid, "name": r.nodeid, "fullName": r.nodeid,
               "status": status.get(r.verdict, "unknown"), "statusDetails": {"message": r.message or ""},
               "labels": labels, "parameters": [{"name": m["name"], "value": str(m.get("value"))} for m in r.measurements],
               "start": now - int(r.duration_seconds * 1000), "stop": now}
        (folder / f"{doc['uuid']}-result.json").write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
