"""The progress of a run, with rich: one summary line (items done and under way, divisions, rows, calls,
waits, rows/s) and a line per failing item as it fails; with ``detail``, a line per table and division (rows,
calls, waits for a rate window, ETA)."""

from __future__ import annotations

import threading
import time

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from exactsql.replicate import jobs
from exactsql.replicate.runner import Outcome
from exactsql.replicate.runner import Progress as RunProgress
from exactsql.state.protocol import redact_url

_STATUS_STYLE = {"ok": "green", "budget": "yellow", "stopped": "yellow", "lost": "yellow"}


class _Item(jobs.ItemProgress):
    def __init__(self, display: RichProgress, task: TaskID, expected: int | None) -> None:
        self.display = display
        self.task = task
        self.expected = expected
        self.done_rows = 0
        self.n_calls = 0
        self.n_waits = 0
        self.waited = 0.0
        self.started = time.monotonic()

    def _fields(self) -> dict:
        elapsed = max(1e-6, time.monotonic() - self.started)
        rate = self.done_rows / elapsed
        eta = "?"
        if self.expected and rate > 0 and self.done_rows < self.expected:
            eta = f"{(self.expected - self.done_rows) / rate:,.0f} s"
        elif self.expected:
            eta = "0 s"
        waits = f"{self.n_waits} ({self.waited:,.0f} s)" if self.n_waits else "0"
        return {"rows": f"{self.done_rows:,}", "calls": self.n_calls, "waits": waits, "eta": eta}

    def rows(self, count: int) -> None:
        self.done_rows += count
        self.display.update(self.task, advance=count, **self._fields())

    def calls(self, count: int) -> None:
        self.n_calls = count
        self.display.update(self.task, **self._fields())

    def wait(self, seconds: float) -> None:
        self.n_waits += 1
        self.waited += seconds
        self.display.update(self.task, **self._fields())


class _Counted(jobs.ItemProgress):
    """An item counted in the summary line only."""

    def __init__(self, display: RichProgress) -> None:
        self.display = display
        self.n_calls = 0

    def rows(self, count: int) -> None:
        self.display.add(rows=count)

    def calls(self, count: int) -> None:
        self.display.add(calls=count - self.n_calls)
        self.n_calls = count

    def wait(self, seconds: float) -> None:
        self.display.add(waits=1)


class RichProgress(RunProgress):
    """A summary line, and a line per failing item; with ``detail`` one line per (table, division):
    strategy, rows, calls, waits for a rate window, ETA, elapsed."""

    def __init__(self, console: Console | None = None, detail: bool = False) -> None:
        console = console or Console(stderr=True)
        if not console.is_terminal:  # a log file or a pipe: whole lines, not cut at 80 columns
            console = Console(file=console.file, width=160)
        self.console = console
        self.bar = Progress(
            TextColumn("{task.description}", justify="left"),
            BarColumn(bar_width=10),
            TextColumn(
                "{task.fields[rows]:>9} rows {task.fields[calls]:>4} calls {task.fields[waits]} waits "
                "ETA {task.fields[eta]}"
            ),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self._lock = threading.Lock()
        self._tasks: dict[tuple[str, int], TaskID] = {}
        self.detail = detail
        self.totals = {"rows": 0, "calls": 0, "waits": 0, "running": 0, "done": 0, "failed": 0}
        self._divisions: set[int] = set()
        self._started = time.monotonic()
        self._shown = 0.0
        self._summary: TaskID | None = None
        if not detail:
            self._summary = self.bar.add_task("", total=None, rows="0", calls=0, waits="0", eta="-")

    def __enter__(self) -> RichProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def update(self, task: TaskID, **kwargs: object) -> None:
        """Updates a line (thread-safe)."""
        with self._lock:
            self.bar.update(task, **kwargs)  # type: ignore[arg-type]

    def add(self, **counts: int) -> None:
        """Adds to the summary's totals (thread-safe); the line is redrawn at most 4 times a second."""
        with self._lock:
            for key, n in counts.items():
                self.totals[key] += n
            self._redraw()

    def _redraw(self, force: bool = False) -> None:
        now = time.monotonic()
        if self._summary is None or (not force and now - self._shown < 0.25):
            return
        self._shown = now
        t = self.totals
        rate = t["rows"] / max(1e-6, now - self._started)
        failed = f", [red]{t['failed']} failed[/]" if t["failed"] else ""
        text = (
            f"{t['done']:,} items done{failed}, {t['running']} under way, {len(self._divisions):,} divisions"
            f" · {rate:,.0f} rows/s"
        )
        self.bar.update(
            self._summary, description=text, rows=f"{t['rows']:,}", calls=t["calls"], waits=f"{t['waits']:,}"
        )

    def start(self, table: str, division: int, strategy: str, expected: int | None) -> jobs.ItemProgress:
        if not self.detail:
            with self._lock:
                self.totals["running"] += 1
                self._divisions.add(division)
                self._redraw()
            return _Counted(self)
        label = f"{table} [dim]{division}[/] [cyan]{strategy}[/]"
        with self._lock:
            task = self.bar.add_task(label, total=expected, rows="0", calls=0, waits="0", eta="?")
            self._tasks[(table, division)] = task
        return _Item(self, task, expected)

    def end(self, outcome: Outcome) -> None:
        if not self.detail:
            with self._lock:
                self.totals["running"] -= 1
                self.totals["done"] += 1
                if outcome.status not in ("ok", "budget", "stopped"):
                    self.totals["failed"] += 1
                    message = escape(redact_url(outcome.message or "")[:300])
                    self.console.print(
                        f"[red]{escape(outcome.table)} in division {outcome.division}: {outcome.status}[/] {message}",
                        highlight=False,
                        soft_wrap=True,
                    )
                self._redraw(force=True)
            return
        task = self._tasks.get((outcome.table, outcome.division))
        if task is None:
            return
        style = _STATUS_STYLE.get(outcome.status, "red")
        label = f"{outcome.table} [dim]{outcome.division}[/] [{style}]{outcome.status}[/]"
        if outcome.deleted:
            label += f" [dim]({outcome.deleted} deleted)[/]"
        with self._lock:
            task_obj = next((t for t in self.bar.tasks if t.id == task), None)
            total = task_obj.completed if task_obj is not None else None
            self.bar.update(task, description=label, total=total or 1, completed=total or 1, eta="-")
