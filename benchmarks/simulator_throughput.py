"""Throughput of the regulator simulator's hot path: signed, validated POST /api/v1/verifications.

    .venv/bin/python benchmarks/simulator_throughput.py [--seconds 15] [--users 48] [--tool locust|wrk]

The simulator runs in a child process pinned to one CPU (os.sched_setaffinity); the load generator
runs in another process pinned to another CPU: locust (FastHttpUser, headless) by default, or wrk
(Debian package ``wrk``) with a Lua script. Every request is signed in advance with its own nonce and
a real registry certificate, so the server does the full work (HMAC, skew and nonce checks, schema
validation, registry lookup, capture) and the generator only sends bytes (~1 in 10 numbers is unknown,
answered NOT_FOUND). Prints requests/s, p50 and p99 and failures (non-200) as the load tool saw them,
the server's own count of captured requests, and the CPU each process used: when the generator
saturated its CPU before the server did, the figure is a lower bound, and it says so. On a shared
machine other processes take the server's CPU; server CPU time per request does not depend on that,
so it also prints the capacity of one free core (requests / server CPU seconds). Target: >= 2,000
requests/s. Exit 0 when the wall-clock figure meets it with no failure. Only 127.0.0.1 is used.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PLATFORM_ID = "bench-platform"
SECRET = "bench-secret-0123456789"  # a throwaway secret of this local benchmark, not a credential
PATH = "/api/v1/verifications"
TARGET_RPS = 2000


def serve_child(ready_file: Path, certificates_file: Path, cpu: int | None) -> None:
    """Child process: the simulator, pinned to one CPU, on a free loopback port."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    import uvicorn

    from conformance.simulator.app import build_app
    from conformance.simulator.core import Simulator
    from conformance.simulator.server import bind_socket, uvicorn_config

    sim = Simulator(seed=7)
    sim.register_platform(PLATFORM_ID, SECRET)
    certificates = sim.issue_certificates(1000)
    certificates_file.write_text(json.dumps([[c["certificateNo"], c["productCode"], c["models"][0]]
                                             for c in certificates]))
    sock = bind_socket("127.0.0.1", 0)
    sim.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    ready_file.write_text(sim.base_url)
    uvicorn.Server(uvicorn_config(build_app(sim))).run(sockets=[sock])


def make_requests(certificates: list[list[str]], count: int, out: Path) -> None:
    """count signed requests as JSON lines [path, headers, body], each with its own nonce."""
    from conformance import signing

    with out.open("w", encoding="utf-8") as f:
        for i in range(count):
            number, product_code, model = certificates[i % len(certificates)]
            # Every tenth number is unknown: NOT_FOUND answers are part of a real mix.
            if i % 10 == 9:
                number = number[:10] + "000000"
            body = json.dumps({"requestId": str(uuid.uuid4()), "listingId": f"L{i}", "merchantId": f"M{i % 97}",
                               "certificateNo": number, "productCode": product_code, "productName": "商品",
                               "model": model}, ensure_ascii=False)
            headers = signing.make_headers(SECRET, "POST", PATH, body.encode()).as_platform(PLATFORM_ID)
            headers["Content-Type"] = "application/json"
            f.write(json.dumps([PATH, headers, body], ensure_ascii=False) + "\n")


WRK_LUA = r"""
local requests = {}
local i = 0
function init(args)
  for line in io.lines(args[1]) do
    local method, path, headers, body = line:match("^(%S+)\t(%S+)\t(.-)\t(.*)$")
    local h = {}
    for k, v in headers:gmatch("([^=|]+)=([^|]*)") do h[k] = v end
    requests[#requests + 1] = wrk.format(method, path, h, body)
  end
end
function request()
  i = i + 1
  if i > #requests then i = 1 end  -- past the supply nonces repeat: reported as non-2xx
  return requests[i]
end
"""


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_busy(cpu: int) -> float:
    """Busy seconds of one CPU so far, all processes (Linux /proc/stat)."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith(f"cpu{cpu} "):
            ticks = [int(x) for x in line.split()[1:]]
            idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
            return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")
    return float("nan")


def run_locust(url: str, requests_file: Path, seconds: int, users: int, cpu: int | None,
               workdir: Path) -> tuple[dict[str, float], float]:
    prefix = workdir / "locust"
    env = {**os.environ, "CCC_BENCH_REQUESTS": str(requests_file)}
    cmd = [sys.executable, "-m", "locust", "-f", str(Path(__file__).with_name("simulator_locustfile.py")),
           "--headless", "--host", url, "-u", str(users), "-r", str(users), "-t", f"{seconds}s",
           "--csv", str(prefix), "--only-summary", "--stop-timeout", "5", "--loglevel", "WARNING"]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None)
    load_cpu = _wait_measuring(proc, seconds + 60)
    elapsed = time.monotonic() - started
    with open(f"{prefix}_stats.csv", encoding="utf-8") as f:
        row = next(r for r in csv.DictReader(f) if r["Name"] == "Aggregated")
    stats = {"requests": float(row["Request Count"]), "failures": float(row["Failure Count"]),
             "rps": float(row["Requests/s"]), "p50": float(row["50%"]), "p99": float(row["99%"])}
    return stats, load_cpu / max(elapsed, 1e-9)


def run_wrk(url: str, requests_file: Path, seconds: int, users: int, cpu: int | None,
            workdir: Path) -> tuple[dict[str, float], float]:
    tsv = workdir / "requests.tsv"
    with requests_file.open(encoding="utf-8") as src, tsv.open("w", encoding="utf-8") as dst:
        for line in src:
            path, headers, body = json.loads(line)
            dst.write(f"POST\t{path}\t{'|'.join(f'{k}={v}' for k, v in headers.items())}\t{body}\n")
    script = workdir / "signed.lua"
    script.write_text(WRK_LUA)
    cmd = ["wrk", "-t1", f"-c{users}", f"-d{seconds}s", "--latency", "-s", str(script), url, "--", str(tsv)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=(lambda: os.sched_setaffinity(0, {cpu})) if cpu is not None else None)
    started = time.monotonic()
    load_cpu = _wait_measuring(proc, seconds + 60)
    elapsed = time.monotonic() - started
    out = proc.stdout.read() if proc.stdout else ""

    def ms(label: str) -> float:
        for line in out.splitlines():
            parts = line.split()
            if parts[:1] == [label]:
                value = parts[1]
                for unit, factor in (("us", 0.001), ("ms", 1.0), ("s", 1000.0)):
                    if value.endswith(unit):
                        return float(value[: -len(unit)]) * factor
        return float("nan")

    total = next((float(line.split()[0]) for line in out.splitlines() if "requests in" in line), 0.0)
    non2xx = next((float(line.split(":")[1]) for line in out.splitlines() if "Non-2xx" in line), 0.0)
    rps = next((float(line.split(":")[1]) for line in out.splitlines() if line.startswith("Requests/sec")), 0.0)
    return ({"requests": total, "failures": non2xx, "rps": rps, "p50": ms("50%"), "p99": ms("99%")},
            load_cpu / max(elapsed, 1e-9))


def _wait_measuring(proc: subprocess.Popen[str], timeout: float) -> float:
    """Wait for proc; its CPU seconds (sampled until it exits, since /proc vanishes after)."""
    deadline = time.monotonic() + timeout
    used = 0.0
    while proc.poll() is None:
        with contextlib.suppress(OSError, IndexError, ValueError):
            used = cpu_seconds(proc.pid)
        if time.monotonic() > deadline:
            proc.kill()
            raise SystemExit("load generator did not finish in time")
        time.sleep(0.2)
    if proc.returncode not in (0, 1):  # locust exits 1 when any request failed; that is reported below
        err = proc.stderr.read() if proc.stderr else ""
        raise SystemExit(f"load generator failed ({proc.returncode}): {err[-2000:]}")
    return used


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--users", type=int, default=48, help="concurrent connections of the load generator")
    parser.add_argument("--tool", choices=("locust", "wrk"), default="locust")
    parser.add_argument("--supply", type=int, default=0, help="pre-signed requests (default: 8,000/s × seconds)")
    parser.add_argument("--serve-child", nargs=2, metavar=("READY_FILE", "CERTS_FILE"), help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_child:
        serve_child(Path(args.serve_child[0]), Path(args.serve_child[1]), args.cpu)
        return 0

    cpus = sorted(os.sched_getaffinity(0))
    server_cpu, load_cpu = (cpus[0], cpus[1]) if len(cpus) > 1 else (cpus[0], cpus[0])
    if len(cpus) < 2:
        print("warning: one CPU only; server and load generator share it", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="ccc-sim-bench-") as tmp:
        work = Path(tmp)
        ready, certs = work / "ready", work / "certs.json"
        server = subprocess.Popen([sys.executable, __file__, "--serve-child", str(ready), str(certs),
                                   "--cpu", str(server_cpu)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                  text=True)
        try:
            deadline = time.monotonic() + 30
            while not (ready.exists() and ready.read_text()):
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"simulator did not start: {server.stderr.read() if server.stderr else ''}")
                time.sleep(0.05)
            url = ready.read_text()
            supply = args.supply or 8000 * args.seconds
            requests_file = work / "requests.jsonl"
            make_requests(json.loads(certs.read_text()), supply, requests_file)
            server_cpu_before = cpu_seconds(server.pid)
            core_busy_before = cpu_busy(server_cpu)
            run = run_locust if args.tool == "locust" else run_wrk
            started = time.monotonic()
            stats, load_share = run(url, requests_file, args.seconds, args.users, load_cpu, work)
            wall = time.monotonic() - started
            server_used = cpu_seconds(server.pid) - server_cpu_before
            server_share = server_used / wall
            others_share = max(0.0, (cpu_busy(server_cpu) - core_busy_before - server_used) / wall)
            import httpx

            info = httpx.get(f"{url}/_sim/info", timeout=30, trust_env=False).json()
        finally:
            server.terminate()
            server.wait(10)
    print(f"simulator hot path: POST {PATH} (signed HMAC-SHA256, schema-validated, captured)")
    print(f"server: 1 CPU (cpu {server_cpu}), uvicorn, captures recorded: {info['captures']}")
    print(f"load:   {args.tool}, {args.users} connections, {args.seconds} s, cpu {load_cpu}")
    print(f"requests: {stats['requests']:.0f}  failures: {stats['failures']:.0f}")
    print(f"throughput: {stats['rps']:.0f} requests/s   p50 {stats['p50']:.1f} ms   p99 {stats['p99']:.1f} ms")
    print(f"cpu busy: server {server_share:.0%}, load generator {load_share:.0%}, "
          f"other processes on the server's cpu {others_share:.0%}")
    # Wall-clock throughput depends on what else runs on the machine; server CPU time per request
    # does not, so it gives the capacity of one whole core for this server.
    # The server's own count: the load tool leaves out requests in flight when it stops.
    served = float(info["captures"])
    capacity = served / server_used if server_used > 0 else float("nan")
    print(f"server side: {served:.0f} requests answered and captured")
    print(f"server cpu per request: {1e6 / capacity:.0f} µs  => capacity of one free core: {capacity:.0f} requests/s")
    if others_share > 0.1:
        print("note: other processes took the server's CPU during the run; the wall-clock figure understates it")
    if supply <= stats["requests"]:
        print("warning: the pre-signed supply ran out; raise --supply", file=sys.stderr)
    if load_share > 0.9 and server_share < 0.9:
        print("note: the load generator saturated its CPU before the server did; the figure is a lower bound")
    verdict = "meets" if stats["rps"] >= TARGET_RPS else "misses"
    print(f"wall clock {verdict} the target of {TARGET_RPS} requests/s; one free core's capacity "
          f"{'meets' if capacity >= TARGET_RPS else 'misses'} it")
    return 0 if stats["rps"] >= TARGET_RPS and stats["failures"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
