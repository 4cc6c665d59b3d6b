"""``ccc-conformance fuzz``: the property-based and stateful run of the test-control interface, alone.

What the suite does for SEC-03 (no input gets a 5xx) and MSG-05 (answers as platform-test.yaml says),
run on its own while a platform engineer builds the interface: schemathesis's CLI over the published
document, with this package's hooks (``conformance.schemathesis``: bearer token, the ICS's categories),
all of its phases (examples, coverage, fuzzing, stateful along the document's links), bounded by
``--max-examples`` and seeded. Without ``--target`` it fuzzes the embedded reference platform
(``--fault`` switches one of its faults on), with the regulator simulator beside it.

Output in ``--out``: ``junit.xml`` (schemathesis's), ``results.jsonl`` (one result per requirement, in
the format ``report.json`` is built from), ``fuzz.json`` (the failures, each with its reproducing curl
and the seed), ``schemathesis.ndjson`` (every case) and ``schemathesis-output.txt``. The same seed and
``--max-examples`` against the same platform send the same cases again.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from conformance import ics as ics_mod
from conformance import specs
from conformance.evidence import Redactor
from conformance.exitcodes import UsageError
from conformance.run import counterparts
from conformance.run.selection import resolve_faults
from conformance.rundir import RunDir
from conformance.verdicts import TestResult, codes

# What conformance.schemathesis reads (not imported: importing it registers its hooks in this process;
# tests/unit/test_schemathesis_hooks.py keeps the names equal).
ICS_VAR = "CCC_ICS"
PIXIT_VAR = "CCC_PIXIT"

DOCUMENT = "platform-test"
# schemathesis checks → the requirement each one judges (the MSG-05 test's four checks; 5xx is SEC-03).
CHECKS = {"not_a_server_error": "SEC-03", "status_code_conformance": "MSG-05",
          "content_type_conformance": "MSG-05", "response_schema_conformance": "MSG-05"}
PLATFORM_START_SECONDS = 30.0
RUN_TIMEOUT_SECONDS = 1800.0  # a bound on the whole schemathesis run, whatever --max-examples says
SEED_LIMIT = 2**63


FuzzError = UsageError  # a usage or configuration problem: one line, exit 3


@dataclass
class Target:
    url: str
    ics_path: Path
    pixit_path: Path | None
    secrets: list[str] = field(default_factory=list)
    bearer_token: str | None = None


@dataclass
class Failure:
    requirement: str
    checks: list[str]
    operation: str
    status: int | None
    message: str
    curl: str
    phase: str
    mode: str

    def as_json(self) -> dict[str, Any]:
        return {"requirement": self.requirement, "checks": self.checks, "operation": self.operation,
                "status": self.status, "message": self.message, "curl": self.curl, "phase": self.phase,
                "mode": self.mode}


# -- counterparts: the same ones `ccc-conformance run` starts (conformance.run.counterparts) ----------
@contextlib.contextmanager
def _embedded(out: Path, faults: list[str]) -> Iterator[Target]:
    """The regulator simulator (a thread) and the reference platform (its own process), loopback."""
    server = counterparts.start_simulator(host="127.0.0.1", port=0)
    platform: counterparts.Platform | None = None
    try:
        platform = counterparts.start_embedded(RunDir(out), server.url, faults)
        counterparts.register_platform(server.simulator, platform.ctx)
        yield Target(platform.ctx.target, platform.ics_path, None, platform.ctx.secrets())
    finally:
        if platform is not None:
            platform.stop()
        server.stop()


def _external(url: str, ics: Path | None, pixit: Path | None) -> Target:
    if ics is None:
        raise FuzzError("--target needs --ics FILE (its category mapping feeds categoryId)")
    try:
        errors = specs.load().errors("ics", ics_mod.load_ics(ics))
        loaded = ics_mod.load_pixit(pixit) if pixit is not None else None
    except ics_mod.IcsError as exc:
        raise FuzzError(str(exc)) from None
    if errors:
        raise FuzzError(f"{ics}: the ICS does not validate ({'; '.join(errors[:5])}); "
                        "check it with `ccc-conformance ics validate`")
    token = (loaded or {}).get("bearerToken") or os.environ.get("CCC_BEARER_TOKEN") or None
    target = Target(url.rstrip("/"), ics, pixit, list(loaded.secret_values()) if loaded else [], token)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        answer = httpx.get(f"{target.url}/health", headers=headers, timeout=5.0, trust_env=False)
    except httpx.HTTPError as exc:
        raise FuzzError(f"the target {target.url} is not reachable ({type(exc).__name__}); is --target the "
                        "test-control base URL?") from exc
    if answer.status_code != 200:
        raise FuzzError(f"{target.url}/health answered {answer.status_code}; expected 200 (check --target and the bearer token)")
    return target


# -- the run -----------------------------------------------------------------------------------
def _schemathesis_command(target: Target, out: Path, max_examples: int, seed: int) -> list[str]:
    return [sys.executable, "-m", "schemathesis.cli", "run", str(specs.load().openapi_path(DOCUMENT)),
            "--url", target.url, "--max-examples", str(max_examples), "--seed", str(seed),
            # No example database: cases stored by earlier runs (in .hypothesis/ of the working folder)
            # would be replayed first, so the same seed would not send the same cases again.
            "--generation-database", "none",
            "--checks", ",".join(CHECKS), "--no-color",
            "--report", "junit,ndjson", "--report-junit-path", str(out / "junit.xml"),
            "--report-ndjson-path", str(out / "schemathesis.ndjson")]


def _environment(target: Target) -> dict[str, str]:
    env = {**os.environ, **specs.checked_env(specs.load()), "SCHEMATHESIS_HOOKS": "conformance.schemathesis",
           ICS_VAR: str(target.ics_path)}
    env.pop(PIXIT_VAR, None)
    if target.pixit_path is not None:
        env[PIXIT_VAR] = str(target.pixit_path)
    return env


def _shell_bytes(raw: bytes) -> str:
    """A shell word that is exactly these bytes: plain quoting when printable, else $'...' escapes."""
    text = raw.decode("utf-8", "replace")
    if raw == text.encode() and text.isprintable():
        return shlex.quote(text)
    return "$'" + "".join(chr(b) if 32 <= b < 127 and chr(b) not in "'\\" else f"\\x{b:02x}" for b in raw) + "'"


def curl_command(request: dict[str, Any], redactor: Redactor) -> str:
    """The request as schemathesis recorded it sent, as a curl command line: the same method, URL,
    headers and body bytes. A bearer token is read from $CCC_BEARER_TOKEN, never printed."""
    parts = ["curl", "-X", str(request["method"])]
    for name, values in (request.get("headers") or {}).items():
        for value in values if isinstance(values, list) else [values]:
            if name.lower() == "authorization":
                parts += ["-H", '"Authorization: Bearer $CCC_BEARER_TOKEN"']
            else:
                parts += ["-H", shlex.quote(redactor.text(f"{name}: {value}"))]
    body = request.get("body")
    if isinstance(body, dict) and "$base64" in body:
        raw = base64.b64decode(body["$base64"])
    elif isinstance(body, str):
        raw = body.encode()
    else:
        raw = None
    if raw is not None:
        shown = redactor.text(raw.decode("utf-8", "surrogateescape")).encode("utf-8", "surrogateescape")
        parts += ["--data-binary", _shell_bytes(shown)]
    parts.append(shlex.quote(redactor.text(str(request["uri"]))))
    return " ".join(parts)


def failures_from_events(path: Path, redactor: Redactor) -> tuple[list[Failure], int]:
    """The failed checks in schemathesis's NDJSON events (one per case and requirement) and the number
    of cases with checks."""
    failures: list[Failure] = []
    cases = 0
    seen: set[tuple[str, str, str]] = set()
    if not path.is_file():
        return failures, cases
    for line in path.read_text(encoding="utf-8").splitlines():
        event = json.loads(line).get("ScenarioFinished")
        if not event:
            continue
        recorder = event.get("recorder") or {}
        recorded = recorder.get("cases") or {}
        for case_id, results in (recorder.get("checks") or {}).items():
            cases += 1
            case = (recorded.get(case_id) or {}).get("value")
            if case is None:
                continue
            failed = [r for r in results if r.get("status") == "failure" and r.get("name") in CHECKS]
            by_requirement: dict[str, list[dict[str, Any]]] = {}
            for result in failed:
                by_requirement.setdefault(CHECKS[result["name"]], []).append(result)
            interaction = (recorder.get("interactions") or {}).get(case_id) or {}
            if not by_requirement or not interaction.get("request"):
                continue
            status = (interaction.get("response") or {}).get("status_code")
            meta = case.get("meta") or {}
            for requirement, found in by_requirement.items():
                curl = curl_command(interaction["request"], redactor)
                key = (requirement, f"{case['method']} {case['path']}", curl)
                if key in seen:
                    continue
                seen.add(key)
                info = [(r.get("failure_info") or {}).get("failure") or {} for r in found]
                failures.append(Failure(
                    requirement, [r["name"] for r in found], f"{case['method']} {case['path']}", status,
                    " ".join(redactor.text("; ".join(f"{i.get('title')}: {i.get('message')}".rstrip(": ")
                                                      for i in info)).split())[:500],
                    curl, str((meta.get("phase") or {}).get("name") or event.get("phase")),
                    str((meta.get("generation") or {}).get("mode"))))
    return failures, cases


def results(failures: list[Failure], cases: int, seconds: float, seed: int, max_examples: int,
            command: str) -> list[TestResult]:
    """One result per requirement, as the suite's tests report them."""
    c = codes()
    out = []
    for requirement in sorted(set(CHECKS.values())):
        mine = [f for f in failures if f.requirement == requirement]
        checks = sorted(k for k, v in CHECKS.items() if v == requirement)
        failed = sorted({name for f in mine for name in f.checks})
        out.append(TestResult(
            nodeid=f"ccc-conformance fuzz::{requirement}", requirements=[requirement],
            verdict=c.FAIL if mine else c.PASS, duration_seconds=seconds,
            message=(f"{len(mine)} generated request(s) failed {', '.join(failed)}; reproduce with: {command}"
                     if mine else None),
            expected={"checks": checks}, observed={"failures": [f.as_json() for f in mine[:25]],
                                                    "failureCount": len(mine)} if mine else None,
            measurements=[{"name": "generatedRequests", "value": cases, "unit": "requests"},
                          {"name": "seed", "value": seed, "unit": None},
                          {"name": "maxExamples", "value": max_examples, "unit": None}]))
    return out


def fuzz(*, target: str | None, ics: Path | None, pixit: Path | None, max_examples: int, seed: int | None,
         out: Path, faults: list[str], echo: Any = print) -> int:
    """Run it; 0 nothing found, 1 failures found, 3 (FuzzError) usage or configuration."""
    if max_examples < 1:
        raise FuzzError("--max-examples must be at least 1")
    faults = resolve_faults(faults, embedded=target is None)
    seed = secrets.randbelow(SEED_LIMIT) if seed is None else seed
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FuzzError(f"cannot create the output folder {out}: {exc.strerror}") from exc
    with (_embedded(out, faults) if target is None else contextlib.nullcontext(_external(target, ics, pixit))) as t:
        command = " ".join(["ccc-conformance", "fuzz", *(["--target", t.url, "--ics", str(ics)] if target else []),
                            *(f"--fault {f}" for f in faults), "--max-examples", str(max_examples), "--seed", str(seed)])
        echo(f"ccc-conformance fuzz → {t.url} (seed {seed}, --max-examples {max_examples})")
        started = time.monotonic()
        try:
            run = subprocess.run(_schemathesis_command(t, out, max_examples, seed), env=_environment(t),
                                 capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS, check=False)
        except subprocess.TimeoutExpired as exc:
            raise FuzzError(f"schemathesis did not finish within {RUN_TIMEOUT_SECONDS:.0f} s; lower --max-examples") from exc
        elapsed = time.monotonic() - started
        redactor = Redactor(t.secrets + ([t.bearer_token] if t.bearer_token else []))
        (out / "schemathesis-output.txt").write_text(redactor.text(run.stdout + run.stderr), encoding="utf-8")
        failures, cases = failures_from_events(out / "schemathesis.ndjson", redactor)
    if run.returncode not in (0, 1) or (run.returncode == 1 and not failures):
        tail = " ".join((run.stderr or run.stdout).strip().splitlines()[-3:])
        raise FuzzError(f"schemathesis ended with code {run.returncode} and no check failure: {tail[:400]} "
                        f"(see {out / 'schemathesis-output.txt'})")
    judged = results(failures, cases, elapsed, seed, max_examples, command)
    with (out / "results.jsonl").open("w", encoding="utf-8") as fh:
        for result in judged:
            fh.write(json.dumps(result.as_json(), ensure_ascii=False) + "\n")
    (out / "fuzz.json").write_text(json.dumps(
        {"target": t.url, "seed": seed, "maxExamples": max_examples, "generatedRequests": cases,
         "seconds": round(elapsed, 2), "reproduce": command, "failures": [f.as_json() for f in failures]},
        ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    for result in judged:
        echo(f"{result.requirements[0]} {result.verdict}" + (f": {result.message}" if result.message else ""))
    for failure in failures:
        echo(f"  {failure.requirement} {failure.operation} → {failure.status}: {failure.message}\n    {failure.curl}")
    echo(f"{cases} generated requests in {elapsed:.1f} s; seed {seed}; results in {out}")
    if failures:
        echo(f"reproduce: {command}")
    return 1 if failures else 0
