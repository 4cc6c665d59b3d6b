"""The change feed (状态变更): every status change as an event with a global, gap-free sequence.

Cursor semantics (regulator.yaml, GET /api/v1/status-changes): ``after`` is exclusive; events come in
strictly increasing ``sequence`` with no gaps and no duplicates. A cursor is the decimal sequence of
the last event a page delivered ("0" before the first), so ``nextCursor`` equals the cursor given when
nothing is new. Appending and reading both hold one lock, so a reader never sees sequence n+1 before n.
"""

from __future__ import annotations

import threading
import uuid
from typing import Any


class CursorError(ValueError):
    """An ``after`` value this feed never issued."""


class ChangeFeed:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] = []  # index i holds sequence i + 1
        self._by_id: dict[str, dict[str, Any]] = {}

    def append(self, certificate_no: str, previous: str, status: str, effective_at: str, reason: str) -> dict[str, Any]:
        with self._lock:
            event = {"eventId": str(uuid.uuid4()), "sequence": len(self._events) + 1,
                     "certificateNo": certificate_no, "previousStatus": previous, "status": status,
                     "effectiveAt": effective_at, "reason": reason}
            self._events.append(event)
            self._by_id[event["eventId"]] = event
        return dict(event)

    def page(self, after: str | None, limit: int) -> tuple[list[dict[str, Any]], str]:
        with self._lock:
            start = self.parse_cursor(after)
            events = [dict(e) for e in self._events[start:start + limit]]
        return events, str(events[-1]["sequence"] if events else start)

    def parse_cursor(self, after: str | None) -> int:
        if after is None:
            return 0
        if not after.isascii() or not after.isdigit():
            raise CursorError(f"?after: {after!r} is not a cursor of this feed (use a nextCursor it returned)")
        value = int(after)
        if value > len(self._events):
            raise CursorError(f"?after: cursor {after!r} is beyond the last event ({len(self._events)})")
        return value

    def get(self, event_id: str) -> dict[str, Any] | None:
        event = self._by_id.get(event_id)
        return dict(event) if event else None

    def events(self, certificate_no: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(e) for e in self._events if certificate_no is None or e["certificateNo"] == certificate_no]

    def __len__(self) -> int:
        return len(self._events)
