"""AVL-01…05 judged from the load's figures, as ``TestResult`` objects of the one verdict model.

Which seconds count where (by intended send time): AVL-01 and AVL-02 the run outside the regulator
flap segment (the profile's load with a healthy regulator); AVL-04 the flap segment; AVL-05 the
first and the last window. Every verdict carries its figures as measurements with their limits.

Latency is judged from the intended send time (open loop). The load generator never waits on the
platform, so its sends leave late only when it is short of CPU — and then it also reads answers late,
so its figures are the harness's as much as the platform's. A latency verdict (AVL-02, AVL-05's p99)
over its bound is therefore INCONCLUSIVE, never FAIL, when more than LATE_RATIO_MAX of the judged sends
started over 50 ms late, or when the bound holds from the actual send and only the intended send time
exceeds it: the profile's load was not applied as planned. A PASS stands (lateness only adds latency).
"""

from __future__ import annotations

import statistics
from typing import Any

from conformance import specs
from conformance.load.plan import Timeline
from conformance.load.postcheck import PostCheck, Wrong
from conformance.load.results import Figures, Second, figures
from conformance.verdicts import TestResult, codes

NODE = "load::{}"
# What stands behind every AVL verdict, relative to the run folder (written by the load phase).
EVIDENCE = ("load/load-summary.json", "load/series.jsonl", "load/listings.jsonl", "load/locust.html")
SHOWN = 10   # listings named in a message; all of them are in `observed`


def _m(name: str, value: Any, unit: str | None = None, limit: float | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "value": value}
    if unit:
        out["unit"] = unit
    if limit is not None:
        out["limit"] = limit
    return out


def _result(rid: str, verdict: str, message: str | None, measurements: list[dict[str, Any]], seconds: float,
            expected: Any = None, observed: Any = None) -> TestResult:
    return TestResult(nodeid=NODE.format(rid), requirements=[rid], verdict=verdict, duration_seconds=seconds,
                      message=message, expected=expected, observed=observed, measurements=measurements,
                      evidence=list(EVIDENCE))


def _inside(window: tuple[float, float]) -> Any:
    return lambda sec: window[0] <= sec and sec + 1 <= window[1] + 1e-9


def _ratio(f: Figures) -> float | None:
    return round(f.success_ratio, 5) if f.success_ratio is not None else None


def avl01(f: Figures, seconds: float) -> TestResult:
    c, s = codes(), specs.load()
    limit = s.param("loadSuccessRatioMin")
    ms = [_m("successRatio", _ratio(f), limit=limit), _m("requests", f.done), _m("failed", f.failed),
          _m("errorsByKind", ", ".join(f"{k}: {v}" for k, v in sorted(f.errors.items())) or "none")]
    if not f.done:
        return _result("AVL-01", c.INCONCLUSIVE, "no request of the load completed", ms, seconds)
    if f.success_ratio is not None and f.success_ratio < limit:
        return _result("AVL-01", c.FAIL, f"{f.failed} of {f.done} requests failed ({1 - f.success_ratio:.2%}); "
                       f"at least {limit:.1%} must succeed", ms, seconds, expected=f"success ratio ≥ {limit}",
                       observed=f.errors)
    return _result("AVL-01", c.PASS, None, ms, seconds)


def _over_bounds(f: Figures) -> list[str]:
    s = specs.load()
    p95max, p99max = s.param("latencyP95MaxMs"), s.param("latencyP99MaxMs")
    over = [f"p95 {f.p95:g} ms > {p95max} ms"] if f.p95 is not None and f.p95 > p95max else []
    return over + ([f"p99 {f.p99:g} ms > {p99max} ms"] if f.p99 is not None and f.p99 > p99max else [])


# Late sends (over 50 ms, load/ccc_locustfile.py) above this share of a window: the generator could not
# keep the schedule. 1 % is what it takes to move a p99.
LATE_RATIO_MAX = 0.01


def _fell_behind(f: Figures) -> bool:
    return bool(f.sent) and f.late / f.sent > LATE_RATIO_MAX


RERUN = "rerun with CPU to spare for the harness, or with more --workers"


def _behind_schedule(f: Figures) -> str:
    return f"the load generator fell behind its schedule ({f.late} of {f.sent} sends started over 50 ms late); {RERUN}"


def avl02(f: Figures, seconds: float, from_send: Figures | None = None) -> TestResult:
    """``from_send``: the same seconds measured from each request's actual send."""
    c, s = codes(), specs.load()
    p95max, p99max = s.param("latencyP95MaxMs"), s.param("latencyP99MaxMs")
    ms = [_m("p50", f.p50, "ms"), _m("p95", f.p95, "ms", p95max), _m("p99", f.p99, "ms", p99max),
          _m("p99.9", f.p999, "ms"), _m("max", f.max, "ms"), _m("requests", f.done),
          _m("measuredFrom", "intended send time (open loop)"), _m("lateSends", f.late)]
    if from_send is not None:
        ms += [_m("p95FromActualSend", from_send.p95, "ms"), _m("p99FromActualSend", from_send.p99, "ms")]
    if f.p95 is None or f.p99 is None:
        return _result("AVL-02", c.INCONCLUSIVE, "no request of the load completed", ms, seconds)
    over = _over_bounds(f)
    if over and _fell_behind(f):
        return _result("AVL-02", c.INCONCLUSIVE, f"latency over the profile's bounds ({'; '.join(over)}), but "
                       f"{_behind_schedule(f)}", ms, seconds)
    if over and from_send is not None and from_send.p99 is not None and not _over_bounds(from_send):
        return _result("AVL-02", c.INCONCLUSIVE,
                       f"latency over the profile's bounds from the intended send time ({'; '.join(over)}) but within "
                       f"them from the actual send (p95 {from_send.p95:g} ms, p99 {from_send.p99:g} ms): the excess is the "
                       f"harness's own delay (its sends left late); {RERUN}", ms, seconds)
    if over:
        return _result("AVL-02", c.FAIL, "latency over the profile's bounds (open loop): " + "; ".join(over), ms, seconds,
                       expected={"p95Ms": p95max, "p99Ms": p99max}, observed={"p95Ms": f.p95, "p99Ms": f.p99})
    return _result("AVL-02", c.PASS, None, ms, seconds)


def avl03(check: PostCheck, created: int, script_errors: list[str], seconds: float) -> TestResult:
    c = codes()
    bad = check.wrong + check.on_sale_sightings
    ms = [_m("listingsCreated", created), _m("listingsChecked", check.checked), _m("unreadable", check.unreadable),
          _m("wrongDecisions", len(check.wrong)), _m("seenOnSaleWrongly", len(check.on_sale_sightings))]
    if bad:
        named = ", ".join(f"{w.listing_id} ({w.kind}: expected {w.expected}, observed {w.observed})" for w in bad[:SHOWN])
        more = f" and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
        return _result("AVL-03", c.FAIL, f"{len(bad)} listing(s) decided wrongly under load: {named}{more}", ms, seconds,
                       expected="every listing decided as its certificate says", observed=[w.as_json() for w in bad])
    if script_errors:
        return _result("AVL-03", c.ERROR, "the regulator script failed: " + "; ".join(script_errors), ms, seconds)
    if not check.checked:
        return _result("AVL-03", c.INCONCLUSIVE, "no listing created under load could be read back", ms, seconds)
    if check.unreadable:
        return _result("AVL-03", c.INCONCLUSIVE, f"{check.unreadable} listing(s) created under load could not be read back",
                       ms, seconds)
    return _result("AVL-03", c.PASS, None, ms, seconds)


def avl04(series: dict[int, Second], tl: Timeline, unsafe: list[Wrong], down_applied: list[tuple[float, float]],
          script_errors: list[str], seconds: float) -> TestResult | None:
    c, s = codes(), specs.load()
    if tl.flap is None:
        return None
    limit = s.param("loadSuccessRatioMin")
    f = figures(series, _inside(tl.flap))
    flap_start, flap_end = tl.flap
    ms = [_m("flapSegment", f"{flap_start:.1f}–{flap_end:.1f} s"), _m("outages", len(down_applied)),
          _m("successRatio", _ratio(f), limit=limit), _m("requests", f.done), _m("failed", f.failed),
          _m("p99", f.p99, "ms"), _m("onSaleWithoutAnswerDuringOutage", len(unsafe))]
    if script_errors and not down_applied:
        return _result("AVL-04", c.ERROR, "the regulator outages could not be applied: " + "; ".join(script_errors), ms, seconds)
    if not f.done:
        return _result("AVL-04", c.INCONCLUSIVE, "no request completed while the regulator flapped", ms, seconds)
    problems = []
    if f.success_ratio is not None and f.success_ratio < limit:
        problems.append(f"{f.failed} of {f.done} requests failed while the regulator flapped "
                        f"({', '.join(f'{k}: {v}' for k, v in sorted(f.errors.items()))})")
    if unsafe:
        problems.append("not fail-safe: " + ", ".join(f"{w.listing_id} ({w.kind}: {w.observed})" for w in unsafe[:SHOWN]))
    if problems:
        return _result("AVL-04", c.FAIL, "; ".join(problems), ms, seconds,
                       expected=f"success ratio ≥ {limit}, no listing on sale without a valid certificate",
                       observed={"errors": f.errors, "unsafe": [w.as_json() for w in unsafe]})
    return _result("AVL-04", c.PASS, None, ms, seconds)


def _typical_p99(series: dict[int, Second], window: tuple[float, float], from_send: bool = False) -> float | None:
    """The median of the window's per-second p99s: one noisy second (a GC pause, a busy neighbour on a
    shared machine) cannot make a drift on its own, a trend across the window does."""
    keep = _inside(window)
    values = sorted(p for sec in series.values() if keep(sec.second)
                    for p in [_ms_p99(sec, from_send)] if p is not None)
    return round(statistics.median(values), 1) if values else None


def _ms_p99(sec: Second, from_send: bool) -> float | None:
    h = sec.histogram(from_send=from_send)
    return h.get_value_at_percentile(99) / 1000.0 if h.get_total_count() else None


def avl05(series: dict[int, Second], tl: Timeline, seconds: float) -> TestResult:
    c, s = codes(), specs.load()
    first, last = figures(series, _inside(tl.first)), figures(series, _inside(tl.last))
    typical_first, typical_last = _typical_p99(series, tl.first), _typical_p99(series, tl.last)
    ratio_max, min_increase = s.param("loadDriftMaxRatio"), s.param("loadDriftP99MinIncreaseMs")
    err_max = s.param("loadDriftErrorRatioMax")
    ms = [_m("firstWindow", f"{tl.first[0]:.0f}–{tl.first[1]:.0f} s"), _m("lastWindow", f"{tl.last[0]:.0f}–{tl.last[1]:.0f} s"),
          _m("firstP99", first.p99, "ms"), _m("lastP99", last.p99, "ms"),
          _m("firstMedianSecondP99", typical_first, "ms"), _m("lastMedianSecondP99", typical_last, "ms"),
          _m("p99Ratio", round(last.p99 / first.p99, 2) if first.p99 and last.p99 else None, limit=ratio_max),
          _m("firstErrorRatio", first.error_ratio), _m("lastErrorRatio", last.error_ratio),
          _m("firstLateSends", first.late), _m("lastLateSends", last.late),
          _m("errorRatioIncrease", round((last.error_ratio or 0) - (first.error_ratio or 0), 5), limit=err_max)]
    if first.p99 is None or last.p99 is None:
        return _result("AVL-05", c.INCONCLUSIVE, "no request completed in the first or the last window", ms, seconds)
    problems = []
    def grew(a: float | None, b: float | None) -> bool:
        return a is not None and b is not None and b > ratio_max * a and b - a >= min_increase

    def grew_from_send() -> bool:
        a, b = (figures(series, _inside(w), from_send=True).p99 for w in (tl.first, tl.last))
        return grew(a, b) and grew(_typical_p99(series, tl.first, True), _typical_p99(series, tl.last, True))

    p99_grew = grew(first.p99, last.p99) and grew(typical_first, typical_last)
    behind = next((w for w in (last, first) if _fell_behind(w)), None)
    # Measured from the actual send (lines without that histogram are taken as they are): when the
    # growth is not there, the late sends of a generator short of CPU made it.
    unsent = p99_grew and behind is None and any(sec.encoded_send for sec in series.values()) and not grew_from_send()
    generator_only = p99_grew and (behind is not None or unsent)
    if p99_grew and not generator_only:
        problems.append(f"p99 grew from {first.p99:g} ms to {last.p99:g} ms (median per-second p99 "
                        f"{typical_first:g} → {typical_last:g} ms)")
    e_first, e_last = first.error_ratio or 0.0, last.error_ratio or 0.0
    if e_last - e_first > err_max and e_last > ratio_max * e_first:   # steady errors are AVL-01's, not drift
        problems.append(f"error ratio grew from {first.error_ratio or 0:.2%} to {last.error_ratio or 0:.2%}")
    if generator_only and not problems:
        return _result("AVL-05", c.INCONCLUSIVE,
                       f"p99 grew from {first.p99:g} ms to {last.p99:g} ms, but the growth cannot be told from the "
                       "harness's own delay: " + (_behind_schedule(behind) if behind is not None else
                                                  f"measured from the actual send it is not there; {RERUN}"), ms, seconds)
    if problems:
        return _result("AVL-05", c.FAIL, "drift between the first and the last window: " + "; ".join(problems), ms, seconds,
                       expected=f"last p99 ≤ {ratio_max}× first (or < {min_increase} ms more); error ratio ≤ {ratio_max}× "
                                f"first (or ≤ {err_max} more)",
                       observed={"first": first.as_json(), "last": last.as_json()})
    return _result("AVL-05", c.PASS, None, ms, seconds)


def load_error(rid: str, message: str, *, inconclusive: bool = False) -> TestResult:
    """No result for rid: the harness failed (ERROR), or the platform gave it nothing to load (INCONCLUSIVE)."""
    return _result(rid, codes().INCONCLUSIVE if inconclusive else codes().ERROR, message, [], 0.0)
