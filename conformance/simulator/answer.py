"""What the simulator sends back: an ``Answer`` and the one JSON encoding of its bodies.

Apart from app.py so that the fault kinds (fault_kinds.py), which make answers too, need nothing of
the ASGI app, and the client-side control protocol that lists them stays free of it.
"""

from __future__ import annotations

import json
from typing import Any


def encode(doc: Any) -> bytes:
    """Compact UTF-8 JSON, as the regulator routes answer and pushes are sent."""
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()


class Answer:
    """What the simulator will send: status, body, extra headers, and how (normally, late, or not at all)."""

    __slots__ = ("body", "delay", "drop", "headers", "status")

    def __init__(self, status: int | None, body: bytes | None, headers: tuple[tuple[bytes, bytes], ...] = (),
                 delay: float = 0.0, drop: bool = False) -> None:
        self.status = status
        self.body = body
        self.headers = headers
        self.delay = delay
        self.drop = drop  # close the connection without a complete answer
