"""The write statements of the dialect, parsed: ``insert into T (…) values …|select … [identified by K]
[attach to K]``, ``update T set … where …``, ``delete from T where …``, and ``begin transaction``,
``commit``, ``rollback``.

Invantive's ``identified by`` names a header row (its value an expression: a constant, or an expression over
the columns of the insert's query's sources) and ``attach to`` names the header a line belongs to; both are
taken off the statement's end and become extra columns of its query (``__identified_by``, ``__attach_to``),
so that parameters bind in them and an ``insert … select`` gives each row its own key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlglot import exp

from exactsql.sql.dialect import SQLError, connection_alias, parse_statement, shown

KINDS = ("insert", "update", "delete", "commit", "rollback", "begin")
IDENTIFIED = "__identified_by"
ATTACHED = "__attach_to"
_CLAUSE = re.compile(r"\b(identified\s+by|attach\s+to)\b", re.IGNORECASE)
_TRANSACTION = re.compile(
    r"^\s*(?:(begin)\s+(?:transaction|work|tran)|(commit|rollback)(?:\s+(?:transaction|work|tran))?)\s*$",
    re.IGNORECASE,
)


@dataclass
class Insert:
    """``insert into TABLE (COLUMNS) QUERY [identified by …] [attach to …]`` on an Exact Online table."""

    table: exp.Table
    columns: list[str]
    query: exp.Expression  # the rows: the columns in order, then __identified_by / __attach_to
    identified: bool
    attached: bool


@dataclass
class Update:
    """``update TABLE set NAME = EXPR, … where …``."""

    table: exp.Table
    sets: list[tuple[str, exp.Expression]]
    where: exp.Expression


@dataclass
class Delete:
    """``delete from TABLE where …``."""

    table: exp.Table
    where: exp.Expression


@dataclass
class Transaction:
    """``begin transaction``, ``commit`` or ``rollback``."""

    action: str


Write = Insert | Update | Delete | Transaction


def _outside_strings(text: str, at: int) -> bool:
    return text.count("'", 0, at) % 2 == 0


def _split_clauses(text: str) -> tuple[str, dict[str, str]]:
    """``text`` without its trailing ``identified by …`` / ``attach to …`` clauses, and those clauses."""
    found = [m for m in _CLAUSE.finditer(text) if _outside_strings(text, m.start())]
    clauses: dict[str, str] = {}
    end = len(text)
    for match in reversed(found):
        name = "identified" if match.group(1).lower().startswith("identified") else "attach"
        if name in clauses:
            break
        clauses[name] = text[match.end() : end].strip()
        end = match.start()
    return text[:end], clauses


_INTO = re.compile(r"^\s*insert\s+into\s+([^\s(]+)", re.IGNORECASE)


def writes_to_exact(text: str) -> bool:
    """Whether an ``insert`` may write to Exact Online: it carries ``identified by`` / ``attach to``, or its
    table is not ``NAME@inmemorystorage`` (a replica's alias is told apart when the statement is checked)."""
    if _split_clauses(text)[1]:
        return True
    target = _INTO.match(text)
    return target is None or not target.group(1).lower().endswith("@inmemorystorage")


def _expression(text: str, clause: str, written: str, line: int) -> exp.Expression:
    try:
        tree = parse_statement(f"select {text}")
    except SQLError:
        tree = None
    if not isinstance(tree, exp.Select) or len(tree.expressions) != 1 or tree.args.get("from"):
        raise SQLError(
            f"`{written}` (line {line}): {clause} needs one value, e.g. {clause} 'INVOICE-1'.",
            "Give a text constant, or a column of the insert's query.",
        )
    return tree.expressions[0]


def _table(node: exp.Expression | None, written: str, line: int) -> exp.Table:
    if isinstance(node, exp.Schema):
        node = node.this
    if not isinstance(node, exp.Table):
        raise SQLError(f"`{written}` (line {line}) names no table.", "e.g. insert into SalesInvoices (…) …")
    return node


def parse(kind: str, text: str, line: int) -> exp.Expression:
    """The node of a write statement of ``kind`` (one of KINDS); SQLError when it is malformed."""
    written = shown(text)
    transaction = _TRANSACTION.match(text)
    if kind in ("begin", "commit", "rollback"):
        if transaction is None:
            raise SQLError(
                f"`{written}` (line {line}) is not supported.",
                "Write `begin transaction`, `commit` or `rollback` as statements of their own.",
            )
        action = (transaction.group(1) or transaction.group(2)).lower()
        node: exp.Expression = exp.Command(this=action.upper())
        node.meta.update(write=action, line=line, text=text.strip())
        return node
    body, clauses = _split_clauses(text) if kind == "insert" else (text, {})
    node = parse_statement(body)
    if kind == "insert":
        if not isinstance(node, exp.Insert):
            raise SQLError(f"`{written}` (line {line}) is not an insert.")
        _table(node.this, written, line)
        source = node.expression
        if isinstance(source, exp.Values):
            source.set("alias", exp.TableAlias(this=exp.to_identifier("v")))
            source = exp.select("*").from_(source)
        if not isinstance(source, exp.Query):
            raise SQLError(f"`{written}` (line {line}) needs values (…) or a query.")
        # the keys are computed where the query's own columns are in scope (``attach to OrderRef``)
        rows = (
            source if isinstance(source, exp.Select) else exp.select(exp.Star()).from_(source.subquery("q"))
        )
        for clause, column in (("identified", IDENTIFIED), ("attach", ATTACHED)):
            if clause in clauses:
                label = "identified by" if clause == "identified" else "attach to"
                value = _expression(clauses[clause], label, written, line)
                rows = rows.select(exp.alias_(value, column, quoted=True))
        node.set("expression", rows)
        node.meta.update(identified="identified" in clauses, attached="attach" in clauses, script="insert")
    elif kind == "update":
        if not isinstance(node, exp.Update):
            raise SQLError(f"`{written}` (line {line}) is not an update.")
    elif kind == "delete" and not isinstance(node, exp.Delete):
        raise SQLError(f"`{written}` (line {line}) is not a delete.")
    if kind in ("update", "delete") and node.args.get("where") is None:
        raise SQLError(
            f"`{written}` (line {line}) has no where clause: it would change every row.",
            "Add a where clause that names the rows (e.g. where InvoiceID = …).",
        )
    node.meta.update(write=kind, line=line, text=text.strip())
    return node


def view(node: object) -> Write | None:
    """What a write statement's node says, or None when ``node`` is no write statement."""
    if not isinstance(node, exp.Expression) or "write" not in node.meta:
        return None
    kind = node.meta["write"]
    if kind in ("begin", "commit", "rollback"):
        return Transaction(kind)
    if isinstance(node, exp.Insert):
        into = node.this
        return Insert(
            _table(into, "", 0),
            [c.name for c in into.expressions] if isinstance(into, exp.Schema) else [],
            node.expression,
            bool(node.meta.get("identified")),
            bool(node.meta.get("attached")),
        )
    if isinstance(node, exp.Update):
        sets = []
        for eq in node.expressions:
            if not isinstance(eq, exp.EQ) or not isinstance(eq.this, exp.Column):
                raise SQLError(f"`{shown(node.meta['text'])}`: write set NAME = VALUE, ….")
            sets.append((eq.this.name, eq.expression))
        return Update(_table(node.this, "", 0), sets, node.args["where"].this)
    assert isinstance(node, exp.Delete)
    return Delete(_table(node.this, "", 0), node.args["where"].this)


def alias_of(statement: Insert | Update | Delete) -> str:
    """The connection alias a write statement's table is on."""
    return connection_alias(statement.table)
