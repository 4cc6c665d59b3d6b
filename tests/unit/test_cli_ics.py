"""`ccc-conformance ics validate`: the reference ICS passes; each broken ICS gets its verdicts and exit code.

The broken files and what is expected of each live in specs/examples/ics-broken/expectations.yaml.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conformance import cli
from conformance.specs import load

SPECS = load()
EXAMPLES = SPECS.root / "examples"
BROKEN = EXAMPLES / "ics-broken"
EXPECTATIONS: dict[str, dict] = yaml.safe_load((BROKEN / "expectations.yaml").read_text(encoding="utf-8"))


def validate(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        cli.main(["ics", "validate", str(path)])
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


def verdict_lines(out: str) -> dict[str, str]:
    """requirement → verdict, from lines 'ID VERDICT' or 'ID VERDICT: reason'."""
    found: dict[str, str] = {}
    verdicts = set(SPECS.codes("verdict"))
    for line in out.splitlines():
        head = line.split(":", 1)[0].split()
        # 'TERM-03 finding: …' lines list what a FAIL left unjudged; they are not the verdict.
        if len(head) == 2 and head[0] in SPECS.requirements and head[1] in verdicts:
            found[head[0]] = head[1]
    return found


@pytest.mark.parametrize("path", [EXAMPLES / "ics-reference.yaml", *sorted((EXAMPLES / "valid" / "ics").glob("*.yaml"))],
                         ids=lambda p: p.name)
def test_good_ics_passes(capsys: pytest.CaptureFixture[str], path: Path) -> None:
    code, out, err = validate(capsys, path)
    assert (code, err) == (0, "")
    passed = SPECS.codes("verdict")[1]
    assert verdict_lines(out) == {"ICS-01": passed, "TERM-03": passed, "AUD-02": passed}
    assert out.splitlines()[:3] == [f"ICS-01 {passed}", f"TERM-03 {passed}", f"AUD-02 {passed}"]


def test_every_broken_ics_has_an_expectation() -> None:
    assert set(EXPECTATIONS) == {p.name for p in BROKEN.glob("*.yaml") if p.name != "expectations.yaml"}
    for name in ("bad-yaml.yaml", "wrong-types.yaml", "takedown-above-maximum.yaml", "unknown-catalogue-code.yaml",
                 "retention-1-year.yaml"):
        assert name in EXPECTATIONS


@pytest.mark.parametrize("name", sorted(EXPECTATIONS))
def test_broken_ics(capsys: pytest.CaptureFixture[str], name: str) -> None:
    want = EXPECTATIONS[name]
    code, out, err = validate(capsys, BROKEN / name)
    assert code == want["exit"], out + err
    if code == 3:
        assert out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in err
        assert want["stderr"] in lines[0]
        return
    assert err == ""
    assert verdict_lines(out) == want["verdicts"]
    for line in want["lines"]:
        assert line in out.splitlines()


def test_verdict_lines_name_every_reason(capsys: pytest.CaptureFixture[str]) -> None:
    # One line per problem: two schema errors give two ICS-01 lines.
    _, out, _ = validate(capsys, BROKEN / "wrong-types.yaml")
    assert sum(line.startswith("ICS-01 ") for line in out.splitlines()) == 2


def test_bad_yaml_in_a_real_process(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "conformance.cli", "ics", "validate", str(BROKEN / "bad-yaml.yaml")],
                          capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 3
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert f"{BROKEN / 'bad-yaml.yaml'}:4:10:" in proc.stderr


def test_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = validate(capsys, tmp_path / "missing.yaml")
    assert (code, out) == (3, "")
    assert err.strip() == f"ccc-conformance: error: {tmp_path / 'missing.yaml'}: ICS file not found"


def _installed_official_list(tmp_path: Path) -> Path:
    """What a regulator does (README: installing the official catalogue): a copy of specs/ whose
    catalogue.yaml is the whole official list, marked complete."""
    root = tmp_path / "specs"
    shutil.copytree(SPECS.root, root)
    path = root / "catalogue.yaml"
    text = path.read_text(encoding="utf-8")
    for key in ("complete", "groups_complete"):
        text = text.replace(f"\n{key}: false\n", f"\n{key}: true\n")
    path.write_text(text, encoding="utf-8")
    return root


def test_ccc_specs_dir_installs_the_official_list_without_code_changes(tmp_path: Path) -> None:
    # Same ICS, same code: INCONCLUSIVE (exit 2) against the partial catalogue, FAIL (exit 1) once the
    # official list is installed through CCC_SPECS_DIR.
    ics_file = str(BROKEN / "unknown-catalogue-code.yaml")
    command = [sys.executable, "-m", "conformance.cli", "ics", "validate", ics_file]
    env = {k: v for k, v in os.environ.items() if k != "CCC_SPECS_DIR"}
    partial = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=60, env=env)
    assert partial.returncode == 2, partial.stdout + partial.stderr
    official = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=60,
                              env={**env, "CCC_SPECS_DIR": str(_installed_official_list(tmp_path))})
    assert official.returncode == 1, official.stdout + official.stderr
    assert "TERM-03 FAIL: /categoryMapping/1/productCode: '2207' is not a product code of the CCC catalogue " \
           "(revision 2023-partial)" in official.stdout.splitlines()


def test_a_missing_ccc_specs_dir_is_a_one_line_error(tmp_path: Path) -> None:
    env = {**os.environ, "CCC_SPECS_DIR": str(tmp_path / "nowhere")}
    proc = subprocess.run([sys.executable, "-m", "conformance.cli", "ics", "validate",
                           str(EXAMPLES / "ics-reference.yaml")], capture_output=True, text=True, cwd=tmp_path,
                          timeout=60, env=env)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
