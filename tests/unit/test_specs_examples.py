"""specs/examples/: every valid example validates; every invalid one fails where it is meant to.

Layout: ``valid/<schema>/*.json|yaml``, ``invalid/<schema>/*.json|yaml`` and
``invalid/expectations.yaml`` (file → JSON pointer, optional message substring).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema.exceptions import ValidationError

from conformance.specs import Specs, load

SPECS = load()
EXAMPLES = SPECS.root / "examples"
# Schemas made only of $defs for others to use; they describe no document of their own.
DEFS_ONLY = {"codes", "common"}


def _read(path: Path) -> Any:
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def _examples(kind: str) -> list[Path]:
    return sorted(p for p in (EXAMPLES / kind).glob("*/*") if p.suffix in {".json", ".yaml"})


def _id(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _pointer(error: ValidationError) -> str:
    return "".join(f"/{p}" for p in error.absolute_path)


def _all_errors(errors: list[ValidationError]) -> Iterator[ValidationError]:
    """Errors and, for anyOf/oneOf, the errors of each branch behind them."""
    for e in errors:
        yield e
        yield from _all_errors(list(e.context or ()))


def test_every_document_schema_has_valid_and_invalid_examples() -> None:
    documents = set(SPECS.schemas) - DEFS_ONLY
    assert {p.parent.name for p in _examples("valid")} == documents
    assert {p.parent.name for p in _examples("invalid")} == documents


def test_defs_only_schemas_describe_no_document() -> None:
    for name in DEFS_ONLY:
        assert set(SPECS.schema(name)) <= {"$schema", "$id", "title", "description", "$defs"}


@pytest.mark.parametrize("path", _examples("valid"), ids=_id)
def test_valid_example_validates(path: Path) -> None:
    assert SPECS.errors(path.parent.name, _read(path)) == []


def test_reference_ics_and_pixit_validate() -> None:
    assert SPECS.errors("ics", _read(EXAMPLES / "ics-reference.yaml")) == []
    assert SPECS.errors("pixit", _read(EXAMPLES / "pixit-reference.yaml")) == []


EXPECTATIONS: dict[str, dict[str, str]] = yaml.safe_load((EXAMPLES / "invalid" / "expectations.yaml").read_text("utf-8"))


def test_every_invalid_example_has_an_expectation() -> None:
    assert set(EXPECTATIONS) == {_id(p) for p in _examples("invalid")}


@pytest.mark.parametrize("path", _examples("invalid"), ids=_id)
def test_invalid_example_fails_where_meant(path: Path) -> None:
    expected = EXPECTATIONS[_id(path)]
    want = expected["path"]
    errors = list(SPECS.validator(path.parent.name).iter_errors(_read(path)))
    assert errors, f"{_id(path)} validates, but should fail at {want!r}"
    # Each top-level error lies at the expected place or on the way to it (a oneOf at the root
    # reports there), so the example does not fail for some unintended reason elsewhere.
    for e in errors:
        where = _pointer(e)
        assert want == where or want.startswith(where + "/") or where == "", (
            f"{_id(path)}: unexpected error at {where!r}: {e.message}")
    at_path = [e for e in _all_errors(errors) if _pointer(e) == want]
    assert at_path, f"{_id(path)}: no error at {want!r}; got {[(_pointer(e), e.message) for e in errors]}"
    if "message" in expected:
        assert any(expected["message"] in e.message for e in at_path), (
            f"{_id(path)}: no error at {want!r} says {expected['message']!r}; got {[e.message for e in at_path]}")


def test_specs_errors_names_the_pointer() -> None:
    # conformance.specs.Specs.errors is what the ICS review prints; its format is part of the CLI.
    doc = _read(EXAMPLES / "invalid" / "ics" / "takedown-deadline-not-a-number.yaml")
    assert SPECS.errors("ics", doc) == ["/timing/takedownDeadlineSeconds: 'five' is not of type 'number'"]


def test_examples_fixture_is_the_loaded_specs(specs: Specs) -> None:
    assert specs.root == SPECS.root
