"""The simulator standalone: what ``ccc-conformance simulator`` runs (cli.py wires the options here).

Platform engineers run it on a laptop or in CI while they build their integration. It prints the
base URL and the credentials to configure, serves until Ctrl-C (or SIGTERM), and fails clearly:
a bad certificates file or a port in use is one line on stderr and exit code 3, no traceback.
"""

from __future__ import annotations

import errno
import json
import secrets
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

import uvicorn
import yaml

from conformance import signing
from conformance.exitcodes import USAGE as USAGE_ERROR
from conformance.simulator.app import build_app
from conformance.simulator.core import Simulator
from conformance.simulator.server import bind_socket, url_host, uvicorn_config

DEFAULT_PLATFORM_ID = "platform-dev"
DEMO_PER_STATUS = 3  # demo certificates per status, so every answer can be tried at once


class ServeError(Exception):
    """A usage or configuration problem: one line for the user."""


def read_certificates(path: Path) -> list[dict[str, Any]]:
    """Records from a YAML or JSON file: a list, or {certificates: [...]}; each validated later."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ServeError(f"{path}: cannot read ({exc.strerror})") from None
    try:
        doc = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ServeError(f"{path}: not valid {kind} ({detail})") from None
    if isinstance(doc, dict) and "certificates" in doc:
        doc = doc["certificates"]
    if not isinstance(doc, list) or not all(isinstance(r, dict) for r in doc):
        raise ServeError(f"{path}: expected a list of certificate records (or {{certificates: [...]}})")
    return doc


def _banner(sim: Simulator, url: str, platform_id: str, secret: str, generated: bool, alg: str,
            notification_url: str | None, loaded: int, out: TextIO) -> None:
    lines = [
        f"CCC regulator simulator ({sim.specs.profile_id}) listening on {url}",
        "",
        "Configure your platform with:",
        f"  regulator base URL : {url}",
        f"  platform id        : {platform_id}",
        # A given secret is never echoed (banners end up in CI logs); a generated one is shown once.
        "  platform secret    : "
        + (f"{secret}   (generated; pass --platform-secret to choose)" if generated else "(as given)"),
        f"  signature algorithm: {alg}",
        f"  notification URL   : {notification_url or '(none: status changes are not pushed; poll the feed)'}",
        "",
        f"Registry: {len(sim.registry)} certificates ({loaded} from file). Try one of each status:",
    ]
    for status in sim.contract.statuses:
        sample = sim.certificates(status=status, limit=1)
        if sample:
            c = sample[0]
            lines.append(f"  {status:<10} {c['certificateNo']}  {c['productCode']} {c['productName']}  "
                         f"models {', '.join(c['models'][:2])}  expires {c['expiryDate']}")
    lines += ["", f"Control (test back door, see conformance/simulator/README.md): {url}/_sim/",
              "Press Ctrl-C to stop."]
    print("\n".join(lines), file=out, flush=True)


def main(host: str, port: int, platform_id: str | None, platform_secret: str | None, certificates: Path | None,
         seed: int | None, notification_url: str | None, signature_alg: str) -> int:
    """Serve the simulator until interrupted. 0 after a clean stop, 3 on a usage or configuration error.

    ``seed`` None means 0: the demo registry is the same from one run to the next unless asked otherwise.
    """
    try:
        sim, loaded = _prepare(platform_id, platform_secret, certificates, seed, notification_url, signature_alg)
    except ServeError as exc:
        print(f"ccc-conformance: error: {exc}", file=sys.stderr, flush=True)
        return USAGE_ERROR
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        sim.close()
        if exc.errno == errno.EADDRINUSE:
            print(f"ccc-conformance: error: port {port} on {host} is in use; stop what uses it or choose another with --port",
                  file=sys.stderr, flush=True)
        else:
            print(f"ccc-conformance: error: cannot listen on {host}:{port} ({exc.strerror or exc}); check --host and --port",
                  file=sys.stderr, flush=True)
        return USAGE_ERROR
    url = f"http://{url_host(host)}:{sock.getsockname()[1]}"
    sim.base_url = url
    platform = sim.auth.platforms()[0]
    _banner(sim, url, platform.platform_id, platform.secret, platform_secret is None, platform.signature_alg,
            platform.notification_url, loaded, sys.stdout)

    server = uvicorn.Server(uvicorn_config(build_app(sim)))

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # uvicorn handles SIGINT/SIGTERM while it serves and re-raises them after a graceful stop; this
    # handler turns the re-raised SIGTERM into the same clean exit as Ctrl-C.
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sim.close()
        sock.close()
    print("simulator stopped", file=sys.stdout, flush=True)
    return 0


def _prepare(platform_id: str | None, platform_secret: str | None, certificates: Path | None, seed: int | None,
             notification_url: str | None, signature_alg: str) -> tuple[Simulator, int]:
    """The simulator to serve and how many certificates came from the file."""
    sim = Simulator(seed=seed or 0)
    if signature_alg not in sim.contract.algorithms:
        raise ServeError(f"--signature-alg {signature_alg!r} is not one of {', '.join(sim.contract.algorithms)}")
    if platform_secret is not None and not platform_secret:
        raise ServeError("--platform-secret is empty; give a secret or omit it to have one generated")
    if notification_url is not None and not notification_url.startswith(("http://", "https://")):
        raise ServeError(f"--notification-url {notification_url!r} must be an http:// or https:// URL")
    loaded = 0
    if certificates is not None:
        records = read_certificates(Path(certificates))
        try:
            loaded = len(sim.load_certificates(records))
        except ValueError as exc:
            raise ServeError(f"{certificates}: certificates{exc}; records use the field names of "
                             "specs/schemas/certificate.schema.json") from None
    sim.issue_certificates(DEMO_PER_STATUS * len(sim.contract.statuses))
    sim.register_platform(platform_id or DEFAULT_PLATFORM_ID, platform_secret or secrets.token_hex(16),
                          notification_url, signature_alg or signing.SHA256)
    return sim, loaded
