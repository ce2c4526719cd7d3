"""Writes of many pages and items committed together: each page's rows still commit with the cursor that
follows them (both go in the same transaction), but one transaction carries many pages.

A worker hands its writes to a ``Batch`` in the order a page-per-transaction run would make them: rows
(``upsert``), cursor updates fenced by the claim (``save``) and anything else (``call``: deletions, the
swap of a reload, a count, the run history). ``flush`` applies them in that order in one transaction.
Consecutive rows of the same table and division go in as one bulk write (the later of two rows with one
key wins, as the later upsert would have), and consecutive cursor updates of one item as one update (the
last values win), which is what the sequence of transactions would have left. A kill -9 before the commit
loses the uncommitted pages and their cursors together: the next run reads them again.
"""

from __future__ import annotations

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


@dataclass
class _Rows:
    spec: TableSpec
    division: int
    stage: bool
    tables: list[pa.Table] = field(default_factory=list)


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
        self._ops: list[_Rows | _Save | Callable[[], Any]] = []
        self._after: list[Callable[[], None]] = []
        self._rows = 0
        self._since: float | None = None
        #: Runs last in every transaction that commits writes (e.g. the run history of the items in it).
        self.closing: Callable[[], None] | None = None
        #: Transactions committed (for the benchmarks).
        self.commits = 0

    def __len__(self) -> int:
        return len(self._ops)

    def _note(self, rows: int = 0) -> None:
        if self._since is None:
            self._since = time.monotonic()
        self._rows += rows

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

    def save(self, save: Callable[..., None], **values: Any) -> None:
        """A fenced cursor update (``save(**values)``, e.g. ``Job.save``); consecutive ones of the same item
        are merged."""
        last = self._ops[-1] if self._ops else None
        if isinstance(last, _Save) and last.save == save:
            last.values.update(values)
        else:
            self._ops.append(_Save(save, dict(values)))
        self._note()

    def call(self, op: Callable[[], Any]) -> None:
        """Any other write, run in order inside the batch's transaction."""
        self._ops.append(op)
        self._note()

    def after(self, done: Callable[[], None]) -> None:
        """Runs ``done`` once the writes handed in so far are committed (at once when none are pending)."""
        if self._ops:
            self._after.append(done)
        else:
            done()

    def due(self) -> bool:
        """Whether the batch should commit now."""
        return bool(self._ops) and (
            self._rows >= self.max_rows
            or (self._since is not None and time.monotonic() - self._since >= self.max_seconds)
        )

    def maybe_flush(self) -> None:
        """Commits when the batch is large or old enough."""
        if self.due():
            self.flush()

    def flush(self) -> None:
        """Commits every pending write in one transaction, then runs the ``after`` callbacks. When the
        transaction fails, nothing of it is committed, the pending writes are dropped and it raises."""
        ops, after = self._ops, self._after
        self._ops, self._after, self._rows, self._since = [], [], 0, None
        if ops:
            with self.conn.transaction():
                for op in ops:
                    if isinstance(op, _Rows):
                        rows = op.tables[0] if len(op.tables) == 1 else pa.concat_tables(op.tables)
                        if len(op.tables) > 1:
                            rows = last_per_key(rows, op.spec.key)
                        self.conn.upsert(op.spec, rows, stage=op.stage)
                    elif isinstance(op, _Save):
                        op.save(**op.values)
                    else:
                        op()
                if self.closing is not None:
                    self.closing()
            self.commits += 1
        for done in after:
            done()

    def discard(self) -> None:
        """Drops the pending writes (after a failed flush, or when the run gives up)."""
        self._ops, self._after, self._rows, self._since = [], [], 0, None
