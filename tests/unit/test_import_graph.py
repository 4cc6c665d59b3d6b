"""The harness's module graph has no import circle, and the harness never imports the reference
platform (architecture.md): they share only specs/ and HTTP."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _graph(package: str) -> dict[str, set[str]]:
    """Module → the modules of ``package`` it imports at import time (not under TYPE_CHECKING)."""
    mods: dict[str, set[str]] = {}
    for path in (ROOT / package).rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        deps: set[str] = set()
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
                continue
            for n in ast.walk(node):
                if isinstance(n, ast.ImportFrom) and n.module and n.level == 0:
                    deps |= {n.module, *(f"{n.module}.{a.name}" for a in n.names)}
                elif isinstance(n, ast.Import):
                    deps |= {a.name for a in n.names}
        mods[name] = deps
    return mods


def test_no_import_circle_in_the_harness() -> None:
    graph = _graph("conformance")
    edges = {m: {d for d in deps if d in graph and d != m} for m, deps in graph.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(edges[m]):
            if state.get(d) == 1:
                cycles.append([*path[path.index(d):], d])
            elif d not in state:
                visit(d, [*path, d])
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m, [m])
    assert not cycles, [" → ".join(c) for c in cycles]


def test_harness_and_reference_platform_never_import_each_other() -> None:
    harness = _graph("conformance")
    assert not {m for m, deps in harness.items() if any(d.startswith("reference_platform") for d in deps)}
    platform = _graph("reference_platform")
    assert not {m for m, deps in platform.items() if any(d.startswith("conformance") for d in deps)}
