"""The ``ccc-conformance`` command: run · simulator · reference-platform · requirements · ics.

Exit codes (architecture.md): 0 CONFORMANT / all passed, 1 NON_CONFORMANT / a failure, 2 INCOMPLETE,
3 a usage or configuration error. A usage or configuration error is one line on stderr, never a
traceback: :func:`main` runs typer in non-standalone mode so that click's own usage errors (exit 2
by default) come back here and leave with 3 like every other configuration error.
"""

from __future__ import annotations

import csv
import errno
import importlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from conformance import __version__, exitcodes
from conformance import ics as ics_mod
from conformance import specs as specs_mod
from conformance.exitcodes import UsageError
from conformance.ics import IcsError
from conformance.run.selection import split as _split
from conformance.specs import SpecError, Specs

PROG = "ccc-conformance"

# click's exception classes: older typer re-exports click's, newer typer vendors its own copy. Take
# them from wherever typer's BadParameter lives so main() catches the ones typer actually raises.
_click_exceptions = sys.modules[typer.BadParameter.__module__]
_UsageError: type[Exception] = _click_exceptions.UsageError
_ClickException: type[Exception] = _click_exceptions.ClickException
_NoArgsIsHelpError: type[Exception] | None = getattr(_click_exceptions, "NoArgsIsHelpError", None)


CliError = UsageError  # a usage or configuration problem found by a command: one line, exit 3


app = typer.Typer(
    name=PROG,
    help="Conformance test suite for e-commerce platforms' CCC online-verification integrations "
         "(强制性产品认证电商平台联网核查).",
    no_args_is_help=True,
    add_completion=False,
    # A bug should show a plain traceback; configuration errors never reach it (main() catches them).
    pretty_exceptions_enable=False,
)
ics_app = typer.Typer(help="Implementation conformance statement (ICS): static review.", no_args_is_help=True)
app.add_typer(ics_app, name="ics")


def _specs() -> Specs:
    return specs_mod.load()


def _version(value: bool) -> None:
    if value:
        try:
            profile = f" (profile {_specs().profile_id})"
        except SpecError:
            profile = ""  # --version must answer even when specs/ is broken
        typer.echo(f"{PROG} {__version__}{profile}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Show the suite and profile version and exit.")] = False,
) -> None:
    """Conformance test suite for CCC online-verification integrations."""


# -- ics validate -------------------------------------------------------------------------------
@ics_app.command("validate")
def ics_validate(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="The ICS (YAML) to review.")],
) -> None:
    """Static review of an ICS: one verdict per requirement (ICS-01, TERM-03, AUD-02).

    Exit 0 when all pass, 1 when any FAILs, 2 when none FAILs but one is INCONCLUSIVE (e.g. a product
    code the suite's incomplete catalogue does not hold), 3 when the file cannot be read as a YAML mapping.
    """
    s = _specs()
    verdicts = ics_mod.review_file(file, s)
    for verdict in verdicts:
        for line in verdict.lines():
            typer.echo(line)
    closing, code = ics_mod.outcome(verdicts, file)
    typer.echo(closing)
    if code:
        raise typer.Exit(code)


# -- requirements -------------------------------------------------------------------------------
class OutputFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def coverage(req: specs_mod.Requirement) -> str:
    """How the suite covers a requirement today: by a test, by the static ICS review, or not yet."""
    if req.id in ics_mod.STATIC_REQUIREMENTS:
        return "static"
    if req.verified_by:
        return "automated"
    if req.verification == "manual":
        return "manual"
    return "not yet"


def _requirement_rows(s: Specs, areas: list[str]) -> list[dict[str, Any]]:
    known = [a["code"] for a in s.areas]
    unknown = [a for a in areas if a not in known]
    if unknown:
        raise CliError(f"unknown area {', '.join(unknown)} (known: {', '.join(known)})")
    rows = []
    from conformance.variants import coverage_table  # variant coverage per requirement (issue 13)

    variant_cov = coverage_table(_tested_variants())
    for req in s.requirements.values():
        if areas and req.area not in areas:
            continue
        rows.append({
            "id": req.id, "level": req.level, "area": req.area, "title": req.title,
            "text": {"zh": req.text_zh, "en": req.text_en}, "verification": req.verification,
            "capability": req.capability, "coverage": coverage(req), "verifiedBy": list(req.verified_by),
            "variantCoverage": f"{variant_cov[req.id]['tested']}/{variant_cov[req.id]['listed']}",
            "variants": variant_cov[req.id]["variants"],
        })
    return rows


def _tested_variants() -> dict[str, list[str]]:
    from conformance.coverage import CoverageError, tested_variants

    try:
        return tested_variants()
    except CoverageError as exc:
        raise CliError(str(exc)) from None


@app.command("requirements")
def requirements(
    fmt: Annotated[OutputFormat, typer.Option("--format", help="table, json or csv.")] = OutputFormat.table,
    area: Annotated[list[str] | None, typer.Option("--area", metavar="AREA",
                                                   help="Only this area (repeat or comma-separate).")] = None,
) -> None:
    """The profile's requirements: level, area, how verified, and which suite tests verify each."""
    s = _specs()
    rows = _requirement_rows(s, [a.upper() for a in _split(area)])
    if fmt is OutputFormat.json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    columns = ["id", "level", "area", "title", "verification", "capability", "coverage", "verifiedBy", "variantCoverage"]
    if fmt is OutputFormat.csv:
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        for row in rows:
            writer.writerow([" ".join(row[c]) if c == "verifiedBy" else (row[c] or "") for c in columns])
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not console.is_terminal:
        # Piped or captured output has no width to fit; keep one requirement per line.
        console = Console(width=200)
    table = Table(title=f"Requirements of {s.profile_id}", box=box.SIMPLE_HEAD)
    headings = {"verification": "verified", "verifiedBy": "tests", "variantCoverage": "variants tested"}
    for col in columns:
        table.add_column(headings.get(col, col), no_wrap=col not in {"title", "verifiedBy"},
                         overflow="fold", ratio=1 if col in {"title", "verifiedBy"} else None)
    for row in rows:
        table.add_row(*[" ".join(row[c]) or "—" if c == "verifiedBy" else (row[c] or "—") for c in columns])
    console.print(table)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row["coverage"]] = counts.get(row["coverage"], 0) + 1
    console.print(f"{len(rows)} requirements: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items())))
    listed = sum(len(r["variants"]) for r in rows)
    tested = sum(1 for r in rows for v in r["variants"] if v["tests"])
    console.print(f"variants (specs/variants.yaml): {tested} of {listed} tested"
                  + (f" ({tested / listed:.0%})" if listed else ""))


def _optional_module(name: str, what: str) -> Any:
    """Import a part of the suite that a build may lack, lazily so other commands start fast.

    Only the module itself being absent is a configuration problem; a missing dependency *inside*
    it is a bug and keeps its traceback.
    """
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and name.startswith(exc.name):
            raise CliError(f"{what} is not available in this build") from None
        raise


# -- simulator ----------------------------------------------------------------------------------
def _check_alg(s: Specs, alg: str | None) -> None:
    if alg is not None and alg not in s.codes("signatureAlgorithm"):
        raise CliError(f"unknown signature algorithm {alg!r} (known: {', '.join(s.codes('signatureAlgorithm'))})")


@app.command("simulator")
def simulator(
    platform_id: Annotated[str, typer.Option("--platform-id", envvar="CCC_PLATFORM_ID", metavar="ID",
                                             help="The platform allowed to call (env CCC_PLATFORM_ID).")],
    platform_secret: Annotated[str, typer.Option("--platform-secret", envvar="CCC_PLATFORM_SECRET",
                                                 metavar="SECRET", show_envvar=True,
                                                 help="Its signing secret (prefer env CCC_PLATFORM_SECRET).")],
    host: Annotated[str, typer.Option("--host", envvar="CCC_SIMULATOR_HOST", help="Bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", envvar="CCC_SIMULATOR_PORT", min=0, max=65535,
                                      help="Bind port.")] = 8765,
    certificates: Annotated[Path | None, typer.Option("--certificates", metavar="FILE",
                                                      help="Certificates to preload (YAML or JSON).")] = None,
    seed: Annotated[int | None, typer.Option("--seed", metavar="N", help="Seed for generated data.")] = None,
    notification_url: Annotated[str | None, typer.Option("--notification-url", metavar="URL",
                                                         help="Where to push status-change events.")] = None,
    signature_alg: Annotated[str | None, typer.Option("--signature-alg", metavar="HMAC-SHA256|HMAC-SM3",
                                                      help="Signature algorithm (default HMAC-SHA256).")] = None,
) -> None:
    """Run the regulator simulator standalone, for a platform's own integration testing."""
    s = _specs()
    _check_alg(s, signature_alg)
    if certificates is not None and not certificates.is_file():
        raise CliError(f"{certificates}: certificates file not found")
    serve = _optional_module("conformance.simulator.serve", "the regulator simulator")
    from conformance import signing

    rc = serve.main(host=host, port=port, platform_id=platform_id, platform_secret=platform_secret,
                    certificates=certificates, seed=seed, notification_url=notification_url,
                    signature_alg=signature_alg or signing.SHA256)
    raise typer.Exit(rc or 0)


# -- reference-platform -------------------------------------------------------------------------
def _reference_platform_available() -> bool:
    # find_spec on the top-level name locates it without importing it: the harness never imports
    # reference_platform (architecture.md), it only starts it as a process.
    spec = importlib.util.find_spec("reference_platform")
    if spec is None or not spec.submodule_search_locations:
        return False
    return any((Path(loc) / "__main__.py").is_file() for loc in spec.submodule_search_locations)


def _run_forwarding_signals(cmd: list[str], env: dict[str, str] | None = None) -> int:
    """Run cmd, forwarding SIGINT/SIGTERM/SIGHUP to it once, and return its exit code (128+N on signal N).

    The child gets its own process group so that a terminal Ctrl-C reaches it only through us, once:
    uvicorn treats a second SIGINT as "exit now, skip shutdown".
    """
    children: list[subprocess.Popen[bytes]] = []
    early: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        if not children:
            early.append(signum)
        for child in children:
            if child.poll() is None:
                child.send_signal(signum)

    # Handlers first, then the child: a signal arriving in between must not kill us and orphan it.
    forwarded = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {sig: signal.signal(sig, forward) for sig in forwarded}
    try:
        children.append(subprocess.Popen(cmd, process_group=0, env=env))
        for signum in early[:1]:  # asked to stop while it was starting: tell it once
            children[0].send_signal(signum)
        rc = children[0].wait()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 128 - rc if rc < 0 else rc


@app.command("reference-platform", add_help_option=False,
             context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def reference_platform(ctx: typer.Context) -> None:
    """Run the embedded reference platform as its own process; its options are its own
    (``ccc-conformance reference-platform --help``), declared once in ``reference_platform/__main__.py``."""
    if not _reference_platform_available():
        raise CliError("the reference platform is not available in this build")
    # Its usage errors then read "ccc-conformance reference-platform: error: …", like every other command's.
    env = {**os.environ, "REFERENCE_PLATFORM_PROG": f"{PROG} reference-platform"}
    raise typer.Exit(_run_forwarding_signals([sys.executable, "-m", "reference_platform", *ctx.args], env=env))


# -- run ----------------------------------------------------------------------------------------
@app.command("run")
def run(
    target: Annotated[str | None, typer.Option("--target", metavar="URL",
                                               help="Test-control base URL; default: the embedded reference "
                                                    "platform.")] = None,
    ics: Annotated[Path | None, typer.Option("--ics", metavar="FILE", help="The platform's ICS.")] = None,
    pixit: Annotated[Path | None, typer.Option("--pixit", metavar="FILE",
                                               help="Secrets and addresses (or CCC_* env vars).")] = None,
    only: Annotated[str | None, typer.Option("--only", metavar="IDS",
                                             help="Comma-separated requirement IDs, e.g. VER-01,TKD-01.")] = None,
    area: Annotated[list[str] | None, typer.Option("--area", metavar="AREA",
                                                   help="Only these areas (repeat or comma-separate).")] = None,
    fault: Annotated[list[str] | None, typer.Option("--fault", metavar="NAME",
                                                    help="Fault switch for the embedded platform.")] = None,
    out: Annotated[Path | None, typer.Option("--out", metavar="DIR", help="Report folder (default reports/).")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, metavar="N",
                                                help="Parallel test workers.")] = None,
    skip_load: Annotated[bool, typer.Option("--skip-load", help="No load phase (AVL unjudged: a partial run).")] = False,
    sign_key: Annotated[Path | None, typer.Option("--sign-key", metavar="FILE",
                                                  help="Ed25519 private key (keygen): write MANIFEST.sig.")] = None,
    baseline: Annotated[Path | None, typer.Option("--baseline", metavar="FILE",
                                                  help="Known failures (YAML) accepted until their expiry.")] = None,
    junit_xml: Annotated[Path | None, typer.Option("--junit-xml", metavar="PATH",
                                                   help="Also write junit.xml here (a fixed path for CI).")] = None,
) -> None:
    """Run the conformance suite; exit 0 CONFORMANT, 1 NON_CONFORMANT, 2 INCOMPLETE, 3 usage error."""
    run_mod = _optional_module("conformance.run", "the runner")
    only_ids = [i.upper() for i in _split([only] if only else None)]
    areas = [a.upper() for a in _split(area)]
    from conformance.report.options import ReportOptions

    options = ReportOptions(sign_key=sign_key, baseline=baseline, junit_xml=junit_xml)
    raise SystemExit(run_mod.run_command(target=target, ics=ics, pixit=pixit, only=only_ids or None,
                                         area=areas or None, fault=_split(fault), out=out, workers=workers,
                                         skip_load=skip_load, report_options=options))


# -- load (issue 9: logic in conformance/load/command.py) ---------------------------------------
@app.command("load")
def load(
    target: Annotated[str | None, typer.Option("--target", metavar="URL", help="Test-control base URL; default: "
                                               "the embedded reference platform.")] = None,
    ics: Annotated[Path | None, typer.Option("--ics", metavar="FILE", help="The platform's ICS.")] = None,
    pixit: Annotated[Path | None, typer.Option("--pixit", metavar="FILE", help="Secrets and addresses.")] = None,
    rate: Annotated[float | None, typer.Option("--rate", metavar="REQ/S", help="Target arrival rate "
                                               "(default: the profile's loadRequestsPerSecond).")] = None,
    duration: Annotated[float | None, typer.Option("--duration", metavar="SECONDS", help="Length of the load.")] = None,
    shape: Annotated[str | None, typer.Option("--shape", metavar="SHAPE", help="flap (default: steady rate with "
                                              "regulator outages in the middle), steady, ramp, spike, soak.")] = None,
    workers: Annotated[int | None, typer.Option("--workers", min=1, metavar="N",
                                                help="Locust worker processes here (N > 1: master + N workers).")] = None,
    remote_workers: Annotated[int, typer.Option("--remote-workers", min=0, metavar="M",
                                                help="Also wait for M workers started on other machines.")] = 0,
    master_bind: Annotated[str | None, typer.Option("--master-bind", metavar="HOST",
                                                    help="Where the locust master listens for workers.")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="The quick preset (the embedded default's load phase).")] = False,
    fault: Annotated[list[str] | None, typer.Option("--fault", metavar="NAME",
                                                    help="Fault switch for the embedded platform.")] = None,
    out: Annotated[Path | None, typer.Option("--out", metavar="DIR", help="Report folder (default reports/).")] = None,
) -> None:
    """Availability under load (AVL-01…05): open-loop locust load, judged; writes a report folder like run."""
    command = _optional_module("conformance.load.command", "the load phase")
    try:
        rc = command.load_command(target=target, ics=str(ics) if ics else None, pixit=str(pixit) if pixit else None,
                                  rate=rate, duration=duration, shape=shape, workers=workers, quick=quick,
                                  remote_workers=remote_workers, master_bind=master_bind, fault=_split(fault),
                                  out=str(out) if out else None)
    except command.LoadUsageError as exc:
        raise CliError(str(exc)) from None
    raise SystemExit(rc)


@app.command("fuzz")
def fuzz(
    target: Annotated[str | None, typer.Option("--target", metavar="URL",
                                               help="Test-control base URL; default: the embedded reference platform.")] = None,
    ics: Annotated[Path | None, typer.Option("--ics", metavar="FILE", help="The platform's ICS (its categories).")] = None,
    pixit: Annotated[Path | None, typer.Option("--pixit", metavar="FILE", help="Bearer token (or CCC_BEARER_TOKEN).")] = None,
    max_examples: Annotated[int, typer.Option("--max-examples", min=1, metavar="N",
                                              help="Generated cases per operation and phase.")] = 20,
    seed: Annotated[int | None, typer.Option("--seed", min=0, metavar="N", help="Seed; printed when not given.")] = None,
    fault: Annotated[list[str] | None, typer.Option("--fault", metavar="NAME",
                                                    help="Fault switch for the embedded platform.")] = None,
    out: Annotated[Path | None, typer.Option("--out", metavar="DIR", help="Output folder (default reports/fuzz-<time>).")] = None,
) -> None:
    """Fuzz the test-control interface alone (SEC-03, MSG-05); exit 0 nothing found, 1 failures, 3 usage error."""
    from datetime import UTC, datetime

    fuzzing = _optional_module("conformance.fuzz", "the fuzz command")
    folder = out or Path("reports") / datetime.now(UTC).strftime("fuzz-%Y%m%dT%H%M%SZ")
    try:
        rc = fuzzing.fuzz(target=target, ics=ics, pixit=pixit, max_examples=max_examples, seed=seed, out=folder,
                          faults=_split(fault), echo=typer.echo)
    except fuzzing.FuzzError as exc:
        raise CliError(str(exc)) from None
    raise SystemExit(rc)


# -- report bundle: keygen · verify · diff · report (conformance/report/commands.py) ---------------
class DiffFormat(StrEnum):
    table = "table"
    json = "json"
    markdown = "markdown"


def _report_command(fn: Any, *args: Any) -> NoReturn:
    from conformance.report.options import OptionError

    try:
        rc = fn(*args, typer.echo)
    except OptionError as exc:
        raise CliError(str(exc)) from None
    raise typer.Exit(rc)


@app.command("keygen")
def keygen(out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Folder for the two PEM files.")]) -> None:
    """Make an Ed25519 key pair for signing report bundles (run --sign-key)."""
    from conformance.report import commands

    _report_command(commands.keygen, out)


@app.command("verify")
def verify(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A report folder.")],
    public_key: Annotated[Path | None, typer.Option("--public-key", metavar="FILE",
                                                    help="The signer's public key (PEM).")] = None,
) -> None:
    """Check a report folder offline: every file against MANIFEST.sha256, and MANIFEST.sig. Exit 0 or 1."""
    from conformance.report import commands

    _report_command(commands.verify, run_dir, public_key)


@app.command("diff")
def diff(
    run_a: Annotated[Path, typer.Argument(metavar="RUN_A", help="The earlier (accepted) run folder.")],
    run_b: Annotated[Path, typer.Argument(metavar="RUN_B", help="The later run folder.")],
    fmt: Annotated[DiffFormat, typer.Option("--format", help="table, json or markdown.")] = DiffFormat.table,
    all_rows: Annotated[bool, typer.Option("--all", help="List unchanged requirements too.")] = False,
) -> None:
    """Requirement verdict changes between two runs, regressions first; exit 1 on a regression."""
    from conformance.report import commands

    _report_command(commands.diff, run_a, run_b, fmt.value, all_rows)


@app.command("report")
def report(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A report folder.")],
    lang: Annotated[str, typer.Option("--lang", metavar="zh|en", help="Language the page opens in.")] = "zh",
    out: Annotated[Path | None, typer.Option("--out", metavar="FILE",
                                             help="Write here instead of RUN_DIR/report.html.")] = None,
    allure: Annotated[bool, typer.Option("--allure", help="Also build Allure's HTML report (needs Node).")] = False,
) -> None:
    """Rebuild report.html from report.json and evidence/ without re-testing."""
    from conformance.report import commands

    _report_command(commands.rerender, run_dir, lang, out, allure)


# -- entry point --------------------------------------------------------------------------------
def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _usage_exit(message: str) -> NoReturn:
    # typer's pydantic-based coercion prefixes "Value error, " to choice errors; it says nothing.
    typer.echo(f"{PROG}: error: {_one_line(message).replace('Value error, ', '')}", err=True)
    raise SystemExit(exitcodes.USAGE)


_CONFIG_ERRNOS = {errno.EADDRINUSE, errno.EADDRNOTAVAIL, errno.EACCES, errno.EPERM, errno.ENOENT, errno.ENOTDIR,
                  errno.EISDIR, errno.EROFS, errno.ENOSPC}


def _is_configuration(exc: OSError) -> bool:
    """A problem with what the user gave us (a path, an address) rather than a bug of the harness."""
    return exc.errno in _CONFIG_ERRNOS


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """Console-script entry point. Always leaves through SystemExit with the documented exit code."""
    try:
        rv = app(args=list(argv) if argv is not None else None, prog_name=PROG, standalone_mode=False)
    except _UsageError as exc:
        if _NoArgsIsHelpError is not None and isinstance(exc, _NoArgsIsHelpError):
            # A bare command asks for help; show it where help goes, as a success.
            typer.echo(exc.format_message())  # type: ignore[attr-defined]
            raise SystemExit(0) from None
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _usage_exit(exc.format_message() + hint)  # type: ignore[attr-defined]
    except _ClickException as exc:
        _usage_exit(exc.format_message())  # type: ignore[attr-defined]
    except typer.Abort:
        _usage_exit("aborted")
    except (CliError, IcsError, SpecError) as exc:
        _usage_exit(str(exc))
    except BrokenPipeError:
        # `ccc-conformance requirements | head`: the reader left; say nothing more, not even at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None
    except OSError as exc:
        # A file or address the user gave (unreadable file, missing directory, port in use) is
        # configuration; any other OSError is the harness failing: INCOMPLETE, not a usage error.
        where = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        if not _is_configuration(exc):
            typer.echo(f"{PROG}: internal error (the run is INCOMPLETE; please report it): {where}"
                       f"{_one_line(exc.strerror or str(exc))}", err=True)
            raise SystemExit(exitcodes.HARNESS_ERROR) from None
        _usage_exit(f"{where}{exc.strerror or exc}")
    except KeyboardInterrupt:
        typer.echo(f"{PROG}: interrupted", err=True)
        raise SystemExit(exitcodes.INTERRUPTED) from None
    raise SystemExit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
