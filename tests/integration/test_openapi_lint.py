"""Spectral (``spectral:oas``, via .spectral.yaml) and Redocly (``recommended``) find nothing in the
OpenAPI documents. Run through npx, which fetches the pinned majors on first use; skipped where
Node is not installed."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conformance.specs import load

ROOT = Path(__file__).resolve().parents[2]
SPECTRAL = "@stoplight/spectral-cli@6"
REDOCLY = "@redocly/cli@2"
NPX_TIMEOUT = 300  # the first call downloads the package

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("npx") is None, reason="Node (npx) is not installed; the linters run on npm")]


def _documents() -> list[str]:
    return [str(load().openapi_path(name)) for name in ("regulator", "platform-test")]


@pytest.fixture(scope="module")
def flawed(tmp_path_factory: pytest.TempPathFactory) -> str:
    """platform-test.yaml without info.contact and info.license: what both linters must report."""
    doc = yaml.safe_load(load().openapi_path("platform-test").read_text(encoding="utf-8"))
    del doc["info"]["contact"], doc["info"]["license"]
    path = tmp_path_factory.mktemp("lint") / "flawed.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return str(path)


def _npx(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["npx", "-y", *args], cwd=ROOT, capture_output=True, text=True, timeout=NPX_TIMEOUT,
                          check=False)


def test_spectral_oas_finds_nothing() -> None:
    # --fail-severity=hint: a warning, an info or a hint fails too; the ruleset is .spectral.yaml's spectral:oas.
    run = _npx(SPECTRAL, "lint", "--ruleset", str(ROOT / ".spectral.yaml"), "--fail-severity=hint", *_documents())
    assert run.returncode == 0, run.stdout + run.stderr


def test_spectral_reports_what_it_is_shown(flawed: str) -> None:
    run = _npx(SPECTRAL, "lint", "--ruleset", str(ROOT / ".spectral.yaml"), "--fail-severity=hint", flawed)
    assert run.returncode != 0 and "info-contact" in run.stdout, run.stdout + run.stderr


def _redocly(*documents: str) -> tuple[list[dict], list[tuple]]:
    run = _npx(REDOCLY, "lint", "--format=json", *documents)
    reports, text, decoder = [], run.stdout, json.JSONDecoder()
    while "{" in text:  # one JSON report per document
        report, end = decoder.raw_decode(text, text.index("{"))
        reports.append(report)
        text = text[end:]
    assert len(reports) == len(documents), run.stdout + run.stderr
    problems = [(p["ruleId"], p["message"], [loc.get("pointer") for loc in p.get("location", [])])
                for r in reports for p in r["problems"]]
    return reports, problems


def test_redocly_recommended_finds_nothing() -> None:
    reports, problems = _redocly(*_documents())
    assert not problems and all(r["totals"]["errors"] == r["totals"]["warnings"] == 0 for r in reports), problems


def test_redocly_reports_what_it_is_shown(flawed: str) -> None:
    _, problems = _redocly(flawed)
    assert "info-license" in {rule for rule, _, _ in problems}, problems
