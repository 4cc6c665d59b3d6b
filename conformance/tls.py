"""The TLS context of every HTTP client the harness makes, built once per process.

httpx builds a new ``SSLContext`` for each client it creates, loading certifi's CA bundle each time
(~25 ms of CPU). The suite makes its clients per test, so in a functional run that was 40 % of the
pytest process's CPU (py-spy, `--area VER`: 1.5 of 3.5 s), for platforms that in a test environment
usually answer plain HTTP on loopback. One context, built as httpx would build it, serves them all:
an ``SSLContext`` may be shared by clients and threads."""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def client_context(*, trust_env: bool = True) -> ssl.SSLContext:
    """What ``httpx.Client(verify=True, trust_env=...)`` would build (``SSL_CERT_FILE`` / ``SSL_CERT_DIR``
    honoured with ``trust_env``), once."""
    return httpx.create_ssl_context(trust_env=trust_env)
