"""MSG-05's edge listings read their fields and limits from the create schema."""

from __future__ import annotations

from conformance import specs
from conformance.suite import edge_inputs

S = specs.load()


def test_every_text_field_of_the_create_schema_with_its_limit() -> None:
    fields = edge_inputs.text_fields(S)
    schema = S.schema("listing-create")
    assert set(fields) == set(schema["properties"])
    assert {name for name, (_, required) in fields.items() if required} == set(schema["required"])
    assert {limit for limit, _ in fields.values()} == {int(S.param("maxTextLength"))}


def test_filled_text_is_at_the_limit_in_code_points_and_valid() -> None:
    for script in edge_inputs.SCRIPTS:
        text = edge_inputs.filled(script, 1000, prefix="m-1")
        assert len(text) == 1000 and text.startswith("m-1")
        doc = {"merchantId": text, "categoryId": "c", "title": text, "brand": text}
        assert not S.errors("listing-create", doc)
    assert len(edge_inputs.filled("supplementary", 10).encode("utf-8")) == 40
