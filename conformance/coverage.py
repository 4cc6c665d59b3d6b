"""Which suite tests verify which requirement: read from the tests' ``requirement`` markers.

The markers are the truth; ``verified_by`` in specs/requirements.yaml is their published copy, so a
regulator reading the specs sees what is automated. The ``variant`` markers map the tests to the
cases of specs/variants.yaml the same way (:func:`tested_variants`). ``python -m conformance.coverage --write``
refreshes the copy; the harness's own tests fail when the two disagree.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

SUITE_DIR = Path(__file__).resolve().parent / "suite"


def _is_requirement_marker(node: ast.AST) -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "requirement"
            and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "mark")


def _marker_ids(decorators: list[ast.expr]) -> list[str]:
    ids: list[str] = []
    for dec in decorators:
        if _is_requirement_marker(dec):
            assert isinstance(dec, ast.Call)
            ids += [a.value for a in dec.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
    return ids


class CoverageError(ValueError):
    """A requirement marker the source reader cannot attribute (not a literal decorator)."""


def suite_markers(suite_dir: Path = SUITE_DIR) -> dict[str, list[str]]:
    """``test_x.py::test_name`` (or ``test_x.py::TestClass::test_name``) → requirement IDs."""
    out: dict[str, list[str]] = {}
    for path in sorted(suite_dir.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        # Every marker must be a decorator (or pytestmark) with literal IDs, or the map would miss it.
        for node in ast.walk(tree):
            if _is_requirement_marker(node):
                assert isinstance(node, ast.Call)
                if not node.args or not all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in node.args):
                    raise CoverageError(f"{path.name}:{node.lineno}: requirement marker without literal IDs")
        placed = sum(1 for node in ast.walk(tree) if _is_requirement_marker(node))
        seen = 0
        module_ids = []
        for node in tree.body:
            # pytestmark = pytest.mark.requirement(...) applies to every test of the module
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets):
                values = node.value.elts if isinstance(node.value, ast.List | ast.Tuple) else [node.value]
                module_ids += _marker_ids(values)
                seen += sum(1 for v in values if _is_requirement_marker(v))
        seen += _collect_tests(tree.body, path.name, module_ids, out, classes=True)
        if seen != placed:
            raise CoverageError(f"{path.name}: {placed - seen} requirement marker(s) outside a test decorator "
                                "(e.g. in pytest.param): give each test a literal @pytest.mark.requirement")
    return out


def _collect_tests(body: list[ast.stmt], prefix: str, inherited: list[str], out: dict[str, list[str]], *,
                   classes: bool) -> int:
    """Record each test function's IDs (its own and those of the class or module around it) in ``out``
    under ``prefix::name``; descend into top-level ``Test*`` classes. Returns the markers seen."""
    seen = 0
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            inner = None
        elif classes and isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            inner = node.body
        else:
            continue
        seen += sum(1 for d in node.decorator_list if _is_requirement_marker(d))
        ids = inherited + _marker_ids(node.decorator_list)
        name = f"{prefix}::{node.name}"
        if inner is not None:
            seen += _collect_tests(inner, name, ids, out, classes=False)
        elif ids:
            out[name] = ids
    return seen


def _marker_test_id(decorators: list[ast.expr]) -> str | None:
    for dec in decorators:
        if _is_requirement_marker(dec):
            assert isinstance(dec, ast.Call)
            for kw in dec.keywords:
                if kw.arg == "id" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                    return kw.value.value
    return None


def test_ids(suite_dir: Path = SUITE_DIR) -> dict[str, str]:
    """``test_x.py::test_name`` → the test's stable id, the ``id=`` of its requirement marker.

    The id is what ``verified_by`` publishes, so renaming or moving a test function does not break
    the requirement → test trace a regulator has read (Inferno's tests carry ids the same way)."""
    out: dict[str, str] = {}
    seen: dict[str, str] = {}
    for path in sorted(suite_dir.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in tree.body:
            if not (isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")):
                continue
            if not any(_is_requirement_marker(d) for d in node.decorator_list):
                continue
            test = f"{path.name}::{node.name}"
            tid = _marker_test_id(node.decorator_list)
            if tid is None:
                raise CoverageError(f"{test}: give its requirement marker a stable id, "
                                    '@pytest.mark.requirement("VER-01", id="ver01.what-it-checks")')
            if tid in seen:
                raise CoverageError(f"{test}: test id {tid!r} is already {seen[tid]}'s")
            seen[tid] = test
            out[test] = tid
    return out


def verified_by(suite_dir: Path = SUITE_DIR) -> dict[str, list[str]]:
    """Requirement ID → the stable ids of the tests that verify it, sorted."""
    ids_of = test_ids(suite_dir)
    out: dict[str, list[str]] = {}
    for test, rids in suite_markers(suite_dir).items():
        for rid in dict.fromkeys(rids):
            out.setdefault(rid, []).append(ids_of.get(test, test))
    return {rid: sorted(tests) for rid, tests in out.items()}


def write_verified_by(requirements_yaml: Path, mapping: dict[str, list[str]]) -> bool:
    """Rewrite the ``verified_by:`` line of each requirement in place (comments kept). True if changed."""
    text = requirements_yaml.read_text(encoding="utf-8")
    out, current, in_list = [], None, False
    for line in text.splitlines(keepends=True):
        m = re.match(r"\s*- id: (\S+)", line)
        if m:
            current = m.group(1)
        if current and re.match(r"    verified_by:", line):
            tests = mapping.get(current, [])
            line = "    verified_by: []\n" if not tests else "    verified_by:\n" + "".join(f"      - {t}\n" for t in tests)
            in_list = True
        elif in_list and re.match(r"      - ", line):
            continue  # the old list, replaced above
        else:
            in_list = False
        out.append(line)
    new = "".join(out)
    if new != text:
        requirements_yaml.write_text(new, encoding="utf-8")
    return new != text


def _is_variant_marker(node: ast.AST, name: str = "variant") -> bool:
    return (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == name
            and isinstance(node.func.value, ast.Attribute) and node.func.value.attr == "mark")


def _is_cases_marker(node: ast.AST) -> bool:
    return _is_variant_marker(node, "variant_cases")


def _literal_cases(node: ast.Call) -> dict[str, str] | None:
    """``variant_cases("argname", {"case": "VER-06/v5", ...})``'s cases, if written as literals."""
    if len(node.args) != 2 or node.keywords or not _literal(node.args[0]) or not isinstance(node.args[1], ast.Dict):
        return None
    pairs = list(zip(node.args[1].keys, node.args[1].values, strict=True))
    cases = {k.value: v.value for k, v in pairs if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)
             and isinstance(k.value, str) and isinstance(v.value, str)}
    return cases if pairs and len(cases) == len(pairs) else None


def _literal(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and isinstance(node.value, str)


def variant_markers(suite_dir: Path = SUITE_DIR) -> dict[str, list[str]]:
    """``test_x.py::test_name`` (every instance) or ``test_x.py::test_name[param]`` (the instance whose
    parametrize id is ``param``) → the variant IDs its ``variant`` markers declare.

    ``@pytest.mark.variant("VER-06/v1", "VER-06/v2")`` applies to every instance of the test;
    ``@pytest.mark.variant("VER-06/v3", param="prefix-of-covered-model")`` to one;
    ``@pytest.mark.variant_cases("form", {"second-model": "VER-06/v5", ...})`` to each case's instance.
    Like the requirement marker they must be literal decorators of a test function, so the map is complete."""
    out: dict[str, list[str]] = {}
    for path in sorted(suite_dir.glob("test_*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        placed = 0
        for node in ast.walk(tree):
            if _is_variant_marker(node):
                assert isinstance(node, ast.Call)
                placed += 1
                extra = [k for k in node.keywords if k.arg != "param" or not _literal(k.value)]
                if not node.args or not all(_literal(a) for a in node.args) or extra:
                    raise CoverageError(f"{path.name}:{node.lineno}: variant marker without literal IDs "
                                        "(and at most a literal param=)")
            elif _is_cases_marker(node):
                assert isinstance(node, ast.Call)
                placed += 1
                if _literal_cases(node) is None:
                    raise CoverageError(f"{path.name}:{node.lineno}: variant_cases marker without a literal "
                                        "argument name and a literal {case: variant ID}")
        seen = 0
        for node in tree.body:
            if not (isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")):
                continue
            for dec in node.decorator_list:
                if _is_cases_marker(dec):
                    assert isinstance(dec, ast.Call)
                    seen += 1
                    for case, vid in (_literal_cases(dec) or {}).items():
                        out.setdefault(f"{path.name}::{node.name}[{case}]", []).append(vid)
                    continue
                if not _is_variant_marker(dec):
                    continue
                assert isinstance(dec, ast.Call)
                seen += 1
                param = next((k.value.value for k in dec.keywords if k.arg == "param"
                              and isinstance(k.value, ast.Constant)), None)
                key = f"{path.name}::{node.name}" + (f"[{param}]" if param is not None else "")
                out.setdefault(key, []).extend(a.value for a in dec.args if isinstance(a, ast.Constant))
        if seen != placed:
            raise CoverageError(f"{path.name}: {placed - seen} variant marker(s) outside a test function's decorators")
    return out


def tested_variants(suite_dir: Path = SUITE_DIR) -> dict[str, list[str]]:
    """Variant ID → the tests (``file::name`` or ``file::name[param]``) that cover it, sorted."""
    out: dict[str, list[str]] = {}
    for test, ids in variant_markers(suite_dir).items():
        for vid in dict.fromkeys(ids):
            out.setdefault(vid, []).append(test)
    return {vid: sorted(tests) for vid, tests in out.items()}


def main(argv: list[str]) -> int:
    from conformance import specs

    path = specs.specs_dir() / "requirements.yaml"
    mapping = verified_by()
    if "--write" in argv:
        changed = write_verified_by(path, mapping)
        print(f"{path}: {'updated' if changed else 'already up to date'}")
        return 0
    for rid, tests in sorted(mapping.items()):
        print(rid, ", ".join(tests))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
