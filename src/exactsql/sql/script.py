"""Statements of Invantive scripts beyond queries and ``use``.

* ``create [or replace] table NAME@inmemorystorage as select …``, ``insert into NAME@inmemorystorage
  [(columns)] select …`` (or ``values …``) and ``drop table [if exists] NAME@inmemorystorage``: tables that
  live as long as the engine; the same with the alias of a replica the config names (``[replicas]``) keeps
  the table in that replica (``exactsql.sql.memory``).
* ``set …`` (Invantive's settings) and ``local …`` (its client commands, one line each) are skipped with a
  message that names them; they cost nothing.

Statements are sqlglot nodes marked in ``meta["script"]`` (so that parameters bind in them as in queries).
Before anything runs, a ``create`` declares its table with the columns its query will return, so that later
statements of the script are checked against it; the rows arrive when it runs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import duckdb
from sqlglot import exp

from exactsql.sql import memory
from exactsql.sql.dialect import SQLError, Statement, connection_alias, parse_statement, shown

if TYPE_CHECKING:
    from exactsql.sql.engine import Engine, StatementResult
    from exactsql.sql.plan import Plan

KINDS = ("local", "set", "create", "insert", "drop")
REFUSED = (
    "update",
    "delete",
    "merge",
    "alter",
    "truncate",
    "grant",
    "revoke",
    "execute",
    "commit",
    "rollback",
)
SUPPORTED = (
    "exactsql runs queries, use, and create/insert/drop of NAME@inmemorystorage tables (or NAME@REPLICA, a "
    "replica the config names); it skips set and local."
)
_SKIPPED = {
    "set": "exactsql does not carry out `set` statements (Invantive's settings); the statements after it run",
    "local": "exactsql does not carry out `local` statements (Invantive's client commands); the statements "
    "after it run",
}


@dataclass
class CreateTable:
    """``create [or replace] table NAME@STORAGE as QUERY``."""

    name: str
    storage: str
    replace: bool
    query: exp.Expression


@dataclass
class InsertInto:
    """``insert into NAME@STORAGE [(COLUMNS)] QUERY``."""

    name: str
    storage: str
    columns: list[str] | None
    query: exp.Expression


@dataclass
class DropTable:
    """``drop table [if exists] NAME@STORAGE``."""

    name: str
    storage: str
    if_exists: bool


@dataclass
class Skipped:
    """A ``set`` or ``local`` statement, not carried out."""

    text: str
    line: int
    message: str


_SQL_SETTING = re.compile(r"(?is)^set\s+(?:global\s+|session\s+|local\s+)?[\w.\-]+(?:@\w+)?\s*(?:=|to\b)")
"""``set name = value`` or ``set name to value``: a database setting, not Invantive's ``set name@alias value``."""

ScriptStatement = CreateTable | InsertInto | DropTable | Skipped


def _target(table: exp.Expression | None, text: str, line: int) -> tuple[str, str]:
    """The name and storage alias of a target table; SQLError when none is named."""
    if isinstance(table, exp.Schema):
        table = table.this
    if not isinstance(table, exp.Table) or table.db or table.catalog:
        raise SQLError(
            f"`{text}` (line {line}) names no table.", "e.g. create table totals@inmemorystorage as …"
        )
    return table.name, connection_alias(table)


def _query(node: exp.Expression | None, text: str, line: int) -> exp.Expression:
    if isinstance(node, exp.Values):
        node.set("alias", exp.TableAlias(this=exp.to_identifier("v")))
        return exp.select("*").from_(node)
    if not isinstance(node, exp.Query):
        raise SQLError(f"`{text}` (line {line}) needs a query: … as select ….", "Add `as select …`.")
    return node


def parse(kind: str, text: str, line: int) -> exp.Expression:
    """The node of a script statement of ``kind`` (one of KINDS) written as ``text`` at ``line``."""
    written = shown(text)
    if kind == "set" and _SQL_SETTING.match(text.strip()):
        raise SQLError(
            f"`{written}` (line {line}) is not carried out: exactsql takes no settings from SQL.",
            "Remove it; Invantive's own settings (set name@alias value) are skipped.",
        )
    if kind in _SKIPPED:
        node: exp.Expression = exp.Command(this=kind.upper(), expression=exp.Literal.string(text.strip()))
        node.meta.update(
            script=kind, line=line, message=f"Skipped `{written}` (line {line}): {_SKIPPED[kind]}."
        )
        return node
    node = parse_statement(text)
    if isinstance(node, exp.Create) and str(node.args.get("kind", "")).upper() == "TABLE":
        _target(node.this, written, line)
        _query(node.expression, written, line)
    elif isinstance(node, exp.Insert):
        _target(node.this, written, line)
        node.set("expression", _query(node.expression, written, line))
    elif isinstance(node, exp.Drop) and str(node.args.get("kind", "")).upper() == "TABLE":
        tables = node.args.get("tables") or [node.this]
        if len(tables) != 1:
            raise SQLError(f"`{written}` (line {line}): drop one table at a time.")
        _target(tables[0], written, line)
    else:
        raise SQLError(f"`{written}` (line {line}) is not supported.", SUPPORTED)
    node.meta.update(script=kind, line=line)
    return node


def view(node: object) -> ScriptStatement | None:
    """What a script statement's node says, or None when ``node`` is not one."""
    if not isinstance(node, exp.Expression) or "script" not in node.meta:
        return None
    if isinstance(node, exp.Command):
        return Skipped(str(node.expression.this), node.meta["line"], node.meta["message"])
    if isinstance(node, exp.Create):
        return CreateTable(*_target(node.this, "", 0), bool(node.args.get("replace")), node.expression)
    if isinstance(node, exp.Insert):
        into = node.this
        columns = [c.name for c in into.expressions] if isinstance(into, exp.Schema) else None
        return InsertInto(*_target(into, "", 0), columns, node.expression)
    assert isinstance(node, exp.Drop)
    tables = node.args.get("tables") or [node.this]
    return DropTable(*_target(tables[0], "", 0), bool(node.args.get("exists")))


def _storage(engine: Engine, statement: CreateTable | InsertInto | DropTable) -> memory.TableStorage:
    """The storage a statement writes to; SQLError when its alias names none (a connection's tables, say)."""
    storage = engine.resolver.storages.get(statement.storage)
    if storage is None:
        kept = sorted(engine.resolver.storages)
        raise SQLError(
            f"{statement.name}@{statement.storage} cannot be created or changed: tables are kept in "
            f"{' or '.join(kept)} only; {statement.storage} is "
            + (
                "a connection to Exact Online (read-only here)."
                if statement.storage in engine.sessions
                else "no replica the config names."
            ),
            "Keep the table for the run as NAME@inmemorystorage, or name a replica in the config "
            '([replicas] ALIAS = "duckdb:///path") and write NAME@ALIAS.',
        )
    return storage


def _empty_result(columns: list[tuple[str, str]]) -> duckdb.DuckDBPyRelation:
    con = duckdb.connect()
    select = ", ".join(f'CAST(NULL AS {t}) AS "{n.replace(chr(34), chr(34) * 2)}"' for n, t in columns)
    return con.sql(f"SELECT {select or '1 AS x'} LIMIT 0")


def check(engine: Engine, node: Statement) -> None:
    """Checks a script statement before anything runs (no API call); a ``create`` declares its table."""
    statement = view(node)
    if isinstance(statement, CreateTable | InsertInto):
        storage = _storage(engine, statement)
        columns = engine._preflight(engine.plan(statement.query, engine._local_scope(), check=False))
        if isinstance(statement, CreateTable):
            storage.declare(statement.name, _empty_result(columns).to_arrow_table(), statement.replace)
        else:
            storage.check_insert(statement.name, len(columns), statement.columns)
    elif isinstance(statement, DropTable):
        storage = _storage(engine, statement)
        if not statement.if_exists:
            storage.check_exists(statement.name)


def execute(engine: Engine, node: Statement) -> StatementResult:
    """Carries out a script statement."""
    from exactsql.sql.engine import StatementResult

    statement = view(node)
    assert isinstance(node, exp.Expression)
    if isinstance(statement, Skipped):
        return StatementResult(statement.text, None, message=statement.message)
    assert statement is not None
    storage = _storage(engine, statement)
    target = f"{statement.name}@{storage.alias}"
    if isinstance(statement, DropTable):
        dropped = storage.drop(statement.name, statement.if_exists)
        return StatementResult(node.sql(), None, message=f"Dropped {target}." if dropped else f"No {target}.")
    assert isinstance(statement, CreateTable | InsertInto)
    result = engine._run_query(statement.query)
    assert result.table is not None
    if isinstance(statement, CreateTable):
        rows = storage.create(statement.name, result.table, statement.replace)
        message = f"Created {target}: {rows} row(s)."
    else:
        rows = storage.insert(statement.name, result.table, statement.columns)
        message = f"Inserted {rows} row(s) into {target}."
    return StatementResult(node.sql(), None, result.plan, result.ios, message)


def explain(engine: Engine, node: Statement) -> tuple[Plan | None, str]:
    """The plan of a script statement's query (None when it has none) and what the statement does."""
    statement = view(node)
    if isinstance(statement, Skipped):
        return None, statement.message
    assert statement is not None
    _storage(engine, statement)
    if isinstance(statement, DropTable):
        return None, f"drops {statement.name}@{statement.storage}"
    assert isinstance(statement, CreateTable | InsertInto)
    verb = "creates" if isinstance(statement, CreateTable) else "inserts into"
    return engine.plan(statement.query), f"{verb} {statement.name}@{statement.storage} the rows of:"
