"""The simulator's capture stays bounded in memory: the oldest captures spill to disk, the export keeps all."""

from __future__ import annotations

import json
from pathlib import Path

from conformance.simulator.capture import REDACTED, CaptureStore, RequestCapture


def capture(i: int, secret: str = "") -> RequestCapture:
    body = {"listingId": f"l-{i}", "note": secret}
    return RequestCapture(received=1_700_000_000.0 + i, route="verifications", method="POST",
                          path="/api/v1/verifications", query_string=b"", headers=((b"x-nonce", str(i).encode()),),
                          body_bytes=json.dumps(body).encode(), body=body, platform_id="p", signature_alg=None,
                          signature_valid=True, auth_error=None, header_errors=(), schema_valid=True, schema_errors=(),
                          response_status=200, response_body=b'{"code":"OK"}', fault=None)


def test_memory_is_capped_and_the_export_keeps_every_capture_in_order(tmp_path: Path) -> None:
    store = CaptureStore(lambda: ["s3cret-value"], max_in_memory=50, spill_batch=10)
    for i in range(300):
        store.add_request(capture(i, "s3cret-value" if i == 3 else ""))
        if i % 7 == 0:
            store.add_push({"eventId": f"e-{i}", "certificateNo": "x", "platformId": "p"})
        assert store.in_memory() <= 50
    total = 300 + len(range(0, 300, 7))
    assert store.count() == total
    out = tmp_path / "captures.jsonl"
    assert store.export(out) == total
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    seqs = [d["seq"] for d in lines]
    assert seqs == sorted(seqs) and len(set(seqs)) == total
    assert {d["kind"] for d in lines} == {"request", "push"}
    # spilled captures are redacted like the rest: no secret on disk, the exposure still flagged
    spilled = next(d for d in lines if d.get("body", {}).get("listingId") == "l-3")
    assert spilled["body"]["note"] == REDACTED and spilled["secretExposed"] is True
    assert "s3cret-value" not in out.read_text(encoding="utf-8")


def test_readers_see_what_is_in_memory() -> None:
    store = CaptureStore(lambda: [], max_in_memory=20, spill_batch=5)
    for i in range(100):
        store.add_request(capture(i))
    got = store.requests(route="verifications")
    assert 0 < len(got) <= 20
    assert got[-1]["body"]["listingId"] == "l-99"
