"""The OpenAPI documents' generated block (schemas and examples) equals specs/schemas/ and specs/examples/valid/."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conformance import openapi_examples
from conformance.specs import Specs, load

DOCUMENTS = openapi_examples.DOCUMENTS


@pytest.fixture(scope="module")
def specs() -> Specs:
    return load()


def test_documents_are_in_sync_with_the_schema_and_example_files(specs: Specs) -> None:
    stale = openapi_examples.stale(specs.root)
    assert not stale, f"out of date: {[p.name for p in stale]}; run python -m conformance.openapi_examples --write"


@pytest.mark.parametrize("name", DOCUMENTS)
def test_every_inlined_schema_equals_its_file(specs: Specs, name: str) -> None:
    doc = specs.openapi(name)
    components = doc["components"]["schemas"]
    files = [c for c in components if c.endswith(".schema.json")]
    assert files
    for component in files:
        schema = specs.schema(component.removesuffix(".schema.json"))
        # Same keywords as the file, less its identity and its hoisted $defs.
        assert set(components[component]) == set(schema) - {"$id", "$schema", "$defs"}, component


@pytest.mark.parametrize("name", DOCUMENTS)
def test_every_inlined_example_validates_against_the_schema_it_illustrates(specs: Specs, name: str) -> None:
    examples = specs.openapi(name)["components"]["examples"]
    assert examples
    for key, example in examples.items():
        schema, _, _ = key.partition(".")
        assert specs.errors(schema, example["value"]) == [], key


def test_a_reference_to_a_missing_example_is_a_one_line_error(tmp_path: Path, specs: Specs) -> None:
    (tmp_path / "openapi").mkdir()
    (tmp_path / "openapi" / "regulator.yaml").write_text(
        "x: {$ref: '#/components/examples/listing.no-such-file'}\ncomponents:\n" + openapi_examples.MARKER + "\n",
        encoding="utf-8")
    with pytest.raises(openapi_examples.ExamplesError, match="no file"):
        openapi_examples.render(tmp_path / "openapi" / "regulator.yaml", tmp_path)


def test_a_document_without_the_marker_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "doc.yaml"
    path.write_text(yaml.safe_dump({"openapi": "3.1.0"}), encoding="utf-8")
    with pytest.raises(openapi_examples.ExamplesError, match="generated block"):
        openapi_examples.render(path, tmp_path)
