"""serve.main refuses bad input with one clear line and exit code 3, before it binds anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from conformance.simulator import serve
from conformance.simulator.core import Simulator


def run_main(tmp_path: Path, capsys: pytest.CaptureFixture[str], *, certificates: Path | None = None,
             **overrides: Any) -> tuple[int, str, str]:
    kwargs: dict[str, Any] = {"host": "127.0.0.1", "port": 0, "platform_id": "mall", "platform_secret": "s3cret-value",
                              "certificates": certificates, "seed": 1, "notification_url": None,
                              "signature_alg": "HMAC-SHA256"}
    kwargs.update(overrides)
    code = serve.main(**kwargs)
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("ccc-conformance: error: ")
    return lines[0]


def valid_record() -> dict[str, Any]:
    return Simulator(seed=1).issue_certificate(product_code="0701")


@pytest.mark.parametrize(("name", "content", "says"), [
    ("certs.yaml", "certificates: [\n  - {certificateNo: 1", "not valid YAML"),
    ("certs.json", "{not json", "not valid JSON"),
    ("certs.yaml", "just a string\n", "expected a list of certificate records"),
    ("certs.yaml", "- 1\n- 2\n", "expected a list of certificate records"),
])
def test_unreadable_certificates_file(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str, content: str,
                                      says: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    code, _, err = run_main(tmp_path, capsys, certificates=path)
    assert code == 3
    line = one_error_line(err)
    assert str(path) in line and says in line


def test_missing_certificates_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(tmp_path, capsys, certificates=tmp_path / "nope.yaml")
    assert code == 3
    assert "cannot read" in one_error_line(err)


def test_invalid_record_names_the_record_and_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = valid_record()
    # Lower case: not even a well-formed status code (statuses are open-ended, so "ACTIVE" would load).
    bad = {**good, "certificateNo": "2021010701000001", "status": "active"}
    path = tmp_path / "certs.yaml"
    path.write_text(yaml.safe_dump({"certificates": [good, bad]}, allow_unicode=True), encoding="utf-8")
    code, _, err = run_main(tmp_path, capsys, certificates=path)
    assert code == 3
    line = one_error_line(err)
    assert "certificates[1]/status" in line and "certificate.schema.json" in line


def test_duplicate_numbers_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = valid_record()
    path = tmp_path / "certs.json"
    path.write_text(json.dumps([good, good], ensure_ascii=False), encoding="utf-8")
    code, _, err = run_main(tmp_path, capsys, certificates=path)
    assert code == 3
    assert "appears twice" in one_error_line(err)


@pytest.mark.parametrize(("overrides", "says"), [
    ({"signature_alg": "HMAC-MD5"}, "--signature-alg"),
    ({"notification_url": "ftp://127.0.0.1/x"}, "--notification-url"),
    ({"platform_secret": ""}, "--platform-secret"),
])
def test_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str], overrides: dict[str, Any], says: str) -> None:
    code, _, err = run_main(tmp_path, capsys, **overrides)
    assert code == 3
    assert says in one_error_line(err)


def test_read_certificates_accepts_both_shapes(tmp_path: Path) -> None:
    record = valid_record()
    listed = tmp_path / "a.yaml"
    listed.write_text(yaml.safe_dump([record], allow_unicode=True), encoding="utf-8")
    wrapped = tmp_path / "b.json"
    wrapped.write_text(json.dumps({"certificates": [record]}, ensure_ascii=False), encoding="utf-8")
    assert serve.read_certificates(listed) == serve.read_certificates(wrapped) == [record]
