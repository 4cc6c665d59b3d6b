"""Spectral (``spectral:oas``, via .spectral.yaml) and Redocly (``recommended``) find nothing in the
OpenAPI documents. Run through npx, which fetches the pinned majors on first use; skipped where
Node is not installed."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from conformance.specs import load

ROOT = Path(__file__).resolve().parents[2]
SPECTRAL = "@stoplight/spectral-cli@6"
REDOCLY = "@redocly/cli@2"
NPX_TIMEOUT = 300  # the first call downloads the package

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("npx") is None, reason="Node (npx) is not installed; the linters run on npm")]


def _documents() -> list[str]:
    return [str(load().openapi_path(name)) for name in ("regulator", "platform-test")]


def _npx(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["npx", "-y", *args], cwd=ROOT, capture_output=True, text=True, timeout=NPX_TIMEOUT,
                          check=False)


def test_spectral_oas_finds_nothing() -> None:
    # --fail-severity=hint: a warning, an info or a hint fails too; the ruleset is .spectral.yaml's spectral:oas.
    run = _npx(SPECTRAL, "lint", "--ruleset", str(ROOT / ".spectral.yaml"), "--fail-severity=hint", *_documents())
    assert run.returncode == 0, run.stdout + run.stderr


def test_redocly_recommended_finds_nothing() -> None:
    run = _npx(REDOCLY, "lint", "--format=json", *_documents())
    reports, text, decoder = [], run.stdout, json.JSONDecoder()
    while "{" in text:  # one JSON report per document
        report, end = decoder.raw_decode(text, text.index("{"))
        reports.append(report)
        text = text[end:]
    assert len(reports) == len(_documents()), run.stdout + run.stderr
    problems = [(p["ruleId"], p["message"], [loc.get("pointer") for loc in p.get("location", [])])
                for r in reports for p in r["problems"]]
    assert not problems and all(r["totals"]["errors"] == r["totals"]["warnings"] == 0 for r in reports), problems
