"""specs/ is self-consistent: schemas, OpenAPI documents, code lists, requirements, catalogue."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi

from conformance.specs import SCHEMAS_CHECKED_ENV, SpecError, Specs, checked_env

# profile.md §3, written out so that a requirement silently dropped from both profile.md and
# requirements.yaml still fails here.
EXPECTED_IDS = {
    *(f"TERM-0{i}" for i in range(1, 4)),
    *(f"MSG-0{i}" for i in range(1, 6)),
    *(f"VER-{i:02d}" for i in range(1, 13)),
    *(f"TKD-0{i}" for i in range(1, 8)),
    *(f"RES-0{i}" for i in range(1, 6)),
    *(f"SEC-0{i}" for i in range(1, 5)),
    *(f"AUD-0{i}" for i in range(1, 4)),
    *(f"VIS-0{i}" for i in range(1, 3)),
    *(f"RPT-0{i}" for i in range(1, 3)),
    *(f"AVL-0{i}" for i in range(1, 6)),
    *(f"ICS-0{i}" for i in range(1, 3)),
}
OPENAPI = ("regulator", "platform-test")


def schema_files(specs: Specs) -> list[Path]:
    return sorted((specs.root / "schemas").glob("*.schema.json"))


# -- JSON Schemas -------------------------------------------------------------------------------
def test_every_schema_is_valid_draft_2020_12(specs: Specs) -> None:
    files = schema_files(specs)
    assert len(files) >= 20
    for path in files:
        doc = json.loads(path.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(doc)
        assert doc.get("$id") == path.name, f"{path.name}: $id must be its file name (schemas refer to each other by it)"


def test_every_schema_reference_resolves(specs: Specs) -> None:
    for name in specs.schemas:
        # Validating an empty object walks every $ref reachable from the root; an unresolvable one raises.
        specs.errors(name, {})


# -- OpenAPI ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", OPENAPI)
def test_openapi_document_validates_with_file_refs(specs: Specs, name: str) -> None:
    path = specs.openapi_path(name).resolve()
    validate_openapi(yaml.safe_load(path.read_text(encoding="utf-8")), base_uri=path.as_uri())


@pytest.mark.parametrize("name", OPENAPI)
def test_bundled_openapi_document_validates(specs: Specs, name: str) -> None:
    bundled = specs.openapi_bundled(name)
    validate_openapi(bundled)
    refs = list(_refs(bundled))
    assert not [r for r in refs if not r.startswith("#")], "bundling must inline every schema file"


@pytest.mark.parametrize("name", OPENAPI)
def test_openapi_refs_resolve_inside_the_document(specs: Specs, name: str) -> None:
    # The documents are self-contained (conformance.openapi_examples inlines ../schemas/ and the
    # examples; tests/unit/test_openapi_examples.py keeps them equal to the files).
    # openapi-spec-validator does not follow $refs inside Schema Objects, so check them here.
    doc = specs.openapi(name)
    refs = list(_refs(doc))
    assert any(r.startswith("#/components/schemas/") for r in refs), "the bodies come from the schema files"
    for ref in refs:
        assert ref.startswith("#/"), f"{name}.yaml: $ref {ref} is not inside the document"
        node: Any = doc
        for part in ref[2:].split("/"):
            assert isinstance(node, dict) and part in node, f"{name}.yaml: $ref {ref}: no {part!r}"
            node = node[part]


def _refs(node: Any) -> Any:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _refs(item)


# -- code lists ---------------------------------------------------------------------------------
def test_every_code_enum_equals_its_terminology_list(specs: Specs) -> None:
    defs = specs.schema("codes")["$defs"]
    lists = specs.code_lists()
    derived = {"certificateStatusLabel"}
    assert set(defs) - derived == set(lists), "codes.schema.json and terminology.yaml list different code lists"
    for name, codes in lists.items():
        assert defs[name]["enum"] == [c.code for c in codes], f"codes.schema.json/$defs/{name} differs from terminology.yaml"


def test_known_statuses_are_well_formed_status_codes(specs: Specs) -> None:
    # Open-ended statuses (profile Clarifications): the code list must stay inside the pattern that
    # events and answers are held to, or a known status would be schema-invalid on the wire.
    known = specs.codes("certificateStatus")
    assert known and all(specs.is_status_code(code) for code in known)
    for malformed in ("", "valid", "Under_Review", "UNDER-REVIEW", "X" * 33, 7, None, "VALID\n", "\nVALID"):
        assert not specs.is_status_code(malformed), malformed
    assert specs.is_status_code("PROVISIONAL") and "PROVISIONAL" not in known


def test_events_and_certificates_carry_open_ended_statuses(specs: Specs) -> None:
    ref = {"$ref": "common.schema.json#/$defs/certificateStatusCode"}
    event = specs.schema("status-change-event")["properties"]
    assert event["status"] == ref and event["previousStatus"] == ref
    assert specs.schema("certificate")["properties"]["status"] == ref


def test_status_labels_are_the_chinese_labels(specs: Specs) -> None:
    labels = specs.schema("codes")["$defs"]["certificateStatusLabel"]["enum"]
    assert labels == [c.zh for c in specs.code_lists()["certificateStatus"]]


def test_every_invalid_status_has_its_reason_code(specs: Specs) -> None:
    reasons = specs.codes("reasonCode")
    for status in specs.invalid_statuses():
        assert specs.reason_for_status(status) in reasons
    assert specs.reason_for_status(specs.valid_status()) is None


def test_codes_are_unique_within_each_list(specs: Specs) -> None:
    for name, codes in specs.code_lists().items():
        values = [c.code for c in codes]
        assert len(values) == len(set(values)), f"duplicate code in {name}"


# -- requirements -------------------------------------------------------------------------------
def test_exactly_the_fifty_requirements_of_the_profile(specs: Specs) -> None:
    raw = yaml.safe_load((specs.root / "requirements.yaml").read_text(encoding="utf-8"))
    ids = [r["id"] for r in raw["requirements"]]
    assert len(ids) == len(set(ids)), "duplicate requirement id"
    assert len(ids) == 50
    assert set(ids) == EXPECTED_IDS


def test_requirements_match_profile_md(specs: Specs, repo_root: Path) -> None:
    profile_md = repo_root.parent / "shared" / "design" / "profile.md"
    if not profile_md.is_file():
        pytest.skip(f"{profile_md} not present (CI keeps shared/ beside the checkout); IDs checked against the list above")
    text = profile_md.read_text(encoding="utf-8")
    section = text[text.index("## 3."):text.index("## 4.")]
    declared = dict(re.findall(r"^- ([A-Z]+-\d{2}) (SHALL|SHOULD|MAY)\b", section, flags=re.MULTILINE))
    assert set(declared) == EXPECTED_IDS
    assert {rid: r.level for rid, r in specs.requirements.items()} == declared


def test_requirement_fields_use_known_values(specs: Specs) -> None:
    areas = [a["code"] for a in specs.areas]
    levels = specs.codes("requirementLevel")
    capabilities = set(specs.schema("ics")["properties"]["capabilities"]["properties"])
    for req in specs.requirements.values():
        assert req.area in areas, req.id
        assert req.id.startswith(f"{req.area}-"), req.id
        assert req.level in levels, req.id
        assert req.verification in {"automatic", "static", "manual"}, req.id
        assert req.capability is None or req.capability in capabilities, req.id
        assert req.text_zh.strip() and req.text_en.strip(), req.id


def test_static_requirements_are_the_ones_the_ics_review_decides(specs: Specs) -> None:
    from conformance.ics import STATIC_REQUIREMENTS

    static = {r.id for r in specs.requirements.values() if r.verification == "static"}
    assert static == set(STATIC_REQUIREMENTS)


# -- catalogue ----------------------------------------------------------------------------------
def test_catalogue_codes_are_unique_four_digits_under_their_category(specs: Specs) -> None:
    raw = yaml.safe_load((specs.root / "catalogue.yaml").read_text(encoding="utf-8"))
    seen: set[str] = set()
    categories = [c["code"] for c in raw["categories"]]
    assert len(categories) == len(set(categories)), "duplicate category code"
    for cat in raw["categories"]:
        assert isinstance(cat["code"], str) and re.fullmatch(r"\d{2}", cat["code"]), cat["code"]
        for product in cat["products"]:
            code = product["code"]
            assert isinstance(code, str) and re.fullmatch(r"\d{4}", code), f"{code!r} is not a 4-digit string"
            assert code[:2] == cat["code"], f"{code} is filed under category {cat['code']}"
            assert code not in seen, f"duplicate product code {code}"
            seen.add(code)
            assert product["scheme"] in {"certificate", "self-declaration"}, code
            assert product["name_zh"].strip(), code
    assert len(seen) == len(specs.catalogue)


def test_catalogue_knows_the_products_profile_md_names(specs: Specs) -> None:
    for code in ("0101", "0201", "0701", "0703", "0714", "0901"):
        assert code in specs.catalogue, code



def test_catalogue_says_what_it_is(specs: Specs) -> None:
    # Partial until the official annex is installed (README: installing the official catalogue).
    assert specs.catalogue_complete is False and specs.catalogue_groups_complete is False
    assert specs.catalogue_revision.endswith("-partial")
    # Established by certificate-search and certificate-number evidence: each names its source.
    for code in ("2201", "2202", "1606", "0902", "0903", "0808", "0718", "1101"):
        assert code in specs.catalogue and specs.catalogue[code].source, code


def test_catalogue_groups_and_removed_products_are_well_formed(specs: Specs) -> None:
    assert all(re.fullmatch(r"\d{2}", g) for g in specs.catalogue_groups)
    assert {p.category for p in specs.catalogue.values()} <= set(specs.catalogue_groups)
    assert specs.catalogue_removed
    for removed in specs.catalogue_removed:
        assert removed.removed_by and removed.source and removed.name_zh, removed
        if removed.code is not None:
            assert specs.matches_common("productCode", removed.code), removed
            assert removed.code not in specs.catalogue and removed.code[:2] in specs.catalogue_groups, removed
    # The ones the issue named: SAMR 2019 No. 44 and 2018 No. 29, codes only where a source shows them.
    names = {r.name_zh for r in specs.catalogue_removed}
    assert {"监视器", "集团电话", "复印机"} <= names


def test_a_removed_code_listed_as_current_is_a_spec_error(specs: Specs, tmp_path: Path) -> None:
    root = tmp_path / "specs"
    shutil.copytree(specs.root, root)
    path = root / "catalogue.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace('{code: "0802",', '{code: "0701",'), encoding="utf-8")
    with pytest.raises(SpecError, match="0701 also listed as current"):
        Specs(root)

def _with_broken_schema(specs: Specs, tmp_path: Path) -> Path:
    root = tmp_path / "specs"
    shutil.copytree(specs.root, root)
    path = root / "schemas" / "disposition.schema.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["properties"]["eventId"]["type"] = "no-such-type"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return root


def test_a_metaschema_error_is_a_spec_error(specs: Specs, tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"disposition\.schema\.json: /properties/eventId/type invalid schema"):
        Specs(_with_broken_schema(specs, tmp_path))


def test_schemas_checked_by_a_parent_are_not_checked_again(specs: Specs, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[object] = []
    monkeypatch.setattr(Draft202012Validator, "check_schema", classmethod(lambda cls, doc: calls.append(doc)))
    monkeypatch.setenv(SCHEMAS_CHECKED_ENV, specs.schemas_digest)
    assert Specs(specs.root).schemas == specs.schemas
    assert calls == []
    monkeypatch.setenv(SCHEMAS_CHECKED_ENV, "0" * 64)
    Specs(specs.root)
    assert len(calls) == len(schema_files(specs))


def test_a_digest_of_other_files_does_not_spare_the_check(specs: Specs, tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # The hand-over names the bytes it checked: a child whose schemas differ (edited in between, or
    # another CCC_SPECS_DIR) still finds their errors.
    monkeypatch.setenv(SCHEMAS_CHECKED_ENV, checked_env(specs)[SCHEMAS_CHECKED_ENV])
    with pytest.raises(SpecError, match="invalid schema"):
        Specs(_with_broken_schema(specs, tmp_path))


def test_a_schema_that_is_not_utf8_is_a_spec_error(specs: Specs, tmp_path: Path) -> None:
    root = tmp_path / "specs"
    shutil.copytree(specs.root, root)
    (root / "schemas" / "disposition.schema.json").write_bytes(b'{"title": "\xff"}')
    with pytest.raises(SpecError, match=r"disposition\.schema\.json: not UTF-8"):
        Specs(root)


# -- profile parameters -------------------------------------------------------------------------
def test_every_ics_timing_has_its_profile_maximum(specs: Specs) -> None:
    props = specs.schema("ics")["properties"]
    for section, prefix in (("timing", "maxTest"), ("production", "maxProduction")):
        for key in props[section]["properties"]:
            limit = specs.param(f"{prefix}{key[0].upper()}{key[1:]}")
            assert isinstance(limit, int | float) and limit > 0
    assert specs.param("retentionMinYears") == 3  # E-Commerce Law Art. 31


def _formats(node: Any) -> set[str]:
    if isinstance(node, dict):
        own = {node["format"]} if isinstance(node.get("format"), str) else set()
        return own.union(*(_formats(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_formats(v) for v in node))
    return set()


def test_every_format_the_specs_use_is_actually_checked(specs: Specs, repo_root: Path) -> None:
    # jsonschema silently ignores a format whose checker library is missing (pyproject.toml lists them
    # one by one instead of the format-nongpl extra): a schema's date-time or uri would then accept anything.
    from jsonschema import FormatChecker

    used = set().union(*(_formats(json.loads(p.read_text(encoding="utf-8"))) for p in schema_files(specs)))
    for doc in (repo_root / "specs" / "openapi").glob("*.yaml"):
        used |= _formats(yaml.safe_load(doc.read_text(encoding="utf-8")))
    assert {"date-time", "uri"} <= used
    unchecked = used - set(FormatChecker().checkers)
    assert not unchecked, f"formats used by specs/ but not checked by jsonschema here: {sorted(unchecked)}"
    checker = FormatChecker()
    assert not checker.conforms("yesterday", "date-time") and not checker.conforms("not a uri", "uri")


def test_patterns_are_read_as_ecma_262_so_a_trailing_newline_is_no_match(specs: Specs) -> None:
    # JSON Schema patterns are ECMA-262: `$` is the end of the input. Python's `$` also matches before a
    # final newline; read that way a certificate number or a status with "\n" after it would be valid.
    from conformance.specs import ecma_pattern

    assert ecma_pattern("^[0-9]{16}$") == "^[0-9]{16}\\Z"
    assert ecma_pattern("^a\\$[$]$") == "^a\\$[$]\\Z"  # escaped and in-class `$` stay literal
    number = "2020011606272300"
    assert specs.matches_common("certificateNo", number)
    assert not specs.matches_common("certificateNo", number + "\n")
    for definition in ("certificateNo", "certificateStatusCode", "uuid"):
        value = {"certificateNo": number, "certificateStatusCode": "VALID",
                 "uuid": "6f1c2b1e-3a4d-4e5f-8a9b-0c1d2e3f4a5b"}[definition]
        assert specs.definition_errors(definition, value) == [], definition
        assert specs.definition_errors(definition, value + "\n"), definition
