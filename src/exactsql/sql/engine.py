"""Runs statements: ``use`` scopes, plans, fetches (per division, in parallel, within the budgets), DuckDB.

Before any API call, every statement of a script is parsed, its parameters bound, and bound in DuckDB over
empty tables of the planned shapes, so syntax errors, unknown names, type errors, unsupported statements and
missing parameter values cost nothing (not even ``current/Me``). Each fetch is made once per statement
(and, with a cache max-age, served again while fresh); every call, ``current/Me`` included, is recorded for
``SessionIOs`` and counted against the run's cap (``--max-calls``).
"""

from __future__ import annotations

import contextlib
import logging
import math
import re
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import quote

import duckdb
import pyarrow as pa
from sqlglot import exp

from exactsql.api.client import ExactClient
from exactsql.api.convert import PageSpool, page_to_arrow, schema_for
from exactsql.api.session import DIVISION_LIST, Session, division_list_columns
from exactsql.catalog import Column, load_catalog
from exactsql.sql import dictionary, dml, memory, reach, script, types
from exactsql.sql.calls import CallBudget, budgeted_client
from exactsql.sql.dialect import (
    SQLError,
    Statement,
    UseStatement,
    now_literals,
    parse_script,
    rewrite_functions,
    to_duckdb,
)
from exactsql.sql.fanout import DivisionRead, read_divisions
from exactsql.sql.names import NameResolver, TableRef
from exactsql.sql.params import Params, bind
from exactsql.sql.plan import DivisionScope, FetchSpec, Plan, RowStats

log = logging.getLogger(__name__)

MAX_URL = 6000
DIVISION = Column("Division", "Edm.Int32")
ME = "current/Me"
_INTEGER_TYPES = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
                  "UBIGINT", "UHUGEINT")  # fmt: skip


@dataclass
class IORecord:
    """One fetch of one statement in one division (or a call to learn the user or the divisions): what
    ``SessionIOs`` shows."""

    statement: int
    relation: str
    endpoint: str
    division: int | None
    calls: int
    rows: int
    seconds: float
    cached: bool = False


@dataclass
class StatementResult:
    """The outcome of one statement."""

    sql: str
    table: pa.Table | None
    plan: Plan | None = None
    ios: list[IORecord] = field(default_factory=list)
    message: str = ""


@dataclass
class Explained:
    """One statement as ``explain`` shows it: its plan (None for ``use``), or what ``use`` chose, and the
    calls planning it made (``current/Me``, the division list, the query of ``use select``)."""

    statement: Statement
    plan: Plan | None
    message: str
    setup: list[IORecord]


@contextmanager
def _depth_guard() -> Iterator[None]:
    """A statement nested beyond what the parser and planner can follow is an error, not a crash."""
    try:
        yield
    except RecursionError:
        raise SQLError(
            "The statement is nested too deeply to run.",
            "Use fewer levels of parentheses or subqueries; a long OR chain of one column is an IN list.",
        ) from None


def check_text(sql: str) -> None:
    """SQLError when ``sql`` holds characters that are no Unicode (lone surrogates, e.g. from bytes that
    were not UTF-8), pointing at the first."""
    try:
        sql.encode("utf-8")
    except UnicodeEncodeError as exc:
        line = sql.count("\n", 0, exc.start) + 1
        column = exc.start - (sql.rfind("\n", 0, exc.start) + 1) + 1
        raise SQLError(
            "The SQL holds a character that is not valid Unicode.",
            "Give the SQL as UTF-8 text.",
            line,
            column,
        ) from None


#: Rows of a statement's result DuckDB hands over at a time.
RESULT_BATCH_ROWS = 100_000


def _spooled(relation: duckdb.DuckDBPyRelation) -> pa.Table:
    """The rows of ``relation`` as they stream out of DuckDB, in a page spool: a large result goes to a
    memory-mapped file rather than onto the heap beside the pages it was computed from."""
    reader = relation.to_arrow_reader(RESULT_BATCH_ROWS)
    spool = PageSpool(reader.schema)
    for batch in reader:
        spool.add(pa.Table.from_batches([batch], reader.schema))
    return spool.table()


def fetch_calls(plan: Plan, divisions_kept: Callable[[str], bool] = lambda alias: False) -> int:
    """The fewest API calls the fetches of ``plan`` make (a SystemDivisions read is one call, none when
    ``divisions_kept(alias)`` says the division list is kept)."""
    return sum(
        s.least_calls
        if s.path is not None
        else int(s.ref.dictionary == "SystemDivisions" and not divisions_kept(s.ref.alias))
        for s in plan.fetches
    )


class SharedFetchCache(Protocol):
    """Fetches shared between engines: ``get`` answers ``key`` from an earlier or running fetch, or calls
    ``fetch``; it returns the table and whether it came from another fetch."""

    def get(self, key: tuple, fetch: Callable[[], pa.Table]) -> tuple[pa.Table, bool]: ...


class Engine:
    """Runs Invantive-style SQL over one or more connections (by alias; ``eol`` by default)."""

    def __init__(
        self,
        sessions: Mapping[str, Session],
        timezone: str = "Europe/Amsterdam",
        cache_max_age: float | None = None,
        on_wait: Callable[[float, str], None] | None = None,
        workers: int | None = None,
        on_page: Callable[[str, int | None, int, int | None], None] | None = None,
        file_access: bool = False,
        divisions_max_age: float | None = None,
        shared_fetches: SharedFetchCache | None = None,
    ) -> None:
        """``on_wait(seconds, what)`` hears of waits for a rate window; ``on_page(endpoint, division, rows,
        expected pages or None)`` of every page fetched (for a progress display; called from worker threads).
        ``file_access`` lets statements read local files and URLs (DuckDB's ``read_csv`` …): off by default.
        ``workers``: divisions read at once by a fetch over several (default: the connection's ``workers``).
        ``divisions_max_age``: seconds the division list and ``current/Me`` are served from the state store
        (default: the connection's ``divisions_max_age``; 0 asks Exact each time). ``shared_fetches``: a
        cache this engine shares with others (e.g. the sessions of one server), asked before any read."""
        self.sessions = dict(sessions)
        self.shared_fetches = shared_fetches
        self.timezone = timezone
        self.cache_max_age = cache_max_age
        self.workers = workers
        self.divisions_max_age = divisions_max_age
        self.on_page = on_page
        self.file_access = file_access
        self.catalog = load_catalog()
        self.resolver = NameResolver(self.catalog)
        self.budget = CallBudget()
        self.on_wait = on_wait
        self.clients: dict[str, ExactClient] = {}  # made on first use: a login is no statement's cost
        self.stats = RowStats()
        self.ios: list[IORecord] = []
        self._scope: dict[str, list[int]] = {}
        self._cache: dict[tuple, tuple[int, float, pa.Table]] = {}
        self._statement = 0
        self._source = ""
        self.duck = types.connect(file_access)
        self.writes = dml.WriteSession()  # writes to Exact Online: the open transaction, reference reads

    def keep_tables_in(self, alias: str, storage: memory.TableStorage) -> None:
        """Lets scripts keep tables in ``storage`` as ``NAME@alias`` (``create table``, ``insert``, ``select``)."""
        if alias in self.sessions or alias in self.resolver.storages:
            raise ValueError(f"alias {alias!r} is taken")
        self.resolver.storages[alias] = storage

    def close(self) -> None:
        """Closes the engine's DuckDB connection and the replicas its scripts keep tables in."""
        for storage in self.resolver.storages.values():
            storage.close()
        self.duck.close()

    # -- divisions ------------------------------------------------------------------------------------

    def _client(self, alias: str) -> ExactClient:
        if alias not in self.sessions:
            raise SQLError(
                f"No connection has the alias {alias!r}.",
                f"Known aliases: {', '.join(sorted(self.sessions))}.",
            )
        if alias not in self.clients:
            self.clients[alias] = budgeted_client(self.sessions[alias], self.budget, self.on_wait)
        return self.clients[alias]

    def current_division(self, alias: str) -> int:
        """The user's current division on the connection with ``alias`` (one ``current/Me`` call)."""
        client = self._client(alias)
        started, calls_before = time.perf_counter(), client.thread_calls()
        me = self.sessions[alias].me(client, self.divisions_max_age)
        self.ios.append(
            IORecord(
                self._statement,
                ME,
                ME,
                None,
                client.thread_calls() - calls_before,
                1,
                time.perf_counter() - started,
            )
        )
        return int(me["CurrentDivision"])

    def _current_scope(self, alias: str) -> list[int]:
        if alias not in self.sessions:
            raise KeyError(alias)
        return [self.current_division(alias)]

    def scope(self) -> DivisionScope:
        """The divisions each alias reads now (the current division until a ``use`` says otherwise)."""
        for alias in self.sessions:
            self._lazy_scope().of(alias)
        return self._lazy_scope()

    def _lazy_scope(self) -> DivisionScope:
        """``scope()``, learning an alias's current division only when a statement reads its tables."""
        return DivisionScope(self._scope, self._current_scope, tuple(self.sessions))

    def _local_scope(self) -> DivisionScope:
        """A scope that costs no call (one stand-in division per alias): to check statements before any call."""

        def stand_in(alias: str) -> list[int]:
            if alias not in self.sessions:
                raise KeyError(alias)
            return list(self._scope.get(alias, [0]))

        return DivisionScope({}, stand_in, tuple(self.sessions))

    def all_divisions(self, alias: str) -> list[int]:
        """Every division the user can use on the connection with ``alias``."""
        rows = self._fetch_divisions(alias)
        return sorted(int(c) for c in rows.column("Code").to_pylist())

    def _fetch_divisions(self, alias: str) -> pa.Table:
        table = self.catalog.table(DIVISION_LIST)
        path = table.paths[0]
        names = division_list_columns()
        columns = [c for c in path.columns if c.name in names]
        spec = FetchSpec("systemdivisions", self.resolver_ref(alias, table), path, select=names)
        division = self._lazy_scope().of(alias)[0]
        client = self._client(alias)
        started, calls_before = time.perf_counter(), client.thread_calls()
        kept = self.sessions[alias].division_list(client, division, self.divisions_max_age)
        calls, seconds = client.thread_calls() - calls_before, time.perf_counter() - started
        table = pa.concat_tables([page_to_arrow(body, columns) for body in kept])
        cached = calls == 0
        self.ios.append(
            IORecord(
                self._statement, spec.name, path.endpoint, division, calls, table.num_rows, seconds, cached
            )
        )
        return table

    def resolver_ref(self, alias: str, table):  # type: ignore[no-untyped-def]
        return TableRef(table, None, None, alias)

    def _use(self, use: UseStatement) -> str:
        alias = use.alias
        self._client(alias)
        if use.all_divisions:
            divisions = self.all_divisions(alias)
        else:
            if use.query is not None:
                result = self._run_query(use.query)
                assert result.table is not None and result.table.num_columns > 0  # checked by _check
                codes = sorted({int(v) for v in result.table.column(0).to_pylist() if v is not None})
            else:
                codes = list(use.codes)
            allowed = set(self.all_divisions(alias))  # a query of SystemDivisions has just read them
            missing = [c for c in codes if c not in allowed]
            if missing:
                raise SQLError(
                    f"Division(s) {', '.join(map(str, missing))} are not available on {alias!r}.",
                    f"Available: {', '.join(map(str, sorted(allowed)))}.",
                )
            divisions = codes
        if not divisions:
            raise SQLError("The `use` statement chose no divisions.")
        self._scope[alias] = divisions
        return f"Using {len(divisions)} division(s) on {alias}: {', '.join(map(str, divisions[:20]))}"

    # -- statements -----------------------------------------------------------------------------------

    def prepare(self, sql: str, params: Params = None, strict_params: bool = False) -> list[Statement]:
        """The statements of ``sql`` with their parameters bound, each checked without any API call.

        SQLError for a syntax error, an unknown name, a type error, a statement that cannot run, a ``use
        select`` that does not return division codes, a parameter without a value (and, with
        ``strict_params``, a named value no statement uses).
        """
        self._source = sql
        check_text(sql)
        with _depth_guard():
            bound = bind(parse_script(sql, script=True), params, self.timezone)
            if strict_params and bound.unused:
                raise SQLError(
                    f"No statement uses the parameter(s) {', '.join(bound.unused)}.",
                    "Check the names: the SQL writes them as :name.",
                )
            for statement in bound.statements:
                self._check(statement)
        return bound.statements

    def _check(self, statement: Statement) -> None:
        if dml.is_write(self, statement):  # insert, update, delete on Exact Online (exactsql.sql.dml)
            assert isinstance(statement, exp.Expression)
            dml.check(self, statement)
            return
        if script.view(statement) is not None:  # Invantive's script statements (exactsql.sql.script)
            script.check(self, statement)
            return
        if isinstance(statement, UseStatement):
            self._client(statement.alias)
            if statement.query is None:
                return
            columns = self._preflight(self.plan(statement.query, self._local_scope(), check=False))
            first = columns[0][1] if columns else ""
            if first.upper() not in _INTEGER_TYPES:
                raise SQLError(
                    "`use select …` must return division codes (whole numbers) in its first column; "
                    f"it returns {first or 'no column'}.",
                    "e.g. use select code from systemdivisions@eol where …",
                )
            return
        self._preflight(self.plan(statement, self._local_scope(), check=False))

    def plan(self, tree: exp.Expression, scope: DivisionScope | None = None, check: bool = True) -> Plan:
        """The plan of one query; with the default scope it may call ``current/Me`` to learn the divisions.
        With ``check``, the plan is bound in DuckDB over empty tables first (no API call)."""
        from exactsql.sql.planner import plan_statement

        reach.check(tree, self.file_access)  # before constants are evaluated
        sysdate, sysdateutc = now_literals(self.timezone)
        tree = rewrite_functions(tree, sysdate, sysdateutc)
        plan = plan_statement(tree, self.resolver, scope or self._lazy_scope(), self.stats, self.file_access)
        plan.tree = _typed_trunc(plan)
        if check:
            self._preflight(plan)
        return plan

    def _preflight(self, plan: Plan) -> list[tuple[str, str]]:
        """Binds the statement over empty tables (no API call); returns its columns' names and types."""
        probe = types.connect(self.file_access)
        try:
            for spec in plan.fetches:
                types.register(
                    probe, spec.name, self._empty(spec, every_column=True), self._columns(spec, True)
                )
            rows = probe.execute("DESCRIBE " + to_duckdb(plan.tree)).fetchall()
        except duckdb.Error as exc:
            message, line, column = duck_message(exc, self._source)
            raise SQLError(message, "Nothing was fetched.", line, column) from None
        finally:
            probe.close()
        return [(str(r[0]), str(r[1])) for r in rows]

    def _columns(self, spec: FetchSpec, every_column: bool = False) -> list[Column]:
        if spec.path is None:
            return dictionary.columns(spec.ref.dictionary or "")
        if every_column:
            cols = [c for c in spec.path.columns if c.edm.startswith("Edm.")]
        else:
            cols = [c for c in (spec.path.column(n) for n in spec.select) if c is not None]
        if (
            spec.ref.table is not None
            and spec.ref.table.partitioned
            and all(c.name != "Division" for c in cols)
        ):
            cols.append(DIVISION)
        return cols

    def _empty(self, spec: FetchSpec, every_column: bool = False) -> pa.Table:
        """No rows of the fetch, of the types its rows have in DuckDB."""
        return types.empty(self._columns(spec, every_column))

    def run(
        self, sql: str, max_calls: int | None = None, params: Params = None, strict_params: bool = False
    ) -> list[StatementResult]:
        """Runs every statement of ``sql``; returns their results (the last one is usually wanted).

        Every statement is checked first (see ``prepare``); then the run makes at most ``max_calls`` API
        calls in all, ``current/Me`` and the division list included: it stops before the next one.
        """
        statements = self.prepare(sql, params, strict_params)
        results = []
        self.budget.start(max_calls)
        try:
            with _depth_guard():
                for statement in statements:
                    self._statement += 1
                    if isinstance(statement, UseStatement):
                        results.append(StatementResult("use", None, message=self._use(statement)))
                    elif dml.is_write(self, statement):
                        assert isinstance(statement, exp.Expression)
                        results.append(dml.execute(self, statement))
                    elif script.view(statement) is not None:
                        results.append(script.execute(self, statement))
                    else:
                        results.append(self._run_query(statement))
                results.extend(self.writes.finish(self))
        except BaseException:
            self.writes.abandon()
            raise
        finally:
            self.budget.start(None)
        return results

    def explain(self, sql: str, params: Params = None) -> list[Explained]:
        """The plan of every statement of ``sql`` and the calls planning it made (``use`` statements are
        carried out: later statements are planned over the divisions they choose)."""
        out = []
        self.writes.shadow = None
        for statement in self.prepare(sql, params):
            before = len(self.ios)
            with _depth_guard():
                if isinstance(statement, UseStatement):
                    message = self._use(statement)
                    out.append(Explained(statement, None, message, self.ios[before:]))
                elif dml.is_write(self, statement):
                    assert isinstance(statement, exp.Expression)
                    plan, message = dml.explain(self, statement)
                    out.append(Explained(statement, plan, message, self.ios[before:]))
                elif script.view(statement) is not None:
                    plan, message = script.explain(self, statement)
                    out.append(Explained(statement, plan, message, self.ios[before:]))
                else:
                    plan = self.plan(statement)
                    out.append(Explained(statement, plan, "", self.ios[before:]))
        end = dml.explain_end(self)  # headers held without begin transaction go at the end of the script
        if end is not None:
            out.append(Explained(exp.Command(this="COMMIT"), None, end, []))
        return out

    def _run_query(self, tree: exp.Expression) -> StatementResult:
        plan = self.plan(tree)
        left = self.budget.left()
        needed = fetch_calls(
            plan, lambda alias: self.sessions[alias].kept("divisions", self.divisions_max_age) is not None
        )
        if left is not None and needed > left:
            raise SQLError(
                f"The plan needs at least {needed} API calls, more than the {left} left of "
                f"--max-calls {self.budget.limit}; nothing was fetched for it.",
                "Add filters (see `exactsql explain`), or raise --max-calls.",
            )
        started = len(self.ios)
        relations: dict[str, pa.Table] = {}
        columns: dict[str, list[Column]] = {}
        for spec in plan.fetches:
            relations[spec.name] = self._materialise(spec, relations)
            columns[spec.name] = self._columns(spec)
        try:
            for name, table in relations.items():
                types.register(self.duck, name, table, columns[name])
            table = _spooled(self.duck.sql(to_duckdb(plan.tree)))
        except duckdb.Error as exc:
            message, line, column = duck_message(exc, self._source)
            raise SQLError(message, "", line, column) from None
        finally:
            for name in relations:
                types.unregister(self.duck, name)
        return StatementResult(plan.tree.sql(), table, plan, self.ios[started:])

    # -- fetching -------------------------------------------------------------------------------------

    def _materialise(self, spec: FetchSpec, done: dict[str, pa.Table]) -> pa.Table:
        if spec.path is None:
            return dictionary.table(self, spec.ref.dictionary or "", spec.ref.alias)
        alias = spec.ref.alias
        divisions = spec.divisions if spec.divisions is not None else None
        if spec.semi_join is not None and spec.semi_join.source in done:
            keyed = self._semi_join(spec, done[spec.semi_join.source], alias)
            if keyed is not None:
                return keyed
        return self._fetch(spec, divisions, alias)

    def _fetch(
        self,
        spec: FetchSpec,
        divisions: list[int] | None,
        alias: str,
        division_in_url_only: bool = False,
        extra_filter: str | None = None,
    ) -> pa.Table:
        assert spec.path is not None
        path = spec.path
        params = spec.params()
        if extra_filter:
            params["$filter"] = (
                f"({params['$filter']}) and {extra_filter}" if "$filter" in params else extra_filter
            )
        key = (alias, path.uri, tuple(sorted(params.items())), tuple(divisions or ()), division_in_url_only)
        hit = self._reuse(key)
        if hit is not None:
            self.ios.append(
                IORecord(self._statement, spec.name, path.endpoint, None, 0, hit.num_rows, 0.0, True)
            )
            return hit

        def read() -> pa.Table:
            return self._read(spec, params, divisions, alias, division_in_url_only)

        table, shared = (read(), False) if self.shared_fetches is None else self.shared_fetches.get(key, read)
        if shared:
            self.ios.append(
                IORecord(self._statement, spec.name, path.endpoint, None, 0, table.num_rows, 0.0, True)
            )
        self._cache[key] = (self._statement, time.monotonic(), table)
        return table

    def _read(
        self,
        spec: FetchSpec,
        params: dict[str, str],
        divisions: list[int] | None,
        alias: str,
        division_in_url_only: bool,
    ) -> pa.Table:
        """Reads ``spec`` from Exact Online: every division's pages, as one table."""
        assert spec.path is not None
        path = spec.path
        columns = self._columns(spec)
        client = self._client(alias)
        partitioned = spec.ref.table is not None and spec.ref.table.partitioned and not division_in_url_only
        targets: list[int | None] = list(divisions) if (divisions and path.division_in_url) else [None]
        if path.division_in_url and targets == [None]:
            targets = [self._lazy_scope().of(alias)[0]]

        expected = -(-spec.estimated_calls // len(targets)) if spec.estimated_calls else None

        page_columns = [c for c in columns if c.name != "Division" or not partitioned]
        # pages as Arrow as they arrive; beyond SPILL_BYTES a division's go to a memory-mapped file
        tables = {d: PageSpool(schema_for(page_columns)) for d in targets}

        def on_page(read: DivisionRead, body: bytes) -> None:
            page = page_to_arrow(body, page_columns)
            tables[read.division].add(page)
            if self.on_page is not None:
                self.on_page(path.endpoint, read.division, page.num_rows, expected)

        try:
            reads = read_divisions(client, path.endpoint, params, targets, self._workers(alias), on_page)
        except BaseException:
            for spool in tables.values():
                spool.discard()  # their pages no longer count against the process's budget
            raise
        with contextlib.suppress(Exception):  # a store away: the slots end with their window
            client.flush()  # slots leased and not used go back to the other processes
        parts = []
        for read in reads:
            table = tables[read.division].table()
            if partitioned:
                table = table.append_column(
                    DIVISION.name, pa.repeat(pa.scalar(read.division, pa.int32()), table.num_rows)
                )
            self.ios.append(
                IORecord(
                    self._statement,
                    spec.name,
                    path.endpoint,
                    read.division,
                    read.calls,
                    table.num_rows,
                    read.seconds,
                )
            )
            if (
                read.error is None
                and not params.get("$filter")
                and read.division is not None
                and spec.ref.table is not None
            ):
                self.stats.record(spec.ref.table.full_name, read.division, table.num_rows)
            parts.append(table)
        failed = [read.error for read in reads if read.error is not None]
        if failed:
            raise failed[0]  # the other divisions were read to the end; every failure was logged
        return pa.concat_tables(parts) if len(parts) > 1 else parts[0]

    def _workers(self, alias: str) -> int:
        """Divisions read at once on ``alias``: the engine's setting, else the connection's."""
        if self.workers is not None:
            return self.workers
        return self.sessions[alias].connection.workers

    def _reuse(self, key: tuple) -> pa.Table | None:
        """A fetch made earlier in this statement, or one younger than the cache's max-age."""
        cached = self._cache.get(key)
        if cached is None:
            return None
        statement, at, table = cached
        if statement == self._statement:
            return table
        if self.cache_max_age is not None and time.monotonic() - at <= self.cache_max_age:
            return table
        return None

    def _semi_join(self, spec: FetchSpec, source: pa.Table, alias: str) -> pa.Table | None:
        """Reads ``spec`` by chunks of keys from ``source`` when that costs fewer calls than a full read."""
        sj = spec.semi_join
        assert sj is not None and spec.path is not None and spec.ref.table is not None
        regular = spec.ref.table.path("regular")
        column = regular.column(sj.column) if regular else None
        if regular is None or column is None or sj.source_column not in source.column_names:
            return None
        from exactsql.sql.odata_literals import render_literal

        keys = sorted({v for v in source.column(sj.source_column).to_pylist() if v is not None}, key=str)
        literals = [lit for lit in (render_literal(k, column.edm) for k in keys) if lit is not None]
        chunks = _chunks([f"{sj.column} eq {lit}" for lit in literals], budget=MAX_URL - 1500)
        divisions: list[int | None] = list(spec.divisions) if spec.divisions else [None]
        full = [self.stats.rows(spec.ref.table.full_name, d) for d in divisions if d is not None]
        full_calls = (
            sum(max(1, math.ceil(n / spec.path.page_size)) for n in full if n is not None)
            if full and None not in full
            else None
        )
        chunk_calls = len(chunks) * len(divisions)
        if full_calls is not None and chunk_calls >= full_calls:
            return None
        keyed = FetchSpec(spec.name, spec.ref, regular, spec.filter, spec.select, spec.divisions)
        if not chunks:
            return self._empty(keyed)
        parts = [
            self._fetch(keyed, spec.divisions, alias, extra_filter=f"({' or '.join(chunk)})")
            for chunk in chunks
        ]
        return pa.concat_tables(parts)


def _typed_trunc(plan: Plan) -> exp.Expression:
    """``trunc(col)`` of a DateTime column is the day (Oracle); of a number, the integer part."""
    edm_of: dict[tuple[str, str], str] = {}
    for node in plan.tree.find_all(exp.Table):
        spec = next((f for f in plan.fetches if f.name == node.name), None)
        if spec is not None and spec.path is not None:
            for column in spec.path.columns:
                edm_of[(node.alias_or_name.lower(), column.name.lower())] = column.edm

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and str(node.this).lower() == "exact_trunc":
            arg = node.expressions[0]
            if (
                isinstance(arg, exp.Column)
                and edm_of.get((arg.table.lower(), arg.name.lower())) == "Edm.DateTime"
            ):
                trunc = exp.Anonymous(this="date_trunc", expressions=[exp.Literal.string("day"), arg.copy()])
                return exp.cast(trunc, exp.DataType.build("timestamp"))
        return node

    return plan.tree.transform(fix)


def _chunks(terms: list[str], budget: int) -> list[list[str]]:
    """Groups filter terms so that each group's URL-encoded or-chain stays within ``budget`` characters."""
    chunks: list[list[str]] = []
    current: list[str] = []
    size = 0
    for term in terms:
        cost = len(quote(term, safe="'(),")) + len(quote(" or "))
        if current and size + cost > budget:
            chunks.append(current)
            current, size = [], 0
        current.append(term)
        size += cost
    if current:
        chunks.append(current)
    return chunks


def duck_message(exc: duckdb.Error, source: str) -> tuple[str, int | None, int | None]:
    """DuckDB's first line without its prefix, and where it points in the user's SQL."""
    full = str(exc).strip()
    text = full.split("\n")[0]
    for prefix in ("Binder Error: ", "Conversion Error: ", "Parser Error: ", "Catalog Error: "):
        text = text.replace(prefix, "")
    text = text.replace("You might need to add explicit type casts.", "").strip()
    at = _position_in_source(full, text, source)
    if at is None:
        return text, None, None
    line = source.count("\n", 0, at) + 1
    return text, line, at - (source.rfind("\n", 0, at) + 1) + 1


def _position_in_source(full: str, text: str, source: str) -> int | None:
    """The offset in ``source`` of the name DuckDB quotes, or of the text under its caret."""
    quoted = re.search(r'(?:column|name) "?([A-Za-z_][\w]*)"?', text)
    if quoted:
        found = re.search(rf"\b{re.escape(quoted.group(1))}\b", source, re.IGNORECASE)
        if found:
            return found.start()
    caret = re.search(r"(?P<line>LINE \d+: [^\n]*)\n(?P<pad> *)\^", full)
    if caret:
        snippet = caret.group("line")[len(caret.group("pad")) :][:8].strip()
        if snippet:
            found = re.search(r"\s+".join(map(re.escape, snippet.split())), source, re.IGNORECASE)
            if found:
                return found.start()
    return None
