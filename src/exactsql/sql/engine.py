"""Runs statements: ``use`` scopes, plans, fetches (per division, in parallel, within the budgets), DuckDB.

Before any API call, a statement is bound in DuckDB over empty tables of the planned shapes, so unknown
columns and type errors cost nothing. Each fetch is made once per statement (and, with a cache max-age,
served again while fresh); every fetch is recorded for ``SessionIOs``.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import quote

import duckdb
import pyarrow as pa
from sqlglot import exp

from exactsql.api.convert import page_to_arrow, schema_for
from exactsql.api.session import Session
from exactsql.catalog import Column, load_catalog
from exactsql.sql import dictionary
from exactsql.sql.dialect import (
    SQLError,
    UseStatement,
    now_literals,
    parse_script,
    rewrite_functions,
    to_duckdb,
)
from exactsql.sql.names import NameResolver
from exactsql.sql.plan import DivisionScope, FetchSpec, Plan, RowStats

log = logging.getLogger(__name__)

MAX_URL = 6000
DIVISION = Column("Division", "Edm.Int32")


@dataclass
class IORecord:
    """One fetch of one statement in one division: what ``SessionIOs`` shows."""

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


class Engine:
    """Runs Invantive-style SQL over one or more connections (by alias; ``eol`` by default)."""

    def __init__(
        self,
        sessions: Mapping[str, Session],
        timezone: str = "Europe/Amsterdam",
        cache_max_age: float | None = None,
        on_wait: Callable[[float, str], None] | None = None,
        workers: int = 4,
        on_page: Callable[[str, int | None, int, int | None], None] | None = None,
    ) -> None:
        """``on_wait(seconds, what)`` hears of waits for a rate window; ``on_page(endpoint, division, rows,
        expected pages or None)`` of every page fetched (for a progress display; called from worker threads)."""
        self.sessions = dict(sessions)
        self.timezone = timezone
        self.cache_max_age = cache_max_age
        self.workers = workers
        self.on_page = on_page
        self.catalog = load_catalog()
        self.resolver = NameResolver(self.catalog)
        self.clients = {alias: s.client(on_wait) for alias, s in self.sessions.items()}
        self.stats = RowStats()
        self.ios: list[IORecord] = []
        self._scope: dict[str, list[int]] = {}
        self._cache: dict[tuple, tuple[int, float, pa.Table]] = {}
        self._statement = 0
        self._source = ""
        self.duck = duckdb.connect()
        dictionary.install_macros(self.duck)

    # -- divisions ------------------------------------------------------------------------------------

    def _client(self, alias: str):  # type: ignore[no-untyped-def]
        try:
            return self.clients[alias]
        except KeyError:
            raise SQLError(
                f"No connection has the alias {alias!r}.",
                f"Known aliases: {', '.join(sorted(self.clients))}.",
            ) from None

    def current_division(self, alias: str) -> int:
        """The user's current division on the connection with ``alias``."""
        return int(self._client(alias).me()["CurrentDivision"])

    def scope(self) -> DivisionScope:
        """The divisions each alias reads now (the current division until a ``use`` says otherwise)."""
        for alias in self.clients:
            if alias not in self._scope:
                self._scope[alias] = [self.current_division(alias)]
        return DivisionScope(dict(self._scope))

    def all_divisions(self, alias: str) -> list[int]:
        """Every division the user can use on the connection with ``alias``."""
        rows = self._fetch_divisions(alias)
        return sorted(int(c) for c in rows.column("Code").to_pylist())

    def _fetch_divisions(self, alias: str) -> pa.Table:
        table = self.catalog.table("system/Divisions")
        path = table.paths[0]
        columns = [c for c in path.columns if c.edm.startswith("Edm.")]
        spec = FetchSpec(
            "systemdivisions", self.resolver_ref(alias, table), path, select=[c.name for c in columns]
        )
        return self._fetch(spec, [self.scope().of(alias)[0]], alias, division_in_url_only=True)

    def resolver_ref(self, alias: str, table):  # type: ignore[no-untyped-def]
        from exactsql.sql.names import TableRef

        return TableRef(table, None, None, alias)

    def _use(self, use: UseStatement) -> str:
        alias = use.alias
        self._client(alias)
        if use.all_divisions:
            divisions = self.all_divisions(alias)
        elif use.query is not None:
            result = self._run_query(use.query, None)
            if result.table is None or result.table.num_columns == 0:
                raise SQLError("`use select …` returned no column of division codes.")
            divisions = sorted({int(v) for v in result.table.column(0).to_pylist() if v is not None})
        else:
            allowed = set(self.all_divisions(alias))
            missing = [c for c in use.codes if c not in allowed]
            if missing:
                raise SQLError(
                    f"Division(s) {', '.join(map(str, missing))} are not available on {alias!r}.",
                    f"Available: {', '.join(map(str, sorted(allowed)))}.",
                )
            divisions = list(use.codes)
        if not divisions:
            raise SQLError("The `use` statement chose no divisions.")
        self._scope[alias] = divisions
        return f"Using {len(divisions)} division(s) on {alias}: {', '.join(map(str, divisions[:20]))}"

    # -- statements -----------------------------------------------------------------------------------

    def plan(self, tree: exp.Expression) -> Plan:
        """The plan of one query (no API call beyond learning the current divisions)."""
        from exactsql.sql.planner import plan_statement

        sysdate, sysdateutc = now_literals(self.timezone)
        tree = rewrite_functions(tree, sysdate, sysdateutc)
        plan = plan_statement(tree, self.resolver, self.scope(), self.stats)
        plan.tree = _typed_trunc(plan)
        self._preflight(plan)
        return plan

    def _preflight(self, plan: Plan) -> None:
        """Binds the statement over empty tables: unknown columns and type errors cost no API call."""
        probe = duckdb.connect()
        dictionary.install_macros(probe)
        for spec in plan.fetches:
            probe.register(spec.name, self._empty(spec, every_column=True))
        try:
            probe.execute("PREPARE exact_preflight AS " + to_duckdb(plan.tree))
        except duckdb.Error as exc:
            message, line, column = _duck_message(exc, self._source)
            raise SQLError(message, "Nothing was fetched.", line, column) from None
        finally:
            probe.close()

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
        return schema_for(self._columns(spec, every_column)).empty_table()

    def run(self, sql: str, max_calls: int | None = None) -> list[StatementResult]:
        """Runs every statement of ``sql``; returns their results (the last one is usually wanted)."""
        results = []
        self._source = sql
        for statement in parse_script(sql):
            self._statement += 1
            if isinstance(statement, UseStatement):
                results.append(StatementResult("use", None, message=self._use(statement)))
            else:
                results.append(self._run_query(statement, max_calls))
        return results

    def _run_query(self, tree: exp.Expression, max_calls: int | None) -> StatementResult:
        plan = self.plan(tree)
        if max_calls is not None:
            estimate = sum(s.least_calls for s in plan.fetches if s.path is not None)
            if estimate > max_calls:
                raise SQLError(
                    f"The plan needs about {estimate} API calls, more than --max-calls {max_calls}.",
                    "Add filters (see `exactsql explain`) or raise --max-calls.",
                )
        started = len(self.ios)
        relations: dict[str, pa.Table] = {}
        for spec in plan.fetches:
            relations[spec.name] = self._materialise(spec, relations)
        for name, table in relations.items():
            self.duck.register(name, table)
        try:
            table = self.duck.sql(to_duckdb(plan.tree)).to_arrow_table()
        except duckdb.Error as exc:
            message, line, column = _duck_message(exc, self._source)
            raise SQLError(message, "", line, column) from None
        finally:
            for name in relations:
                self.duck.unregister(name)
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
        key = (alias, path.uri, tuple(sorted(params.items())), tuple(divisions or ()))
        hit = self._reuse(key)
        if hit is not None:
            self.ios.append(
                IORecord(self._statement, spec.name, path.endpoint, None, 0, hit.num_rows, 0.0, True)
            )
            return hit
        columns = self._columns(spec)
        client = self._client(alias)
        partitioned = spec.ref.table is not None and spec.ref.table.partitioned and not division_in_url_only
        targets: list[int | None] = list(divisions) if (divisions and path.division_in_url) else [None]
        if path.division_in_url and targets == [None]:
            targets = [self.scope().of(alias)[0]]

        expected = -(-spec.estimated_calls // len(targets)) if spec.estimated_calls else None

        def one(division: int | None) -> pa.Table:
            started, calls_before = time.perf_counter(), client.thread_calls()
            tables = []
            for body in client.raw_pages(path.endpoint, params, division):
                tables.append(
                    page_to_arrow(body, [c for c in columns if c.name != "Division" or not partitioned])
                )
                if self.on_page is not None:
                    self.on_page(path.endpoint, division, tables[-1].num_rows, expected)
            table = (
                pa.concat_tables(tables)
                if tables
                else schema_for([c for c in columns if c.name != "Division" or not partitioned]).empty_table()
            )
            if partitioned:
                table = table.append_column(DIVISION.name, pa.array([division] * table.num_rows, pa.int32()))
            self.ios.append(
                IORecord(
                    self._statement,
                    spec.name,
                    path.endpoint,
                    division,
                    client.thread_calls() - calls_before,
                    table.num_rows,
                    time.perf_counter() - started,
                )
            )
            if not params.get("$filter") and division is not None and spec.ref.table is not None:
                self.stats.record(spec.ref.table.full_name, division, table.num_rows)
            return table

        if len(targets) > 1:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(targets))) as pool:
                parts = list(pool.map(one, targets))
        else:
            parts = [one(targets[0])]
        result = pa.concat_tables(parts) if len(parts) > 1 else parts[0]
        self._cache[key] = (self._statement, time.monotonic(), result)
        return result

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


def _duck_message(exc: duckdb.Error, source: str) -> tuple[str, int | None, int | None]:
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
