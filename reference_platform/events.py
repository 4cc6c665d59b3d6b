"""Status-change events, pushed or polled (profile.md §2 Rules: Events; Clarifications: Events).

Both routes deliver the same body. An event is checked against its schema, with one allowance: a
status outside the code list is kept as an *unknown status* rather than refused, because a listing
on sale under an unknown status must come down (RES-05); refusing the event would leave it on sale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import Schemas, Terminology

SCHEMA = "status-change-event"


@dataclass(frozen=True)
class Checked:
    event: dict[str, Any] | None
    error: str | None          # why the event is refused (schema-invalid), None when accepted


def check_event(payload: Any, schemas: Schemas, terms: Terminology) -> Checked:
    if not isinstance(payload, dict):
        return Checked(None, "an event is a JSON object")
    if schemas.is_valid(SCHEMA, payload):
        return Checked(payload, None)
    patched = dict(payload)
    for key in ("status", "previousStatus"):
        value = payload.get(key)
        if isinstance(value, str) and value and value not in terms.statuses:
            patched[key] = terms.valid_status
    if patched != payload and schemas.is_valid(SCHEMA, patched):
        return Checked(payload, None)
    errors = schemas.errors(SCHEMA, payload)
    return Checked(None, f"schema-invalid event ({errors[0] if errors else '?'})")
