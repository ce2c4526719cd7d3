"""The same SQL answered from a replica, without API calls (``exactsql query --replica URL "…"``).

Statements are parsed as the engine parses them (``table@eol``, ``exactonlinerest..accounts``,
``ExactOnlineREST.crm.Accounts``, ``sysdate``, ``nvl``, ``trunc`` …); each table reference is resolved
against the catalog and answered by the replicated table, ``Division`` included. A DuckDB replica is
attached read-only; SQLite and PostgreSQL replicas are read into Arrow (only the columns the statement
names). ``use 123, 456`` narrows the divisions; without it, every replicated division is in scope.
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import pyarrow as pa
from sqlglot import exp

from exactsql.catalog import Column, Table, load_catalog
from exactsql.replicate.plan import DIVISION, physical_name
from exactsql.replicate.targets import Target, TargetConnection, check_file_url, duckdb_error, open_target
from exactsql.sql import dictionary, types
from exactsql.sql.dialect import (
    SQLError,
    UseStatement,
    now_literals,
    parse_script,
    rewrite_functions,
    to_duckdb,
)
from exactsql.sql.engine import StatementResult, duck_message
from exactsql.sql.names import NameResolver


class ReplicaEngine:
    """Runs Invantive-style SQL over a replica (any connection alias reads the same replica)."""

    def __init__(self, url: str, timezone: str = "Europe/Amsterdam") -> None:
        self.url = url
        self.timezone = timezone
        self.catalog = load_catalog()
        self.resolver = NameResolver(self.catalog)
        self.duck = duckdb.connect()
        dictionary.install_macros(self.duck)
        self.divisions: list[int] | None = None
        self._source = ""
        self._attached = url.lower().startswith("duckdb:")
        self.target: Target | None = None
        self.conn: TargetConnection | None = None
        try:
            if self._attached:
                path = check_file_url(url, must_exist=True)
                try:
                    self.duck.execute(
                        f"ATTACH '{str(path).replace(chr(39), chr(39) * 2)}' AS replica (READ_ONLY)"
                    )
                except duckdb.Error as exc:
                    raise duckdb_error(exc, path) from None
            else:
                self.target = open_target(url, read_only=True)
                self.conn = self.target.connect()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Releases the replica."""
        if self.conn is not None:
            self.conn.close()
        if self.target is not None:
            self.target.close()
        self.duck.close()

    def __enter__(self) -> ReplicaEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the replica's tables -----------------------------------------------------------------------------

    def _columns(self, name: str) -> dict[str, str] | None:
        if self.conn is not None:
            return self.conn.column_types(name)
        rows = self.duck.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_catalog = 'replica' "
            "AND table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
            [name],
        ).fetchall()
        return {r[0]: r[1] for r in rows} if rows else None

    @staticmethod
    def _edm(table: Table, name: str) -> str:
        if name == "Division":
            return DIVISION.edm
        for path in (table.path("sync"), *table.paths):
            column = path.column(name) if path is not None else None
            if column is not None:
                return column.edm
        column = table.column(name)
        return column.edm if column is not None else "Edm.String"

    def _register(self, view: str, table: Table, wanted: set[str] | None) -> list[Column]:
        name = physical_name(table)
        present = self._columns(name)
        if present is None:
            raise SQLError(
                f"The replica has no table {table.full_name}.",
                f"Replicate it first: exactsql replicate --to … --tables {table.full_name}.",
            )
        columns = [
            Column(n, self._edm(table, n))
            for n in present
            if wanted is None or n.lower() in wanted or n == "Division"
        ]
        where = ""
        if self.divisions is not None:
            where = f' WHERE "Division" IN ({", ".join(str(int(d)) for d in self.divisions)})'
        if self.conn is None:
            cols = ", ".join(types.column_sql(c) for c in columns)  # GUIDs and amounts as the engine has them
            self.duck.execute(
                f'CREATE OR REPLACE TEMP VIEW "{view}" AS SELECT {cols} FROM replica.main."{name}"{where}'
            )
        else:
            data = self.conn.read(name, columns, self.divisions)
            types.register(self.duck, view, data, columns)
        return columns

    # -- statements ---------------------------------------------------------------------------------------

    def run(self, sql: str) -> list[StatementResult]:
        """Runs every statement of ``sql``; returns their results (the last one is usually wanted)."""
        self._source = sql
        results = []
        for statement in parse_script(sql):
            if isinstance(statement, UseStatement):
                results.append(StatementResult("use", None, message=self._use(statement)))
            else:
                results.append(self._query(statement))
        return results

    def _use(self, use: UseStatement) -> str:
        if use.all_divisions:
            self.divisions = None
            return "Using every division of the replica"
        if use.query is not None:
            result = self._query(use.query)
            assert result.table is not None
            self.divisions = sorted({int(v) for v in result.table.column(0).to_pylist() if v is not None})
        else:
            self.divisions = list(use.codes)
        return f"Using {len(self.divisions)} division(s): {', '.join(map(str, self.divisions[:20]))}"

    def _query(self, tree: exp.Expression) -> StatementResult:
        sysdate, sysdateutc = now_literals(self.timezone)
        tree = rewrite_functions(tree, sysdate, sysdateutc)
        ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        star = any(True for _ in tree.find_all(exp.Star))
        names = {c.name.lower() for c in tree.find_all(exp.Column)}
        views: dict[str, Table] = {}
        for node in list(tree.find_all(exp.Table)):
            if not node.db and not node.catalog and node.name.lower() in ctes:
                continue
            ref = self.resolver.resolve(node)
            if ref.table is None:
                raise SQLError(
                    f"{ref.dictionary} is not kept in a replica.", "Run it against the connection instead."
                )
            view = f"replica_{physical_name(ref.table)}"
            views[view] = ref.table
            alias = node.args.get("alias") or exp.TableAlias(this=exp.to_identifier(node.name))
            node.replace(exp.Table(this=exp.to_identifier(view), alias=alias))
        edm: dict[str, str] = {}
        registered = []
        try:
            for view, table in views.items():
                for column in self._register(view, table, None if star else names):
                    edm.setdefault(column.name.lower(), column.edm)
                registered.append(view)
            tree = _typed_trunc(tree, edm)
            try:
                result = self.duck.sql(to_duckdb(tree)).to_arrow_table()
            except duckdb.Error as exc:
                message, line, at = duck_message(exc, self._source)
                raise SQLError(message, "", line, at) from None
        finally:
            for view in registered:
                if self.conn is None:
                    self.duck.execute(f'DROP VIEW IF EXISTS "{view}"')
                else:
                    types.unregister(self.duck, view)
        return StatementResult(tree.sql(), result)


def _typed_trunc(tree: exp.Expression, edm: dict[str, str]) -> exp.Expression:
    """``trunc(date)`` is the day; ``trunc(number)`` the integer part (as the engine does)."""

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Anonymous) and str(node.this).lower() == "exact_trunc":
            arg = node.expressions[0]
            if isinstance(arg, exp.Column) and edm.get(arg.name.lower()) == "Edm.DateTime":
                trunc = exp.Anonymous(this="date_trunc", expressions=[exp.Literal.string("day"), arg.copy()])
                return exp.cast(trunc, exp.DataType.build("timestamp"))
        return node

    return tree.transform(fix)


def query_replica(url: str, sql: str, divisions: Sequence[int] | None = None) -> pa.Table:
    """The result of the last statement of ``sql`` run over the replica at ``url`` (no API call)."""
    with ReplicaEngine(url) as engine:
        if divisions is not None:
            engine.divisions = list(divisions)
        results = engine.run(sql)
    last = results[-1]
    if last.table is None:
        return pa.table({"message": [last.message]})
    return last.table
