"""HAR 1.2 beside each evidence file (``evidence/<test>.har``), for browser dev tools, Postman, Charles.

Made from the evidence JSON (already redacted) after the run, so the HAR holds exactly the exchanges
behind the verdicts and nothing the JSON does not. Format: the HAR 1.2 spec (W3C Web Performance
WG draft, "HTTP Archive (HAR) format", Jan Odvarko, 2012). An exchange that got no response (refused,
reset) keeps ``status: 0`` and the error in ``_error``, the spec's convention for custom fields.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from conformance import __version__

HAR_VERSION = "1.2"


def _headers(headers: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"name": k, "value": str(v)} for k, v in (headers or {}).items()]


def _mime(headers: dict[str, str] | None) -> str:
    for k, v in (headers or {}).items():
        if k.lower() == "content-type":
            return str(v)
    return ""


def _text(body: Any) -> str:
    if body is None:
        return ""
    return body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)


def _entry(x: dict[str, Any]) -> dict[str, Any]:
    req = x.get("request") or {}
    resp = x.get("response") or {}
    url = req.get("url", "")
    req_text = _text(req.get("body"))
    resp_text = _text(resp.get("body"))
    status = int(resp.get("status") or 0)
    try:
        reason = HTTPStatus(status).phrase
    except ValueError:
        reason = ""
    elapsed = float(x.get("elapsedMs") or 0)
    request: dict[str, Any] = {
        "method": req.get("method", ""), "url": url, "httpVersion": "HTTP/1.1", "cookies": [],
        "headers": _headers(req.get("headers")),
        "queryString": [{"name": k, "value": v} for k, v in parse_qsl(urlsplit(url).query, keep_blank_values=True)],
        "headersSize": -1, "bodySize": len(req_text.encode()),
    }
    if req_text:
        request["postData"] = {"mimeType": _mime(req.get("headers")), "text": req_text}
    entry = {
        "startedDateTime": x.get("sentAt") or datetime.fromtimestamp(0, UTC).isoformat(),
        "time": elapsed,
        "request": request,
        "response": {
            "status": status, "statusText": reason, "httpVersion": "HTTP/1.1", "cookies": [],
            "headers": _headers(resp.get("headers")),
            "content": {"size": len(resp_text.encode()), "mimeType": _mime(resp.get("headers")), "text": resp_text},
            "redirectURL": "", "headersSize": -1, "bodySize": len(resp_text.encode()) if x.get("response") else -1,
        },
        "cache": {},
        # Only the whole exchange was timed; HAR wants the phases, so it is all "wait".
        "timings": {"send": 0, "wait": elapsed, "receive": 0},
    }
    if x.get("error"):
        entry["_error"] = x["error"]
    return entry


def har_document(evidence: dict[str, Any]) -> dict[str, Any]:
    exchanges = [x for x in evidence.get("exchanges") or [] if isinstance(x, dict)]
    exchanges.sort(key=lambda x: (x.get("sentAt") or "", x.get("seq") or 0))
    return {"log": {
        "version": HAR_VERSION,
        "creator": {"name": "ccc-conformance", "version": __version__},
        "comment": f"{evidence.get('nodeid', '')} — verdict {evidence.get('verdict', '')}",
        "entries": [_entry(x) for x in exchanges],
    }}


def write_har(run_dir: Path) -> list[Path]:
    """One .har per evidence/*.json that holds exchanges; returns what was written."""
    written = []
    for path in sorted((run_dir / "evidence").glob("*.json")):
        try:
            evidence = json.loads(path.read_text(encoding="utf-8"))
        except (ValueError, OSError):
            continue  # evidence that cannot be read stays as it is; the HAR is a convenience
        if not isinstance(evidence, dict) or "exchanges" not in evidence:
            continue
        out = path.with_suffix(".har")
        out.write_text(json.dumps(har_document(evidence), ensure_ascii=False), encoding="utf-8")
        written.append(out)
    return written
