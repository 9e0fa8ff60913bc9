"""What a person sees while a refresh runs: one live line per step, then a summary table.

On a terminal each step is a rich progress line (a bar for the dbt build) with
its counts — rows and pages for a source, models and tests for the build —
and the elapsed time, redrawn in place. Off a terminal (cron, systemd, a log
file, a pipe) the same counts are printed as plain lines: when a step starts,
every `PLAIN_INTERVAL_S` while it runs, and when it ends. The summary at the
end is a table either way.

The sources report through a dlt collector (`collector()`, installed with
`collecting()` for the duration of a step and picked up by
`dlt_pipelines.runner.make_pipeline`): dlt counts extracted items per resource;
each count update is one page (one batch) of records. Sources that load side
by side (qbr.app.refresh.run) each have their own line and counts; the
collector is per thread.
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any, TextIO

from dlt.common.runtime.collector_base import Collector

#: Off a terminal, a running step prints a line this often.
PLAIN_INTERVAL_S = 15.0

#: Counter names dlt uses for its own bookkeeping, not resources.
_DLT_META = {"Resources", "Files", "Items", "Jobs"}


def _elapsed(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


class StepCounts:
    """The counts of the running step (updated from the step's thread)."""

    def __init__(self) -> None:
        self.rows = 0
        self.pages = 0
        self.stage = ""
        self.done = 0
        self.total = 0
        self.failures = 0
        self.last = ""

    def text(self, kind: str) -> str:
        if kind == "build":
            if not self.total:
                return "compiling"
            text = f"{self.done}/{self.total} nodes"
            if self.failures:
                text += f", {self.failures} failed"
            return text
        text = f"{self.rows:,} rows, {self.pages:,} pages"
        if self.stage and self.stage != "extract":
            text += f" ({self.stage})"
        return text


class _DltCollector(Collector):
    """Forwards dlt's extract counts to the running step."""

    def __init__(self, counts: StepCounts, changed) -> None:
        self.counts = counts
        self.changed = changed
        self.step = ""

    def update(self, name, inc=1, total=None, inc_total=None, message=None, label=None):
        if self.step.startswith("Extract") and name not in _DLT_META and not label and inc:
            self.counts.rows += int(inc)
            self.counts.pages += 1
            self.changed()

    def _start(self, step: str) -> None:
        self.counts.stage = step.split()[0].lower() if step else ""
        self.changed()

    def _stop(self) -> None:
        pass


_local = threading.local()  # the collector of the step running in this thread


def collector() -> Collector | None:
    """The collector of the step running in this thread, for dlt.pipeline(progress=...);
    None outside one. Per thread: sources may load side by side, each in its own."""
    return getattr(_local, "collector", None)


class _Running:
    """One running step: its counts, when it started, its live line (a terminal)."""

    def __init__(self, kind: str, label: str) -> None:
        self.kind = kind
        self.label = label
        self.counts = StepCounts()
        self.started = time.monotonic()
        self.task: Any = None


class Reporter:
    """Prints a refresh's progress; `stream` defaults to stdout, `tty` to stream.isatty().

    Several steps may run at once (sources loading side by side): each has its own
    counts and live line (a terminal) or periodic line (plain); each finished step
    prints its own line."""

    def __init__(
        self,
        stream: TextIO | None = None,
        tty: bool | None = None,
        interval: float = PLAIN_INTERVAL_S,
    ) -> None:
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = interval
        self.counts = StepCounts()  # the counts of the step started last
        self._running: dict[str, _Running] = {}
        self._last = ""
        self._lock = threading.RLock()
        self._progress: Any = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._console: Any = None
        if self.tty:
            from rich.console import Console

            self._console = Console(file=self.stream, highlight=False)

    # -- plain lines ------------------------------------------------------------------------

    def line(self, text: str) -> None:
        with self._lock:
            if self._progress is not None:
                self._progress.console.print(text, markup=False, highlight=False)
            else:
                print(text, file=self.stream, flush=True)

    def _tick(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                running = list(self._running.values())
            for r in running:
                took = _elapsed(time.monotonic() - r.started)
                self.line(f"        {r.label}: {r.counts.text(r.kind)}, {took} so far")

    # -- steps ------------------------------------------------------------------------------

    def step_started(self, index: int, total: int, name: str, kind: str) -> None:
        running = _Running(kind, name)
        title = f"[{index + 1}/{total}] {name}"
        with self._lock:
            self._running[name] = running
            self._last = name
            self.counts = running.counts
            if self.tty:
                if self._progress is None:
                    self._progress = self._new_progress(kind)
                    self._progress.start()
                running.task = self._progress.add_task(
                    title, total=None, counts=running.counts.text(kind)
                )
                return
        self.line(f"  {title} ...")
        with self._lock:
            if self._ticker is None:
                self._stop.clear()
                self._ticker = threading.Thread(target=self._tick, daemon=True)
                self._ticker.start()

    def _new_progress(self, kind: str) -> Any:
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        columns = [SpinnerColumn(), TextColumn("{task.description:<22}")]
        if kind == "build":
            columns.append(BarColumn(bar_width=24))
        columns += [TextColumn("{task.fields[counts]}"), TimeElapsedColumn()]
        return Progress(*columns, console=self._console, transient=True, refresh_per_second=4)

    def _changed(self, running: _Running) -> None:
        progress = self._progress
        if progress is not None and running.task is not None:
            counts = running.counts
            progress.update(
                running.task,
                counts=counts.text(running.kind),
                total=counts.total or None,
                completed=counts.done,
            )

    def changed(self) -> None:
        """The step started last changed its counts (redraw its live line)."""
        running = self._running.get(self._last)
        if running is not None:
            self._changed(running)

    def build_node(self, done: int, total: int, status: str, what: str) -> None:
        running = self._running.get(self._last)
        builds = [r for r in self._running.values() if r.kind == "build"]
        if builds:
            running = builds[-1]
        counts = running.counts if running is not None else self.counts
        counts.done, counts.total, counts.last = done, total, what
        if status in ("ERROR", "FAIL"):
            counts.failures += 1
        if running is not None:
            self._changed(running)

    def step_finished(self, step: Any) -> None:
        with self._lock:
            running = self._running.pop(step.name, None) or _Running(step.kind, step.name)
            if self._progress is not None and running.task is not None:
                self._progress.remove_task(running.task)
            if not self._running:
                self._stop_live()
        took = _elapsed((step.duration_ms or 0) / 1000)
        counts_of = running.counts
        if running.kind == "build":
            counts = counts_of.text("build") if counts_of.total else ""
        else:
            rows = step.rows_loaded if step.rows_loaded is not None else counts_of.rows
            counts = f"{rows:,} rows, {counts_of.pages:,} pages"
            if step.rows_rejected:
                counts += f", {step.rows_rejected:,} rejected"
        if self.tty:
            mark = "✓" if step.status == "succeeded" else "✗"
            prefix = f"  {mark} {step.name:<20}"
        else:
            prefix = f"        {step.name}"
        text = f"{prefix} {step.status} in {took}" + (f", {counts}" if counts else "")
        with self._lock:  # the two lines of one step stay together
            self.line(text)
            if step.error:
                self.line("          " + step.error.strip().splitlines()[0][:300])

    def _stop_live(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        if self._ticker is not None:
            self._stop.set()
            if self._ticker is not threading.current_thread():
                self._ticker.join(timeout=2)
            self._ticker = None

    def close(self) -> None:
        """Stop any live line or ticker (an interrupted run): the terminal is left clean."""
        with self._lock:
            self._running.clear()
            self._stop_live()

    @contextlib.contextmanager
    def collecting(self, name: str | None = None) -> Iterator[None]:
        """Install the dlt collector of running step `name` (default: the step started
        last) in this thread, for the duration of the step."""
        running = self._running.get(name or self._last)
        counts = running.counts if running is not None else self.counts
        previous = getattr(_local, "collector", None)
        _local.collector = _DltCollector(
            counts, (lambda: self._changed(running)) if running is not None else self.changed
        )
        try:
            yield
        finally:
            _local.collector = previous

    # -- the end ----------------------------------------------------------------------------

    def summary(self, batch_id: str, status: str, elapsed_s: float, steps: list[Any]) -> None:
        rows = []
        for s in steps:
            if s.kind == "build":
                results = (s.details or {}).get("results") or {}
                nodes = sum(results.values()) if results else None
                count = f"{nodes:,} nodes" if nodes else "-"
            else:
                count = f"{s.rows_loaded:,} rows" if s.rows_loaded is not None else "-"
                if s.rows_rejected:
                    count += f" ({s.rows_rejected:,} rejected)"
            took = _elapsed(s.duration_ms / 1000) if s.duration_ms is not None else "-"
            note = s.error.strip().splitlines()[0][:120] if s.error else ""
            rows.append((s.name, s.status, count, took, note))
        title = f"refresh {batch_id}: {status} in {_elapsed(elapsed_s)}"
        header = ("step", "status", "loaded", "time", "note")
        with_notes = any(r[4] for r in rows)
        if self.tty:
            from rich.table import Table

            table = Table(show_edge=False, pad_edge=False, box=None, padding=(0, 2, 0, 0))
            for name in header[: 5 if with_notes else 4]:
                justify = "right" if name in ("loaded", "time") else "left"
                table.add_column(name, justify=justify, overflow="fold", style=None)
            for row in rows:
                table.add_row(*row[: 5 if with_notes else 4])
            self._console.print(title, markup=False, highlight=False)
            self._console.print(table)
            return
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
        self.line(title)
        for row in [header, *rows]:
            cells = [
                c.rjust(w) if i >= 2 else c.ljust(w)
                for i, (c, w) in enumerate(zip(row[:4], widths, strict=True))
            ]
            note = row[4] if with_notes else ""
            self.line(("  " + "  ".join(cells) + ("  " + note if note else "")).rstrip())


class LogReporter(Reporter):
    """The same calls, written to a logger (refreshes run without a person watching)."""

    def __init__(self, logger) -> None:
        self.logger = logger
        super().__init__(stream=sys.stderr, tty=False, interval=PLAIN_INTERVAL_S * 4)

    def line(self, text: str) -> None:
        self.logger.info(text.strip())
