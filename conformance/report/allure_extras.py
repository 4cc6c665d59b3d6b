"""What allure-pytest cannot know during the run, added to ``allure-results/`` afterwards.

- ``environment.properties``: target, profile, suite version, ICS identity, overall verdict;
- ``categories.json``: one category per verdict, matched on the ``VERDICT:`` prefix this module
  puts on each non-passing result's message (INCONCLUSIVE and NOT_APPLICABLE are both "skipped" to
  Allure; the prefix keeps them apart);
- each test's evidence JSON and HAR attached to its result (hard links where the file system allows,
  so the bundle does not grow);
- requirement links that resolve: ``../report.html#<id>`` from a report built into
  ``<run>/allure-report/`` (``ccc-conformance report RUN_DIR --allure``), instead of a repository path.

File formats as Allure Report's documentation describes them ("Test categories", "Environment
information", and the allure-results result-file format written by allure-python-commons).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

from conformance import specs
from conformance.evidence import safe_name

ALLURE_DIR = "allure-results"
_STATUSES = {"passed", "failed", "broken", "skipped", "unknown"}


def _full_name(nodeid: str) -> tuple[str, str]:
    module, _, func = nodeid.partition("::")
    return module.removesuffix(".py").replace("/", ".") + "#" + func.split("[")[0], func


def _properties(report: dict[str, Any]) -> str:
    platform = report["ics"].get("platform") or {}
    items = {
        "target": report["target"]["testControlBaseUrl"],
        "profile": f"{report['profile']['id']}/{report['profile']['version']}",
        "suite": f"{report['suite']['name']} {report['suite']['version']}",
        "platform": " ".join(str(platform.get(k, "")) for k in ("name", "version")).strip(),
        "operator": str(platform.get("operator", "")),
        "verdict": report["overall"]["verdict"],
        "run": report["runId"],
    }
    # .properties escaping: backslash, and the separators at the start of a value do not matter here.
    return "".join(f"{k}={str(v).replace(chr(92), chr(92) * 2)}\n" for k, v in items.items())


def _categories() -> list[dict[str, Any]]:
    from conformance.verdicts import codes

    c = codes()
    # Allure only files results of these statuses under a category; our prefix then picks the verdict.
    statuses = {c.PASS: ["passed"], c.FAIL: ["failed", "broken"], c.ERROR: ["broken", "failed"],
                c.INCONCLUSIVE: ["skipped"], c.NOT_APPLICABLE: ["skipped"]}
    out = []
    for v in specs.load().code_lists()["verdict"]:
        category: dict[str, Any] = {"name": f"{v.code} · {v.zh} · {v.en}", "matchedStatuses": statuses.get(v.code, []),
                                    "description": v.definition}
        if v.code != c.PASS:  # a passed result has no message to carry the prefix
            category["messageRegex"] = f"^{v.code}:.*"
        out.append(category)
    return out


def _attach(results: Path, source: Path, name: str, mime: str) -> dict[str, str]:
    target = results / f"{uuid.uuid4()}-attachment{source.suffix}"
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)
    return {"name": name, "source": target.name, "type": mime}


def write_allure_extras(run_dir: Path, report: dict[str, Any]) -> None:
    results = run_dir / ALLURE_DIR
    if not results.is_dir():
        return
    (results / "environment.properties").write_text(_properties(report), encoding="utf-8")
    (results / "categories.json").write_text(json.dumps(_categories(), ensure_ascii=False, indent=1), encoding="utf-8")
    tests = {}
    for t in report["tests"]:
        tests[_full_name(t["nodeid"])] = t
    for path in sorted(results.glob("*-result.json")):
        with contextlib.suppress(ValueError, OSError):
            doc = json.loads(path.read_text(encoding="utf-8"))
            test = tests.get((doc.get("fullName", ""), doc.get("name", "")))
            if test is None:
                continue
            _enrich(doc, test, run_dir, results)
            path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")


def _enrich(doc: dict[str, Any], test: dict[str, Any], run_dir: Path, results: Path) -> None:
    from conformance.verdicts import codes

    verdict = test["verdict"]
    if any(p.get("name") == "verdict" for p in doc.get("parameters") or []):
        return  # already enriched (the suite's own process and the runner both render)
    doc.setdefault("parameters", []).append({"name": "verdict", "value": verdict})
    if verdict != codes().PASS and doc.get("status") in _STATUSES:
        details = doc.setdefault("statusDetails", {})
        message = details.get("message") or test.get("message") or ""
        details["message"] = f"{verdict}: {message}"
    for link in doc.get("links") or []:
        url = str(link.get("url", ""))
        if "#" in url and not url.startswith(("http://", "https://", "../")):
            link["url"] = "../report.html#" + url.rsplit("#", 1)[1]
    attachments = doc.setdefault("attachments", [])
    files = [run_dir / e for e in test.get("evidence") or []] or [run_dir / "evidence" / f"{safe_name(test['nodeid'])}.json"]
    for evidence in files:
        for source, mime in ((evidence, "application/json"), (evidence.with_suffix(".har"), "application/json")):
            if source.is_file():
                attachments.append(_attach(results, source, f"evidence {source.name}", mime))
