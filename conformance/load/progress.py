"""The live progress line of a load run: elapsed, achieved rate, recent p99, errors.

It tails ``series.jsonl`` as locust writes it (every second locally, every worker report in a
distributed run), so it shows what was measured, not what was planned.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from rich.console import Console
from rich.live import Live
from rich.text import Text

from conformance.load.results import new_histogram

RECENT_SECONDS = 5


class ProgressLine:
    def __init__(self, console: Console, series_path: Path, start_at: float, duration: float) -> None:
        self.console, self.path, self.start_at, self.duration = console, series_path, start_at, duration
        self._offset = 0
        self._sent: dict[int, int] = {}
        self._errors = 0
        self._done = 0
        self._late = 0
        self._hists: dict[int, list[str]] = {}
        self._live: Live | None = None
        self._last_print = 0.0
        if console.is_terminal:
            self._live = Live(Text(""), console=console, transient=True, refresh_per_second=2)
            self._live.start()

    def _read(self) -> None:
        try:
            with self.path.open(encoding="utf-8") as f:
                f.seek(self._offset)
                chunk = f.read()
        except OSError:
            return
        complete = chunk[: chunk.rfind("\n") + 1]
        self._offset += len(complete.encode("utf-8"))
        for line in complete.splitlines():
            try:
                d = json.loads(line)
            except ValueError:
                continue
            sec = int(d["second"])
            self._sent[sec] = self._sent.get(sec, 0) + int(d.get("sent", 0))
            self._errors += sum((d.get("errors") or {}).values())
            self._done += int(d.get("ok", 0)) + sum((d.get("errors") or {}).values())
            self._late += int(d.get("late", 0))
            if d.get("hist"):
                self._hists.setdefault(sec, []).append(d["hist"])
        newest = max(self._hists, default=0)
        for sec in [s for s in self._hists if s < newest - RECENT_SECONDS]:
            del self._hists[sec]   # keep memory flat over a soak

    def text(self) -> str:
        elapsed = time.time() - self.start_at
        if elapsed < 0:
            return f"load: starting locust ({-elapsed:.0f} s)"
        newest = max(self._sent, default=-1)
        window = [s for s in range(newest - RECENT_SECONDS + 1, newest + 1) if s in self._sent]
        rate = sum(self._sent[s] for s in window) / len(window) if window else 0.0
        h = new_histogram()
        for sec in window:
            for e in self._hists.get(sec, ()):
                h.decode_and_add(e)
        p99 = f"{h.get_value_at_percentile(99) / 1000:.0f} ms" if h.get_total_count() else "—"
        # Sends the generator started late (short of CPU) are the harness's delay, shown as soon as any occur.
        late = f" · late sends {self._late} (the load generator is short of CPU)" if self._late else ""
        return (f"load: {min(elapsed, self.duration):.0f}/{self.duration:.0f} s · {rate:.1f} req/s · "
                f"p99 {p99} · errors {self._errors}/{self._done}{late}")

    def tick(self) -> None:
        self._read()
        line = self.text()
        if self._live is not None:
            self._live.update(Text(line))
        elif time.time() - self._last_print >= 10:
            self._last_print = time.time()
            self.console.print(line, highlight=False)

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
