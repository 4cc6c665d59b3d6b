"""Open-loop load on a platform's test-control interface, for the AVL requirements (AVL-01…05).

Runs only inside locust's own process(es) (``python -m locust -f load/ccc_locustfile.py --headless``,
or a master and ``--worker`` processes): locust monkey-patches with gevent, so neither pytest nor the
harness ever imports this file. The harness writes a *plan* (JSON, path in ``CCC_LOAD_PLAN``) and
reads back what the master (or the single local process) writes into the plan's ``outDir``:

- ``series.jsonl``: one line per (second, report): counts, errors by kind and an encoded
  HdrHistogram of latencies, for the requests *intended* in that second. Several lines for the same
  second (other workers, later completions) are summed and their histograms merged, never averaged.
- ``listings.jsonl``: every listing created (kind, certificate, when, the state it was created in)
  and every sighting on sale of a listing that should never be on sale.

Open loop, no coordinated omission: one greenlet per request, started at its *intended* time from a
fixed arrival schedule shared by all workers (worker ``w`` of ``W`` takes arrivals ``k % W == w``),
whatever earlier requests are doing; latency is measured from the intended time. A stall therefore
shows in the latency of every request scheduled while it lasts, as a user would feel it. Each request's
latency from its *actual* send (when its greenlet began) is kept in a second histogram: a generator
short of CPU sends late, and only the difference between the two shows that the delay was its own.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from collections import defaultdict
from typing import Any

import gevent
from hdrh.histogram import HdrHistogram
from locust import FastHttpUser, events, task
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

# Microseconds, 1 µs … 120 s, 2 significant digits (1 % resolution): small to encode and send.
HIST_RANGE = (1, 120_000_000, 2)
PLAN_MESSAGE = "ccc_plan"
DONE_MESSAGE = "ccc_done"
REPORT_KEY = "ccc_load"

_plan: dict[str, Any] | None = None
if os.environ.get("CCC_LOAD_PLAN"):
    with open(os.environ["CCC_LOAD_PLAN"], encoding="utf-8") as _f:
        _plan = json.load(_f)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(*HIST_RANGE)


# -- the arrival schedule ---------------------------------------------------------------------------
def arrivals(segments: list[list[float]], duration: float) -> list[float]:
    """Intended send times (seconds from start) for piecewise rates ``[[from, to, rate_from, rate_to], …]``.

    Within a segment the rate moves linearly from ``rate_from`` to ``rate_to`` (equal for a constant
    rate); arrivals are evenly spaced at the local rate, so the schedule never depends on answers.
    """
    times: list[float] = []
    t = 0.0
    for start, end, r0, r1 in segments:
        t = max(t, start)
        while t < min(end, duration):
            rate = r0 + (r1 - r0) * ((t - start) / (end - start) if end > start else 0.0)
            if rate <= 0:
                t = end
                break
            times.append(t)
            t += 1.0 / rate
    return times


# -- what this process measured and has not reported yet -----------------------------------------------
class Recorder:
    """Per-second counts and histograms, drained into report lines (deltas) and reset."""

    def __init__(self) -> None:
        self.seconds: dict[int, dict[str, Any]] = {}
        self.listings: list[dict[str, Any]] = []

    def _second(self, second: int) -> dict[str, Any]:
        s = self.seconds.get(second)
        if s is None:
            s = self.seconds[second] = {"sent": 0, "ok": 0, "errors": defaultdict(int), "ops": defaultdict(int),
                                        "hist": new_histogram(), "histSend": new_histogram(), "late": 0}
        return s

    def sent(self, second: int, op: str, late: bool) -> None:
        s = self._second(second)
        s["sent"] += 1
        s["ops"][op] += 1
        if late:
            s["late"] += 1

    def done(self, second: int, latency_us: int, from_send_us: int, error: str | None) -> None:
        s = self._second(second)
        s["hist"].record_value(max(1, min(latency_us, HIST_RANGE[1])))
        s["histSend"].record_value(max(1, min(from_send_us, HIST_RANGE[1])))
        if error is None:
            s["ok"] += 1
        else:
            s["errors"][error] += 1

    def drain(self) -> dict[str, Any]:
        lines = []
        for second, s in sorted(self.seconds.items()):
            if not s["sent"] and not s["hist"].get_total_count():
                continue
            lines.append({"second": second, "sent": s["sent"], "ok": s["ok"], "errors": dict(s["errors"]),
                          "ops": dict(s["ops"]), "late": s["late"],
                          "hist": s["hist"].encode().decode("ascii") if s["hist"].get_total_count() else None,
                          "histSend": s["histSend"].encode().decode("ascii") if s["histSend"].get_total_count() else None})
        self.seconds.clear()
        listings, self.listings = self.listings, []
        return {"series": lines, "listings": listings}


RECORDER = Recorder()


class Sink:
    """Where report lines end up: files in the plan's outDir (the master, or a local run)."""

    def __init__(self, out_dir: str) -> None:
        os.makedirs(out_dir, exist_ok=True)
        self.series = open(os.path.join(out_dir, "series.jsonl"), "a", encoding="utf-8")  # noqa: SIM115
        self.listings = open(os.path.join(out_dir, "listings.jsonl"), "a", encoding="utf-8")  # noqa: SIM115

    def write(self, report: dict[str, Any], worker: str) -> None:
        for line in report.get("series", ()):
            self.series.write(json.dumps({**line, "worker": worker}, separators=(",", ":")) + "\n")
        for line in report.get("listings", ()):
            self.listings.write(json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n")
        self.series.flush()
        self.listings.flush()


_sink: Sink | None = None


def _ensure_sink() -> Sink | None:
    global _sink
    if _sink is None and _plan is not None:
        _sink = Sink(_plan["outDir"])
    return _sink


@events.init.add_listener
def _on_init(environment: Any, **_kw: Any) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        _ensure_sink()
        # Workers on other machines get the plan from the master, so only the master needs the file.
        runner.register_message("ccc_plan_request", lambda msg, **_: runner.send_message(
            PLAN_MESSAGE, _plan, client_id=msg.data))
        done: set[str] = set()

        def worker_done(msg: Any, **_kw2: Any) -> None:
            sink = _ensure_sink()
            if sink is not None:
                sink.write(msg.data, msg.node_id)
            done.add(msg.node_id)
            if _plan is not None and len(done) >= int(_plan.get("workers", 1)):
                gevent.spawn_later(1.0, runner.quit)   # every worker has handed over its last figures
        runner.register_message(DONE_MESSAGE, worker_done)
    elif isinstance(runner, WorkerRunner):
        def got_plan(msg: Any, **_kw2: Any) -> None:
            global _plan
            _plan = msg.data
        runner.register_message(PLAN_MESSAGE, got_plan)
        if _plan is None:
            runner.send_message("ccc_plan_request", runner.client_id)
    else:  # local: one process measures and writes
        gevent.spawn(_local_flush_loop)


@events.report_to_master.add_listener
def _on_report_to_master(client_id: str, data: dict[str, Any]) -> None:
    data[REPORT_KEY] = RECORDER.drain()


@events.worker_report.add_listener
def _on_worker_report(client_id: str, data: dict[str, Any]) -> None:
    sink = _ensure_sink()
    if sink is not None and REPORT_KEY in data:
        sink.write(data[REPORT_KEY], client_id)


def _local_flush_loop() -> None:
    while True:
        gevent.sleep(1.0)
        _flush_local()


def _flush_local() -> None:
    sink = _ensure_sink()
    if sink is not None:
        sink.write(RECORDER.drain(), "local")


def _finished(runner: Any) -> None:
    """This process has sent its share: hand over the rest and end the run without waiting for --run-time."""
    if isinstance(runner, WorkerRunner):
        runner.send_message(DONE_MESSAGE, RECORDER.drain())
    else:
        _flush_local()
        gevent.spawn_later(0.5, runner.quit)


@events.quitting.add_listener
def _on_quitting(environment: Any, **_kw: Any) -> None:
    if not isinstance(environment.runner, MasterRunner | WorkerRunner):
        _flush_local()


# -- the workload --------------------------------------------------------------------------------------
class Workload:
    """Chooses each request from the plan's mixes; remembers the listings this worker created."""

    def __init__(self, plan: dict[str, Any], worker_index: int) -> None:
        self.plan = plan
        self.rng = random.Random(plan.get("seed", 0) * 1000 + worker_index)
        self.ops = list(plan["operationMix"].items())
        self.kinds = list(plan["certificateMix"].items())
        self.pools: dict[str, list[dict[str, Any]]] = plan["pools"]
        self.mine: list[str] = []
        # Listings whose sighting on sale matters: invalid ones, and valid ones on a certificate the
        # regulator changes mid-run (a sighting after the takedown deadline is a missed takedown).
        self.watched: set[str] = set()
        self.fields = plan["fields"]

    def pick(self, weighted: list[tuple[str, float]]) -> str:
        x = self.rng.random() * sum(w for _, w in weighted)
        for name, w in weighted:
            x -= w
            if x < 0:
                return name
        return weighted[-1][0]

    def operation(self) -> str:
        op = self.pick(self.ops)
        return op if op == "create" or self.mine else "create"

    def listing_body(self) -> tuple[str, dict[str, Any], dict[str, Any]]:
        """(kind, create body, certificate entry of the pool) for one new listing of the plan's mix."""
        kind = self.pick(self.kinds)
        pool = self.pools.get(kind) or self.pools["valid"]
        cert = self.rng.choice(pool)
        f = self.fields
        body: dict[str, Any] = {f["merchantId"]: f"m-load-{uuid.uuid4().hex[:12]}", f["categoryId"]: cert["categoryId"],
                                f["title"]: f"load {cert['categoryId']} {uuid.uuid4().hex[:6]}"}
        if cert.get("brand"):
            body[f["brand"]] = cert["brand"]
        if cert.get("manufacturer"):
            body[f["manufacturer"]] = cert["manufacturer"]
        body[f["model"]] = cert["model"]
        if cert.get("certificateNo"):
            body[f["certificateNo"]] = cert["certificateNo"]
        return kind, body, cert


class LoadUser(FastHttpUser):
    """One per worker: it runs the worker's share of the arrival schedule, then stops."""

    # A stalled platform must not cap the number of requests in flight: open loop needs connections.
    concurrency = 500
    network_timeout = float((_plan or {}).get("timeoutSeconds", 10))
    connection_timeout = network_timeout
    host = "http://127.0.0.1"

    def on_start(self) -> None:
        waited = time.monotonic() + 30
        while _plan is None and time.monotonic() < waited:
            gevent.sleep(0.05)
        if _plan is None:
            raise StopUser()
        runner = self.environment.runner
        self.worker_index = int(getattr(runner, "worker_index", 0) or 0) if isinstance(runner, WorkerRunner) else 0
        self.workers = int(_plan.get("workers", 1))
        self.workload = Workload(_plan, self.worker_index)
        self.base = _plan["target"].rstrip("/")
        self.headers = {"Content-Type": "application/json"}
        if _plan.get("bearerToken"):
            self.headers["Authorization"] = f"Bearer {_plan['bearerToken']}"
        self.states = _plan["states"]
        self.post_headers = {**self.headers, "Connection": "close"}

    @task
    def run_schedule(self) -> None:
        plan = _plan
        assert plan is not None
        times = arrivals(plan["segments"], plan["duration"])
        start_wall = float(plan["startAt"])
        # The wall clock aligns workers (and the harness's regulator flaps); the monotonic clock paces.
        mono0 = time.monotonic() + (start_wall - time.time())
        in_flight = []
        for k, t in enumerate(times):
            if k % self.workers != self.worker_index:
                continue
            delay = mono0 + t - time.monotonic()
            if delay > 0:
                gevent.sleep(delay)
            in_flight.append(gevent.spawn(self.one, t, mono0 + t, delay < -0.05))
            if len(in_flight) > 2000:
                in_flight = [g for g in in_flight if not g.dead]
        gevent.joinall(in_flight, timeout=float(plan.get("timeoutSeconds", 10)) + 5)
        _finished(self.environment.runner)
        raise StopUser()

    def one(self, t: float, intended: float, late: bool) -> None:
        began = time.monotonic()
        second = int(t)
        op = self.workload.operation()
        RECORDER.sent(second, op, late)
        error: str | None = None
        try:
            if op == "create":
                error = self.create(t)
            elif op == "read":
                error = self.read(self.workload.rng.choice(self.workload.mine), public=False)
            else:
                error = self.read(self.workload.rng.choice(self.workload.mine), public=True)
        except Exception as exc:  # a load generator that dies on one odd answer measures nothing
            error = f"client:{type(exc).__name__}"
        ended = time.monotonic()
        RECORDER.done(second, int((ended - intended) * 1_000_000), int((ended - began) * 1_000_000), error)

    @staticmethod
    def _error(response: Any) -> str | None:
        if not response.status_code:
            return f"connection:{type(response.error).__name__}"
        if not 200 <= response.status_code < 300:
            return f"http:{response.status_code}"
        return None

    def create(self, t: float) -> str | None:
        kind, body, cert = self.workload.listing_body()
        # A fresh connection for each creation: a pooled keep-alive connection the platform closed while
        # idle (as HTTP allows) would fail a POST, which a client must not retry (RFC 9110 §9.2.2) — an
        # error of the load generator, not of the platform. GETs are retried by the client instead.
        with self.client.post(f"{self.base}/listings", json=body, headers=self.post_headers, name="POST /listings",
                              catch_response=True) as response:
            error = self._error(response)
            if error:
                response.failure(error)
                return error
            try:
                doc = response.json()
                listing_id = doc[self.workload.fields["listingId"]]
                state = doc.get(self.workload.fields["state"])
            except Exception:
                response.failure("body")
                return "body"
        self.workload.mine.append(listing_id)
        if kind != "valid" or cert.get("changing"):
            self.workload.watched.add(listing_id)
        RECORDER.listings.append({"listingId": listing_id, "kind": kind, "certificateNo": cert.get("certificateNo"),
                                  "at": t, "state": state, "createdAt": time.time() - float(_plan["startAt"])})
        return None

    def read(self, listing_id: str, *, public: bool) -> str | None:
        path = f"{self.base}/listings/{listing_id}" + ("/public" if public else "")
        name = "GET /listings/{id}/public" if public else "GET /listings/{id}"
        with self.client.get(path, headers=self.headers, name=name, catch_response=True) as response:
            status = response.status_code
            # A consumer view of a listing off sale may be 404/410 (profile.md, both conform).
            if public and status in (404, 410):
                response.success()
                return None
            error = self._error(response)
            if error:
                response.failure(error)
                return error
            try:
                doc = response.json()
            except Exception:
                response.failure("body")
                return "body"
        on_sale = doc.get(self.workload.fields["purchasable"]) is True if public \
            else doc.get(self.workload.fields["state"]) == self.states["onSale"]
        if on_sale and listing_id in self.workload.watched:
            RECORDER.listings.append({"seenOnSale": listing_id, "at": time.time() - float(_plan["startAt"])})
        return None
