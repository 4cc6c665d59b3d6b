"""report.html's own words in Chinese and English, from specs/report-labels.yaml (no code spells them)."""

from __future__ import annotations

from functools import cache

import yaml

from conformance import specs

LANGS = ("zh", "en")


@cache
def labels() -> dict[str, dict[str, str]]:
    path = specs.load().root / "report-labels.yaml"
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        return {k: {lang: str(v[lang]) for lang in LANGS} for k, v in doc["labels"].items()}
    except (OSError, yaml.YAMLError, KeyError, TypeError) as exc:
        raise specs.SpecError(f"{path}: cannot read the report's labels ({exc})") from None
