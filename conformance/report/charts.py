"""Charts for report.html as inline SVG strings, drawn with matplotlib (Agg, no display needed).

Text stays text (``svg.fonttype = none``): the SVG is smaller, the browser picks a font that has the
Chinese glyphs, and a screen reader can read the labels. Colours follow the page's verdict colours.
"""

from __future__ import annotations

import contextlib
import io
import re
import statistics
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import Any

VERDICT_COLOURS = ["#8a8a8a", "#1b7a35", "#c27c0e", "#7a3db8", "#c0182e"]  # in terminology.yaml's verdict order
_RC = {"svg.fonttype": "none", "font.size": 9, "font.family": ["sans-serif"], "axes.spines.top": False,
       "axes.spines.right": False, "svg.hashsalt": "ccc-conformance"}


def _pyplot() -> ModuleType:
    """matplotlib.pyplot, imported on first use: importing it costs ~0.4 s, and every process that
    imports the report package (the suite's pytest workers among them) would pay it for nothing."""
    import matplotlib

    matplotlib.use("Agg")  # before pyplot: never look for a display
    import matplotlib.pyplot

    return matplotlib.pyplot


def preload() -> None:
    """Import pyplot ahead of the first chart (a run calls this in a thread while its suite runs, when
    its own process is otherwise idle, so the ~0.5 s import is not on the way to the report). Never
    raises: a broken matplotlib is reported where a chart is drawn, not from a background thread."""
    with contextlib.suppress(Exception):
        _pyplot()


def _svg(fig: Any, title: str) -> str:
    buf = io.StringIO()
    with warnings.catch_warnings():
        # Chinese labels are measured with a Latin font here and drawn by the browser's own font.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font")
        fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    _pyplot().close(fig)
    svg = buf.getvalue()
    svg = svg[svg.index("<svg"):]  # drop the XML prolog and doctype: the SVG is inlined in HTML
    svg = re.sub(r'width="[\d.]+pt" height="[\d.]+pt"', 'width="100%"', svg, count=1)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{title}" ', 1)


def verdicts_by_area(counts: dict[str, dict[str, int]], verdict_order: Sequence[str],
                     verdict_names: dict[str, str], area_names: dict[str, str], title: str) -> str:
    """Horizontal stacked bars: requirements per verdict, one bar per area."""
    areas = list(counts)
    plt = _pyplot()
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(7, 0.35 * len(areas) + 1.1))
        left = [0] * len(areas)
        for i, verdict in enumerate(verdict_order):
            values = [counts[a].get(verdict, 0) for a in areas]
            if not any(values):
                continue
            ax.barh([area_names.get(a, a) for a in areas], values, left=left,
                    color=VERDICT_COLOURS[i % len(VERDICT_COLOURS)], label=verdict_names.get(verdict, verdict))
            left = [a + b for a, b in zip(left, values, strict=True)]
        ax.invert_yaxis()
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=5, frameon=False)
        return _svg(fig, title)


def latency_vs_deadline(series: list[dict[str, Any]], title: str, seconds: str, limit_word: str) -> str:
    """One row per test and measurement: each observed latency a dot, the declared deadline a red tick.

    ``series`` items: ``{"label": str, "values": [float], "limit": float | None, "failed": bool}``.
    """
    plt = _pyplot()
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(6, 0.26 * len(series) + 1.0))
        for y, s in enumerate(series):
            colour = VERDICT_COLOURS[-1] if s["failed"] else VERDICT_COLOURS[1]
            ax.scatter(s["values"], [y] * len(s["values"]), s=14, color=colour, alpha=0.75, zorder=3)
            if s["values"]:
                ax.plot([statistics.median(s["values"])] * 2, [y - 0.3, y + 0.3], color=colour, linewidth=1)
            if s["limit"] is not None:
                ax.plot([s["limit"]] * 2, [y - 0.4, y + 0.4], color="#c0182e", linewidth=2.2, zorder=4)
        ax.set_yticks(range(len(series)), [s["label"] for s in series])
        ax.invert_yaxis()
        ax.set_xlabel(f"{seconds} (| = {limit_word})")
        ax.set_xlim(left=0)
        ax.grid(axis="x", color="#e4e4e4", zorder=0)
        return _svg(fig, title)


def load_series(points: list[dict[str, Any]], title: str, rate_label: str = "requests/s",
                latency_label: str = "ms") -> str:
    """The load phase per second: rates (target, sent, ok, errors) above, latencies (fields ending
    in ``Ms``: p50, p99) below. x is ``second`` (or ``t``/``time``); any other numeric field is a rate."""
    xs = [float(p.get("second", p.get("t", p.get("time", i)))) for i, p in enumerate(points)]
    skip = {"second", "t", "time"}
    names = sorted({k for p in points for k, v in p.items() if k not in skip and isinstance(v, int | float)
                    and not isinstance(v, bool)})
    latency = [n for n in names if n.endswith("Ms")]
    rates = [n for n in names if n not in latency]
    panels = [(rates, rate_label), (latency, latency_label)]
    panels = [(fields, label) for fields, label in panels if fields]
    plt = _pyplot()
    with plt.rc_context(_RC):
        fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.2 * len(panels) + 0.4), sharex=True, squeeze=False)
        for ax, (fields, label) in zip(axes[:, 0], panels, strict=True):
            for name in fields:
                ax.plot(xs, [p.get(name) if p.get(name) is not None else float("nan") for p in points],
                        label=name, linewidth=1.2, linestyle="--" if name.startswith("target") else "-")
            ax.set_ylabel(label)
            ax.legend(frameon=False, ncol=min(4, len(fields)), fontsize=8, loc="best")
            ax.grid(color="#e4e4e4")
        axes[-1, 0].set_xlabel("s")
        return _svg(fig, title)


def histogram(groups: dict[str, list[float]], title: str, unit: str, limit: float | None = None) -> str:
    """Overlaid histograms, one per named group of values (e.g. per-second p50 and p99)."""
    plt = _pyplot()
    with plt.rc_context(_RC):
        fig, ax = plt.subplots(figsize=(7, 2.4))
        n = max((len(v) for v in groups.values()), default=0)
        for name, values in groups.items():
            ax.hist(values, bins=min(40, max(5, n // 5)), alpha=0.6, label=name)
        if len(groups) > 1:
            ax.legend(frameon=False)
        if limit is not None:
            ax.axvline(limit, color="#c0182e", linewidth=2)
        ax.set_xlabel(unit)
        return _svg(fig, title)
