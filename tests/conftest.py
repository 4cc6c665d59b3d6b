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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist, deal the whole runs — the self-check's and the browser test's (up to a few
    minutes each) — round-robin to the head of every worker's first share, the longest first.

    `--dist worksteal` first hands each of N workers a contiguous share of the collection, and a worker
    steals only from the tail of another's queue. In collection order every self-check run would sit in
    the first worker's share and run one after another there while the others finish the quick tests,
    ending the run late. Every worker collects the same items and knows N, so each reorders identically
    (xdist checks that the collections agree). Other slow tests keep their place: several share a
    module-scoped run, which spreading them would repeat on every worker."""
    workercount = getattr(config, "workerinput", {}).get("workercount")
    if not workercount or workercount < 2:
        return
    selfcheck_dir = REPO_ROOT / "tests" / "selfcheck"
    browser = REPO_ROOT / "tests" / "integration" / "test_report_browser.py"

    def is_run(item: pytest.Item) -> bool:
        return item.path.parent == selfcheck_dir or item.path == browser

    def cost(item: pytest.Item) -> int:
        # the full clean run first, the browser's run, the functional fault cases (slow areas first), load
        if "clean" in item.name:
            return 0
        return 1 if item.path == browser else 2 if item.path.name == "test_selfcheck.py" else 3

    runs = sorted((i for i in items if is_run(i)), key=cost)
    rest = [i for i in items if not is_run(i)]
    # The shares worksteal sends first: len(pending) // nodes_remaining, node by node.
    shares, left = [], len(items)
    for n in range(workercount, 0, -1):
        shares.append(left // n)
        left -= shares[-1]
    ordered: list[pytest.Item] = []
    for w, share in enumerate(shares):
        dealt = runs[w::workercount]
        take = max(0, share - len(dealt))
        ordered += dealt + rest[:take]
        rest = rest[take:]
    items[:] = ordered + rest
