"""The report commands behind ``ccc-conformance keygen | verify | diff | report`` (cli.py delegates here).

Each returns its exit code and prints through the given ``echo``; problems with the user's input
raise :class:`~conformance.report.options.OptionError` subclasses (one line, exit 3).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

from conformance.report import bundle_signature as sig
from conformance.report.diff import diff_reports, load_report, render_markdown, render_table
from conformance.report.html import write_html
from conformance.report.labels import LANGS
from conformance.report.manifest import MANIFEST
from conformance.report.options import OptionError
from conformance.report.verify import verify_bundle

Echo = Callable[[str], None]
ALLURE_OUTPUT = "allure-report"
ALLURE_HELP = ("Allure needs Node.js: install Node (e.g. `apt-get install nodejs npm`), then run "
               "`npx --yes allure generate {results} -o {out}` (the npm package `allure`), or use Allure 2's "
               "`allure generate` if you have it")


def keygen(out: Path, echo: Echo) -> int:
    private, public = sig.generate_keypair(out)
    fp = sig.fingerprint(sig.load_public_key(public))
    echo(f"private key: {private} (keep it secret; give it to `run --sign-key`)")
    echo(f"public key:  {public} (give it to whoever verifies: `verify RUN_DIR --public-key {public.name}`)")
    echo(f"fingerprint: {fp}")
    return 0


def verify(run_dir: Path, public_key: Path | None, echo: Echo) -> int:
    result = verify_bundle(run_dir, public_key)
    for line in result.lines():
        echo(line)
    if result.ok:
        echo(f"{run_dir}: OK — {result.files} files match {MANIFEST}; signature valid ({result.fingerprint}, "
             f"key: {result.key_source})")
        return 0
    echo(f"{run_dir}: FAILED — {len(result.lines())} problem(s)")
    return 1


def diff(run_a: Path, run_b: Path, fmt: str, all_rows: bool, echo: Echo) -> int:
    d = diff_reports(load_report(run_a), load_report(run_b))
    if fmt == "json":
        echo(json.dumps(d.as_json(), ensure_ascii=False, indent=2))
    elif fmt == "markdown":
        echo(render_markdown(d, all_rows).rstrip("\n"))
    else:
        echo(render_table(d, all_rows).rstrip("\n"))
    return 1 if d.regressions else 0


def rerender(run_dir: Path, lang: str, out: Path | None, allure: bool, echo: Echo) -> int:
    """Rebuild report.html from report.json and evidence/ (no test is run again)."""
    if lang not in LANGS:
        raise OptionError(f"--lang {lang}: one of {', '.join(LANGS)}")
    report = load_report(run_dir)
    if not run_dir.is_dir():
        raise OptionError(f"{run_dir}: give the run folder (evidence/ is read from it)")
    target = write_html(run_dir, report, lang=lang, out=out)
    echo(f"report: {target}")
    if out is None and (run_dir / MANIFEST).is_file():
        echo(f"note: {target.name} changed after the bundle was sealed, so `verify` will name it; "
             "use --out FILE to leave the signed bundle as it was")
    if allure:
        return _allure(run_dir, echo)
    return 0


def _allure(run_dir: Path, echo: Echo) -> int:
    results, out = run_dir / "allure-results", run_dir / ALLURE_OUTPUT
    if not results.is_dir():
        raise OptionError(f"{results}: not found (this run wrote no Allure results)")
    npx = shutil.which("npx")
    if npx is None:
        echo(ALLURE_HELP.format(results=results, out=out))
        return 3
    cmd = [npx, "--yes", "allure", "generate", str(results), "-o", str(out)]
    echo("building Allure's report: " + " ".join(cmd))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
    except subprocess.TimeoutExpired:
        echo("allure did not finish within 600 s")
        return 3
    if proc.returncode != 0:
        tail = " ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
        echo(f"allure failed (exit {proc.returncode}): {tail}")
        echo(ALLURE_HELP.format(results=results, out=out))
        return 3
    echo(f"allure report: {out / 'index.html'} — Allure loads its data with fetch, so serve it: "
         f"`npx allure open {out}` (a loopback web server); `verify` will list {ALLURE_OUTPUT}/ as added")
    return 0
