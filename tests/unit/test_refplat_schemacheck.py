"""The platform's compiled schema checks agree with jsonschema, the reference implementation.

Corpus: every valid and invalid example under specs/examples/, then documents derived from the valid
ones by random edits (hypothesis) — each must get the same verdict from both.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conformance import specs as harness_specs
from reference_platform.config import Schemas, specs_dir
from reference_platform.schemacheck import FORMATS, Unsupported, Validator, json_equal

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


def test_unknown_keywords_fail_loudly() -> None:
    with pytest.raises(Unsupported):
        Validator({"type": "string", "contentEncoding": "base64"})


# -- random edits of valid documents ------------------------------------------------------------------
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-3, 2**40), st.floats(allow_nan=False),
                    st.sampled_from(["", " ", "VALID", "FROZEN", "0701", "2021010701123456", "2025-12-01",
                                     "2025-02-30", "2025-12-01T10:00:00+08:00", "2025-12-01T10:00:00",
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
    assert OURS.is_valid(schema, edited) == THEIRS.is_valid(schema, edited), (schema, edited)


@given(st.sampled_from(sorted(FORMATS)), st.one_of(st.text(max_size=40), SCALARS))
@settings(max_examples=400, deadline=None, database=None)
def test_formats_agree(fmt: str, value: Any) -> None:
    from jsonschema import FormatChecker

    assert FORMATS[fmt](value) == FormatChecker().conforms(value, fmt) if isinstance(value, str) else True


def test_json_equality() -> None:
    assert json_equal(1, 1.0) and not json_equal(True, 1) and not json_equal(0, False)
    assert json_equal({"a": [1, "x"]}, {"a": [1.0, "x"]}) and not json_equal([1], [1, 2])
