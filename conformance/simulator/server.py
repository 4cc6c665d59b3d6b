"""``SimulatorServer``: a ``Simulator`` served by uvicorn in a background thread (tests, runner, plugin).

The listening socket is bound here, before uvicorn starts, so that ``port=0`` yields the real port
at once and a port in use fails in the caller's thread with a clear ``OSError`` instead of a log
line in another thread.
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from typing import Any

import uvicorn

from conformance.simulator.app import build_app
from conformance.simulator.core import Simulator


def url_host(host: str) -> str:
    """host as it goes in a URL: IPv6 literals in brackets."""
    try:
        return f"[{host}]" if ipaddress.ip_address(host).version == 6 else host
    except ValueError:
        return host


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port; raises OSError (errno EADDRINUSE when taken)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # proto=IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted connections only when the socket
    # says it is TCP. Without it, Nagle and delayed ACKs add ~40 ms to every answer sent in two writes.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        # SO_REUSEADDR lets a restarted simulator take its port while old connections sit in TIME_WAIT;
        # on Linux it does not let two listeners share a port, so "in use" is still detected.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def uvicorn_config(app: Any, *, log_level: str = "warning") -> uvicorn.Config:
    # asgi3 stated, not detected: uvicorn takes a bound async method for ASGI2. lifespan off: the app
    # has nothing to start. A short graceful-shutdown timeout, because an injected hang or a platform's
    # idle keep-alive connection must not hold up a test run.
    return uvicorn.Config(app, interface="asgi3", log_level=log_level, access_log=False, lifespan="off",
                          timeout_graceful_shutdown=1, timeout_keep_alive=5, server_header=False)


class SimulatorServer:
    """Run a Simulator on host:port (port 0: a free port) until stop(); a context manager too."""

    def __init__(self, simulator: Simulator | None = None, *, host: str = "127.0.0.1", port: int = 0,
                 seed: int = 0) -> None:
        self._owns_simulator = simulator is None
        self.simulator = simulator if simulator is not None else Simulator(seed=seed)
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("SimulatorServer is not started")
        return self._url

    def start(self, timeout: float = 10.0) -> SimulatorServer:
        if self._thread is not None:
            return self
        sock = bind_socket(self.host, self.port)
        self.port = sock.getsockname()[1]
        self.simulator.stopping.clear()
        server = uvicorn.Server(uvicorn_config(build_app(self.simulator)))
        self._server = server
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="ccc-simulator",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                with contextlib.suppress(Exception):
                    sock.close()
                raise RuntimeError(f"the simulator did not start on {self.host}:{self.port}")
            time.sleep(0.005)
        self._url = f"http://{url_host(self.host)}:{self.port}"
        self.simulator.base_url = self._url
        return self

    def stop(self, timeout: float = 5.0) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self.simulator.stopping.set()  # wakes injected hangs
        server.should_exit = True
        thread.join(timeout)
        if thread.is_alive():
            server.force_exit = True
            thread.join(timeout)
        self._server = self._thread = None
        if self._owns_simulator:
            self.simulator.close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
