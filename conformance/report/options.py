"""What a run asks of its report beyond report.json: signing, a baseline, a fixed JUnit path, language."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from conformance.exitcodes import UsageError


class OptionError(UsageError):
    """A report option (key, baseline, bundle, path) that cannot be used: one line for the user, exit 3."""


@dataclass(frozen=True)
class ReportOptions:
    sign_key: Path | None = None      # Ed25519 private key (PEM): writes MANIFEST.sig
    baseline: Path | None = None      # known failures (YAML, specs/schemas/baseline.schema.json)
    junit_xml: Path | None = None     # a copy of junit.xml at a fixed path, like pytest's --junit-xml
    lang: str = "zh"                  # the language report.html opens in (the page switches either way)
