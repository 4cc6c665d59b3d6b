"""Every output of a run folder beyond report.json, made in one place and in a fixed order.

The run orchestrator calls :func:`prepare` before it starts anything (so a bad key or baseline is a
one-line error, exit 3, before minutes of testing), :func:`render_all` once report.json is built, and
:func:`seal` after the folder has been redacted: the manifest and its signature must be the last
things written, or they would not cover what a regulator receives.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import shutil
import sys
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from conformance import specs
from conformance.report import bundle_signature as sig
from conformance.report.allure_extras import write_allure_extras
from conformance.report.baseline import apply_baseline, load_baseline
from conformance.report.har import write_har
from conformance.report.html import write_html
from conformance.report.junit import write_junit
from conformance.report.manifest import write_manifest
from conformance.report.options import OptionError, ReportOptions
from conformance.rundir import RunDir


@dataclass
class Prepared:
    options: ReportOptions
    key: Ed25519PrivateKey | None
    baseline: dict[str, Any] | None


def prepare(options: ReportOptions | None) -> Prepared:
    """Load the signing key and the baseline up front; raises SigningKeyError / BaselineError."""
    options = options or ReportOptions()
    key = sig.load_private_key(options.sign_key) if options.sign_key else None
    baseline = load_baseline(options.baseline) if options.baseline else None
    if options.junit_xml is not None and options.junit_xml.is_dir():
        raise OptionError(f"--junit-xml {options.junit_xml}: is a folder; give a file path such as junit.xml")
    return Prepared(options=options, key=key, baseline=baseline)


def render_all(run_dir: Path, report: dict[str, Any], prepared: Prepared | ReportOptions | None = None) -> dict[str, Any]:
    """Apply the baseline, record the signer, rewrite report.json, then every renderer. Returns the report."""
    if not isinstance(prepared, Prepared):
        prepared = prepare(prepared)
    if prepared.baseline is not None:
        report = apply_baseline(report, prepared.baseline, source=str(prepared.options.baseline))
    if prepared.key is not None:
        report = {**report, "signature": {"algorithm": "Ed25519", "fingerprint": sig.fingerprint(prepared.key.public_key())}}
        (run_dir / sig.PUBLIC_KEY_COPY).write_bytes(sig.public_pem(prepared.key.public_key()))
    errors = specs.load().errors("report", report)
    if errors:
        raise RuntimeError(f"report.json does not validate against report.schema.json: {errors[:3]}")
    RunDir(run_dir).report_json.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    # The HARs (~0.6 s for a full run's evidence) are made in a second process while this one draws
    # the page (~1 s): after the suite, both cores are free. Neither reads what the other writes.
    pool = _helper_pool()
    try:
        har = pool.submit(write_har, run_dir) if pool is not None else None
        write_junit(report, RunDir(run_dir).junit)
        write_allure_extras(run_dir, report)
        write_html(run_dir, report, lang=prepared.options.lang)
        made = False
        if har is not None:
            with contextlib.suppress(BrokenProcessPool):  # it could not start, or died: made here below
                har.result()
                made = True
        if not made:
            write_har(run_dir)
    finally:
        if pool is not None:
            pool.shutdown()
    return report


def _helper_pool() -> ProcessPoolExecutor | None:
    """A one-process pool where ``fork`` is safe and cheap — Linux, and this process running one thread
    (after a run the orchestrator's have ended; pytest run directly still serves its simulator)."""
    if sys.platform != "linux" or threading.active_count() > 1:
        return None
    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("fork"))


def seal(run_dir: Path, prepared: Prepared | ReportOptions | None = None) -> None:
    """MANIFEST.sha256, MANIFEST.sig when a key was given, and the JUnit copy at its fixed path."""
    if not isinstance(prepared, Prepared):
        prepared = prepare(prepared)
    write_manifest(run_dir)
    if prepared.key is not None:
        sig.sign_manifest(run_dir, prepared.key)
    if prepared.options.junit_xml is not None:
        target = prepared.options.junit_xml
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(RunDir(run_dir).junit, target)


def baseline_note(report: dict[str, Any]) -> str:
    """For the closing banner: a verdict whose exit code a baseline changed says so beside it."""
    b = report["overall"].get("baseline")
    if not b or not b["accepted"]:
        return ""
    return (f" (known failures accepted by the baseline until their expiry: "
            f"{', '.join(a['requirement'] for a in b['accepted'])}; exit {b['exitCode']})")
