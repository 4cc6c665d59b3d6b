"""The platform's schema checks (jsonschema-rs) agree with jsonschema, the harness's validator.

Corpus: every valid and invalid example under specs/examples/, then documents derived from the valid
ones by random edits (hypothesis) — each must get the same verdict from both. Then what the platform
adds of its own: formats it can read, a registry that never fetches, and short error messages with
the field's JSON Pointer (the `{code, message}` answers quote them).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker

from conformance import specs as harness_specs
from reference_platform.config import ConfigError, Schemas, specs_dir
from reference_platform.schemacheck import MAX_MESSAGE, SchemaError, Validator

SPECS = specs_dir()
OURS = Schemas(SPECS)
THEIRS = harness_specs.load(str(SPECS))
EXAMPLES = SPECS / "examples"


def _load(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def _examples(kind: str) -> list[tuple[str, Path]]:
    out = []
    for folder in sorted((EXAMPLES / kind).iterdir()):
        if folder.is_dir() and (SPECS / "schemas" / f"{folder.name}.schema.json").is_file():
            out += [(folder.name, path) for path in sorted(folder.iterdir()) if path.suffix in (".json", ".yaml")]
    return out


@pytest.mark.parametrize(("schema", "path"), _examples("valid"), ids=lambda v: getattr(v, "name", v))
def test_valid_examples(schema: str, path: Path) -> None:
    doc = _load(path)
    assert THEIRS.is_valid(schema, doc)
    assert OURS.errors(schema, doc) == []


@pytest.mark.parametrize(("schema", "path"), _examples("invalid"), ids=lambda v: getattr(v, "name", v))
def test_invalid_examples(schema: str, path: Path) -> None:
    doc = _load(path)
    assert not THEIRS.is_valid(schema, doc)
    errors = OURS.errors(schema, doc)
    assert errors and errors[0].startswith("/")


def test_every_schema_compiles() -> None:
    for path in sorted((SPECS / "schemas").glob("*.schema.json")):
        OURS.validator(path.name.removesuffix(".schema.json"))


# -- the registry: specs/schemas/ and nothing else -----------------------------------------------------
def _specs_with(tmp_path: Path, name: str, schema: dict[str, Any]) -> Path:
    shutil.copytree(SPECS / "schemas", tmp_path / "schemas")
    (tmp_path / "schemas" / f"{name}.schema.json").write_text(json.dumps(schema), encoding="utf-8")
    return tmp_path


@pytest.mark.parametrize("ref", ["nowhere.schema.json", "common.schema.json#/$defs/nowhere",
                                 "http://127.0.0.1:9/remote.schema.json"])
def test_a_reference_outside_specs_stops_the_platform_at_start_up(tmp_path: Path, ref: str) -> None:
    root = _specs_with(tmp_path, "extra", {"$id": "extra.schema.json", "properties": {"x": {"$ref": ref}}})
    with pytest.raises(ConfigError, match="schema"):
        Schemas(root).validator("extra")


def test_a_malformed_schema_stops_the_platform(tmp_path: Path) -> None:
    root = _specs_with(tmp_path, "extra", {"$id": "extra.schema.json", "pattern": "("})
    with pytest.raises(ConfigError, match=r"extra\.schema\.json"):
        Schemas(root).validator("extra")
    with pytest.raises(ConfigError, match="missing"):
        OURS.validator("no-such")
    with pytest.raises(SchemaError):
        Validator({"type": "no-such-type"})


# -- random edits of valid documents ------------------------------------------------------------------
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 2**40), st.floats(allow_nan=False),
                    st.sampled_from(["", " ", "VALID", "FROZEN", "0701", "2021010701123456", "2025-12-01",
                                     "2025-02-30", "0000-12-01", "2025-12-01T10:00:00+08:00", "2025-12-01T10:00:00",
                                     "2016-12-31T23:59:60Z", "0000-01-01T00:00:00Z",
                                     "9b2f7e1c-1d3a-4c5e-9f00-123456789abc", "http://127.0.0.1/x", "x" * 1001,
                                     "有效", "OK", "NOT_FOUND"]),
                    st.text(max_size=20))
JSON = st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                     st.dictionaries(st.text(max_size=8), inner, max_size=3)),
                    max_leaves=6)
BASES = [(schema, _load(path)) for schema, path in _examples("valid")]


def _paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(doc, list):
        for index, value in enumerate(doc):
            out += _paths(value, (*prefix, index))
    return out


def _edit(doc: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    if not path:
        return value if action != "delete" else {}
    copy = json.loads(json.dumps(doc))
    parent = copy
    for step in path[:-1]:
        parent = parent[step]
    last = path[-1]
    if action == "delete" and isinstance(parent, dict):
        del parent[last]
    elif action == "add" and isinstance(parent, dict):
        parent[f"extra{len(parent)}"] = value
    else:
        parent[last] = value
    return copy


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None)
@given(st.sampled_from(BASES), st.data())
def test_random_edits_get_the_same_verdict(base: tuple[str, Any], data: st.DataObject) -> None:
    schema, doc = base
    path = data.draw(st.sampled_from(_paths(doc)))
    action = data.draw(st.sampled_from(["replace", "delete", "add"]))
    edited = _edit(doc, path, action, data.draw(JSON))
    ours = OURS.is_valid(schema, edited)
    assert ours == THEIRS.is_valid(schema, edited), (schema, edited)
    assert (OURS.errors(schema, edited) == []) == ours


# -- formats: the ones specs/schemas/ uses, as jsonschema checks them ---------------------------------------
# Near-misses as well as free text: random text alone almost never looks like a timestamp.
SHAPES = {
    "date-time": st.from_regex(r"\A\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})?\Z"),
    "date": st.from_regex(r"\A\d{4}-\d{2}-\d{2}\Z"),
    # ASCII only: jsonschema reads a uuid with Python's UUID(), which takes full-width digits too;
    # jsonschema-rs does not (RFC 9562 spells a UUID in ASCII hex, and the schema's pattern says so).
    "uuid": st.from_regex(r"\A[0-9a-gA-G]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\Z"),
    "uri": st.one_of(st.from_regex(r"\A[a-zA-Z0-9][a-zA-Z0-9+.-]{0,5}:(//)?[ -~]{0,25}\Z"),
                     st.text(st.characters(codec="ascii"), max_size=30)),
}
FORMAT_CHECKS = {fmt: Validator({"format": fmt}) for fmt in SHAPES}


@pytest.mark.parametrize("fmt", sorted(SHAPES))
def test_formats_agree_with_jsonschema(fmt: str) -> None:
    free = st.text(max_size=30) if fmt != "uuid" else st.text(st.characters(codec="ascii"), max_size=40)

    @settings(max_examples=200, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(SHAPES[fmt], free))
    def agree(value: str) -> None:
        assert FORMAT_CHECKS[fmt].is_valid(value) == FormatChecker().conforms(value, fmt), value

    agree()


@pytest.mark.parametrize(("fmt", "value", "valid"), [
    ("date-time", "2025-12-01T10:00:00+08:00", True),
    ("date-time", "2025-12-01t10:00:00.123456789z", True),
    ("date-time", "2025-12-01T10:00:00", False),            # no offset
    ("date-time", "2025-12-01T10:00:00+0800", False),       # ISO 8601 basic offset, not RFC 3339
    ("date-time", "2025-02-29T10:00:00Z", False),
    ("date-time", "2016-12-31T23:59:60Z", False),           # RFC 3339 leap second: Python cannot hold it
    ("date-time", "0000-01-01T00:00:00Z", False),           # year 0: likewise
    ("date", "2024-02-29", True),
    ("date", "2025-02-30", False),
    ("date", "0000-01-01", False),
    ("date", "2025-W49-1", False),                          # ISO week date: Python reads it, RFC 3339 does not
    ("uuid", "9B2F7E1C-1D3A-4C5E-9F00-123456789ABC", True),
    ("uuid", "{9b2f7e1c-1d3a-4c5e-9f00-123456789abc}", False),
    ("uri", "http://[::1]:8780/ccc/v1/notifications", True),
    ("uri", "/ccc/v1/notifications", False),                # relative
    ("uri", "http://127.0.0.1:port/", False),
    ("uri", "http://example.com/%zz", False),
])
def test_format_edges(fmt: str, value: str, valid: bool) -> None:
    assert FORMAT_CHECKS[fmt].is_valid(value) is valid
    assert FormatChecker().conforms(value, fmt) is valid


# -- error messages -------------------------------------------------------------------------------------
CREATE = {"merchantId": "m", "categoryId": "books", "title": "t"}


def test_errors_name_the_field_by_json_pointer() -> None:
    assert OURS.errors("listing-create", {**CREATE, "merchantId": 5}) == ['/merchantId: 5 is not of type "string"']
    assert OURS.errors("listing-create", {"categoryId": "books", "title": "t"})[0].startswith("/: ")
    assert Validator({"properties": {"a/b~c": {"items": {"type": "string"}}}}).first_error({"a/b~c": ["x", 1]}) \
        == '/a~1b~0c/1: 1 is not of type "string"'


def test_long_values_are_not_echoed() -> None:
    error = OURS.errors("listing-create", {**CREATE, "title": "x" * 5000})[0]
    assert error.startswith("/title: ") and "1000" in error and "xxxx" not in error
    key_error = Validator({"additionalProperties": False}).first_error({"k" * 5000: 1})
    assert key_error is not None and key_error.startswith("/: ") and len(key_error) <= MAX_MESSAGE


def test_json_equality() -> None:
    # enum and const compare JSON values: 1 is 1.0, true is not 1.
    one = Validator({"enum": [1, {"a": [1]}]})
    assert one.is_valid(1.0) and one.is_valid({"a": [1.0]})
    assert not one.is_valid(True) and not one.is_valid({"a": [True]})


@pytest.mark.parametrize("title", ["\ud800", "a\udfffb", " \ud83d", "x" * 999 + "\ud800", "x" * 1000 + "\ud800"])
def test_lone_surrogates_get_jsonschemas_verdict(title: str) -> None:
    # json.loads keeps an escaped lone surrogate; jsonschema-rs cannot take one as it is.
    doc = {**CREATE, "title": title, "\udc00": 1}
    assert OURS.is_valid("listing-create", doc) == THEIRS.is_valid("listing-create", doc)
    assert (OURS.errors("listing-create", doc) == []) == THEIRS.is_valid("listing-create", doc)


def test_patterns_are_read_as_jsonschema_reads_them() -> None:
    # ECMA-262 and Python's re disagree on what \s is (U+001C-U+001F, U+0085, U+FEFF): the harness's
    # jsonschema reads patterns Python's way, and so must the platform, for every character.
    text = json.loads((SPECS / "schemas" / "common.schema.json").read_text(encoding="utf-8"))["$defs"]["text"]
    ours, theirs = Validator(text), Draft202012Validator(text)
    disagree = [hex(code) for code in (*range(0xD800), *range(0xE000, 0x10000))
                if ours.is_valid(chr(code)) != theirs.is_valid(chr(code))]
    assert disagree == []
    assert ours.first_error(" ") == '/: " " does not match "\\\\S"'
    assert ours.first_error(" " * 200) == '/: the value does not match "\\\\S"'
