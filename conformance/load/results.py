"""Reading what locust wrote: the per-second series (histograms merged, never averaged) and listings.

Each line of ``series.jsonl`` is one worker's delta for one second of *intended* send time; lines for
the same second are summed and their HdrHistograms added. Percentiles of any set of seconds come
from the merged histogram of those seconds, so two workers' p99s are never averaged. Each second has
two histograms: latency from the intended send time (the open-loop figure every verdict is about) and
from the actual send (``from_send``), which tells the load generator's own lateness apart.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

# Must match load/ccc_locustfile.py (microseconds, 1 µs … 120 s, 2 significant digits).
HIST_RANGE = (1, 120_000_000, 2)


def new_histogram() -> HdrHistogram:
    return HdrHistogram(*HIST_RANGE)


@dataclass
class Second:
    second: int
    sent: int = 0
    ok: int = 0
    late: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    ops: dict[str, int] = field(default_factory=dict)
    encoded: list[str] = field(default_factory=list)
    encoded_send: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(self.errors.values())

    def histogram(self, *, from_send: bool = False) -> HdrHistogram:
        h = new_histogram()
        for e in self.encoded_send if from_send else self.encoded:
            h.decode_and_add(e)
        return h


def _json_lines(path: Path) -> Iterator[dict[str, Any]]:
    """Each JSON object of a JSON-lines file; a torn last line (a process killed mid-write) is skipped."""
    if not path.is_file():
        return
    with path.open(encoding="utf-8") as f:
        for line in f:
            try:
                yield json.loads(line)
            except ValueError:
                continue


def read_series(path: Path) -> dict[int, Second]:
    """Seconds by number."""
    out: dict[int, Second] = {}
    for d in _json_lines(path):
        s = out.setdefault(int(d["second"]), Second(int(d["second"])))
        s.sent += int(d.get("sent", 0))
        s.ok += int(d.get("ok", 0))
        s.late += int(d.get("late", 0))
        for k, v in (d.get("errors") or {}).items():
            s.errors[k] = s.errors.get(k, 0) + int(v)
        for k, v in (d.get("ops") or {}).items():
            s.ops[k] = s.ops.get(k, 0) + int(v)
        if d.get("hist"):
            s.encoded.append(d["hist"])
        if d.get("histSend"):
            s.encoded_send.append(d["histSend"])
    return out


@dataclass
class Figures:
    """Counts and latency percentiles (milliseconds, from the intended send time unless made with
    ``from_send``) of a set of seconds; ``late`` counts sends the generator started over 50 ms late."""

    sent: int
    ok: int
    failed: int
    errors: dict[str, int]
    p50: float | None
    p95: float | None
    p99: float | None
    p999: float | None
    max: float | None
    seconds: int
    late: int = 0

    @property
    def done(self) -> int:
        return self.ok + self.failed

    @property
    def success_ratio(self) -> float | None:
        return self.ok / self.done if self.done else None

    @property
    def error_ratio(self) -> float | None:
        return self.failed / self.done if self.done else None

    def as_json(self) -> dict[str, Any]:
        return {"sent": self.sent, "ok": self.ok, "failed": self.failed, "errors": self.errors,
                "latencyMs": {"p50": self.p50, "p95": self.p95, "p99": self.p99, "p99.9": self.p999, "max": self.max},
                "successRatio": self.success_ratio, "seconds": self.seconds}


def _ms(h: HdrHistogram, pct: float) -> float | None:
    return round(h.get_value_at_percentile(pct) / 1000.0, 1) if h.get_total_count() else None


def figures(series: dict[int, Second], keep: Callable[[int], bool] = lambda _s: True, *,
            from_send: bool = False) -> Figures:
    h = new_histogram()
    sent = ok = late = 0
    errors: dict[str, int] = {}
    n = 0
    for sec in series.values():
        if not keep(sec.second):
            continue
        n += 1
        sent += sec.sent
        ok += sec.ok
        late += sec.late
        for k, v in sec.errors.items():
            errors[k] = errors.get(k, 0) + v
        for e in sec.encoded_send if from_send else sec.encoded:
            h.decode_and_add(e)
    return Figures(sent=sent, ok=ok, failed=sum(errors.values()), errors=errors, p50=_ms(h, 50), p95=_ms(h, 95),
                   p99=_ms(h, 99), p999=_ms(h, 99.9), max=round(h.get_max_value() / 1000.0, 1) if h.get_total_count() else None,
                   seconds=n, late=late)


def time_series(series: dict[int, Second], target_rate: Callable[[float], float]) -> list[dict[str, Any]]:
    """One point per second for report.json: target and achieved rate, p50, p99, errors."""
    out = []
    for sec in sorted(series.values(), key=lambda s: s.second):
        h = sec.histogram()
        out.append({"second": sec.second, "targetRate": round(target_rate(sec.second + 0.5), 2), "sent": sec.sent,
                    "ok": sec.ok, "errors": sec.failed, "p50Ms": _ms(h, 50), "p99Ms": _ms(h, 99)})
    return out


def read_listings(path: Path) -> tuple[list[dict[str, Any]], dict[str, list[float]]]:
    """Listings created under load, and sightings on sale (listing → seconds from start) of watched ones."""
    created: list[dict[str, Any]] = []
    seen: dict[str, list[float]] = {}
    for d in _json_lines(path):
        if "seenOnSale" in d:
            seen.setdefault(d["seenOnSale"], []).append(float(d["at"]))
        elif "listingId" in d:
            created.append(d)
    return created, seen


def rate_at(segments: Iterable[list[float]]) -> Callable[[float], float]:
    segs = list(segments)

    def rate(t: float) -> float:
        for start, end, r0, r1 in segs:
            if start <= t < end:
                return r0 + (r1 - r0) * ((t - start) / (end - start) if end > start else 0.0)
        return 0.0
    return rate
