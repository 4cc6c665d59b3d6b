"""Valid input at the contract's edges (issue 11 §5): listings whose every text field is as long as the
create schema allows, written in CJK or in supplementary-plane characters (four UTF-8 bytes, two
UTF-16 units: where a narrow column or a UCS-2 assumption breaks), and listings whose optional fields
are absent or null. The fields and their limits are read from ``specs/schemas/listing-create.schema.json``,
so a field added or a limit changed there changes these listings by itself.
"""

from __future__ import annotations

import itertools
from typing import Any

from conformance import specs

SCHEMA = "listing-create"
# Scripts to fill a field with: common CJK ideographs, and supplementary-plane characters (CJK
# Extension B ideographs and an emoji), cycled so no field is one repeated character.
SCRIPTS = {"cjk": "中国强制性产品认证电商平台核查", "supplementary": "\U00020000\U0002000b\U0002a6a5\U0001f600"}


def _resolve(s: specs.Specs, node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if not isinstance(ref, str):
        return node
    name, _, pointer = ref.partition("#")
    target: Any = s.schema(name.removesuffix(".schema.json"))
    for token in [t for t in pointer.split("/") if t]:
        target = target[token]
    return _resolve(s, target)


def text_fields(s: specs.Specs | None = None) -> dict[str, tuple[int, bool]]:
    """Every string field of the create schema: name → (maxLength, required)."""
    s = s or specs.load()
    schema = s.schema(SCHEMA)
    required = set(schema.get("required", []))
    fields: dict[str, tuple[int, bool]] = {}
    for name, node in schema.get("properties", {}).items():
        node = _resolve(s, node)
        branches = [_resolve(s, b) for b in node.get("anyOf", [node])]
        strings = [b for b in branches if b.get("type") == "string" and isinstance(b.get("maxLength"), int)]
        if strings:
            fields[name] = (min(b["maxLength"] for b in strings), name in required)
    return fields


def optional_fields(s: specs.Specs | None = None) -> list[str]:
    return [name for name, (_, required) in text_fields(s).items() if not required]


def filled(script: str, length: int, prefix: str = "") -> str:
    """``length`` characters (code points, as JSON Schema counts them): ``prefix``, then the script cycled."""
    chars = SCRIPTS[script]
    return (prefix + "".join(itertools.islice(itertools.cycle(chars), max(0, length - len(prefix)))))[:length]
