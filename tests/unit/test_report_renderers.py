"""JUnit from verdicts, HAR 1.2 beside the evidence, Allure extras, and report.html's content."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest

from conformance.cli import main
from conformance.report.har import write_har
from conformance.report.html import measurement_lines, render_html
from conformance.report.junit import junit_tree
from conformance.report.options import ReportOptions
from conformance.report.render import render_all, seal
from conformance.verdicts import codes
from tests.unit.report_support import make_report, make_run_dir

C = codes()


def _case(tree: ET.ElementTree, rid: str) -> ET.Element:
    return next(c for c in tree.getroot().iter("testcase") if c.get("name", "").startswith(rid + " "))


def test_junit_maps_each_verdict_distinctly() -> None:
    # TKD-05 is a SHOULD: its FAIL is a warning, not a JUnit failure (the run exits 0 for it).
    report = make_report({"TKD-01": C.FAIL, "TKD-02": C.ERROR, "TKD-03": C.INCONCLUSIVE, "TKD-04": C.NOT_APPLICABLE,
                          "TKD-05": C.FAIL, "TKD-07": C.PASS})
    tree = junit_tree(report)
    assert _case(tree, "TKD-01").find("failure") is not None
    assert _case(tree, "TKD-02").find("error") is not None
    assert _case(tree, "TKD-03").find("skipped").get("type") == C.INCONCLUSIVE
    assert _case(tree, "TKD-04").find("skipped").get("type") == C.NOT_APPLICABLE
    should = _case(tree, "TKD-05")
    assert should.find("failure") is None and should.find("skipped") is None
    props = {p.get("name"): p.get("value") for p in should.iter("property")}
    assert props["verdict"] == C.FAIL and props["outcome"] == "warning"
    root = tree.getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("6", "1", "1", "2")


def test_har_is_valid_1_2_and_keeps_failed_exchanges(tmp_path: Path) -> None:
    run = make_run_dir(tmp_path / "run", make_report({"TKD-01": C.FAIL}, exchanges=True))
    [har_path] = write_har(run)
    log = json.loads(har_path.read_text(encoding="utf-8"))["log"]
    assert log["version"] == "1.2" and log["creator"]["name"] == "ccc-conformance"
    ok, failed = log["entries"]
    assert ok["request"]["queryString"] == [{"name": "x", "value": "1"}]
    assert json.loads(ok["request"]["postData"]["text"])["title"] == "移动电源"
    assert ok["response"]["status"] == 201 and ok["response"]["statusText"] == "Created"
    assert failed["response"]["status"] == 0 and failed["_error"].startswith("ConnectError")
    for e in log["entries"]:  # the fields HAR 1.2 requires
        assert {"startedDateTime", "time", "request", "response", "cache", "timings"} <= e.keys()
        assert {"method", "url", "httpVersion", "cookies", "headers", "queryString", "headersSize",
                "bodySize"} <= e["request"].keys()
        assert {"status", "statusText", "httpVersion", "cookies", "headers", "content", "redirectURL", "headersSize",
                "bodySize"} <= e["response"].keys()


def test_measurement_without_limit_shows_no_empty_limit() -> None:
    [line] = measurement_lines([{"name": "collateralObservationSeconds", "value": 3.5, "unit": "s"}])
    assert line["limit"] is None
    [many] = measurement_lines([{"name": "t", "value": v, "unit": "s", "limit": 3.0} for v in (0.1, 0.2, 4.0)])
    assert many["limit"] == "3" and many["over"] and "median 0.2" in many["shown"]


def test_html_is_self_contained_and_shows_the_failing_exchange(tmp_path: Path) -> None:
    report = make_report({"TKD-01": C.FAIL, "TKD-04": C.PASS}, exchanges=True,
                         measurements={"TKD-01": [{"name": "takedownLatency", "value": 4.0, "unit": "s", "limit": 3.0}],
                                       "TKD-04": [{"name": "collateralObservationSeconds", "value": 3.5, "unit": "s"}]})
    run = make_run_dir(tmp_path / "run", report)
    html = render_html(report, run, lang="en")
    assert "(limit )" not in html and "limit )" not in html
    assert "http://127.0.0.1:9/ccc-test/v1/listings?x=1" in html  # the exchange itself, inline
    assert "Bearer ***" in html and "ConnectError: refused" in html
    assert html.count("<svg") >= 4  # verdicts by area and latency vs deadline, in both languages
    for external in ('src="http', "src='http", 'href="http', "@import", "url(http"):
        assert external not in html
    assert '<body class="en">' in html and 'id="lang-switch"' in html
    assert '<details class="req" id="TKD-01" open>' in html


def test_render_all_and_seal_write_every_output(tmp_path: Path) -> None:
    from conformance.report import bundle_signature as sig

    private, _ = sig.generate_keypair(tmp_path / "keys")
    run = make_run_dir(tmp_path / "run", make_report({"TKD-01": C.FAIL}, exchanges=True))
    (run / "allure-results").mkdir()
    options = ReportOptions(sign_key=private, junit_xml=tmp_path / "ci" / "junit.xml")
    report = render_all(run, json.loads((run / "report.json").read_text(encoding="utf-8")), options)
    seal(run, options)
    assert report["signature"]["fingerprint"].startswith("SHA256:")
    for name in ("report.html", "junit.xml", "MANIFEST.sha256", "MANIFEST.sig", "signer-public-key.pem",
                 "allure-results/environment.properties", "allure-results/categories.json"):
        assert (run / name).is_file(), name
    assert (tmp_path / "ci" / "junit.xml").read_bytes() == (run / "junit.xml").read_bytes()
    assert report["signature"]["fingerprint"] in (run / "report.html").read_text(encoding="utf-8")
    categories = json.loads((run / "allure-results" / "categories.json").read_text(encoding="utf-8"))
    assert {c["messageRegex"] for c in categories if "messageRegex" in c} == {f"^{v}:.*" for v in C.order if v != C.PASS}
    assert all(c["matchedStatuses"] for c in categories)
    hars = sorted((run / "evidence").glob("*.har"))  # made in a second process: the same as made here
    assert hars and [h.name for h in hars] == [p.name for p in sorted(write_har_copy(run, tmp_path / "inline"))]


def write_har_copy(run: Path, into: Path) -> list[Path]:
    import shutil

    shutil.copytree(run / "evidence", into / "evidence", ignore=shutil.ignore_patterns("*.har"))
    made = write_har(into)
    for path in made:
        assert path.read_bytes() == (run / "evidence" / path.name).read_bytes()
    return made


def test_hars_are_made_here_when_the_helper_process_cannot_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    from conformance.report import render

    class Broken:
        def submit(self, fn: object, *args: object) -> Future[object]:
            future: Future[object] = Future()
            future.set_exception(BrokenProcessPool("the helper died"))
            return future

        def shutdown(self) -> None:
            pass

    monkeypatch.setattr(render, "_helper_pool", Broken)
    run = make_run_dir(tmp_path / "run", make_report({"TKD-01": C.FAIL}, exchanges=True))
    render_all(run, json.loads((run / "report.json").read_text(encoding="utf-8")))
    assert list((run / "evidence").glob("*.har"))


def test_an_error_writing_the_hars_is_raised_not_lost(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.report import render

    def fail(run_dir: Path) -> list[Path]:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(render, "write_har", fail)
    monkeypatch.setattr(render.sys, "platform", "darwin")  # the in-thread path: a monkeypatch reaches it
    run = make_run_dir(tmp_path / "run", make_report({"TKD-01": C.FAIL}, exchanges=True))
    with pytest.raises(OSError, match="No space left"):
        render_all(run, json.loads((run / "report.json").read_text(encoding="utf-8")))


def test_report_command_rerenders_in_the_other_language(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = make_run_dir(tmp_path / "run", make_report({"TKD-01": C.PASS}))
    with pytest.raises(SystemExit) as exc:
        main(["report", str(run), "--lang", "en", "--out", str(tmp_path / "en.html")])
    assert exc.value.code == 0
    assert '<body class="en">' in (tmp_path / "en.html").read_text(encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(["report", str(run), "--lang", "fr"])
    assert exc.value.code == 3


def test_allure_results_get_evidence_verdict_and_working_links(tmp_path: Path) -> None:
    from conformance.report.allure_extras import write_allure_extras

    report = make_report({"TKD-01": C.INCONCLUSIVE}, exchanges=True)
    run = make_run_dir(tmp_path / "run", report)
    write_har(run)
    results = run / "allure-results"
    results.mkdir()
    nodeid = report["tests"][0]["nodeid"]
    result = {"name": nodeid.split("::")[1], "fullName": "conformance.suite.test_tkd#" + nodeid.split("::")[1],
              "status": "skipped", "statusDetails": {"message": "precondition not met"},
              "links": [{"type": "link", "url": "specs/requirements.yaml#TKD-01", "name": "TKD-01"}]}
    (results / "x-result.json").write_text(json.dumps(result), encoding="utf-8")
    write_allure_extras(run, report)
    write_allure_extras(run, report)  # the suite's process and the runner both render: no duplicates
    doc = json.loads((results / "x-result.json").read_text(encoding="utf-8"))
    assert doc["statusDetails"]["message"] == f"{C.INCONCLUSIVE}: precondition not met"
    assert doc["links"][0]["url"] == "../report.html#TKD-01"
    assert sorted(a["name"].rsplit(".", 1)[1] for a in doc["attachments"]) == ["har", "json"]
    assert all((results / a["source"]).is_file() for a in doc["attachments"])
    props = (results / "environment.properties").read_text(encoding="utf-8")
    assert "target=http://127.0.0.1:9/ccc-test/v1" in props and "profile=" in props


def test_allure_without_node_says_how_to_get_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from conformance.report import commands

    run = make_run_dir(tmp_path / "run", make_report({"TKD-01": C.PASS}))
    (run / "allure-results").mkdir()
    monkeypatch.setattr(commands.shutil, "which", lambda name: None)
    assert commands.rerender(run, "zh", tmp_path / "r.html", True, print) == 3
    assert "npx --yes allure generate" in capsys.readouterr().out


def test_load_series_is_drawn_when_present(tmp_path: Path) -> None:
    report = make_report({"TKD-01": C.PASS})
    report["load"] = {"series": [{"second": i, "targetRate": 100.0, "sent": 98 + i % 3, "ok": 98, "errors": i % 2,
                                  "p50Ms": 12.0 + i % 5, "p99Ms": 40.0 + i} for i in range(30)]}
    html = render_html(report, tmp_path, lang="en")
    assert html.count("<svg") == 6  # verdicts, load series, histogram; each in both languages
    assert "Load time series" in html and "Load latency histogram" in html
    report["load"] = {"series": [{"second": "x", "p99Ms": "slow"}]}  # an unexpected shape: not drawn, no error
    assert render_html(report, tmp_path, lang="en").count("<svg") == 2


def test_page_inlines_a_bounded_number_of_exchanges(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.report import html as html_mod

    monkeypatch.setattr(html_mod, "EXCHANGE_BUDGET", 3)
    monkeypatch.setattr(html_mod, "EXCHANGES_OVER_BUDGET", 1)
    monkeypatch.setattr(html_mod, "EXCHANGES_HEAD", 0)
    report = make_report({"TKD-03": C.PASS, "TKD-01": C.FAIL, "TKD-02": C.FAIL}, exchanges=True)
    run = make_run_dir(tmp_path / "run", report)
    page = render_html(report, run, lang="en")
    # 2 exchanges per test on disk (6 in all): the FAILs come first and spend the budget (2 + 1),
    # the PASS gets the 1 shown past it.
    assert page.count('<details class="x">') == 4

    def shown(rid: str) -> int:  # exchanges inside one requirement's drill-down
        return page.split(f'id="{rid}"', 1)[1].split('<details class="req"', 1)[0].count('<details class="x">')

    assert (shown("TKD-01"), shown("TKD-02"), shown("TKD-03")) == (2, 1, 1)


def test_hars_are_forked_only_from_a_single_threaded_process() -> None:
    # fork() copies one thread; a lock another thread held at that moment would stay held in the child.
    import threading

    from conformance.report import render

    release = threading.Event()
    other = threading.Thread(target=release.wait)
    other.start()
    try:
        assert render._helper_pool() is None
    finally:
        release.set()
        other.join()
