"""The target protocol and what SQLite, DuckDB and PostgreSQL share: typed tables, upserts, deletes, the
meta tables (cursors with their claims, and the run history), all of a page in one transaction."""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import pyarrow as pa

from exactsql.api.convert import arrow_type
from exactsql.catalog import Column
from exactsql.replicate.generations import generation_in, marker, new_generation
from exactsql.replicate.plan import TableSpec, stage_name

CURSORS = "exactsql_cursors"
RUNS = "exactsql_runs"
#: The cursors row that holds the start of the latest round (for ``--worker`` processes).
ROUND = "(round)"


class LeaseLost(RuntimeError):
    """Another process took over a (table, division) this one held: its work is not committed."""


@dataclass
class CursorRow:
    """The replication state of one (table, division).

    Attributes:
        cursor: the largest Timestamp committed (sync, Deleted), or the Modified cursor (CET ms).
        resume: where an unfinished full reload or Modified read goes on (JSON), None when none is open.
        loaded: a first full load has completed.
        row_count: rows of the (table, division) in the copy when its last run ended (while the copy is
            short of rows, the count before: ``jobs.row_count``).
        owner, lease_until: the process working on it and until when its claim holds.
        done_at: when the last run of it completed (epoch seconds, the target's clock).
        generation: the generation of the table the cursor was read into (``generations``).
    """

    table_name: str
    division: int
    strategy: str | None
    cursor: int | None
    resume: str | None
    loaded: bool
    row_count: int | None
    owner: str | None
    lease_until: float | None
    done_at: float | None
    generation: str | None = None


_CURSOR_COLUMNS = (
    "table_name", "division", "strategy", "cursor", "resume", "loaded", "row_count", "owner", "lease_until",
    "done_at", "generation",
)  # fmt: skip
#: What a reset cursor holds: the next read of the item is a first full load.
_FRESH = "cursor = NULL, resume = NULL, loaded = FALSE, row_count = NULL"


def _work_order(row: CursorRow) -> tuple[int, str]:
    """Items of a division in the order they are worked on: ``sync/Deleted`` first, then by table."""
    return (0 if row.table_name == "sync/Deleted" else 1, row.table_name)


def utc_now() -> dt.datetime:
    """Now, as a naive UTC timestamp (for the run history)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class TargetConnection:
    """One connection to a target (one per thread); subclasses give the dialect."""

    placeholder = "?"
    #: The null-safe equality operator.
    same = "IS NOT DISTINCT FROM"
    #: SQL type names by Edm type.
    types: ClassVar[dict[str, str]] = {}

    def __init__(self, target: Target) -> None:
        self.target = target
        self._in_transaction = False

    # -- dialect hooks ------------------------------------------------------------------------------------

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Any:
        """Runs one statement; returns something with ``fetchall``."""
        raise NotImplementedError

    def execute_count(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Runs an INSERT/UPDATE/DELETE; returns the number of rows it changed."""
        raise NotImplementedError

    def _begin(self) -> None:
        self.execute("BEGIN")

    def _commit(self) -> None:
        self.execute("COMMIT")

    def _rollback(self) -> None:
        self.execute("ROLLBACK")

    def column_types(self, table: str) -> dict[str, str] | None:
        """The columns of ``table`` (name → declared type), None when it does not exist."""
        raise NotImplementedError

    def tables(self) -> list[str]:
        """The tables in the target."""
        raise NotImplementedError

    def _upsert(self, name: str, spec: TableSpec, batch: pa.Table) -> None:
        raise NotImplementedError

    def _delete_keys(self, spec: TableSpec, division: int, keys: list, stamps: list[int] | None) -> int:
        raise NotImplementedError

    def read(self, table: str, columns: Sequence[Column], divisions: Sequence[int] | None = None) -> pa.Table:
        """Rows of ``table`` (the given columns, typed as Arrow) in ``divisions`` (None: all)."""
        raise NotImplementedError

    def table_note(self, table: str) -> str | None:
        """The text that carries ``table``'s generation marker: its comment (None when it has none)."""
        raise NotImplementedError

    def mark_table(self, table: str, generation: str) -> str:
        """Marks an existing table with ``generation``; returns the generation it carries now."""
        self.execute(f"COMMENT ON TABLE {self.q(table)} IS '{marker(generation)}'")
        return generation

    def create_table(self, table: str, body: str, generation: str) -> None:
        """``CREATE TABLE table (body)``, marked with ``generation`` ("": unmarked)."""
        self.execute(f"CREATE TABLE {self.q(table)} ({body})")
        if generation:
            self.mark_table(table, generation)

    def ts(self, value: dt.datetime) -> Any:
        """A timestamp as this driver takes it."""
        return value

    def now(self) -> float:
        """The clock that leases are judged by (epoch seconds)."""
        return time.time()

    def ddl_lock(self) -> None:
        """Serialises schema changes between processes (inside a transaction; PostgreSQL only)."""

    def close(self) -> None:
        """Closes the connection."""

    # -- helpers --------------------------------------------------------------------------------------------

    @staticmethod
    def q(name: str) -> str:
        """A quoted identifier."""
        return '"' + name.replace('"', '""') + '"'

    def p(self, n: int) -> str:
        """``n`` placeholders, comma-separated."""
        return ", ".join([self.placeholder] * n)

    def sql_type(self, edm: str) -> str:
        """The SQL type of an Edm type."""
        return self.types.get(edm, self.types["Edm.String"])

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction: committed when the block ends, rolled back when it raises."""
        if self._in_transaction:
            yield
            return
        with self.target.write_lock:
            self._begin()
            self._in_transaction = True
            try:
                yield
            except BaseException:
                self._in_transaction = False
                with contextlib.suppress(Exception):
                    self._rollback()
                raise
            self._in_transaction = False
            self._commit()

    # -- tables ---------------------------------------------------------------------------------------------

    def ensure_meta(self) -> None:
        """Creates the meta tables if missing."""
        with self.transaction():
            self.ddl_lock()
            self.execute(
                f"CREATE TABLE IF NOT EXISTS {CURSORS} (table_name TEXT NOT NULL, division BIGINT NOT NULL, "
                "strategy TEXT, cursor BIGINT, resume TEXT, loaded BOOLEAN, row_count BIGINT, owner TEXT, "
                "lease_until DOUBLE PRECISION, done_at DOUBLE PRECISION, updated_at DOUBLE PRECISION, "
                "generation TEXT, PRIMARY KEY (table_name, division))"
            )
            if "generation" not in (self.column_types(CURSORS) or {}):  # made before generations were kept
                self.execute(f"ALTER TABLE {CURSORS} ADD COLUMN generation TEXT")
            self.execute(
                f"CREATE TABLE IF NOT EXISTS {RUNS} (run_id TEXT NOT NULL, table_name TEXT NOT NULL, "
                "division BIGINT NOT NULL, strategy TEXT, host TEXT, pid BIGINT, started TIMESTAMP, "
                "ended TIMESTAMP, status TEXT, row_count BIGINT, deleted BIGINT, calls BIGINT, "
                "errors BIGINT, waits BIGINT, message TEXT, PRIMARY KEY (run_id, table_name, division))"
            )

    def ensure_table(
        self, spec: TableSpec, name: str | None = None, generation: str | None = None
    ) -> list[str]:
        """Creates the table of ``spec`` (marked with ``generation``, a new one when None) or adds the columns
        it lacks; returns the added columns."""
        name = name or spec.name
        with self.transaction():
            self.ddl_lock()
            existing = self.column_types(name)
            if existing is None:
                cols = ", ".join(f"{self.q(c.name)} {self.sql_type(c.edm)}" for c in spec.columns)
                key = f"{self.q('Division')}, {self.q(spec.key)}"
                self.create_table(
                    name,
                    f"{cols}, PRIMARY KEY ({key})",
                    new_generation() if generation is None else generation,
                )
                return []
            known = {n.lower() for n in existing}
            added = [c for c in spec.columns if c.name.lower() not in known]
            for column in added:
                self.execute(
                    f"ALTER TABLE {self.q(name)} ADD COLUMN {self.q(column.name)} {self.sql_type(column.edm)}"
                )
            return [c.name for c in added]

    def table_generation(self, table: str) -> str | None:
        """The generation ``table`` carries: None when there is no such table, "" when it carries none."""
        if self.column_types(table) is None:
            return None
        return generation_in(self.table_note(table))

    def drop_table(self, table: str) -> None:
        """Drops ``table`` if it exists."""
        self.execute(f"DROP TABLE IF EXISTS {self.q(table)}")

    def upsert(self, spec: TableSpec, batch: pa.Table, stage: bool = False) -> None:
        """Inserts or replaces rows by (Division, key); ``batch`` has the columns of ``spec``."""
        if batch.num_rows:
            self._upsert(stage_name(spec.name) if stage else spec.name, spec, batch)

    def append(self, table: str, batch: pa.Table) -> None:
        """Appends the rows of ``batch`` to ``table`` (a plain table without a key), column by name."""
        if batch.num_rows:
            self._append(table, batch)

    def _append(self, table: str, batch: pa.Table) -> None:
        raise NotImplementedError

    def delete_keys(self, spec: TableSpec, division: int, keys: list, stamps: list[int] | None = None) -> int:
        """Deletes rows by key in one division; with ``stamps``, only where the row's Timestamp ≤ its stamp."""
        if not keys:
            return 0
        return self._delete_keys(spec, division, keys, stamps if spec.has_timestamp else None)

    def clear_stage(self, spec: TableSpec, division: int) -> None:
        """Empties the staging rows of one division."""
        self.execute(
            f"DELETE FROM {self.q(stage_name(spec.name))} WHERE {self.q('Division')} = {self.placeholder}",
            [division],
        )

    def replace_from_stage(self, spec: TableSpec, division: int) -> int:
        """Replaces the rows of one division by its staged rows; returns how many there are now."""
        table, stage, div = self.q(spec.name), self.q(stage_name(spec.name)), self.q("Division")
        cols = ", ".join(self.q(c) for c in spec.column_names)
        self.execute(f"DELETE FROM {table} WHERE {div} = {self.placeholder}", [division])
        count = self.execute_count(
            f"INSERT INTO {table} ({cols}) SELECT {cols} FROM {stage} WHERE {div} = {self.placeholder}",
            [division],
        )
        self.clear_stage(spec, division)
        return count

    def delete_rows(self, spec: TableSpec, division: int | None) -> int:
        """Deletes the rows of one division (None: every row); returns how many went."""
        if division is None:
            return self.execute_count(f"DELETE FROM {self.q(spec.name)}")
        return self.execute_count(
            f"DELETE FROM {self.q(spec.name)} WHERE {self.q('Division')} = {self.placeholder}", [division]
        )

    def count(self, table: str, division: int | None = None) -> int:
        """Rows of ``table`` (in one division)."""
        if division is None:
            return int(self.execute(f"SELECT count(*) FROM {self.q(table)}").fetchall()[0][0])
        rows = self.execute(
            f"SELECT count(*) FROM {self.q(table)} WHERE {self.q('Division')} = {self.placeholder}",
            [division],
        ).fetchall()
        return int(rows[0][0])

    def counts(self, table: str, divisions: Sequence[int]) -> dict[int, int]:
        """Rows of ``table`` per division of ``divisions`` (one statement per 500; a division without rows is
        absent)."""
        out: dict[int, int] = {}
        division = self.q("Division")
        for start in range(0, len(divisions), 500):
            chunk = divisions[start : start + 500]
            for d, n in self.execute(
                f"SELECT {division}, count(*) FROM {self.q(table)} WHERE {division} IN ({self.p(len(chunk))}) "
                f"GROUP BY {division}",
                list(chunk),
            ).fetchall():
                out[int(d)] = int(n)
        return out

    # -- cursors and claims ---------------------------------------------------------------------------------

    def _cursor_row(self, values: Sequence[Any]) -> CursorRow:
        data = dict(zip(_CURSOR_COLUMNS, values, strict=True))
        data["loaded"] = bool(data["loaded"])
        data["division"] = int(data["division"])
        return CursorRow(**data)

    def cursor(self, table: str, division: int) -> CursorRow | None:
        """The state of one (table, division), or None."""
        rows = self.execute(
            f"SELECT {', '.join(_CURSOR_COLUMNS)} FROM {CURSORS} WHERE table_name = {self.placeholder} "
            f"AND division = {self.placeholder}",
            [table, division],
        ).fetchall()
        return self._cursor_row(rows[0]) if rows else None

    def cursors(self) -> list[CursorRow]:
        """Every (table, division) state."""
        rows = self.execute(
            f"SELECT {', '.join(_CURSOR_COLUMNS)} FROM {CURSORS} ORDER BY table_name, division"
        ).fetchall()
        return [self._cursor_row(r) for r in rows]

    def add_items(self, items: Sequence[tuple[str, int, str]]) -> None:
        """Makes sure a cursor row exists for every (table, division, strategy)."""
        with self.transaction():
            for start in range(0, len(items), 250):  # a few statements for thousands of items
                chunk = items[start : start + 250]
                self.execute(
                    f"INSERT INTO {CURSORS} (table_name, division, strategy, loaded) VALUES "
                    + ", ".join([f"({self.p(4)})"] * len(chunk))
                    + " ON CONFLICT (table_name, division) DO NOTHING",
                    [v for table, division, strategy in chunk for v in (table, division, strategy, False)],
                )

    def candidates(
        self, tables: Sequence[str], divisions: Sequence[int], due_before: float
    ) -> list[CursorRow]:
        """Items of these tables and divisions not completed since ``due_before``, in work order."""
        rows = self.execute(
            f"SELECT {', '.join(_CURSOR_COLUMNS)} FROM {CURSORS} WHERE table_name IN ({self.p(len(tables))}) "
            f"AND division IN ({self.p(len(divisions))}) AND (done_at IS NULL OR done_at < {self.placeholder}) "
            "ORDER BY CASE WHEN table_name = 'sync/Deleted' THEN 0 ELSE 1 END, division, table_name",
            [*tables, *divisions, due_before],
        ).fetchall()
        return [self._cursor_row(r) for r in rows]

    for_update = ""
    #: How the rows a claim reads are locked (PostgreSQL: skipped by other processes while it decides).
    skip_locked = ""

    def begin_round(self, tables: Sequence[str], divisions: Sequence[int], join: bool) -> float:
        """The start of this process's round: a new one (now), or with ``join`` the open one, i.e. the last
        round begun while some of these items are still due since its start (workers started together share
        it; one started after it has ended begins the next)."""
        with self.transaction():
            self.execute(
                f"INSERT INTO {CURSORS} (table_name, division, strategy, loaded) VALUES ({self.p(4)}) "
                "ON CONFLICT (table_name, division) DO NOTHING",
                [ROUND, 0, "round", False],
            )
            rows = self.execute(
                f"SELECT cursor FROM {CURSORS} WHERE table_name = {self.placeholder} AND division = 0{self.for_update}",
                [ROUND],
            ).fetchall()
            now = self.now()
            last = rows[0][0] / 1000 if rows and rows[0][0] is not None else None
            if join and last is not None and self.candidates(tables, divisions, last):
                return last
            self.execute(
                f"UPDATE {CURSORS} SET cursor = {self.placeholder} WHERE table_name = {self.placeholder} AND division = 0",
                [int(now * 1000), ROUND],
            )
            return now

    def try_claim(self, row: CursorRow, owner: str, ttl: float) -> bool:
        """Takes ``row`` for ``owner`` if nobody changed its claim since it was read (compare-and-set)."""
        with self.transaction():
            return (
                self.execute_count(
                    f"UPDATE {CURSORS} SET owner = {self.placeholder}, lease_until = {self.placeholder} "
                    f"WHERE table_name = {self.placeholder} AND division = {self.placeholder} "
                    f"AND owner {self.same} {self.placeholder} AND lease_until {self.same} {self.placeholder}",
                    [owner, self.now() + ttl, row.table_name, row.division, row.owner, row.lease_until],
                )
                == 1
            )

    def claim_next(
        self,
        tables: Sequence[str],
        divisions: Sequence[int],
        due_before: float,
        owner: str,
        ttl: float,
        busy: set[int],
        stealable: Callable[[str], bool],
    ) -> tuple[CursorRow | None, int, list[CursorRow]]:
        """Claims the next due item that no live process holds, outside the ``busy`` divisions.

        Returns the claimed item (or None), how many due items wait for a busy division of this process,
        and the due items other live processes hold.
        """
        now = self.now()
        waiting, held = 0, []
        for row in self.candidates(tables, divisions, due_before):
            if row.owner == owner:
                waiting += 1
                continue
            free = row.owner is None or (row.lease_until or 0) < now or stealable(row.owner)
            if not free:
                held.append(row)
                continue
            if row.division in busy:
                waiting += 1
                continue
            if self.try_claim(row, owner, ttl):
                return self.cursor(row.table_name, row.division), waiting, held
            held.append(row)
        return None, waiting, held

    def claim_division(
        self,
        tables: Sequence[str],
        divisions: Sequence[int],
        due_before: float,
        owner: str,
        ttl: float,
        busy: set[int],
        stealable: Callable[[str], bool],
        ahead: list[int] | None = None,
    ) -> tuple[list[CursorRow], int, list[CursorRow]]:
        """Claims every free due item of the first division that has one, outside the ``busy`` divisions
        (one claim per division, not per item: its items are worked on one after another). ``ahead`` keeps
        the divisions one look found free for the next calls (in division order, the last first): one scan
        of the cursors serves many claims, each still a compare-and-set.

        Returns the claimed items in work order (``sync/Deleted`` first; empty when none), how many due
        items wait for this process, and the due items other live processes hold.
        """
        ahead = [] if ahead is None else ahead
        if not ahead:
            now, ph = self.now(), self.placeholder
            where = (
                f"table_name IN ({self.p(len(tables))}) AND (done_at IS NULL OR done_at < {ph}) "
                f"AND (owner IS NULL OR lease_until < {ph})"
            )
            where += f" AND division IN ({self.p(len(divisions))})"
            params: list[Any] = [*tables, due_before, now, *divisions]
            rows = self.execute(
                f"SELECT DISTINCT division FROM {CURSORS} WHERE {where} ORDER BY division DESC", params
            ).fetchall()
            ahead.extend(int(d) for (d,) in rows)
        wanted = set(divisions)
        while ahead:
            division = ahead.pop()
            if division in busy or division not in wanted:
                continue
            claimed = self._claim_in(tables, division, due_before, owner, ttl)
            if claimed:
                return claimed, 0, []
        # nothing free at a glance: the full picture (dead processes' claims, what others hold)
        row, waiting, held = self.claim_next(tables, divisions, due_before, owner, ttl, busy, stealable)
        if row is None:
            return [], waiting, held
        rest = self._claim_in(tables, row.division, due_before, owner, ttl)
        return sorted([row, *rest], key=_work_order), waiting, held

    def _claim_in(
        self, tables: Sequence[str], division: int, due_before: float, owner: str, ttl: float
    ) -> list[CursorRow]:
        """Claims the free due items of one division in one transaction (compare-and-set each)."""
        ph = self.placeholder
        free = (
            f"division = {ph} AND table_name IN ({self.p(len(tables))}) AND (done_at IS NULL OR done_at < {ph}) "
            f"AND (owner IS NULL OR lease_until < {ph})"
        )
        with self.transaction():
            now = self.now()
            params = [division, *tables, due_before, now]
            if self.skip_locked:  # PostgreSQL: rows another process is deciding on are left to it
                names = [r[0] for r in self.execute(
                    f"SELECT table_name FROM {CURSORS} WHERE {free}{self.skip_locked}", params
                ).fetchall()]  # fmt: skip
                if not names:
                    return []
                free += f" AND table_name IN ({self.p(len(names))})"
                params += names
            self.execute(  # a compare-and-set of every free item at once
                f"UPDATE {CURSORS} SET owner = {ph}, lease_until = {ph} WHERE {free}",
                [owner, now + ttl, *params],
            )
            rows = self.execute(
                f"SELECT {', '.join(_CURSOR_COLUMNS)} FROM {CURSORS} WHERE division = {ph} AND owner = {ph} "
                f"AND lease_until = {ph} AND table_name IN ({self.p(len(tables))})",
                [division, owner, now + ttl, *tables],
            ).fetchall()
        return sorted((self._cursor_row(r) for r in rows), key=_work_order)

    def save(
        self, table: str, division: int, owner: str, ttl: float, generation: str | None, **values: Any
    ) -> None:
        """Updates the state of an item this process holds (inside the caller's transaction), renewing the
        lease; LeaseLost when another process holds it now or its table is another ``generation`` now."""
        sets = [f"{k} = {self.placeholder}" for k in values]
        sets += [f"lease_until = {self.placeholder}", f"updated_at = {self.placeholder}"]
        now = self.now()
        changed = self.execute_count(
            f"UPDATE {CURSORS} SET {', '.join(sets)} WHERE table_name = {self.placeholder} "
            f"AND division = {self.placeholder} AND owner = {self.placeholder} "
            f"AND generation {self.same} {self.placeholder}",
            [*values.values(), now + ttl, now, table, division, owner, generation],
        )
        if changed != 1:
            raise LeaseLost(
                f"{table} in division {division} is no longer held by this process (or its table was replaced)"
            )

    def release(self, table: str, division: int, owner: str, done: bool) -> None:
        """Gives up the claim (and marks the item done for this round)."""
        with self.transaction():
            extra = f", done_at = {self.placeholder}" if done else ""
            params: list[Any] = [self.now()] if done else []
            self.execute(
                f"UPDATE {CURSORS} SET owner = NULL, lease_until = NULL{extra} WHERE table_name = "
                f"{self.placeholder} AND division = {self.placeholder} AND owner = {self.placeholder}",
                [*params, table, division, owner],
            )

    def renew(self, owner: str, ttl: float) -> int:
        """Extends every lease ``owner`` holds; returns how many. On PostgreSQL the rows another transaction
        holds are skipped: they are this process's batch being committed (which extends their leases), and
        waiting for them while that batch waits for a row this update holds would deadlock."""
        ph = self.placeholder
        where = f"owner = {ph}"
        if self.skip_locked:
            where = (
                f"(table_name, division) IN (SELECT table_name, division FROM {CURSORS} WHERE owner = {ph}"
                f"{self.skip_locked})"
            )
        with self.transaction():
            return self.execute_count(
                f"UPDATE {CURSORS} SET lease_until = {ph} WHERE {where}", [self.now() + ttl, owner]
            )

    def reset_cursor(self, table: str) -> None:
        """Makes every division of ``table`` read everything again (after new columns were added)."""
        with self.transaction():
            self.execute(
                f"UPDATE {CURSORS} SET cursor = NULL, resume = NULL WHERE table_name = {self.placeholder}",
                [table],
            )

    def settle_cursors(self, table: str, generation: str, keep: set[str] | None) -> int:
        """Records ``generation`` in every cursor of ``table``; those that recorded a generation outside
        ``keep`` (None: any state at all) are reset first. Returns how many were reset."""
        ph = self.placeholder
        stale = "TRUE"
        if keep is not None:
            stale = f"generation IS NOT NULL AND generation NOT IN ({self.p(len(keep))})"
        with self.transaction():
            reset = self.execute_count(
                f"UPDATE {CURSORS} SET {_FRESH} WHERE table_name = {ph} AND ({stale}) AND (cursor IS NOT NULL "
                f"OR resume IS NOT NULL OR row_count IS NOT NULL OR loaded = {ph})",
                [table, *sorted(keep or ()), True],
            )
            self.execute(
                f"UPDATE {CURSORS} SET generation = {ph} WHERE table_name = {ph} AND (generation IS NULL "
                f"OR generation <> {ph})",
                [generation, table, generation],
            )
        return reset

    def restart_reloads(self, table: str) -> None:
        """Makes the reloads of ``table`` under way start over (its staging table was replaced)."""
        self.execute(f"UPDATE {CURSORS} SET resume = NULL WHERE table_name = {self.placeholder}", [table])

    # -- run history ----------------------------------------------------------------------------------------

    def release_items(self, owner: str, items: Sequence[tuple[str, int, bool]]) -> None:
        """Gives up the claims of several (table, division, done) items in one statement per kind."""
        ph = self.placeholder
        for done in (True, False):
            every = [(t, d) for t, d, flag in items if flag is done]
            for start in range(0, len(every), 100):  # SQLite parses at most 1,000 nested ORs
                keys = every[start : start + 100]
                pairs = " OR ".join([f"(table_name = {ph} AND division = {ph})"] * len(keys))
                extra = f", done_at = {ph}" if done else ""
                self.execute(
                    f"UPDATE {CURSORS} SET owner = NULL, lease_until = NULL{extra} WHERE owner = {ph} AND ({pairs})",
                    [*([self.now()] if done else []), owner, *(v for k in keys for v in k)],
                )

    def record_runs(self, entries: Sequence[Sequence[Any]]) -> None:
        """Writes run-history entries (run_id, table, division, strategy, host, pid, started, ended, status,
        row_count, deleted, calls, errors, waits, message) in one statement; an entry already there (an item
        recorded as running) is updated."""
        if not entries:
            return
        names = (
            "run_id", "table_name", "division", "strategy", "host", "pid", "started", "ended", "status",
            "row_count", "deleted", "calls", "errors", "waits", "message",
        )  # fmt: skip
        updated = ", ".join(f"{n} = excluded.{n}" for n in names[7:])
        for start in range(0, len(entries), 500):  # within every driver's limit of parameters
            chunk = entries[start : start + 500]
            rows = ", ".join([f"({self.p(len(names))})"] * len(chunk))
            self.execute(
                f"INSERT INTO {RUNS} ({', '.join(names)}) VALUES {rows} ON CONFLICT (run_id, table_name, "
                f"division) DO UPDATE SET {updated}",
                [self.ts(v) if isinstance(v, dt.datetime) else v for e in chunk for v in e],
            )

    def run_started(self, run_id: str, table: str, division: int, strategy: str, host: str, pid: int) -> None:
        """Records the start of one (table, division) in the run history."""
        with self.transaction():
            self.execute(
                f"INSERT INTO {RUNS} (run_id, table_name, division, strategy, host, pid, started, status) "
                f"VALUES ({self.p(8)}) ON CONFLICT (run_id, table_name, division) DO NOTHING",
                [run_id, table, division, strategy, host, pid, self.ts(utc_now()), "running"],
            )

    def run_ended(
        self,
        run_id: str,
        table: str,
        division: int,
        status: str,
        rows: int,
        deleted: int,
        calls: int,
        errors: int,
        waits: int,
        message: str | None,
    ) -> None:
        """Records the end of one (table, division) in the run history."""
        with self.transaction():
            self.execute(
                f"UPDATE {RUNS} SET ended = {self.placeholder}, status = {self.placeholder}, row_count = "
                f"{self.placeholder}, deleted = {self.placeholder}, calls = {self.placeholder}, errors = "
                f"{self.placeholder}, waits = {self.placeholder}, message = {self.placeholder} WHERE run_id = "
                f"{self.placeholder} AND table_name = {self.placeholder} AND division = {self.placeholder}",
                [
                    self.ts(utc_now()), status, rows, deleted, calls, errors, waits, message, run_id, table,
                    division,
                ],
            )  # fmt: skip

    def close_dead_runs(self, alive: Callable[[str, int], bool]) -> int:
        """Marks ``running`` entries of processes that are gone (``alive(host, pid)`` is False) as
        ``interrupted``; returns how many."""
        rows = self.execute(
            f"SELECT run_id, table_name, division, host, pid FROM {RUNS} WHERE status = 'running'"
        ).fetchall()
        dead = [r for r in rows if not alive(r[3] or "", int(r[4] or 0))]
        with self.transaction():
            for run_id, table, division, _host, _pid in dead:
                self.execute(
                    f"UPDATE {RUNS} SET status = 'interrupted', message = {self.placeholder} WHERE run_id = "
                    f"{self.placeholder} AND table_name = {self.placeholder} AND division = {self.placeholder}",
                    ["the process ended before this item did (killed?); the next run went on from its last commit",
                     run_id, table, division],
                )  # fmt: skip
        return len(dead)

    def prune_runs(self, days: float) -> int:
        """Deletes run history older than ``days``; returns how many entries went."""
        cutoff = utc_now() - dt.timedelta(days=days)
        with self.transaction():
            return self.execute_count(
                f"DELETE FROM {RUNS} WHERE started < {self.placeholder} AND status <> 'running'",
                [self.ts(cutoff)],
            )

    def runs(self, run_id: str | None = None) -> list[dict]:
        """The run history (of one run)."""
        where = f" WHERE run_id = {self.placeholder}" if run_id else ""
        cur = self.execute(
            "SELECT run_id, table_name, division, strategy, host, pid, started, ended, status, row_count, "
            f"deleted, calls, errors, waits, message FROM {RUNS}{where} ORDER BY started, table_name, division",
            [run_id] if run_id else [],
        )
        names = (
            "run_id", "table_name", "division", "strategy", "host", "pid", "started", "ended", "status",
            "row_count", "deleted", "calls", "errors", "waits", "message",
        )  # fmt: skip
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


class Target:
    """A replica database: opens connections (one per thread) of its dialect."""

    dialect = ""
    connection_class: type[TargetConnection] = TargetConnection
    #: Whether other processes can write to it at the same time (PostgreSQL), for ``--worker``.
    shared = False

    def __init__(self, url: str) -> None:
        self.url = url
        self.write_lock: Any = threading.RLock()

    def connect(self) -> TargetConnection:
        """A new connection."""
        return self.connection_class(self)

    def close(self) -> None:
        """Releases what the target holds."""


def arrow_for(values: list, edm: str) -> pa.Array:
    """Python values read back from a target as an Arrow array of the Edm type's Arrow type."""
    kind = arrow_type(edm)
    if edm == "Edm.DateTime":
        if any(isinstance(v, str) for v in values):
            return pa.array(values, pa.string()).cast(pa.timestamp("ms"))
        return pa.array(values, pa.timestamp("ms"))
    if edm == "Edm.Boolean":
        return pa.array([None if v is None else bool(v) for v in values], pa.bool_())
    if kind == pa.string():
        return pa.array([None if v is None else str(v) for v in values], pa.string())
    if pa.types.is_floating(kind):
        return pa.array([None if v is None else float(v) for v in values], kind)
    return pa.array(values, kind)
