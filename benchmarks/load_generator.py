"""The load generator measured (issue 9), printed as ratios from one run:

1. capacity per core: locust (FastHttpUser, closed loop, one process) vs wrk (one thread) on the same
   trivial endpoint, 16 connections each (pinned to their own CPUs with --pin, for idle machines),
   served twice: by a bare asyncio server that outruns any Python generator (so the ratio is the two
   generators' own capacities) and by FastAPI under uvicorn, the reference platform's stack (so the
   ratio says whether locust gets out of such an endpoint what wrk gets);
2. open-loop fidelity: an endpoint answering in 50 ms with a 1 s stall every 10 s, measured at the same
   time by the suite's open-loop locustfile (latency from the intended send time) and by a closed-loop
   locust user; the open-loop p99 must show the stalls (≥ 0.9 s), the closed-loop one does not;
3. distributed: aggregate closed-loop rate of a locust master with 2 workers vs 1 worker.

    .venv/bin/python benchmarks/load_generator.py [--seconds 15] [--only capacity,fidelity,workers] [--pin]

Everything listens on and targets 127.0.0.1; every run is bounded by --seconds. Needs `wrk` on PATH
for (1) (apt-get install wrk); without it that part is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CLOSED_LOOP = '''
from locust import FastHttpUser, constant, task
class Closed(FastHttpUser):
    wait_time = constant(0)
    @task
    def get(self):
        self.client.get("/ccc-test/v1/listings/x", name="GET")
'''


# -- the endpoints ------------------------------------------------------------------------------------
def serve(port: int, stall: bool) -> None:
    """A minimal HTTP/1.1 keep-alive server: trivial (answers at once), or 50 ms + a 1 s stall every 10 s."""
    t0 = time.monotonic()
    counted = [0]
    body_get = b'{"listingId":"x","state":"ON_SALE","purchasable":true}'

    def response(status: str, body: bytes) -> bytes:
        return (f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body

    class Proto(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            self.t = transport
            self.buf = b""

        def data_received(self, data: bytes) -> None:
            self.buf += data
            while b"\r\n\r\n" in self.buf:
                head, _, rest = self.buf.partition(b"\r\n\r\n")
                length = 0
                m = re.search(rb"(?i)content-length:\s*(\d+)", head)
                if m:
                    length = int(m.group(1))
                if len(rest) < length:
                    return
                self.buf = rest[length:]
                if head.startswith(b"GET /_count"):   # the server's own count: what the generator really sent
                    self.t.write(response("200 OK", str(counted[0]).encode()))  # type: ignore[attr-defined]
                    continue
                counted[0] += 1
                post = head.startswith(b"POST")
                out = response("201 Created", body_get) if post else response("200 OK", body_get)
                if not stall:
                    self.t.write(out)  # type: ignore[attr-defined]
                    continue
                phase = (time.monotonic() - t0) % 10
                delay = 0.05 + (6 - phase if 5 <= phase < 6 else 0.0)
                asyncio.get_running_loop().call_later(delay, self.t.write, out)  # type: ignore[attr-defined]

    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(Proto, "127.0.0.1", port, backlog=1024)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def serve_asgi(port: int) -> None:
    """The same trivial endpoint as a FastAPI app under uvicorn, as the reference platform serves its own:
    here the server, not the generator, is the limit, as with a real platform's endpoint."""
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()
    body = {"listingId": "x", "state": "ON_SALE", "purchasable": True}

    @app.get("/ccc-test/v1/listings/{listing_id}")
    def get(listing_id: str) -> dict[str, object]:
        return body

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def served(port: int) -> int:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(b"GET /_count HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data or not data.split(b"\r\n\r\n", 1)[1]:
            data += sock.recv(4096)
    return int(data.split(b"\r\n\r\n", 1)[1])


def pinned(cmd: list[str], cpu: int | None) -> list[str]:
    return ["taskset", "-c", str(cpu), *cmd] if cpu is not None and shutil.which("taskset") else cmd


def start_server(stall: bool, cpu: int | None, kind: str = "asyncio") -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    mode = "--asgi" if kind == "asgi" else "--stall" if stall else "--trivial"
    proc = subprocess.Popen(pinned([sys.executable, __file__, "--serve", str(port), mode], cpu))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("the benchmark server did not start")


def locust_closed(port: int, seconds: int, users: int, workdir: Path, name: str, cpu: int | None,
                  workers: int = 0) -> dict[str, float]:
    """Closed-loop locust run; requests/s and p99 (ms) from locust's own CSV."""
    locustfile = workdir / "closed.py"
    locustfile.write_text(CLOSED_LOOP, encoding="utf-8")
    prefix = workdir / name
    head = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", str(users), "-r", str(users),
            "--run-time", f"{seconds}s", "-H", f"http://127.0.0.1:{port}", "--csv", str(prefix), "--only-summary",
            "--loglevel", "ERROR", "--stop-timeout", "2"]
    procs = []
    if workers:
        mport = free_port()
        head += ["--master", "--expect-workers", str(workers), "--master-bind-host", "127.0.0.1",
                 "--master-bind-port", str(mport)]
        procs.append(subprocess.Popen(head, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        for i in range(workers):
            w = [sys.executable, "-m", "locust", "-f", str(locustfile), "--worker", "--master-host", "127.0.0.1",
                 "--master-port", str(mport)]
            procs.append(subprocess.Popen(pinned(w, None if cpu is None else (cpu + i) % (os.cpu_count() or 1)),
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    else:
        procs.append(subprocess.Popen(pinned(head, cpu), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        procs[0].wait(timeout=seconds + 60)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    with open(f"{prefix}_stats.csv", encoding="utf-8") as f:
        row = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    return {"rps": float(row["Requests/s"]), "p99": float(row["99%"]), "requests": float(row["Request Count"]),
            "rate": float(row["Request Count"]) / seconds}


def wrk(port: int, seconds: int, cpu: int | None) -> float:
    out = subprocess.run(pinned(["wrk", "-t1", "-c16", f"-d{seconds}s", f"http://127.0.0.1:{port}/ccc-test/v1/listings/x"], cpu),
                         capture_output=True, text=True, timeout=seconds + 30).stdout
    m = re.search(r"Requests/sec:\s*([\d.]+)", out)
    return float(m.group(1)) if m else 0.0


def open_loop(port: int, seconds: int, rate: float, workdir: Path, cpu: int | None) -> subprocess.Popen[bytes]:
    from conformance import specs

    s = specs.load()
    plan = {
        "target": f"http://127.0.0.1:{port}/ccc-test/v1", "bearerToken": None, "startAt": time.time() + 4,
        "duration": seconds, "segments": [[0, seconds, rate, rate]], "workers": 1, "seed": 1,
        "operationMix": s.param("loadOperationMix"), "certificateMix": {"valid": 1.0},
        "pools": {"valid": [{"certificateNo": "2021010701123456", "categoryId": "fridge", "model": "M-1",
                             "brand": "B", "manufacturer": "F"}]},
        "fields": {k: k for k in ("merchantId", "categoryId", "title", "brand", "model", "manufacturer",
                                  "certificateNo", "listingId", "state", "reasonCode", "purchasable")},
        "states": {"onSale": "ON_SALE"}, "timeoutSeconds": 10, "outDir": str(workdir / "open"),
    }
    (workdir / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    cmd = [sys.executable, "-m", "locust", "-f", str(ROOT / "load" / "ccc_locustfile.py"), "--headless", "-u", "1",
           "-r", "1", "--run-time", f"{seconds + 20}s", "--loglevel", "ERROR", "--only-summary"]
    return subprocess.Popen(pinned(cmd, cpu), env={**os.environ, "CCC_LOAD_PLAN": str(workdir / "plan.json")},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--only", default="capacity,fidelity,workers")
    ap.add_argument("--pin", action="store_true", help="pin server and generator to CPUs 0 and 1 (idle machines)")
    ap.add_argument("--users", type=int, default=16, help="closed-loop locust users for capacity and workers")
    ap.add_argument("--serve", type=int)
    ap.add_argument("--stall", action="store_true")
    ap.add_argument("--trivial", action="store_true")
    ap.add_argument("--asgi", action="store_true")
    args = ap.parse_args()
    if args.serve:
        if args.asgi:
            serve_asgi(args.serve)
        else:
            serve(args.serve, args.stall)
        return 0
    parts = set(args.only.split(","))
    # Pinning (server on CPU 0, generator on CPU 1) is fair only on an otherwise idle machine; on a
    # shared one a pinned process queues behind whatever else runs there, so it is opt-in.
    two = (os.cpu_count() or 1) >= 2 and args.pin
    server_cpu, gen_cpu = (0, 1) if two else (None, None)
    print(f"CPUs: {os.cpu_count()}, load average {os.getloadavg()[0]:.1f} (a shared machine makes every figure noisy)")
    with tempfile.TemporaryDirectory(prefix="ccc-bench-load-") as tmp:
        work = Path(tmp)
        if "capacity" in parts:
            # Two endpoints: a bare asyncio one that answers faster than any Python generator can ask
            # (the generator is the limit: this is locust's own capacity per core), and the same
            # answer from FastAPI under uvicorn, the reference platform's stack (the server is the
            # limit, as with a platform's endpoint: can the generator keep up with what wrk gets?).
            for kind, what in (("asyncio", "bare asyncio endpoint, generator-bound"),
                               ("asgi", "FastAPI/uvicorn endpoint, server-bound")):
                proc, port = start_server(False, server_cpu, kind)
                try:
                    loc = locust_closed(port, args.seconds, args.users, work, f"capacity-{kind}", gen_cpu)
                    w = wrk(port, args.seconds, gen_cpu) if shutil.which("wrk") else 0.0
                finally:
                    proc.kill()
                print(f"capacity per core ({what}): locust FastHttpUser {loc['rps']:.0f} req/s, wrk {w:.0f} req/s"
                      + (f" → ratio {loc['rps'] / w:.2f}" if w else " (wrk not installed)"))
        if "fidelity" in parts:
            proc, port = start_server(True, server_cpu)
            seconds = max(args.seconds, 30)   # at least three stalls
            try:
                ol = open_loop(port, seconds, 100.0, work, gen_cpu)
                closed = locust_closed(port, seconds + 4, 5, work, "closed", gen_cpu)
                ol.wait(timeout=seconds + 60)
            finally:
                proc.kill()
            from conformance.load.results import figures, read_series

            f = figures(read_series(work / "open" / "series.jsonl"))
            verdict = "shows the stalls" if (f.p99 or 0) >= 900 else "MISSES the stalls"
            print(f"open-loop fidelity (50 ms, 1 s stall every 10 s): open-loop p99 {f.p99:g} ms ({verdict}; "
                  f"{f.sent} requests at 100/s), closed-loop p99 {closed['p99']:g} ms ({closed['requests']:.0f} requests) "
                  f"→ ratio {(f.p99 or 0) / max(closed['p99'], 1):.1f}")
        if "workers" in parts:
            proc, port = start_server(False, server_cpu)
            try:
                before = served(port)
                one = locust_closed(port, args.seconds, args.users, work, "w1", gen_cpu, workers=1)
                middle = served(port)
                two_w = locust_closed(port, args.seconds, args.users, work, "w2", gen_cpu, workers=2)
                after = served(port)
            finally:
                proc.kill()
            print(f"  (the server counted {middle - before} and {after - middle} requests)")
            print(f"distributed: 1 worker {one['rate']:.0f} req/s, 2 workers {two_w['rate']:.0f} req/s (requests / "
                  f"run time; locust's own Requests/s {one['rps']:.0f} vs {two_w['rps']:.0f}) → ratio "
                  f"{two_w['rate'] / max(one['rate'], 1):.2f}" + ("" if (os.cpu_count() or 1) > 2 else
                                                                  " (2 CPUs: the server and both workers share them)"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
