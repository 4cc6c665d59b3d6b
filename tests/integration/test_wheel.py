"""The built wheel carries specs/ and load/, and the installed suite works from anywhere.

Installing every dependency into a fresh venv would take minutes, so the wheel goes into a
``--target`` folder without dependencies and runs with PYTHONPATH pointing at it: the package comes
from the wheel, its dependencies from the current environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("wheel")
    dist, site = base / "dist", base / "site"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    subprocess.run([*pip, "wheel", "--no-deps", "--quiet", "-w", str(dist), str(REPO_ROOT)],
                   check=True, timeout=600, cwd=base)
    wheels = list(dist.glob("ccc_conformance-*.whl"))
    assert len(wheels) == 1, wheels
    names = zipfile.ZipFile(wheels[0]).namelist()
    assert "conformance/_data/specs/profile.yaml" in names
    assert not [n for n in names if n.startswith(("tests/", "specs/"))], "only the package tree goes in the wheel"
    subprocess.run([*pip, "install", "--no-deps", "--quiet", "--target", str(site), str(wheels[0])],
                   check=True, timeout=600, cwd=base)
    return site


def run(site: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CCC_SPECS_DIR"}
    env["PYTHONPATH"] = str(site)
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120)


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    # Not the checkout: nothing may be found relative to the working directory.
    return tmp_path


@pytest.mark.slow
def test_installed_package_finds_its_specs_and_load(installed: Path, elsewhere: Path) -> None:
    code = (
        "import json, conformance, conformance.specs as s\n"
        "spec = s.load()\n"
        "print(json.dumps({'package': conformance.__file__, 'specs': str(s.specs_dir()),"
        " 'load': str(s.data_dir('load')), 'requirements': len(spec.requirements),"
        " 'schemas': len(spec.schemas), 'catalogue': len(spec.catalogue)}))\n"
    )
    proc = run(installed, elsewhere, "-c", code)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    data = installed / "conformance" / "_data"
    assert Path(got["package"]).resolve() == (installed / "conformance" / "__init__.py").resolve()
    assert Path(got["specs"]).resolve() == (data / "specs").resolve()
    assert Path(got["load"]).resolve() == (data / "load").resolve()
    assert got["requirements"] == 50
    assert got["schemas"] == len(list((REPO_ROOT / "specs" / "schemas").glob("*.schema.json")))
    assert got["catalogue"] > 0
    for folder in ("examples/valid", "examples/invalid", "examples/ics-broken", "openapi", "schemas"):
        assert (data / "specs" / folder).is_dir(), folder
    assert (data / "specs" / "examples" / "invalid" / "expectations.yaml").is_file()
    assert (installed / "reference_platform" / "__init__.py").is_file()


@pytest.mark.slow
def test_installed_cli_requirements(installed: Path, elsewhere: Path) -> None:
    proc = run(installed, elsewhere, "-m", "conformance.cli", "requirements", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(proc.stdout)) == 50


@pytest.mark.slow
def test_installed_cli_ics_validate(installed: Path, elsewhere: Path) -> None:
    examples = installed / "conformance" / "_data" / "specs" / "examples"
    ok = run(installed, elsewhere, "-m", "conformance.cli", "ics", "validate", str(examples / "ics-reference.yaml"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.splitlines()[0].startswith("ICS-01 ")
    failing = run(installed, elsewhere, "-m", "conformance.cli", "ics", "validate",
                  str(examples / "ics-broken" / "retention-1-year.yaml"))
    assert failing.returncode == 1
    assert "AUD-02 FAIL: /retention/verificationRecordYears" in failing.stdout
    broken = run(installed, elsewhere, "-m", "conformance.cli", "ics", "validate",
                 str(examples / "ics-broken" / "bad-yaml.yaml"))
    assert broken.returncode == 3
    assert len(broken.stderr.strip().splitlines()) == 1 and "Traceback" not in broken.stderr


@pytest.mark.slow
def test_installed_console_script(installed: Path, elsewhere: Path) -> None:
    script = installed / "bin" / "ccc-conformance"
    assert script.is_file(), "the wheel declares the ccc-conformance console script"
    proc = run(installed, elsewhere, str(script), "--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ccc-conformance ")
