"""``python -m reference_platform``: run the embedded reference platform as its own process.

Prints its URLs once it is ready. A bad argument, a bad ICS or a port in use is one line on stderr
and exit code 3; Ctrl-C (or SIGTERM) stops it cleanly with exit code 0.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from . import __version__
from .config import (
    ConfigError,
    Profile,
    Schemas,
    Settings,
    default_ics,
    load_catalogue_schemes,
    load_ics,
    load_profile,
    load_terminology,
    specs_dir,
)
from .faults import FAULTS, describe, unknown
from .signing import ALGORITHMS, HMAC_SHA256

EXIT_USAGE = 3
# The name usage errors are printed under: set by `ccc-conformance reference-platform`, which runs this.
PROG = os.environ.get("REFERENCE_PLATFORM_PROG") or "python -m reference_platform"


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line and exit 3, as every command of the project does for usage errors.
        print(f"{PROG}: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="The embedded CCC reference platform (test-control interface, "
                                       "notification endpoint, and its integration with the regulator).")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8780, help="port to listen on; 0 picks a free one (default 8780)")
    p.add_argument("--regulator-url", default=os.environ.get("CCC_REGULATOR_URL"),
                   help="base URL of the regulator interface, e.g. http://127.0.0.1:8765 (env CCC_REGULATOR_URL)")
    p.add_argument("--platform-id", default=os.environ.get("CCC_PLATFORM_ID"),
                   help="the platform's id at the regulator (env CCC_PLATFORM_ID)")
    p.add_argument("--platform-secret", default=os.environ.get("CCC_PLATFORM_SECRET"),
                   help="the shared signing secret (env CCC_PLATFORM_SECRET)")
    p.add_argument("--signature-alg", default=HMAC_SHA256, choices=ALGORITHMS,
                   help="algorithm for signing regulator calls (default HMAC-SHA256)")
    p.add_argument("--bearer-token", default=os.environ.get("CCC_BEARER_TOKEN") or None,
                   help="require this bearer token on the test-control interface (env CCC_BEARER_TOKEN)")
    p.add_argument("--db", type=Path, default=None, help="SQLite database file (default: a temporary file)")
    p.add_argument("--ics", type=Path, default=None, help="the ICS to run by (default specs/examples/ics-reference.yaml)")
    p.add_argument("--mode", choices=("push", "poll", "both"), default=None,
                   help="how status changes arrive (default: what the ICS claims)")
    p.add_argument("--fault", action="extend", nargs="+", default=[], metavar="NAME",
                   help="switch a fault on (repeatable); 'help' lists them")
    p.add_argument("--list-faults", action="store_true", help="list the fault switches and exit")
    p.add_argument("--log-level", default="warning", choices=("debug", "info", "warning", "error"))
    p.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return p


def settings_from(args: argparse.Namespace, db_path: Path) -> Settings:
    specs = specs_dir()
    if not (specs / "profile.yaml").is_file():
        raise ConfigError(f"{specs}: not a specs/ folder (no profile.yaml)")
    if not args.regulator_url:
        raise ConfigError("missing --regulator-url (the regulator interface's base URL)")
    url = urlsplit(args.regulator_url)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise ConfigError(f"--regulator-url {args.regulator_url!r} is not an http(s) URL")
    if not args.platform_id:
        raise ConfigError("missing --platform-id (or CCC_PLATFORM_ID)")
    if not args.platform_secret:
        raise ConfigError("missing --platform-secret (or CCC_PLATFORM_SECRET)")
    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port} is not a port number")
    profile: Profile = load_profile(specs)
    schemas = Schemas(specs)
    ics_path = args.ics or default_ics(specs)
    ics = load_ics(ics_path, schemas, load_catalogue_schemes(specs))
    caps = ics.capabilities
    mode = args.mode or ("both" if caps.get("statusPush") and caps.get("changeFeedPolling")
                         else "poll" if caps.get("changeFeedPolling") else "push")
    return Settings(
        regulator_url=args.regulator_url, platform_id=args.platform_id, platform_secret=args.platform_secret,
        signature_alg=args.signature_alg, bearer_token=args.bearer_token, db_path=db_path,
        push=mode in ("push", "both"), poll=mode in ("poll", "both"), faults=frozenset(args.fault), ics=ics,
        profile=profile, terminology=load_terminology(specs), schemas=schemas, specs=specs, host=args.host,
        port=args.port)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on sockets whose proto says TCP, and
    # without it every response written in two parts waits ~40 ms for a delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    # No SO_REUSEADDR: a port that another process listens on must be refused, not shared.
    try:
        sock.bind((host, port))
        sock.listen(1024)
    except OSError:
        sock.close()
        raise
    return sock


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    # --fault a,b is the same as --fault a --fault b (the ccc-conformance command forwards either).
    args.fault = [name.strip() for value in args.fault for name in value.split(",") if name.strip()]
    if args.list_faults or "help" in args.fault:
        try:
            print(describe(), flush=True)
        except BrokenPipeError:   # `--list-faults | head`: the reader left, which is fine
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if bad := unknown(args.fault):
        print(f"{PROG}: error: unknown fault {', '.join(bad)} (known: {', '.join(FAULTS)})", file=sys.stderr)
        return EXIT_USAGE
    temp_dir = None
    if args.db is None:
        temp_dir = tempfile.mkdtemp(prefix="ccc-refplat-")
        db_path = Path(temp_dir) / "platform.db"
    else:
        db_path = args.db
    try:
        try:
            settings = settings_from(args, db_path)
        except ConfigError as exc:
            # One line, whatever the cause: a YAML error's own message spans several.
            print(f"{PROG}: error: {' '.join(str(exc).split())}", file=sys.stderr)
            return EXIT_USAGE
        try:
            sock = bind(args.host, args.port)
        except OSError as exc:
            print(f"{PROG}: error: cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); "
                  "choose another --port", file=sys.stderr)
            return EXIT_USAGE
        return serve(settings, sock, args.log_level)
    finally:
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)


def serve(settings: Settings, sock: socket.socket, log_level: str) -> int:
    import uvicorn

    from .app import create_app

    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host

    def ready() -> None:
        faults = f" faults: {', '.join(sorted(settings.faults))}" if settings.faults else ""
        push = f" notifications: http://{shown}:{port}/ccc/v1/notifications" if settings.push else ""
        print(f"reference platform ready: http://{shown}:{port}/ccc-test/v1{push}{faults}", flush=True)

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    config = uvicorn.Config(create_app(settings, on_ready=ready), log_level=log_level, access_log=False,
                            lifespan="on", timeout_graceful_shutdown=3)
    server = uvicorn.Server(config)
    # uvicorn shuts down gracefully on SIGINT and SIGTERM, then re-raises the signal: Ctrl-C comes back
    # as KeyboardInterrupt, SIGTERM as _Stopped (below), and both end in a clean exit 0.
    previous = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        with contextlib.suppress(KeyboardInterrupt, _Stopped):
            server.run(sockets=[sock])
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


class _Stopped(Exception):
    """SIGTERM arrived: stop like on Ctrl-C."""


def _stop_on_sigterm(_signum: int, _frame: object) -> None:
    raise _Stopped


if __name__ == "__main__":
    sys.exit(main())
