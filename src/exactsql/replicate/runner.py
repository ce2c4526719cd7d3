"""A replication run: the (table, division) items, claimed a division at a time (by this process's threads
and by other processes sharing the target), within the shared rate budgets. A division whose minute window is
full waits without a thread, in a queue ordered by when its window reopens (as ``sql.fanout`` does).

Every item is a row of the cursors table. A process claims one by a compare-and-set of its owner and lease
(``FOR UPDATE SKIP LOCKED`` on PostgreSQL), renews its leases while it works, and fences every commit with
its claim: a process that lost an item cannot commit to it. An item is due when it has not completed since
the run began, so several processes started together share the work without doing any of it twice.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import math
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from exactsql.api.session import Session, division_codes
from exactsql.api.turns import Turns
from exactsql.catalog import load_catalog
from exactsql.errors import (
    ApiError,
    ChainBrokenError,
    ConfigError,
    ErrorBudgetError,
    ExactSQLError,
    LoginError,
    RateLimitError,
    TokenBudgetError,
)
from exactsql.replicate import generations, jobs
from exactsql.replicate.batch import FLUSH_ROWS, Batch
from exactsql.replicate.plan import (
    DEFAULT_TABLES,
    DELETED,
    DELETIONS,
    MODIFIED,
    RELOAD,
    SYNC,
    TablePlan,
    TableSpec,
    deleted_plan,
    entity_type_of,
    names_in,
    plan_tables,
    resynced,
    spec_for,
    stage_name,
)
from exactsql.replicate.targets import CursorRow, LeaseLost, Target, TargetConnection, open_target
from exactsql.replicate.targets.base import utc_now

log = logging.getLogger(__name__)

#: How long a claim holds without renewal; a live process renews it every quarter of that.
LEASE_SECONDS = 60.0
#: Threads that work on divisions by default (each on one division at a time). A division waiting for its
#: minute window holds no thread: the threads work on the divisions that can call meanwhile.
PARALLEL = 16
#: Divisions in flight (claimed, working or waiting for their window) per thread at most.
IN_FLIGHT_PER_THREAD = 4
#: How long the run history is kept.
HISTORY_DAYS = 90.0
FATAL = (ChainBrokenError, TokenBudgetError, LoginError, ConfigError)
_live_owners: set[str] = set()


@dataclass
class Outcome:
    """How one (table, division) ended in a run."""

    table: str
    division: int
    strategy: str
    status: str  # ok | budget | error-budget | error | lost | stopped
    rows: int = 0
    deleted: int = 0
    calls: int = 0
    errors: int = 0
    waits: int = 0
    seconds: float = 0.0
    message: str | None = None
    #: (rows its last run left, rows now) when far fewer rows are left: it needs a resync.
    shortfall: tuple[int, int] | None = None


@dataclass
class RunReport:
    """What a run did."""

    run_id: str
    divisions: list[int]
    outcomes: list[Outcome] = field(default_factory=list)
    held_elsewhere: list[tuple[str, int, str]] = field(default_factory=list)
    seconds: float = 0.0
    fatal: str | None = None

    @property
    def calls(self) -> int:
        """API calls of the run."""
        return sum(o.calls for o in self.outcomes)

    @property
    def rows(self) -> int:
        """Rows written (and deletions read)."""
        return sum(o.rows for o in self.outcomes)

    @property
    def ok(self) -> bool:
        """Whether every item completed."""
        return self.fatal is None and all(o.status == "ok" for o in self.outcomes)

    @property
    def short(self) -> list[Outcome]:
        """The items that lost rows outside replication (each needs a resync)."""
        return [o for o in self.outcomes if o.shortfall is not None]

    def by_status(self) -> dict[str, int]:
        """How many items ended in each status."""
        out: dict[str, int] = {}
        for o in self.outcomes:
            out[o.status] = out.get(o.status, 0) + 1
        return out


class Progress:
    """Progress of a run (the CLI's rich display implements it; this one shows nothing)."""

    def start(self, table: str, division: int, strategy: str, expected: int | None) -> jobs.ItemProgress:
        """An item began; returns where its progress goes."""
        return jobs.ItemProgress()

    def end(self, outcome: Outcome) -> None:
        """An item ended."""


def new_owner() -> str:
    """This process's identity in claims: ``host:pid:token``."""
    owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    _live_owners.add(owner)
    return owner


def process_alive(host: str, pid: int) -> bool:
    """Whether process ``pid`` of ``host`` may still be running (another host's processes: assumed so)."""
    if host != socket.gethostname() or pid <= 0:
        return True
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stealable(owner: str) -> bool:
    """Whether a claim belongs to a process of this host that is gone (killed, crashed, or a run of this
    process that has ended): its lease need not be waited for."""
    host, _, rest = owner.partition(":")
    pid_text, _, _token = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return owner not in _live_owners
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def resolve_divisions(session: Session, divisions: Sequence[int] | str | None) -> list[int]:
    """The divisions to replicate: given codes, ``"all"`` the user's divisions, None the current one."""
    client = session.client()
    if divisions is None:
        return [int(session.me(client)["CurrentDivision"])]
    if isinstance(divisions, str):
        if divisions.strip().lower() != "all":
            return [int(d) for d in divisions.replace(" ", "").split(",") if d]
        current = int(session.me(client)["CurrentDivision"])
        return sorted(set(division_codes(session.division_list(client, current))))
    return sorted({int(d) for d in divisions})


def deletion_targets(conn: TargetConnection) -> dict[int, TableSpec]:
    """The replicated tables ``sync/Deleted`` can name, by EntityType (whether in this run or not)."""
    present = set(conn.tables())
    out: dict[int, TableSpec] = {}
    for table in load_catalog().tables:
        path = table.path(SYNC)
        if path is None or table.full_name == DELETED:
            continue
        entity_type = entity_type_of(path)
        if entity_type is None:
            continue
        try:
            spec = spec_for(table, path)
        except ConfigError:
            continue
        if spec.name in present:
            out[entity_type] = spec
    return out


def prepare(conn: TargetConnection, plans: list[TablePlan], items: list[tuple[str, int, str]]) -> None:
    """Creates or widens the target tables and the cursors of ``items``; a table that is missing or another
    one than its cursors were read into (``generations``), or a widened table read incrementally, is read
    again in full."""
    conn.ensure_meta()
    conn.add_items(items)
    for plan in plans:
        reset = generations.settle(conn, plan)
        if reset:
            log.warning(
                "%s was missing or is another table than its cursors were read into: %s item(s) of it are "
                "read again in full", plan.spec.name, reset,
            )  # fmt: skip
        added = conn.ensure_table(plan.spec)
        if plan.strategy == RELOAD:
            conn.ensure_table(plan.spec, stage_name(plan.spec.name))
        if added and plan.strategy in (SYNC, MODIFIED):
            log.warning("new columns in %s: %s; it is read again in full", plan.name, ", ".join(added))
            conn.reset_cursor(plan.name)


class Run:
    """One round over the items of some tables and divisions."""

    def __init__(
        self,
        session: Session,
        target: Target,
        plans: list[TablePlan],
        divisions: list[int],
        parallel: int = PARALLEL,
        progress: Progress | None = None,
        stop: threading.Event | None = None,
        lease: float = LEASE_SECONDS,
        worker: bool = False,
        resync: set[str] | None = None,
        commit_rows: int = FLUSH_ROWS,
    ) -> None:
        self.session = session
        self.commit_rows = max(1, commit_rows)
        self.worker = worker
        self.resync = resync or set()
        self._restarted: set[tuple[str, int]] = set()
        self.target = target
        self.plans = plans
        self.divisions = divisions
        self.parallel = max(1, parallel)
        self.progress = progress or Progress()
        self.stop = stop or threading.Event()
        self.lease = lease
        self.owner = new_owner()
        self.run_id = time.strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
        self.report = RunReport(self.run_id, divisions)
        self._lock = threading.Lock()
        self._busy: set[int] = set()
        self._exhausted: set[int] = set()
        self._fatal: BaseException | None = None
        self._by_name = {p.name: p for p in plans}
        self._deleted = deleted_plan()
        self._targets: dict[int, TableSpec] = {}
        self._done = threading.Event()
        self._host, self._pid = socket.gethostname(), os.getpid()
        self._client = session.client()
        self._local = threading.local()
        self._conns: list[TargetConnection] = []
        self._turns: Turns[_Division] = Turns()
        self._running: dict[Future[None], _Division] = {}
        self._claimable = True
        self._claim_after = 0.0
        self._ahead: list[int] = []  # divisions a look at the cursors found free, for the next claims

    def items(self) -> list[tuple[str, int, str]]:
        """Every (table, division, strategy) of the run; ``sync/Deleted`` once per division."""
        out: list[tuple[str, int, str]] = []
        if any(p.strategy == SYNC and p.entity_type is not None for p in self.plans):
            out += [(DELETED, d, DELETIONS) for d in self.divisions]
        for plan in self.plans:
            for division in self.divisions if plan.partitioned else [0]:
                out.append((plan.name, division, plan.strategy))
        return out

    def run(self) -> RunReport:
        """Runs the round to its end (or until stopped); returns the report."""
        started = time.perf_counter()
        conn = self.target.connect()
        try:
            items = self.items()
            prepare(conn, self.plans, items)
            conn.close_dead_runs(process_alive)
            conn.prune_runs(HISTORY_DAYS)
            self._targets = deletion_targets(conn)
            self._tables = sorted({t for t, _, _ in items})
            self._all_divisions = sorted({d for _, d, _ in items})
            self._round = conn.begin_round(self._tables, self._all_divisions, join=self.worker)
        finally:
            conn.close()
        # one batch for the process's threads: the rows of many divisions go in one bulk write per table
        self._batch = Batch(self.target.connect(), self.commit_rows)
        self._pending: list[_Pending] = []
        self._batch.closing = lambda: self._write_ledger(self._batch.conn, self._pending)
        # a commit that fails under a worker's page reports and releases the batch's items as not done
        self._batch.commit = lambda: self._commit(self._batch, self._pending)
        beat = threading.Thread(target=self._heartbeat, name="exactsql-lease", daemon=True)
        beat.start()
        try:
            try:
                self._schedule()
            except KeyboardInterrupt:
                self.stop.set()
                self._schedule()  # the divisions in flight end their items and give back the rest
                raise
        finally:
            with contextlib.suppress(Exception):
                self._commit(self._batch, self._pending)
            self._batch.conn.close()
            for conn in self._conns:
                with contextlib.suppress(Exception):
                    conn.close()
            self._done.set()
            beat.join()
            _live_owners.discard(self.owner)
        self.report.seconds = time.perf_counter() - started
        if self._fatal is not None:
            self.report.fatal = str(self._fatal)
            raise self._fatal
        return self.report

    def _schedule(self) -> None:
        """Works on the claimed divisions with ``parallel`` threads. A division whose minute window is full
        holds no thread: it waits in a queue ordered by when its window reopens, while the threads work on
        the divisions that can call; more divisions are claimed while every one in flight waits."""
        clock = self.session.rates.clock
        turns = self._turns
        running: dict[Future[None], _Division] = self._running
        for division in running.values():  # after Ctrl+C: the steps under way when it came have ended
            if not division.done:
                turns.ready.append(division)
        running.clear()
        workers = min(self.parallel, max(1, len(self._all_divisions)))
        in_flight = workers * IN_FLIGHT_PER_THREAD
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="exactsql-replicate") as pool:
            while True:
                now = clock.now()
                turns.release(now, every=self.stop.is_set())
                while len(running) < workers:
                    if turns.ready:
                        division = turns.ready.popleft()
                    elif (
                        self._claimable
                        and len(running) + turns.waiting < in_flight
                        and time.monotonic() >= self._claim_after
                    ):
                        claimed = self._claim_new(len(running) + turns.waiting + len(turns.ready))
                        if claimed is None:
                            break
                        division = claimed
                    else:
                        break
                    running[pool.submit(self._advance, division)] = division
                if not running and not turns.waiting and not turns.ready:
                    if not self._claimable:
                        return
                    self._claim_after = min(self._claim_after, time.monotonic() + 0.1)
                    time.sleep(max(0.0, self._claim_after - time.monotonic()))
                    continue
                timeout = turns.timeout(clock.now())
                if (
                    self._claimable
                    and self._claim_after < math.inf
                    and len(running) < workers
                    and len(running) + turns.waiting < in_flight
                ):
                    pause = max(0.0, self._claim_after - time.monotonic())
                    timeout = pause if timeout is None else min(timeout, pause)
                if not running:
                    time.sleep(timeout or 0.0)
                    continue
                finished, _ = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
                for future in finished:
                    division = running.pop(future)
                    if division.done:
                        self._claim_after = min(self._claim_after, time.monotonic())  # its items are free
                        continue
                    # a stopping run does not wait for windows: its divisions end their item at once
                    turns.put(division, -math.inf if self.stop.is_set() else division.not_before, clock.now())

    def _claim_new(self, in_flight: int) -> _Division | None:
        """The next division with due items, claimed (None when there is none now)."""
        conn = self._conn()
        rows, waiting, held = self._claim(conn)
        if rows:
            return _Division(rows, self._division_work(rows))
        self._commit(self._batch, self._pending)  # the items it holds that have ended are released
        if waiting and not self.stop.is_set():
            # due items of divisions in flight: asked again when one of them ends, else in a moment
            self._claim_after = math.inf if in_flight else time.monotonic() + 0.1
            return None
        self._claimable = False
        with self._lock:
            for h in held:
                entry = (h.table_name, h.division, h.owner or "")
                if entry not in self.report.held_elsewhere:
                    self.report.held_elsewhere.append(entry)
        return None

    def _conn(self) -> TargetConnection:
        """This thread's connection to the target."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = self.target.connect()
            with self._lock:
                self._conns.append(conn)
        return conn

    def _advance(self, division: _Division) -> None:
        """Works on ``division`` until its items end or its minute window is full."""
        try:
            wait_for = next(division.work)
            division.not_before = wait_for.until
        except StopIteration:
            division.done = True
        except BaseException as exc:
            division.done = True
            with contextlib.suppress(Exception):
                self._commit(self._batch, self._pending)
            with self._lock:
                if self._fatal is None:
                    self._fatal = exc
            self.stop.set()

    def _division_work(self, rows: list[CursorRow]) -> jobs.Steps[None]:
        """The claimed items of one division, one after another, yielding whenever its window is full."""
        batch, pending = self._batch, self._pending
        try:
            self._started(self._conn(), rows)
            for i, row in enumerate(rows):
                if self.stop.is_set() or row.division in self._exhausted:
                    self._give_back(rows[i:], batch)
                    break
                yield from self._one(row, batch, pending)
                if batch.due():
                    self._commit(batch, pending)
        finally:
            with contextlib.suppress(Exception):  # a store away: the slots end with their window
                self._client.flush()  # rate slots leased and not used go back
            with self._lock:
                self._busy.discard(rows[0].division)

    def _heartbeat(self) -> None:
        """Renews this process's leases every quarter of a lease until the run ends."""
        conn = self.target.connect()
        try:
            while not self._done.wait(self.lease / 4):
                with contextlib.suppress(Exception):
                    conn.renew(self.owner, self.lease)
        finally:
            conn.close()

    def _claim(self, conn: TargetConnection) -> tuple[list[CursorRow], int, list[CursorRow]]:
        with self._lock:
            divisions = [d for d in self._all_divisions if d not in self._exhausted]
            if not divisions or self.stop.is_set():
                return [], 0, []
            rows, waiting, held = conn.claim_division(
                self._tables,
                divisions,
                self._round,
                self.owner,
                self.lease,
                self._busy,
                stealable,
                self._ahead,
            )
            if rows:
                self._busy.add(rows[0].division)
            return rows, waiting, held

    def _give_back(self, rows: list[CursorRow], batch: Batch) -> None:
        """Releases claimed items that were not begun (stopped, or their division's day is used up)."""
        items = [(row.table_name, row.division, False) for row in rows]
        now = utc_now()
        entries = [
            (self.run_id, r.table_name, r.division, self._strategy(r.table_name), self._host, self._pid, now, now,
             "stopped", 0, 0, 0, 0, 0, "not begun: the run stopped or the division's day was used up")
            for r in rows
        ]  # fmt: skip
        batch.call(lambda: batch.conn.record_runs(entries))
        batch.call(lambda: batch.conn.release_items(self.owner, items))

    def _commit(self, batch: Batch, pending: list[_Pending]) -> None:
        """Commits the process's batch; when that fails (a claim lost, the replica failed), none of its items
        completed: each is reported so and released (not done) where this process still holds it."""
        with batch.lock:
            self._commit_locked(batch, pending)

    def _commit_locked(self, batch: Batch, pending: list[_Pending]) -> None:
        conn = batch.conn
        try:
            batch.flush()
            pending.clear()
        except Exception as exc:
            batch.discard()
            lost = isinstance(exc, LeaseLost)
            if not lost:
                log.warning("committing replicated pages failed: %s", exc)
            for item in pending:
                item.outcome.status = "lost" if lost else "error"
                item.outcome.message = str(exc) if lost else f"{type(exc).__name__}: {exc}"
                with contextlib.suppress(Exception), conn.transaction():
                    conn.record_runs([item.history(self.run_id, self._host, self._pid)])
                    conn.release(item.outcome.table, item.outcome.division, self.owner, done=False)
                self._record(item.outcome)
            pending.clear()
            if not lost:
                raise

    def _started(self, conn: TargetConnection, rows: list[CursorRow]) -> None:
        """Records the claimed items of a division as running in the run history (one statement)."""
        began = utc_now()
        entries = [
            (self.run_id, r.table_name, r.division, self._strategy(r.table_name), self._host, self._pid, began,
             None, "running", None, None, None, None, None, None)
            for r in rows
        ]  # fmt: skip
        with conn.transaction():
            conn.record_runs(entries)

    def _strategy(self, name: str) -> str:
        return DELETIONS if name == DELETED else self._by_name[name].strategy

    def _write_ledger(self, conn: TargetConnection, pending: list[_Pending]) -> None:
        """Last in each committed batch: the run history of its items and the release of those that ended."""
        ended = [e for e in pending if e.complete]
        conn.record_runs([e.history(self.run_id, self._host, self._pid) for e in ended])
        conn.release_items(self.owner, [(e.outcome.table, e.outcome.division, e.done) for e in ended])

    def _record(self, outcome: Outcome) -> None:
        with self._lock:
            self.report.outcomes.append(outcome)
        self.progress.end(outcome)

    def _one(self, row: CursorRow, batch: Batch, pending: list[_Pending]) -> jobs.Steps[None]:
        """Works on one claimed item to its end, yielding whenever its division's window is full; its writes,
        its end in the run history and its release go to ``batch``; it is reported once they are committed."""
        name, division = row.table_name, row.division
        plan = self._deleted if name == DELETED else self._by_name[name]
        expected = row.row_count if plan.strategy == RELOAD and row.loaded else None
        item = self.progress.start(name, division, plan.strategy, expected)
        job = jobs.Job(
            plan, division, row, self._client, batch.conn, self.owner, self.lease, item, self.stop.is_set,
            batch=batch,
        )  # fmt: skip
        waits = 0
        clock = self.session.rates.clock
        began = utc_now()
        started = time.perf_counter()
        status, message, done = "ok", None, True
        fatal: BaseException | None = None
        work: jobs.Steps[None]
        try:
            if name in self.resync and (name, division) not in self._restarted:
                jobs.restart(job)
                self._restarted.add((name, division))
            if plan.strategy == DELETIONS:
                work = jobs.run_deleted(job, self._targets)
            elif plan.strategy == SYNC:
                work = jobs.run_sync(job)
            elif plan.strategy == RELOAD:
                work = jobs.run_reload(job)
            else:
                work = jobs.run_modified(job)
            for wait_for in work:
                waits += 1
                item.wait(max(0.0, wait_for.until - clock.now()))
                yield wait_for
            job.check()
        except RateLimitError as exc:
            status, message, done = "budget", str(exc), False
            with self._lock:
                self._exhausted.add(division)
        except ErrorBudgetError as exc:
            status, message = "error-budget", str(exc)
        except LeaseLost as exc:
            status, message, done = "lost", str(exc), False
        except jobs.Stopped:
            status, message, done = "stopped", "the run was stopped", False
        except jobs.Dropped as exc:
            status, message, done = "error", str(exc), False
        except FATAL as exc:
            status, message, done, fatal = "fatal", str(exc), False, exc
        except (ApiError, ExactSQLError) as exc:
            status, message = "error", str(exc)
            job.tally.errors += 1
        except Exception as exc:
            status, message = "error", f"{type(exc).__name__}: {exc}"
            job.tally.errors += 1
            log.exception("replicating %s in division %s failed", name, division)
        outcome = Outcome(
            name, division, plan.strategy, status, job.tally.rows, job.tally.deleted, job.calls,
            job.tally.errors, waits, time.perf_counter() - started, message, job.tally.shortfall,
        )  # fmt: skip
        entry = _Pending(outcome, job.tally, began, utc_now(), done and status != "lost")

        def ended() -> None:  # at commit time: the deletions and the row count are known then
            entry.outcome.deleted, entry.outcome.shortfall = entry.tally.deleted, entry.tally.shortfall
            entry.complete = True

        with batch.lock:  # a flush takes the item's end with its entry, or neither
            batch.call(ended, late=True)
            pending.append(entry)
            batch.after(lambda: self._record(entry.outcome))
        if fatal is not None or status != "ok":
            self._commit(batch, pending)
        if fatal is not None:
            raise fatal


@dataclass
class _Division:
    """A claimed division: its items' work, resumable step by step."""

    rows: list[CursorRow]
    work: jobs.Steps[None]
    not_before: float = 0.0  # on the state store's clock: when its minute window reopens
    done: bool = False


@dataclass
class _Pending:
    """An item whose writes wait in a batch: reported once they are committed."""

    outcome: Outcome
    tally: jobs.Tally
    started: dt.datetime
    ended: dt.datetime
    done: bool
    complete: bool = False

    def history(self, run_id: str, host: str, pid: int) -> tuple:
        """Its entry in the run history."""
        o = self.outcome
        return (
            run_id, o.table, o.division, o.strategy, host, pid, self.started, self.ended, o.status, o.rows,
            o.deleted, o.calls, o.errors, o.waits, o.message,
        )  # fmt: skip


def replicate(
    session: Session,
    to: str,
    tables: list[str] | None = None,
    divisions: Sequence[int] | str | None = None,
    parallel: int = PARALLEL,
    modified: list[str] | None = None,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    worker: bool = False,
    lease: float = LEASE_SECONDS,
    resync: list[str] | None = None,
    commit_rows: int = FLUSH_ROWS,
) -> RunReport:
    """One replication round of ``tables`` in ``divisions`` into the target at ``to``.

    Args:
        session: the connection's session (logged in).
        to: ``sqlite:///file.db``, ``duckdb:///file.duckdb`` or ``postgresql://…``.
        tables: catalog names (``crm/Accounts``, ``TransactionLines``); None: ``DEFAULT_TABLES``.
        divisions: codes, ``"all"``, or None for the current division.
        parallel: threads (each works on one division at a time).
        modified: tables without sync to read by ``Modified`` instead of reloading (``["all"]``: all that can).
        worker: join other processes on a shared (PostgreSQL) target.
        resync: tables to read again in full, from an empty copy in these divisions (``["all"]``: every
            table of the run); they are added to the run.
        commit_rows: rows a transaction carries at most (pages and items are committed together up to
            that, or after ``batch.FLUSH_SECONDS``).
    """
    again = names_in(resync)
    plans = plan_tables([*(tables or DEFAULT_TABLES), *(n for n in again if n.lower() != "all")], modified)
    target = open_target(to)
    if worker and not target.shared:
        raise ConfigError(
            "--worker needs a PostgreSQL replica, which processes on several machines can share.",
            "Replicate to postgresql://… (and share the state store: EXACTSQL_STATE=postgresql://…).",
        )
    try:
        codes = resolve_divisions(session, divisions)
        return Run(
            session, target, plans, codes, parallel, progress, stop, lease, worker, resynced(plans, again),
            commit_rows,
        ).run()  # fmt: skip
    finally:
        target.close()


def watch(
    interval: float,
    once: Callable[[], RunReport],
    stop: threading.Event,
    on_report: Callable[[RunReport], None] | None = None,
) -> None:
    """Runs ``once`` every ``interval`` seconds until ``stop`` is set."""
    while not stop.is_set():
        report = once()
        if on_report is not None:
            on_report(report)
        stop.wait(interval)
