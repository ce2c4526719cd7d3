"""The query planner: one fetch per table reference, with as few API calls as the statement allows.

For each table reference (FROM/JOIN, in subqueries, CTEs and set operations) the planner chooses the
columns to ``$select``, the predicates to send as ``$filter``, the divisions to read, the endpoint
(regular, bulk or sync) and, where it pays, a semi-join by key chunks or a ``$top``. DuckDB re-checks
every predicate over the fetched rows, so a pushed filter may return more rows than needed (a
superset: case-insensitive string matches, a LIKE prefix) but never fewer; whatever cannot be sent
that way stays local. See docs/design/planner.md.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope

from exactsql.sql import reach
from exactsql.sql.dialect import SQLError
from exactsql.sql.names import NameResolver
from exactsql.sql.plan import DivisionScope, FetchSpec, Plan, RowStats
from exactsql.sql.planning.divisions import assign_divisions, propagate_divisions
from exactsql.sql.planning.paths import choose_path, select_columns
from exactsql.sql.planning.predicates import collect_predicates
from exactsql.sql.planning.refs import Ref, ref_of, scopes_of
from exactsql.sql.planning.semijoins import ordered, plan_semi_joins
from exactsql.sql.planning.top import plan_top

__all__ = ["plan_statement"]

_PSEUDO_COLUMNS = ("sysdate", "sysdateutc")
_STATEMENTS = (exp.DML, exp.DDL, exp.Drop, exp.Alter, exp.Set, exp.Pragma, exp.Copy, exp.Describe, exp.Use,
               exp.Transaction, exp.Commit, exp.Rollback)  # fmt: skip


# -- entry point ---------------------------------------------------------------------------------------


def plan_statement(
    tree: exp.Expression,
    resolver: NameResolver,
    scope: DivisionScope,
    stats: RowStats | None = None,
    file_access: bool = False,
) -> Plan:
    """The fetches of a query and the query rewritten over them (see the module docstring).

    Raises SQLError when the statement is not a query or reaches beyond Exact's tables (see ``reach``),
    a table is unknown, a connection alias has no divisions, or a table can only be read with a filter
    the statement does not give.
    """
    if not isinstance(tree, exp.Query):
        raise SQLError(
            f"{_statement_kind(tree)} cannot run here: exactsql reads Exact Online.",
            "Write a query (select …, with …) or a use statement.",
        )
    reach.check(tree, file_access)
    out = tree.copy()
    refs = _bind_tables(out, resolver)
    by_name = {r.name: r for r in refs}
    work = _analysis_tree(out)
    _find_stars(work, by_name)
    work = _qualify(work, refs)
    scopes = scopes_of(work)
    _collect_columns(scopes, by_name)
    equalities, root_where = collect_predicates(work, scopes, by_name)
    for r in refs:
        assign_divisions(r, scope)
    propagate_divisions(equalities)
    for r in refs:
        if r.table is not None:
            choose_path(r, stats)
    plan_top(work, scopes, refs, root_where, stats)
    plan_semi_joins(equalities)
    fetches = [_fetch_spec(r) for r in ordered(refs)]
    return Plan(fetches, out)


def _statement_kind(tree: exp.Expr) -> str:
    """``A DELETE statement``; for an expression that is no statement at all, what it reads as."""
    kind = ""
    if isinstance(tree, exp.Command):
        kind = str(tree.this).upper()
    elif isinstance(tree, _STATEMENTS):
        kind = tree.key.upper()
    if not kind:
        return f"This statement ({tree.sql()[:40]}) is no query and"
    return f"{'An' if kind[0] in 'AEIOU' else 'A'} {kind} statement"


# -- binding: table references → fetch names -----------------------------------------------------------


def _textual(node: exp.Expr) -> Iterator[exp.Expr]:
    """The nodes of a tree in the order they are written (WITH first)."""
    yield node
    keys = list(node.args)
    if "with_" in keys:
        keys.remove("with_")
        keys.insert(0, "with_")
    for key in keys:
        value = node.args[key]
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, exp.Expr):
                yield from _textual(child)


def _bind_tables(out: exp.Expr, resolver: NameResolver) -> list[Ref]:
    """Replaces each table reference of ``out`` by its fetch's relation; returns the references."""
    real: dict[int, exp.Table] = {}
    for s in scopes_of(out):
        for source in s.sources.values():
            if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier):
                real[id(source)] = source
    ordered = [real[id(n)] for n in _textual(out) if id(n) in real]
    refs: list[Ref] = []
    for node in ordered:
        alias_node = node.args.get("alias")
        if node.name.lower() == "dual" and not node.db and not node.catalog:
            dual = exp.select("1").subquery(alias_node.name if alias_node else "dual")
            node.replace(dual)
            continue
        ref = resolver.resolve(node)
        index = len(refs)
        base = ref.table.name if ref.table is not None else (ref.dictionary or "table")
        name = f"f{index}_{base.lower()}"
        alias_node = exp.TableAlias(this=node.this.copy()) if alias_node is None else alias_node.copy()
        node.replace(exp.Table(this=exp.to_identifier(name), alias=alias_node))
        refs.append(Ref(index, name, ref, alias_node.name.lower()))
    return refs


def _analysis_tree(out: exp.Expr) -> exp.Expr:
    """A copy to analyse: identifiers lower-cased and unquoted (Invantive names are case-insensitive);
    ``sysdate``-like pseudo columns replaced so that they are not taken for columns."""
    work = out.copy()
    for ident in list(work.find_all(exp.Identifier)):
        ident.set("this", str(ident.this).lower())
        ident.set("quoted", False)

    def pseudo(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Column) and not node.table and node.name in _PSEUDO_COLUMNS:
            return exp.Anonymous(this=node.name)
        return node

    return work.transform(pseudo, copy=False)


def _inside_exists(select: exp.Expr) -> bool:
    parent = select.parent
    while isinstance(parent, exp.Subquery | exp.Paren):
        parent = parent.parent
    return isinstance(parent, exp.Exists)


def _find_stars(work: exp.Expr, by_name: dict[str, Ref]) -> None:
    """Marks the references whose every column a ``*`` or ``alias.*`` projection selects."""
    for s in scopes_of(work):
        select = s.expression
        if not isinstance(select, exp.Select) or _inside_exists(select):
            continue
        for projection in select.expressions:
            if isinstance(projection, exp.Star):
                sources = list(s.sources.values())
            elif isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
                sources = [s.sources[projection.table]] if projection.table in s.sources else []
            else:
                continue
            for source in sources:
                if isinstance(source, exp.Table) and source.name in by_name:
                    by_name[source.name].star = True


def _qualify(work: exp.Expr, refs: list[Ref]) -> exp.Expr:
    schema: dict[str, object] = {}
    for r in refs:
        if r.table is not None:
            names = [c.name for c in r.table.columns]
        else:
            names = _dictionary_columns(r.ref.dictionary or "")
        if names:
            schema[r.name] = {n.lower(): "VARCHAR" for n in [*names, "Division"]}
    try:
        return qualify(
            work,
            schema=schema,
            dialect="duckdb",
            expand_stars=False,  # a star reads every column of its path (see _find_stars)
            validate_qualify_columns=False,
            quote_identifiers=False,
            identify=False,
        )
    except SqlglotError as exc:
        raise SQLError(
            f"Cannot resolve the columns of the statement: {str(exc).rstrip('.')}.",
            "`select * from systemtablecolumns@eol where tablename = '…'` lists a table's columns.",
        ) from None


def _dictionary_columns(name: str) -> list[str]:
    try:
        from exactsql.sql import dictionary
    except ImportError:  # pragma: no cover - the dictionary module ships with the engine
        return []
    try:
        return [c.name for c in dictionary.columns(name)]
    except KeyError:
        return []


def _collect_columns(scopes: list[Scope], by_name: dict[str, Ref]) -> None:
    for s in scopes:
        for column in s.columns:
            if isinstance(column.this, exp.Star):
                continue
            name = column.name
            if column.table:
                r = ref_of(s, column.table, by_name)
                if r is not None:
                    r.columns.setdefault(name, None)
                continue
            # not resolved (a source without known columns is around): every table that has it reads it
            chain: Scope | None = s
            while chain is not None:
                for source in chain.sources.values():
                    if isinstance(source, exp.Table) and source.name in by_name:
                        r = by_name[source.name]
                        if r.catalog_column(name) is not None:
                            r.columns.setdefault(name, None)
                chain = chain.parent


# -- output --------------------------------------------------------------------------------------------


def _fetch_spec(r: Ref) -> FetchSpec:
    if r.table is None or r.chosen is None:
        return FetchSpec(
            name=r.name,
            ref=r.ref,
            path=None,
            notes=[f"dictionary table {r.ref.dictionary}: answered without a filter"],
        )
    option = r.chosen
    text = " and ".join(f.text for _, f in option.pushed) or None
    return FetchSpec(
        name=r.name,
        ref=r.ref,
        path=option.path,
        filter=text,
        select=select_columns(r, option.path),
        divisions=r.divisions,
        top=r.top,
        semi_join=r.semi_join,
        estimated_calls=option.estimate,
        notes=r.notes,
    )
