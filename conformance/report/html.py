"""report.html: one self-contained page from report.json and evidence/ — no network, no external file.

Inline CSS, inline SVG charts (charts.py), a few lines of inline JS for the language switch only:
drill-downs are ``<details>`` elements, so they open with the keyboard and in print without script.
The HTTP exchanges behind each test are copied into the page (bounded per test, bodies shortened,
secrets already redacted in evidence/) so the page alone is enough to see why a verdict was given.
"""

from __future__ import annotations

import contextlib
import json
import statistics
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from conformance import specs
from conformance.report import charts
from conformance.report.labels import LANGS, labels
from conformance.verdicts import codes

_env = Environment(loader=PackageLoader("conformance.report", "templates"), autoescape=select_autoescape(["html", "j2"]))

# Bounds that keep a full run's page small (a bulk test makes thousands of exchanges): the first few
# show the set-up, the last ones the state the verdict was judged on.
EXCHANGES_PASSED = 6
EXCHANGES_NOT_PASSED = 30
EXCHANGES_HEAD = 4
BODY_CHARS = 2_500
# Across the whole page: a platform failing everything must not make a page too big to open. Tests
# that did not pass get their share first; past the budget a test shows only its last exchanges.
EXCHANGE_BUDGET = 1_500
EXCHANGES_OVER_BUDGET = 2
SIMULATOR_RECORDS = 12


def _both(zh: str, en: str) -> Markup:
    if zh == en:
        return Markup(escape(zh))
    return Markup('<span class="l-zh" lang="zh-CN">{}</span><span class="l-en" lang="en">{}</span>').format(zh, en)


def _t(key: str) -> Markup:
    entry = labels()[key]
    return _both(entry["zh"], entry["en"])


def _pretty(body: Any) -> str:
    if body is None:
        return ""
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, indent=2)
    return text if len(text) <= BODY_CHARS else text[:BODY_CHARS] + f"\n… ({len(text) - BODY_CHARS} more characters)"


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _fmt(v: Any) -> str:
    if _number(v):
        return f"{v:.3f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v)
    return str(v)


def measurement_lines(measurements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per measurement name: a value, or count/min/median/max of many; the limit only when there is one."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for m in measurements:
        groups.setdefault(m["name"], []).append(m)
    lines = []
    for name, items in groups.items():
        values = [m["value"] for m in items]
        unit = next((m["unit"] for m in items if m.get("unit")), "")
        limits = {m.get("limit") for m in items if m.get("limit") not in (None, "")}
        if len(values) == 1 or not all(_number(v) for v in values):
            shown = ", ".join(_fmt(v) for v in values[:8]) + (" …" if len(values) > 8 else "")
        else:
            shown = (f"{len(values)} × {_fmt(min(values))} … {_fmt(max(values))} "
                     f"(median {_fmt(statistics.median(values))})")
        limit = _fmt(next(iter(limits))) if len(limits) == 1 else (", ".join(sorted(map(_fmt, limits))) or None)
        over = limit is not None and len(limits) == 1 and _number(next(iter(limits))) and any(
            _number(v) and v > next(iter(limits)) for v in values)
        lines.append({"name": name, "shown": shown, "unit": unit, "limit": limit, "over": over})
    return lines


def _exchange_view(x: dict[str, Any]) -> dict[str, Any]:
    req, resp = x.get("request") or {}, x.get("response")
    return {
        "seq": x.get("seq"), "sentAt": x.get("sentAt"), "elapsedMs": x.get("elapsedMs"),
        "method": req.get("method", ""), "url": req.get("url", ""), "reqHeaders": req.get("headers") or {},
        "reqBody": _pretty(req.get("body")), "status": resp.get("status") if resp else None,
        "respHeaders": (resp or {}).get("headers") or {}, "respBody": _pretty((resp or {}).get("body")),
        "error": x.get("error"),
    }


def _select(items: list[Any], limit: int) -> list[Any]:
    if len(items) <= limit:
        return items
    return items[:EXCHANGES_HEAD] + items[len(items) - (limit - EXCHANGES_HEAD):]


def _evidence_view(run_dir: Path, test: dict[str, Any], budget: list[int]) -> dict[str, Any]:
    """``budget``: exchanges the page may still inline (one-item list, spent here)."""
    passed = test["verdict"] in (codes().PASS, codes().NOT_APPLICABLE)
    limit = EXCHANGES_PASSED if passed else EXCHANGES_NOT_PASSED
    limit = limit if budget[0] >= limit else max(EXCHANGES_OVER_BUDGET, budget[0])
    files, exchanges, simulator, total = [], [], [], 0
    for rel in test.get("evidence") or []:
        path = run_dir / rel
        files.append({"json": rel, "har": rel[:-5] + ".har" if rel.endswith(".json") else None})
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        xs = [x for x in doc.get("exchanges") or [] if isinstance(x, dict)]
        total += len(xs)
        chosen = _select(xs, limit)
        budget[0] -= len(chosen)
        exchanges += [_exchange_view(x) for x in chosen]
        sim = doc.get("simulator") or {}
        if isinstance(sim, dict):
            if sim.get("error"):
                simulator.append(_pretty(sim["error"]))
            for kind in ("captures", "pushes", "dispositions"):
                for record in _select(list(sim.get(kind) or []), SIMULATOR_RECORDS if not passed else 3):
                    simulator.append(f"[{kind}] " + _pretty(record))
    return {"files": files, "exchanges": exchanges, "total": total, "simulator": simulator}


def _latency_series(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Measurements in seconds that have a numeric limit (the declared deadlines), per test."""
    out = []
    for t in report["tests"]:
        groups: dict[str, dict[str, Any]] = {}
        for m in t.get("measurements") or []:
            if m.get("unit") == "s" and _number(m.get("limit")) and _number(m.get("value")):
                g = groups.setdefault(m["name"], {"values": [], "limit": m["limit"]})
                g["values"].append(float(m["value"]))
        for name, g in groups.items():
            short = t["nodeid"].split("::")[-1].removeprefix("test_")[:24]
            label = f"{','.join(t['requirements'])} {short} · {name}"
            out.append({"label": label if len(label) <= 64 else label[:63] + "…", "values": g["values"],
                        "limit": float(g["limit"]), "failed": t["verdict"] == codes().FAIL})
    return out


def _charts(report: dict[str, Any], lang: str) -> list[dict[str, Any]]:
    s = specs.load()
    lab = labels()
    verdict_names = {c.code: (c.zh if lang == "zh" else c.en) for c in s.code_lists()["verdict"]}
    area_names = {a["code"]: f"{a['code']} {a['name_zh'] if lang == 'zh' else a['name_en']}" for a in s.areas}
    counts: dict[str, dict[str, int]] = {}
    for r in report["requirements"]:
        counts.setdefault(r["area"], {}).setdefault(r["verdict"], 0)
        counts[r["area"]][r["verdict"]] += 1
    order = [a["code"] for a in s.areas]
    counts = {a: counts[a] for a in sorted(counts, key=lambda a: order.index(a) if a in order else len(order))}
    out = []
    if counts:
        out.append({"key": "chartVerdicts", "svg": charts.verdicts_by_area(
            counts, s.codes("verdict"), verdict_names, area_names, lab["chartVerdicts"][lang])})
    series = _latency_series(report)
    if series:
        out.append({"key": "chartLatency", "svg": charts.latency_vs_deadline(
            series, lab["chartLatency"][lang], lab["seconds"][lang], lab["limit"][lang])})
    load = report.get("load") if isinstance(report.get("load"), dict) else {}
    points = [p for p in (load.get("series") or []) if isinstance(p, dict)] if isinstance(load.get("series"), list) else []
    if points:
        # A series of an unexpected shape stays in report.json, undrawn, rather than break the page.
        with contextlib.suppress(TypeError, ValueError):
            out.append({"key": "chartLoadSeries", "svg": charts.load_series(points, lab["chartLoadSeries"][lang])})
    # The load phase keeps merged histograms per second, not every request: what can be drawn is how
    # its per-second percentiles spread (and a raw latency list, should a load run ever record one).
    names = sorted({k for p in points for k in p if k.endswith("Ms")})  # latency fields, by their unit
    groups = {name: [float(p[name]) for p in points if _number(p.get(name))] for name in names}
    groups = {k: v for k, v in groups.items() if v}
    raw = [float(v) for v in (load.get("latenciesMs") or []) if _number(v)]
    if raw:
        groups = {"latencyMs": raw}
    if groups:
        out.append({"key": "chartLoadHistogram", "svg": charts.histogram(groups, lab["chartLoadHistogram"][lang], "ms")})
    return out


def render_html(report: dict[str, Any], run_dir: Path | None = None, *, lang: str = "zh") -> str:
    s = specs.load()
    c = codes()
    lang = lang if lang in LANGS else LANGS[0]
    areas = {a["code"]: a for a in s.areas}
    names = {code.code: code for code in s.code_lists()["verdict"] + s.code_lists()["overallVerdict"]
             + s.code_lists()["requirementLevel"]}
    tests = {t["nodeid"]: t for t in report["tests"]}
    budget = [EXCHANGE_BUDGET]
    empty = {"files": [], "exchanges": [], "total": 0, "simulator": []}
    passed = (c.PASS, c.NOT_APPLICABLE)
    evidence = {t["nodeid"]: _evidence_view(run_dir, t, budget) if run_dir else empty
                for t in sorted(report["tests"], key=lambda t: (t["verdict"] in passed, t["nodeid"]))}
    by_area: dict[str, list[dict[str, Any]]] = {}
    for r in report["requirements"]:
        req = s.requirements.get(r["id"])
        view = {**r, "text_zh": req.text_zh if req else "", "text_en": req.text_en if req else "",
                "lines": measurement_lines(r.get("measurements") or []),
                "testViews": [], "open": r["verdict"] in (c.FAIL, c.ERROR)}
        for nodeid in r["tests"]:
            t = tests.get(nodeid)
            if t is None:
                continue
            view["testViews"].append({**t, "lines": measurement_lines(t.get("measurements") or []),
                                      "expectedText": _pretty(t.get("expected")) if t.get("expected") is not None else "",
                                      "observedText": _pretty(t.get("observed")) if t.get("observed") is not None else "",
                                      "ev": evidence[nodeid]})
        by_area.setdefault(r["area"], []).append(view)
    order = [a["code"] for a in s.areas]
    by_area = {a: by_area[a] for a in sorted(by_area, key=lambda a: order.index(a) if a in order else len(order))}
    drawn = {lg: _charts(report, lg) for lg in LANGS}  # chart text in each language, shown by the switch
    chart_views = [{"key": ch["key"], "svg": {lg: Markup(drawn[lg][i]["svg"]) for lg in LANGS}}
                   for i, ch in enumerate(drawn[lang])]
    selection = report.get("selection") or {}
    return _env.get_template("report.html.j2").render(
        report=report, by_area=by_area, areas=areas, names=names, t=_t, both=_both, lang=lang,
        charts=chart_views, c=c, partial=report.get("scope") == "partial",
        selection=selection, baseline=report["overall"].get("baseline"),
        signature=report.get("signature"), platform=report["ics"].get("platform") or {},
    )


def write_html(run_dir: Path, report: dict[str, Any], *, lang: str = "zh", out: Path | None = None) -> Path:
    path = out or run_dir / "report.html"
    path.write_text(render_html(report, run_dir, lang=lang), encoding="utf-8")
    return path
