"""Evidence capture and redaction: secrets never reach a file."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from conformance.evidence import REDACTED, ExchangeLog, Redactor, safe_name, write_evidence

SECRET = "s3cr3t-platform-key"
TOKEN = "bearer-token-123"


def test_redactor_replaces_secrets_everywhere() -> None:
    r = Redactor([SECRET, TOKEN, None, ""])
    assert r.text(f"a {SECRET} b") == f"a {REDACTED} b"
    doc = r.any({"k": [f"x{TOKEN}y", {SECRET: 1}]})
    assert SECRET not in json.dumps(doc) and TOKEN not in json.dumps(doc)
    headers = r.headers([("Authorization", f"Bearer {TOKEN}"), ("X-Other", SECRET)])
    assert headers == {"Authorization": f"Bearer {REDACTED}", "X-Other": REDACTED}


def test_exchange_log_captures_through_event_hooks(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(201, json={"echo": request.content.decode(), "key": SECRET})

    log = ExchangeLog(Redactor([SECRET, TOKEN]))
    with httpx.Client(transport=httpx.MockTransport(handler), event_hooks=log.hooks(), base_url="http://127.0.0.1",
                      headers={"Authorization": f"Bearer {TOKEN}"}) as client:
        client.post("/listings", json={"title": SECRET})
    assert len(log.exchanges) == 1
    ex = log.exchanges[0]
    assert ex["response"]["status"] == 201 and ex["request"]["method"] == "POST"
    path = write_evidence(tmp_path, "conformance/suite/test_x.py::test_y[a/b]", {"exchanges": log.exchanges},
                          log.redactor)
    text = path.read_text()
    assert SECRET not in text and TOKEN not in text and REDACTED in text
    assert "/" not in path.name


def test_failed_exchange_is_evidence_too() -> None:
    log = ExchangeLog(Redactor([]))
    request = httpx.Request("GET", "http://127.0.0.1:9/health")
    log.add_failure(request, httpx.ConnectError("refused"))
    assert log.exchanges[0]["response"] is None and "ConnectError" in log.exchanges[0]["error"]


def test_safe_name_is_bounded() -> None:
    assert len(safe_name("x" * 500)) <= 150
