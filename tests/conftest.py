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
    """Under pytest-xdist, deal the self-check's whole runs (up to a few minutes each) round-robin to the
    head of every worker's first share, the longest first.

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

    def cost(item: pytest.Item) -> int:
        # the full clean run first, then the functional fault cases (ordered slow areas first), then load
        return 0 if "clean" in item.name else 1 if item.path.name == "test_selfcheck.py" else 2

    runs = sorted((i for i in items if i.path.parent == selfcheck_dir), key=cost)
    rest = [i for i in items if i.path.parent != selfcheck_dir]
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
