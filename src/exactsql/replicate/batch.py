"""Writes of many pages and items committed together: each page's rows still commit with the cursor that
follows them (both go in the same transaction), but one transaction carries many pages.

A worker hands its writes to a ``Batch`` in the order a page-per-transaction run would make them: rows
(``upsert``), cursor updates fenced by the claim (``save``), row counts (``count``) and anything else
(``call``: deletions, the swap of a reload, the run history). ``flush`` applies them in one transaction: the
calls in their order, the rows of one table (of every division in the batch) as one bulk write — before
the first call that reads or changes that table (``needs``), else after all other calls; then the counts
(one statement per table), then the cursor updates in their order (they touch only the cursors table; a
value may be computed from a count), then the ``late`` calls (a reload's swap, an item's closing count,
the end of an item in the run history), in their order. Of two rows with the same (division, key) the
later wins, as the later upsert would have; consecutive cursor updates of one item go as one (the last
values win). That is what the sequence of
transactions would have left. A kill -9 before the commit loses the uncommitted pages and their cursors
together: the next run reads them again. (Bulk writes have a large fixed cost per statement: DuckDB's
``INSERT OR REPLACE`` of 10 rows into a 74-column table takes as long as one of 1,000.)
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from exactsql.replicate.plan import TableSpec
from exactsql.replicate.targets import TargetConnection

#: A batch commits when it holds this many rows…
FLUSH_ROWS = 25_000
#: …or its oldest write waits this long.
FLUSH_SECONDS = 3.0


def last_per_key(table: pa.Table, key: str) -> pa.Table:
    """The rows of ``table`` with one row per ``key``: the last one (as a sequence of upserts leaves)."""
    keys = table.column(key)
    if table.num_rows < 2 or pc.count_distinct(keys).as_py() == table.num_rows:
        return table
    last: dict = {}
    for i, k in enumerate(keys.to_pylist()):
        last[k] = i
    return table.take(pa.array(sorted(last.values()), pa.int64()))


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    def under_lock(self: Batch, *args: Any, **kwargs: Any) -> Any:
        with self.lock:
            return method(self, *args, **kwargs)

    under_lock.__doc__ = method.__doc__
    return under_lock


@dataclass
class _Rows:
    spec: TableSpec
    division: int
    stage: bool
    tables: list[pa.Table] = field(default_factory=list)


@dataclass
class _Call:
    op: Callable[[], Any]
    needs: frozenset[str]
    late: bool


@dataclass
class Counted:
    """The rows of one (table, division) once the batch's rows are written (``value``, set at commit)."""

    table: str
    division: int
    value: int = 0


@dataclass
class _Save:
    save: Callable[..., None]
    values: dict[str, Any]


class Batch:
    """The pending writes of one worker, committed together (``flush``) when large or old enough."""

    def __init__(
        self, conn: TargetConnection, max_rows: int = FLUSH_ROWS, max_seconds: float = FLUSH_SECONDS
    ) -> None:
        self.conn = conn
        self.max_rows = max_rows
        self.max_seconds = max_seconds
        self._ops: list[_Rows | _Save | _Call] = []
        self._counts: list[Counted] = []
        self._after: list[Callable[[], None]] = []
        self._rows = 0
        self._since: float | None = None
        #: Runs last in every transaction that commits writes (e.g. the run history of the items in it).
        self.closing: Callable[[], None] | None = None
        #: Transactions committed (for the benchmarks).
        self.commits = 0
        #: Commits that failed: the writes they carried were dropped (``Job`` checks it).
        self.failures = 0
        #: What ``maybe_flush`` calls to commit (default ``flush``): a run sets one that also settles the
        #: items of a failed commit.
        self.commit: Callable[[], None] = self.flush
        #: Held by every method: threads of a process share one batch (a flush waits for no one).
        self.lock = threading.RLock()

    def __len__(self) -> int:
        return len(self._ops) + len(self._counts)

    def _note(self, rows: int = 0) -> None:
        if self._since is None:
            self._since = time.monotonic()
        self._rows += rows

    @_locked
    def upsert(self, spec: TableSpec, division: int, rows: pa.Table, stage: bool = False) -> None:
        """Rows of ``spec`` (all of ``division``) to insert or replace (into its staging table)."""
        if not rows.num_rows:
            return
        last = self._ops[-1] if self._ops else None
        if not (
            isinstance(last, _Rows)
            and last.spec == spec
            and last.division == division
            and last.stage == stage
        ):
            # rows may pass cursor updates (they touch only the cursors table) but nothing else
            before = self._ops[-2] if len(self._ops) > 1 else None
            if (
                isinstance(last, _Save)
                and isinstance(before, _Rows)
                and (before.spec, before.division, before.stage) == (spec, division, stage)
            ):
                before.tables.append(rows)
                self._note(rows.num_rows)
                return
            last = _Rows(spec, division, stage)
            self._ops.append(last)
        last.tables.append(rows)
        self._note(rows.num_rows)

    @_locked
    def save(self, save: Callable[..., None], **values: Any) -> None:
        """A fenced cursor update (``save(**values)``, e.g. ``Job.save``); consecutive ones of the same item
        are merged. A value may be a function: it is called at commit time, after the ``count``s."""
        last = self._ops[-1] if self._ops else None
        if isinstance(last, _Save) and last.save == save:
            last.values.update(values)
        else:
            self._ops.append(_Save(save, dict(values)))
        self._note()

    @_locked
    def call(self, op: Callable[[], Any], needs: tuple[str, ...] = (), late: bool = False) -> None:
        """Any other write, run in order inside the batch's transaction once the rows handed in for the
        tables it ``needs`` are written; ``late``: after every row of the batch is written (in order among
        the late ones)."""
        self._ops.append(_Call(op, frozenset(needs), late))
        self._note()

    @_locked
    def count(self, table: str, division: int) -> Counted:
        """The rows ``table`` holds in ``division`` at commit time: after every row and call of the batch,
        before the ``late`` calls (which may read it); the counts of one table are one statement."""
        counted = Counted(table, division)
        self._counts.append(counted)
        self._note()
        return counted

    @_locked
    def after(self, done: Callable[[], None]) -> None:
        """Runs ``done`` once the writes handed in so far are committed (at once when none are pending)."""
        if self._ops or self._counts:
            self._after.append(done)
        else:
            done()

    @_locked
    def due(self) -> bool:
        """Whether the batch should commit now."""
        return bool(self._ops or self._counts) and (
            self._rows >= self.max_rows
            or (self._since is not None and time.monotonic() - self._since >= self.max_seconds)
        )

    def maybe_flush(self) -> None:
        """Commits when the batch is large or old enough."""
        if self.due():
            self.commit()

    @_locked
    def flush(self) -> None:
        """Commits every pending write in one transaction, then runs the ``after`` callbacks. When the
        transaction fails, nothing of it is committed, the pending writes are dropped and it raises."""
        ops, after, wanted = self._ops, self._after, self._counts
        self._ops, self._after, self._counts, self._rows, self._since = [], [], [], 0, None
        if ops or wanted:
            try:
                with self.conn.transaction():
                    rows: dict[tuple[str, bool], list[_Rows]] = {}
                    late: list[_Call] = []
                    saves: list[_Save] = []
                    for op in ops:
                        if isinstance(op, _Rows):
                            rows.setdefault((op.spec.name, op.stage), []).append(op)
                        elif isinstance(op, _Save):
                            saves.append(op)  # they touch only the cursors: after the counts, in their order
                        elif op.late:
                            late.append(op)
                        else:
                            for key in [k for k in rows if k[0] in op.needs]:
                                self._write(rows.pop(key))
                            op.op()
                    for group in rows.values():
                        self._write(group)
                    self._count(wanted)
                    for save in saves:
                        save.save(**{k: v() if callable(v) else v for k, v in save.values.items()})
                    for op in late:
                        op.op()
                    if self.closing is not None:
                        self.closing()
            except BaseException:
                self.failures += 1  # its writes are dropped: the items under way must not go on
                raise
            self.commits += 1
        for done in after:
            done()

    def _count(self, wanted: list[Counted]) -> None:
        """Fills in the ``count``s: one statement per table."""
        by_table: dict[str, list[Counted]] = {}
        for counted in wanted:
            by_table.setdefault(counted.table, []).append(counted)
        for table, group in by_table.items():
            found = self.conn.counts(table, sorted({c.division for c in group}))
            for counted in group:
                counted.value = found.get(counted.division, 0)

    def _write(self, group: list[_Rows]) -> None:
        """The rows of one table (and staging or not) in one bulk write: per division the last row of a key."""
        parts: dict[int, list[pa.Table]] = {}
        for part in group:
            parts.setdefault(part.division, []).extend(part.tables)
        merged = [
            tables[0] if len(tables) == 1 else last_per_key(pa.concat_tables(tables), group[0].spec.key)
            for tables in parts.values()
        ]
        self.conn.upsert(
            group[0].spec, merged[0] if len(merged) == 1 else pa.concat_tables(merged), group[0].stage
        )

    @_locked
    def discard(self) -> None:
        """Drops the pending writes (after a failed flush, or when the run gives up)."""
        self._ops, self._after, self._counts, self._rows, self._since = [], [], [], 0, None
