"""Capture of every request received and every push attempt: the simulator's evidence.

The hot path stores a capture as a small slotted object holding what it already has (raw headers,
body bytes, the parsed body, the answer bytes); the JSON-able dict is built only when someone reads
it. Requests and push attempts share one sequence counter, so the export is one ordered story.

Secrets never leave: registered platform secrets are replaced by ``[REDACTED]`` in everything a reader
gets (a platform that puts its secret in a URL or header is flagged with ``secretExposed``, which is
evidence for MSG-03). Signatures are not secrets and stay.
"""

from __future__ import annotations

import bisect
import copy
import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import parse_qsl

from conformance import signing

REDACTED = "[REDACTED]"


def rfc3339(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, signing.SHANGHAI).isoformat(timespec="milliseconds")


class RequestCapture:
    __slots__ = ("auth_error", "body", "body_bytes", "fault", "header_errors", "headers", "method", "path",
                 "platform_id", "query_string", "received", "response_body", "response_status", "route",
                 "schema_errors", "schema_valid", "seq", "signature_alg", "signature_valid")

    def __init__(self, received: float, route: str | None, method: str, path: str, query_string: bytes,
                 headers: tuple[tuple[bytes, bytes], ...], body_bytes: bytes, body: Any, platform_id: str | None,
                 signature_alg: str | None, signature_valid: bool | None, auth_error: str | None,
                 header_errors: tuple[str, ...], schema_valid: bool | None, schema_errors: tuple[str, ...],
                 response_status: int | None, response_body: bytes | None, fault: str | None) -> None:
        self.seq = 0
        self.received = received
        self.route = route
        self.method = method
        self.path = path
        self.query_string = query_string
        self.headers = headers
        self.body_bytes = body_bytes
        self.body = body
        self.platform_id = platform_id
        self.signature_alg = signature_alg
        self.signature_valid = signature_valid
        self.auth_error = auth_error
        self.header_errors = header_errors
        self.schema_valid = schema_valid
        self.schema_errors = schema_errors
        self.response_status = response_status
        self.response_body = response_body
        self.fault = fault

    def field(self, key: str) -> Any:
        """A body field (or platformId) for match filters."""
        if key == "platformId":
            return self.platform_id
        return self.body.get(key) if isinstance(self.body, dict) else None

    def to_dict(self) -> dict[str, Any]:
        text = self.body_bytes.decode("utf-8", "replace")
        response_text = self.response_body.decode("utf-8", "replace") if self.response_body is not None else None
        response_json: Any = None
        if response_text is not None:
            try:
                response_json = json.loads(response_text)
                response_text = None  # the parsed body says it all
            except ValueError:
                pass
        query = self.query_string.decode("latin-1")
        return {
            "seq": self.seq,
            "kind": "request",
            "receivedAt": rfc3339(self.received),
            "route": self.route,
            "method": self.method,
            "path": self.path,
            "query": dict(parse_qsl(query, keep_blank_values=True)),
            "rawQuery": query,
            "headers": {k.decode("latin-1"): v.decode("latin-1") for k, v in self.headers},
            "body": copy.deepcopy(self.body),  # the stored body stays as received, whatever readers do
            "bodyText": text,
            "platformId": self.platform_id,
            "signatureAlg": self.signature_alg,
            "signatureValid": self.signature_valid,
            "authError": self.auth_error,
            "headerErrors": list(self.header_errors),
            "schemaValid": self.schema_valid,
            "schemaErrors": list(self.schema_errors),
            "response": {"status": self.response_status, "body": response_json, "bodyText": response_text},
            "fault": self.fault,
        }


# Bounded memory (issue 9): at most this many captures stay in memory; beyond it the oldest
# SPILL_BATCH are written, redacted, to a temporary file that the export replays first. A load run or
# a soak therefore does not grow the harness; readers (``requests``, ``pushes``) see what is in memory,
# which a functional run never exceeds.
MAX_IN_MEMORY = int(os.environ.get("CCC_CAPTURE_MAX_IN_MEMORY", "20000"))  # benchmarks lower it to show the spill
SPILL_BATCH = max(1, MAX_IN_MEMORY // 10)


class CaptureStore:
    """Append-only, thread-safe; readers filter by route, match fields and a sequence cursor."""

    def __init__(self, secrets: Callable[[], list[str]], *, max_in_memory: int = MAX_IN_MEMORY,
                 spill_batch: int = SPILL_BATCH) -> None:
        self._secrets = secrets
        self._lock = threading.Lock()
        self._seq = 0
        self._requests: list[RequestCapture] = []
        self._pushes: list[dict[str, Any]] = []
        self._max = max(1, max_in_memory)
        self._batch = max(1, min(spill_batch, self._max))
        self._spill: IO[str] | None = None
        self._spilled = 0

    def add_request(self, capture: RequestCapture) -> int:
        with self._lock:
            self._seq += 1
            capture.seq = self._seq
            self._requests.append(capture)
            if len(self._requests) + len(self._pushes) > self._max:
                self._spill_oldest()
        return capture.seq

    def add_push(self, attempt: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._seq += 1
            attempt["seq"] = self._seq
            self._pushes.append(attempt)
            if len(self._requests) + len(self._pushes) > self._max:
                self._spill_oldest()
        return attempt

    def _spill_oldest(self) -> None:
        """Move the oldest captures (requests and pushes, by seq) to the spill file. Holds the lock."""
        merged = sorted([(c.seq, c) for c in self._requests[: self._batch]]
                        + [(p["seq"], p) for p in self._pushes[: self._batch]], key=lambda x: x[0])[: self._batch]
        if not merged:
            return
        cutoff = merged[-1][0]
        if self._spill is None:
            self._spill = tempfile.NamedTemporaryFile("w", encoding="utf-8", prefix="ccc-captures-",  # noqa: SIM115
                                                      suffix=".jsonl")
        for _seq, item in merged:
            doc = self._redact(item.to_dict()) if isinstance(item, RequestCapture) else self._redact({"kind": "push", **item})
            self._spill.write(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
        self._spilled += len(merged)
        self._requests = [c for c in self._requests if c.seq > cutoff]
        self._pushes = [p for p in self._pushes if p["seq"] > cutoff]

    def in_memory(self) -> int:
        return len(self._requests) + len(self._pushes)

    def requests(self, *, route: str | None = None, match: dict[str, str] | None = None,
                 after: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            items = self._requests
            start = bisect.bisect_right(items, after, key=lambda c: c.seq)
            selected = items[start:]
        out = []
        for c in selected:
            if route is not None and c.route != route:
                continue
            if match and any(c.field(k) != v for k, v in match.items()):
                continue
            out.append(self._redact(c.to_dict()))
        return out

    def pushes(self, *, certificate_no: str | None = None, event_id: str | None = None,
               platform_id: str | None = None, after: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            selected = list(self._pushes)
        return [self._redact(dict(p)) for p in selected
                if p["seq"] > after
                and (certificate_no is None or p["certificateNo"] == certificate_no)
                and (event_id is None or p["eventId"] == event_id)
                and (platform_id is None or p["platformId"] == platform_id)]

    def count(self) -> int:
        """Requests and push attempts captured so far, spilled ones included."""
        return self._spilled + len(self._requests) + len(self._pushes)

    def export_lines(self) -> Iterable[str]:
        """Every capture, requests and push attempts interleaved by seq, as JSON lines (spilled ones first)."""
        with self._lock:
            requests = list(self._requests)
            pushes = list(self._pushes)
            spill_name, spill_size = None, 0
            if self._spill is not None:
                self._spill.flush()
                spill_name, spill_size = self._spill.name, self._spill.tell()
        if spill_name is not None:
            # Streamed from a second handle up to the snapshot's size: a spill meanwhile only appends.
            with open(spill_name, encoding="utf-8") as spilled:
                read = 0
                for line in spilled:
                    read += len(line.encode("utf-8"))
                    if read > spill_size:
                        break
                    yield line
        i = j = 0
        while i < len(requests) or j < len(pushes):
            if j >= len(pushes) or (i < len(requests) and requests[i].seq < pushes[j]["seq"]):
                doc = self._redact(requests[i].to_dict())
                i += 1
            else:
                doc = self._redact({"kind": "push", **pushes[j]})
                j += 1
            yield json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n"

    def export(self, path: str | Path) -> int:
        count = 0
        with Path(path).open("w", encoding="utf-8") as out:
            for line in self.export_lines():
                out.write(line)
                count += 1
        return count

    def _redact(self, doc: dict[str, Any]) -> dict[str, Any]:
        secrets = [s for s in self._secrets() if s]
        if not secrets:
            if doc.get("kind", "request") == "request":
                doc["secretExposed"] = False
            return doc
        found = False

        def scrub(value: Any) -> Any:
            nonlocal found
            if isinstance(value, str):
                for secret in secrets:
                    if secret in value:
                        found = True
                        value = value.replace(secret, REDACTED)
                return value
            if isinstance(value, dict):
                return {scrub(k): scrub(v) for k, v in value.items()}
            if isinstance(value, list):
                return [scrub(v) for v in value]
            return value

        clean = scrub(doc)
        if clean.get("kind", "request") == "request":
            clean["secretExposed"] = found
        return clean
