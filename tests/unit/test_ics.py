"""conformance.ics: loading the ICS and PIXIT, and the static review (ICS-01, TERM-03, AUD-02)."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path
from typing import Any

import pytest

from conformance import ics
from conformance.ics import IcsError
from conformance.specs import Specs

REFERENCE_PIXIT_SECRET = "reference-secret-change-me"


@pytest.fixture
def reference(specs: Specs) -> dict[str, Any]:
    return ics.load_ics(specs.root / "examples" / "ics-reference.yaml")


def verdicts(doc: dict[str, Any]) -> dict[str, ics.StaticVerdict]:
    return {v.requirement: v for v in ics.review(doc)}


def verdict_codes(specs: Specs) -> dict[str, str]:
    # Test-side names for the codes; the point is that the module returns what terminology.yaml lists.
    order = specs.codes("verdict")
    return {"PASS": order[1], "FAIL": order[-1], "INCONCLUSIVE": order[2]}


# -- review ---------------------------------------------------------------------------------------
def test_reference_ics_passes_all_three(reference: dict[str, Any], specs: Specs) -> None:
    result = ics.review(reference)
    assert [v.requirement for v in result] == ["ICS-01", "TERM-03", "AUD-02"]
    assert all(v.verdict == verdict_codes(specs)["PASS"] and v.reasons == [] for v in result)
    assert all(ics.passed(v) for v in result)
    assert all(v.verdict in specs.codes("verdict") for v in result)


@pytest.mark.parametrize(("section", "key", "param"), [
    ("timing", "listingDecisionSeconds", "maxTestListingDecisionSeconds"),
    ("timing", "takedownDeadlineSeconds", "maxTestTakedownDeadlineSeconds"),
    ("timing", "reverificationIntervalSeconds", "maxTestReverificationIntervalSeconds"),
    ("timing", "pollIntervalSeconds", "maxTestPollIntervalSeconds"),
    ("production", "takedownDeadlineSeconds", "maxProductionTakedownDeadlineSeconds"),
    ("production", "reverificationIntervalSeconds", "maxProductionReverificationIntervalSeconds"),
])
def test_each_timing_is_held_to_its_profile_maximum(reference: dict[str, Any], specs: Specs,
                                                     section: str, key: str, param: str) -> None:
    limit = specs.param(param)
    doc = copy.deepcopy(reference)
    doc[section][key] = limit  # at the maximum: allowed
    assert verdicts(doc)["ICS-01"].reasons == []
    doc[section][key] = limit + 0.5
    got = verdicts(doc)["ICS-01"]
    assert got.verdict == verdict_codes(specs)["FAIL"]
    assert got.reasons == [f"/{section}/{key}: {limit + 0.5:g} s exceeds the profile maximum {limit:g} s ({param})"]


def test_schema_errors_are_one_reason_each(reference: dict[str, Any]) -> None:
    doc = copy.deepcopy(reference)
    doc["timing"]["takedownDeadlineSeconds"] = "five"
    doc["timing"]["pollIntervalSeconds"] = True  # YAML true is an int to Python, never a number of seconds
    del doc["platform"]["operator"]
    reasons = verdicts(doc)["ICS-01"].reasons
    assert "/timing/takedownDeadlineSeconds: 'five' is not of type 'number'" in reasons
    assert "/timing/pollIntervalSeconds: True is not of type 'number'" in reasons
    assert "/platform: 'operator' is a required property" in reasons
    assert len(reasons) == 3


def test_notification_url_must_follow_status_push(reference: dict[str, Any]) -> None:
    doc = copy.deepcopy(reference)
    doc["capabilities"]["statusPush"] = False
    assert verdicts(doc)["ICS-01"].reasons[0].startswith("/endpoints/notificationUrl: must be null")
    doc["endpoints"]["notificationUrl"] = None
    assert verdicts(doc)["ICS-01"].reasons == []
    doc["capabilities"]["statusPush"] = True
    reasons = verdicts(doc)["ICS-01"].reasons
    assert len(reasons) == 1 and "statusPush is true" in reasons[0]


def test_duplicate_category_ids(reference: dict[str, Any]) -> None:
    doc = copy.deepcopy(reference)
    first = doc["categoryMapping"][1]
    doc["categoryMapping"].append({"categoryId": first["categoryId"], "name": "again", "productCode": None})
    last = len(doc["categoryMapping"]) - 1
    assert verdicts(doc)["ICS-01"].reasons == [
        f"/categoryMapping/{last}/categoryId: duplicate category {first['categoryId']!r} (first at /categoryMapping/1)"]


def _mapped(reference: dict[str, Any], *codes: str) -> dict[str, Any]:
    """The reference ICS with its first catalogue categories mapped to ``codes`` instead."""
    doc = copy.deepcopy(reference)
    for entry, code in zip(doc["categoryMapping"], codes, strict=False):
        entry["productCode"] = code
        entry.pop("scheme", None)
    return doc


@pytest.fixture
def official(specs: Specs, tmp_path: Path) -> Specs:
    """A copy of specs/ whose catalogue says it is the whole official list, as a regulator installs one."""
    root = tmp_path / "specs"
    shutil.copytree(specs.root, root)
    path = root / "catalogue.yaml"
    text = path.read_text(encoding="utf-8")
    for key in ("complete", "groups_complete"):
        assert f"\n{key}: false\n" in text
        text = text.replace(f"\n{key}: false\n", f"\n{key}: true\n")
    path.write_text(text, encoding="utf-8")
    return Specs(root)


def test_a_code_the_partial_catalogue_lacks_is_inconclusive_with_a_finding(reference: dict[str, Any],
                                                                           specs: Specs) -> None:
    assert not specs.catalogue_complete
    assert "2207" not in specs.catalogue and "22" in specs.catalogue_groups
    got = verdicts(_mapped(reference, "2207"))
    assert got["ICS-01"].reasons == []  # well-formed, just not in the catalogue
    assert got["TERM-03"].verdict == verdict_codes(specs)["INCONCLUSIVE"]
    assert got["TERM-03"].reasons == [
        f"/categoryMapping/0/productCode: code 2207 is not in the suite's catalogue revision "
        f"{specs.catalogue_revision}; check it against the official list"]
    assert specs.catalogue_revision == "2023-partial"


def test_an_unknown_group_is_inconclusive_while_the_group_list_is_incomplete(reference: dict[str, Any],
                                                                             specs: Specs) -> None:
    assert not specs.catalogue_groups_complete and "99" not in specs.catalogue_groups
    assert verdicts(_mapped(reference, "9999"))["TERM-03"].verdict == verdict_codes(specs)["INCONCLUSIVE"]


def test_toys_and_phones_are_never_a_false_fail(reference: dict[str, Any], specs: Specs) -> None:
    # Toys 2202 and phones 1606 are in the catalogue (certificate-number evidence, catalogue.yaml): PASS.
    assert verdicts(_mapped(reference, "2202", "2201"))["TERM-03"].verdict == verdict_codes(specs)["PASS"]
    assert "1606" in specs.catalogue and specs.catalogue["1606"].source
    phones = verdicts(_mapped(reference, "2202", "1606"))["TERM-03"]
    assert (phones.verdict, phones.reasons) == (verdict_codes(specs)["PASS"], [])


def test_a_product_whose_code_is_not_established_stays_open(reference: dict[str, Any], specs: Specs) -> None:
    # Motorcycles (1102 in secondary copies) are still on the left-out list: well-formed, in an existing
    # group, not in the partial catalogue — never a false FAIL, only a finding.
    assert "1102" not in specs.catalogue and "11" in specs.catalogue_groups
    got = verdicts(_mapped(reference, "2202", "1606", "1102"))["TERM-03"]
    assert got.verdict == verdict_codes(specs)["INCONCLUSIVE"]
    assert got.reasons == [f"/categoryMapping/2/productCode: code 1102 is not in the suite's catalogue revision "
                           f"{specs.catalogue_revision}; check it against the official list"]


@pytest.mark.parametrize("code", ["1604", "0801", "1901"])
def test_a_removed_product_fails(reference: dict[str, Any], specs: Specs, code: str) -> None:
    removed = specs.removed_product(code)
    assert removed is not None
    got = verdicts(_mapped(reference, code))["TERM-03"]
    assert got.verdict == verdict_codes(specs)["FAIL"]
    assert got.reasons == [f"/categoryMapping/0/productCode: {code!r} was {removed.name_zh} ({removed.name_en}), "
                           f"removed from the CCC catalogue by {removed.removed_by}"]


@pytest.mark.parametrize("code", ["070", "07011", "O701", "07 1", ""])
def test_a_malformed_code_fails(reference: dict[str, Any], specs: Specs, code: str) -> None:
    got = verdicts(_mapped(reference, code))["TERM-03"]
    assert got.verdict == verdict_codes(specs)["FAIL"]
    assert got.reasons == [f"/categoryMapping/0/productCode: {code!r} is not a 4-digit CCC product code"]


def test_a_fail_keeps_the_unjudged_codes_as_findings(reference: dict[str, Any], specs: Specs) -> None:
    got = verdicts(_mapped(reference, "1604", "2207"))["TERM-03"]
    assert got.verdict == verdict_codes(specs)["FAIL"]
    assert len(got.reasons) == 1 and "'1604' was" in got.reasons[0]
    assert got.findings == [f"/categoryMapping/1/productCode: code 2207 is not in the suite's catalogue revision "
                            f"{specs.catalogue_revision}; check it against the official list"]
    assert got.lines()[-1] == f"TERM-03 finding: {got.findings[0]}"


def test_with_the_official_list_installed_unknown_codes_and_groups_fail(reference: dict[str, Any],
                                                                        official: Specs) -> None:
    assert official.catalogue_complete and official.catalogue_groups_complete
    unknown = {v.requirement: v for v in ics.review(_mapped(reference, "2207"), official)}["TERM-03"]
    assert unknown.verdict == verdict_codes(official)["FAIL"]
    assert unknown.reasons == ["/categoryMapping/0/productCode: '2207' is not a product code of the CCC catalogue "
                               "(revision 2023-partial)"]
    group = {v.requirement: v for v in ics.review(_mapped(reference, "9999"), official)}["TERM-03"]
    assert group.verdict == verdict_codes(official)["FAIL"]
    assert group.reasons[0].startswith("/categoryMapping/0/productCode: '9999' has no catalogue group 99 ")
    # What the catalogue holds still passes.
    assert {v.requirement: v for v in ics.review(reference, official)}["TERM-03"].reasons == []


def test_the_exit_code_separates_fail_from_unjudged(reference: dict[str, Any]) -> None:
    assert ics.outcome(ics.review(reference), "x.yaml")[1] == ics.EXIT_PASSED
    assert ics.outcome(ics.review(_mapped(reference, "2207")), "x.yaml")[1] == ics.EXIT_UNJUDGED
    assert ics.outcome(ics.review(_mapped(reference, "1604", "2207")), "x.yaml")[1] == ics.EXIT_FAILED


def test_out_of_catalogue_categories_need_no_code(reference: dict[str, Any]) -> None:
    doc = copy.deepcopy(reference)
    doc["categoryMapping"] = [{"categoryId": "books", "name": "图书", "productCode": None}]
    assert verdicts(doc)["TERM-03"].reasons == []


def test_declared_scheme_must_match_the_catalogue(reference: dict[str, Any], specs: Specs) -> None:
    doc = copy.deepcopy(reference)
    assert doc["categoryMapping"][2]["productCode"] is not None
    code = doc["categoryMapping"][2]["productCode"]
    wrong = "self-declaration" if specs.catalogue[code].scheme == "certificate" else "certificate"
    doc["categoryMapping"][2]["scheme"] = wrong
    reasons = verdicts(doc)["TERM-03"].reasons
    assert len(reasons) == 1 and reasons[0].startswith("/categoryMapping/2/scheme:")


def test_unquoted_product_code_gets_a_hint(reference: dict[str, Any]) -> None:
    doc = copy.deepcopy(reference)
    doc["categoryMapping"][2]["productCode"] = 0o701  # what YAML 1.1 makes of 0701 unquoted
    assert "quoted strings" in verdicts(doc)["TERM-03"].reasons[0]


def test_missing_mapping_is_inconclusive_for_term_03(reference: dict[str, Any], specs: Specs) -> None:
    doc = copy.deepcopy(reference)
    del doc["categoryMapping"]
    got = verdicts(doc)
    assert got["ICS-01"].verdict == verdict_codes(specs)["FAIL"]
    assert got["TERM-03"].verdict == verdict_codes(specs)["INCONCLUSIVE"]


@pytest.mark.parametrize(("years", "ok"), [(1, False), (2.5, False), (3, True), (10, True)])
def test_retention_minimum(reference: dict[str, Any], specs: Specs, years: float, ok: bool) -> None:
    doc = copy.deepcopy(reference)
    doc["retention"]["verificationRecordYears"] = years
    got = verdicts(doc)["AUD-02"]
    assert got.verdict == verdict_codes(specs)["PASS" if ok else "FAIL"]
    if not ok:
        assert got.reasons[0].startswith(f"/retention/verificationRecordYears: {years:g} year")
        assert f"minimum of {specs.param('retentionMinYears'):g} years" in got.reasons[0]


def test_missing_retention_is_inconclusive_for_aud_02(reference: dict[str, Any], specs: Specs) -> None:
    doc = copy.deepcopy(reference)
    doc["retention"] = {"verificationRecordYears": "three"}
    assert verdicts(doc)["AUD-02"].verdict == verdict_codes(specs)["INCONCLUSIVE"]


def test_review_survives_any_shape() -> None:
    # A hostile or careless ICS must give verdicts, never an exception.
    for doc in ({}, {"timing": []}, {"categoryMapping": [1, None, "x", {"categoryId": ["a"]}]},
                {"capabilities": {"statusPush": True}, "endpoints": "x"}, {"retention": None}):
        result = ics.review(doc)
        assert len(result) == 3 and not ics.passed(result[0])


def test_verdict_lines_format() -> None:
    v = ics.StaticVerdict("ICS-01", "FAIL", ["/a: x", "/b: y"])
    assert v.lines() == ["ICS-01 FAIL: /a: x", "ICS-01 FAIL: /b: y"]
    assert ics.StaticVerdict("AUD-02", "PASS").lines() == ["AUD-02 PASS"]


# -- loading the ICS ------------------------------------------------------------------------------
def _one_line(exc: pytest.ExceptionInfo[IcsError]) -> str:
    message = str(exc.value)
    assert "\n" not in message
    return message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(IcsError) as exc:
        ics.load_ics(tmp_path / "nope.yaml")
    assert _one_line(exc) == f"{tmp_path / 'nope.yaml'}: ICS file not found"


def test_directory_and_binary(tmp_path: Path) -> None:
    with pytest.raises(IcsError, match="is a directory"):
        ics.load_ics(tmp_path)
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(IcsError, match="not UTF-8"):
        ics.load_ics(tmp_path / "bin.yaml")


def test_yaml_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "ics.yaml"
    path.write_text("profile: x\nplatform: {name: a\n  version: [\n", encoding="utf-8")
    with pytest.raises(IcsError) as exc:
        ics.load_ics(path)
    message = _one_line(exc)
    assert message.startswith(f"{path}:")
    line, col = message[len(str(path)) + 1:].split(":")[:2]
    assert line.isdigit() and col.isdigit()
    assert "not valid YAML" in message


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "ics.yaml"
    path.write_text("a: 1\nb: 2\na: 3\n", encoding="utf-8")
    with pytest.raises(IcsError, match=r":3:1: ICS is not valid YAML \(duplicate key 'a', first at line 1\)"):
        ics.load_ics(path)


@pytest.mark.parametrize(("text", "kind"), [("", "empty"), ("- a\n", "a list"), ("just text\n", "a str")])
def test_not_a_mapping(tmp_path: Path, text: str, kind: str) -> None:
    path = tmp_path / "ics.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(IcsError, match=f"must be a YAML mapping, but the file is {kind}$"):
        ics.load_ics(path)


def test_yaml_tags_cannot_build_objects(tmp_path: Path) -> None:
    path = tmp_path / "ics.yaml"
    path.write_text("a: !!python/object/apply:os.system ['true']\n", encoding="utf-8")
    with pytest.raises(IcsError, match="not valid YAML"):
        ics.load_ics(path)


# -- PIXIT ----------------------------------------------------------------------------------------
def test_pixit_from_file(specs: Specs) -> None:
    pixit = ics.load_pixit(specs.root / "examples" / "pixit-reference.yaml", env={})
    assert pixit["platformId"] == "reference-mall"
    assert pixit["platformSecret"] == REFERENCE_PIXIT_SECRET
    assert pixit["simulator"] == {"host": "127.0.0.1", "port": 0}
    assert REFERENCE_PIXIT_SECRET not in repr(pixit) and REFERENCE_PIXIT_SECRET not in str(pixit)
    assert pixit.secret_values() == [REFERENCE_PIXIT_SECRET]


def test_environment_overrides_the_file(specs: Specs) -> None:
    env = {"CCC_PLATFORM_ID": "env-mall", "CCC_PLATFORM_SECRET": "env-secret-123", "CCC_BEARER_TOKEN": "tok-1",
           "CCC_SIMULATOR_HOST": "0.0.0.0", "CCC_SIMULATOR_PORT": "9100"}
    pixit = ics.load_pixit(specs.root / "examples" / "pixit-reference.yaml", env=env)
    assert pixit["platformId"] == "env-mall"
    assert pixit["platformSecret"] == "env-secret-123"
    assert pixit["bearerToken"] == "tok-1"
    assert pixit["simulator"] == {"host": "0.0.0.0", "port": 9100}
    assert pixit["signatureAlgorithm"] == "HMAC-SHA256"  # from the file
    assert "tok-1" not in repr(pixit) and sorted(pixit.secret_values()) == ["env-secret-123", "tok-1"]
    assert "CCC_SIMULATOR_PORT" in pixit.source


def test_pixit_from_environment_only() -> None:
    pixit = ics.load_pixit(None, env={"CCC_PLATFORM_ID": "m", "CCC_PLATFORM_SECRET": "0123456789", "CCC_BEARER_TOKEN": ""})
    assert dict(pixit) == {"platformId": "m", "platformSecret": "0123456789"}  # an empty variable is unset
    assert pixit.source == "environment"


def test_pixit_missing_secret_says_how_to_fix() -> None:
    with pytest.raises(IcsError) as exc:
        ics.load_pixit(None, env={"CCC_PLATFORM_ID": "m"})
    message = _one_line(exc)
    assert "'platformSecret' is a required property" in message and "CCC_PLATFORM_SECRET" in message


def test_pixit_errors_never_show_the_secret(tmp_path: Path) -> None:
    path = tmp_path / "pixit.yaml"
    path.write_text("platformId: m\nplatformSecret: s3cr3t\nbearerToken: ''\n", encoding="utf-8")
    with pytest.raises(IcsError) as exc:
        ics.load_pixit(path, env={})
    message = _one_line(exc)
    assert "s3cr3t" not in message
    assert "/platformSecret: <redacted> is too short" in message
    assert "/bearerToken" in message


def test_pixit_bad_port_variable() -> None:
    with pytest.raises(IcsError, match="CCC_SIMULATOR_PORT: 'http' is not a port number"):
        ics.load_pixit(None, env={"CCC_PLATFORM_ID": "m", "CCC_PLATFORM_SECRET": "0123456789",
                                  "CCC_SIMULATOR_PORT": "http"})
    with pytest.raises(IcsError, match="/simulator/port"):
        ics.load_pixit(None, env={"CCC_PLATFORM_ID": "m", "CCC_PLATFORM_SECRET": "0123456789",
                                  "CCC_SIMULATOR_PORT": "70000"})


def test_pixit_unreadable(tmp_path: Path) -> None:
    with pytest.raises(IcsError, match="PIXIT file not found"):
        ics.load_pixit(tmp_path / "none.yaml", env={})

