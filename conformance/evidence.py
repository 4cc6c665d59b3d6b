"""Evidence: every HTTP exchange the harness makes, captured once through httpx event hooks, redacted.

A test's evidence file holds the exchanges between harness and platform and what the simulator
received or pushed about the test's own data. Secrets from the PIXIT never reach a file: the
:class:`Redactor` replaces them wherever they appear, headers, bodies and URLs alike.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

REDACTED = "***"
_SENSITIVE_HEADERS = {"authorization", "cookie", "set-cookie", "proxy-authorization"}
_MAX_BODY_CHARS = 20_000


class Redactor:
    """Replaces every known secret (and credentials in sensitive headers) with ``***``."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so a secret containing another is replaced whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(s) for s in self.secrets)) if self.secrets else None

    def text(self, value: str) -> str:
        return self._pattern.sub(REDACTED, value) if self._pattern else value

    def headers(self, headers: Iterable[tuple[str, str]]) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, value in headers:
            if name.lower() in _SENSITIVE_HEADERS:
                scheme = value.split(" ", 1)[0] if " " in value else ""
                out[name] = f"{scheme} {REDACTED}".strip()
            else:
                out[name] = self.text(value)
        return out

    def any(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.any(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.any(v) for v in value]
        return value


def _body(content: bytes, redactor: Redactor) -> Any:
    if not content:
        return None
    text = content.decode("utf-8", errors="replace")
    try:
        return redactor.any(json.loads(text))
    except ValueError:
        text = redactor.text(text)
        return text if len(text) <= _MAX_BODY_CHARS else text[:_MAX_BODY_CHARS] + f"… ({len(text)} chars)"


class ExchangeLog:
    """Collects exchanges of one httpx client via its event hooks. Thread-safe; bounded per test."""

    def __init__(self, redactor: Redactor, limit: int = 5_000) -> None:
        self.redactor = redactor
        self.limit = limit
        self.exchanges: list[dict[str, Any]] = []
        self.dropped = 0
        self._lock = threading.Lock()

    def hooks(self) -> dict[str, list[Any]]:
        return {"request": [self._on_request], "response": [self._on_response]}

    def _on_request(self, request: httpx.Request) -> None:
        request.extensions["ccc_started"] = time.monotonic()
        request.extensions["ccc_sent_at"] = datetime.now(UTC).isoformat(timespec="milliseconds")

    def _on_response(self, response: httpx.Response) -> None:
        response.read()
        request = response.request
        started = request.extensions.get("ccc_started", time.monotonic())
        self.add({
            "sentAt": request.extensions.get("ccc_sent_at"),
            "elapsedMs": round((time.monotonic() - started) * 1000, 1),
            "request": {"method": request.method, "url": self.redactor.text(str(request.url)),
                        "headers": self.redactor.headers(request.headers.multi_items()),
                        "body": _body(request.content, self.redactor)},
            "response": {"status": response.status_code,
                         "headers": self.redactor.headers(response.headers.multi_items()),
                         "body": _body(response.content, self.redactor)},
        })

    def add_failure(self, request: httpx.Request, error: BaseException) -> None:
        """An exchange that got no response (refused, reset, timed out) is evidence too."""
        self.add({
            "sentAt": request.extensions.get("ccc_sent_at"),
            "request": {"method": request.method, "url": self.redactor.text(str(request.url)),
                        "headers": self.redactor.headers(request.headers.multi_items()),
                        "body": _body(request.content, self.redactor) if _has_content(request) else None},
            "response": None, "error": f"{type(error).__name__}: {self.redactor.text(str(error))}",
        })

    def add(self, exchange: dict[str, Any]) -> None:
        with self._lock:
            if len(self.exchanges) < self.limit:
                exchange["seq"] = len(self.exchanges) + 1
                self.exchanges.append(exchange)
            else:
                self.dropped += 1


def _has_content(request: httpx.Request) -> bool:
    try:
        request.content  # noqa: B018 — raises for an unread stream
    except httpx.RequestNotRead:
        return False
    return True


def safe_name(nodeid: str) -> str:
    """A file name for a test node id: readable, unique enough, no path separators."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", nodeid.split("/")[-1]).strip("_")
    return name[:150] or "test"


def write_evidence(folder: Path, nodeid: str, document: dict[str, Any], redactor: Redactor) -> Path:
    """Write one test's evidence as JSON (redacted again, in case a caller passed raw data)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{safe_name(nodeid)}.json"
    path.write_text(json.dumps(redactor.any(document), ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    return path
