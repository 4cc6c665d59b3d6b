"""Shared fixtures of the harness's own tests: the repository root and the loaded specs/."""

from __future__ import annotations

from pathlib import Path

import pytest

from conformance import specs as specs_mod

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def specs() -> specs_mod.Specs:
    return specs_mod.load()
