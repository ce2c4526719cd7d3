"""The query planner: one fetch per table reference, with as few API calls as the statement allows.

For each table reference (FROM/JOIN, in subqueries, CTEs and set operations) the planner chooses the
columns to ``$select``, the predicates to send as ``$filter``, the divisions to read, the endpoint
(regular, bulk or sync) and, where it pays, a semi-join by key chunks or a ``$top``. DuckDB re-checks
every predicate over the fetched rows, so a pushed filter may return more rows than needed (a
superset: case-insensitive string matches, a LIKE prefix) but never fewer; whatever cannot be sent
that way stays local. See docs/design/planner.md.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import quote

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope

from exactsql.catalog import AccessPath, Table
from exactsql.sql.dialect import SQLError
from exactsql.sql.names import NameResolver, TableRef
from exactsql.sql.odata_literals import is_canonical_guid, render_literal, sql_constant
from exactsql.sql.plan import DivisionScope, FetchSpec, Plan, RowStats, SemiJoin

__all__ = ["URL_BUDGET", "plan_statement"]

DIVISION = "division"
URL_BUDGET = 5000
"""URL-encoded characters ``$filter`` and ``$select`` may take together (the executor's URL cap is 6,000)."""
SMALL_ROWS = 1000
"""A reference known (from row statistics) to hold at most this many rows can feed a semi-join."""

_INT_TYPES = ("Edm.Byte", "Edm.SByte", "Edm.Int16", "Edm.Int32", "Edm.Int64")
_RANGE_TYPES = (*_INT_TYPES, "Edm.Double", "Edm.Single", "Edm.Decimal", "Edm.DateTime")
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
_OPS: dict[type[exp.Expr], str] = {
    exp.EQ: "eq",
    exp.NEQ: "ne",
    exp.GT: "gt",
    exp.GTE: "ge",
    exp.LT: "lt",
    exp.LTE: "le",
}
_FLIP = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}
_NEGATE = {"eq": "ne", "ne": "eq", "gt": "le", "ge": "lt", "lt": "ge", "le": "gt"}
_PSEUDO_COLUMNS = ("sysdate", "sysdateutc")
_KIND_RANK = {"bulk": 1, "sync": 2, "regular": 3}


# -- pushed filters ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Filter:
    """A pushed predicate in OData syntax.

    Attributes:
        text: the ``$filter`` text; an ``or`` carries its own parentheses.
        kind: "atom", "and" or "or".
        columns: the catalog columns it names.
        exact: whether Exact returns exactly the rows DuckDB keeps (no superset).
        eq: (column, number of values) when it is ``column eq v`` or an or-chain of those (an IN).
    """

    text: str
    kind: str
    columns: frozenset[str]
    exact: bool
    eq: tuple[str, int] | None = None


def _atom(text: str, column: str, exact: bool, eq: tuple[str, int] | None = None) -> _Filter:
    return _Filter(text, "atom", frozenset([column]), exact, eq)


def _all_of(parts: list[_Filter], exact: bool = True) -> _Filter:
    if len(parts) == 1:
        only = parts[0]
        return _Filter(only.text, only.kind, only.columns, only.exact and exact, only.eq)
    return _Filter(
        " and ".join(p.text for p in parts),
        "and",
        frozenset().union(*(p.columns for p in parts)),
        exact and all(p.exact for p in parts),
    )


def _any_of(parts: list[_Filter]) -> _Filter:
    if len(parts) == 1:
        return parts[0]
    text = "(" + " or ".join(f"({p.text})" if p.kind == "and" else p.text for p in parts) + ")"
    columns = frozenset().union(*(p.columns for p in parts))
    eq = None
    if all(p.eq is not None for p in parts) and len(columns) == 1:
        eq = (next(iter(columns)), sum(p.eq[1] for p in parts if p.eq is not None))
    return _Filter(text, "or", columns, all(p.exact for p in parts), eq)


# -- table references ----------------------------------------------------------------------------------


@dataclass
class _Candidate:
    """A conjunct of a WHERE or ON that may be pushed into one reference."""

    expr: exp.Expr


@dataclass
class _Equality:
    """``a.col = b.col`` between two references (for semi-joins and division pruning)."""

    left: _Ref
    left_column: str
    right: _Ref
    right_column: str
    into_left: bool  # a null-rejecting predicate on the left side may be pushed at this spot
    into_right: bool


@dataclass
class _Option:
    """One access path of a reference, with what it would push and cost."""

    path: AccessPath
    pushed: list[tuple[_Candidate, _Filter]]
    local: list[_Candidate]
    dropped_for_length: list[_Candidate]
    selective: _Filter | None
    estimate: int | None
    problem: str = ""


@dataclass
class _Ref:
    index: int
    name: str
    ref: TableRef
    alias: str
    columns: dict[str, None] = field(default_factory=dict)
    star: bool = False
    candidates: list[_Candidate] = field(default_factory=list)
    division_filters: list[exp.Expr] = field(default_factory=list)
    divisions: list[int] | None = None
    chosen: _Option | None = None
    notes: list[str] = field(default_factory=list)
    semi_join: SemiJoin | None = None
    top: int | None = None
    rows: list[int | None] = field(default_factory=list)

    @property
    def table(self) -> Table | None:
        return self.ref.table

    def catalog_column(self, name: str) -> str | None:
        """The catalog spelling of a column of this reference (None for unknown or dictionary)."""
        if self.table is None:
            return None
        column = self.table.column(name)
        return column.name if column is not None else None


# -- entry point ---------------------------------------------------------------------------------------


def plan_statement(
    tree: exp.Expression, resolver: NameResolver, scope: DivisionScope, stats: RowStats | None = None
) -> Plan:
    """The fetches of a query and the query rewritten over them (see the module docstring).

    Raises SQLError when a table is unknown, a connection alias has no divisions, or a table can only
    be read with a filter the statement does not give.
    """
    if not isinstance(tree, exp.Query):
        raise SQLError("Only queries (select …) can run here.", "Write a select statement.")
    out = tree.copy()
    refs = _bind_tables(out, resolver)
    by_name = {r.name: r for r in refs}
    work = _analysis_tree(out)
    _find_stars(work, by_name)
    work = _qualify(work, refs)
    scopes = _scopes(work)
    _collect_columns(scopes, by_name)
    equalities, root_where = _collect_predicates(work, scopes, by_name)
    for r in refs:
        _assign_divisions(r, scope)
    _propagate_divisions(equalities)
    for r in refs:
        if r.table is not None:
            _choose_path(r, stats)
    _plan_top(work, scopes, refs, root_where, stats)
    _plan_semi_joins(equalities)
    fetches = [_fetch_spec(r) for r in _ordered(refs)]
    return Plan(fetches, out)


# -- binding: table references → fetch names -----------------------------------------------------------


def _scopes(tree: exp.Expr) -> list[Scope]:
    try:
        return list(traverse_scope(tree))
    except SqlglotError as exc:
        raise SQLError(f"Cannot analyse the statement: {exc}.") from None


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


def _bind_tables(out: exp.Expr, resolver: NameResolver) -> list[_Ref]:
    """Replaces each table reference of ``out`` by its fetch's relation; returns the references."""
    real: dict[int, exp.Table] = {}
    for s in _scopes(out):
        for source in s.sources.values():
            if isinstance(source, exp.Table) and isinstance(source.this, exp.Identifier):
                real[id(source)] = source
    ordered = [real[id(n)] for n in _textual(out) if id(n) in real]
    refs: list[_Ref] = []
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
        refs.append(_Ref(index, name, ref, alias_node.name.lower()))
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


def _find_stars(work: exp.Expr, by_name: dict[str, _Ref]) -> None:
    """Marks the references whose every column a ``*`` or ``alias.*`` projection selects."""
    for s in _scopes(work):
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


def _qualify(work: exp.Expr, refs: list[_Ref]) -> exp.Expr:
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


def _lookup(s: Scope | None, alias: str) -> object:
    while s is not None:
        if alias in s.sources:
            return s.sources[alias]
        s = s.parent
    return None


def _ref_of(s: Scope, alias: str, by_name: dict[str, _Ref]) -> _Ref | None:
    source = _lookup(s, alias)
    if isinstance(source, exp.Table):
        return by_name.get(source.name)
    return None


def _collect_columns(scopes: list[Scope], by_name: dict[str, _Ref]) -> None:
    for s in scopes:
        for column in s.columns:
            if isinstance(column.this, exp.Star):
                continue
            name = column.name
            if column.table:
                r = _ref_of(s, column.table, by_name)
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


# -- predicates ----------------------------------------------------------------------------------------


def _conjuncts(node: exp.Expr | None) -> list[exp.Expr]:
    if node is None:
        return []
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return _conjuncts(node.left) + _conjuncts(node.right)
    return [node]


def _unparen(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def _direct_column(node: exp.Expr | None, alias: str) -> bool:
    if node is None:
        return False
    inner = _unparen(node)
    return isinstance(inner, exp.Column) and inner.table == alias


def _null_rejecting(node: exp.Expr, alias: str) -> bool:
    """Whether ``node`` is not true when every column of ``alias`` is NULL (a null-extended row)."""
    node = _unparen(node)
    if isinstance(node, exp.And):
        return _null_rejecting(node.left, alias) or _null_rejecting(node.right, alias)
    if isinstance(node, exp.Or):
        return _null_rejecting(node.left, alias) and _null_rejecting(node.right, alias)
    if isinstance(node, exp.Not):
        inner = _unparen(node.this)
        if isinstance(inner, exp.Is):
            return not inner.args.get("negate") and _direct_column(inner.this, alias)
        if isinstance(inner, exp.Column):
            return _direct_column(inner, alias)
        if isinstance(inner, (*_COMPARISONS, exp.In, exp.Between, exp.Like, exp.ILike)):
            return _null_rejecting(inner, alias)
        return False
    if isinstance(node, exp.Is):
        return bool(node.args.get("negate")) and _direct_column(node.this, alias)
    if isinstance(node, _COMPARISONS):
        return _direct_column(node.left, alias) or _direct_column(node.right, alias)
    if isinstance(node, exp.In | exp.Between | exp.Like | exp.ILike):
        return _direct_column(node.this, alias)
    if isinstance(node, exp.Column):
        return node.table == alias
    return False


@dataclass
class _Spot:
    """Where a conjunct sits: a WHERE, or the ON of a join of some side."""

    where: bool
    side: str = ""
    kind: str = ""
    joined: str = ""
    earlier: frozenset[str] = frozenset()
    nullable_before: frozenset[str] = frozenset()

    def allows(self, alias: str, null_rejecting: bool, nullable: set[str], inner: set[str]) -> bool:
        """Whether a conjunct on ``alias`` alone may filter that reference's rows before the joins."""
        if self.where:
            return alias not in nullable or alias in inner or null_rejecting
        if self.kind not in ("", "INNER", "OUTER", "CROSS"):
            return False
        earlier_ok = alias in self.earlier and (alias not in self.nullable_before or null_rejecting)
        if self.side == "":
            return alias == self.joined or earlier_ok
        if self.side == "LEFT":
            return alias == self.joined
        if self.side == "RIGHT":
            return alias != self.joined and earlier_ok
        return False


def _simplified_side(join: exp.Join, joined: str, earlier: list[str], where: list[exp.Expr]) -> str:
    """The join's side once the WHERE is taken into account: an outer join whose null-extended rows
    the WHERE rejects anyway (``left join b … where b.x = 1``) behaves as an inner (or one-sided) join."""
    side = (join.side or "").upper()
    if side not in ("LEFT", "RIGHT", "FULL"):
        return side
    right_rejected = any(_null_rejecting(c, joined) for c in where)
    left_rejected = any(_null_rejecting(c, a) for c in where for a in earlier)
    if side == "LEFT":
        return "" if right_rejected else side
    if side == "RIGHT":
        return "" if left_rejected else side
    if left_rejected and right_rejected:
        return ""
    return "LEFT" if left_rejected else "RIGHT" if right_rejected else side


def _collect_predicates(
    work: exp.Expr, scopes: list[Scope], by_name: dict[str, _Ref]
) -> tuple[list[_Equality], list[exp.Expr]]:
    """Assigns pushable conjuncts to references; returns the equalities between references and the
    conjuncts of the root query's WHERE (for ``$top``)."""
    equalities: list[_Equality] = []
    root_where: list[exp.Expr] = []
    by_select = {id(s.expression): s for s in scopes}
    uses: dict[int, int] = {}
    for s in scopes:
        for _, source in s.selected_sources.values():
            if isinstance(source, Scope):
                uses[id(source.expression)] = uses.get(id(source.expression), 0) + 1
    pushed_down: dict[int, list[exp.Expr]] = {}  # conjuncts moved into a derived table or CTE
    for s in reversed(scopes):  # outer scopes first, so that their conjuncts reach the inner ones
        select = s.expression
        if not isinstance(select, exp.Select):
            continue
        is_root = select is work
        spots: list[tuple[exp.Expr, _Spot]] = []
        nullable: set[str] = set()
        items: list[str] = []
        from_ = select.args.get("from_")
        if from_ is not None:
            items.append(from_.this.alias_or_name)
        where = _conjuncts(select.args["where"].this) if select.args.get("where") else []
        for join in select.args.get("joins") or []:
            joined = join.this.alias_or_name
            side = _simplified_side(join, joined, items, where)
            kind = (join.kind or "").upper()
            spot = _Spot(False, side, kind, joined, frozenset(items), frozenset(nullable))
            spots.extend((c, spot) for c in _conjuncts(join.args.get("on")))
            if side == "LEFT":
                nullable.add(joined)
            elif side == "RIGHT":
                nullable.update(items)
            elif side == "FULL":
                nullable.update([*items, joined])
            elif kind not in ("", "INNER", "OUTER", "CROSS"):
                nullable.add(joined)  # semi/anti/… joins: nothing is pushed through them
            items.append(joined)
        if is_root:
            root_where = where
        where = where + pushed_down.get(id(select), [])
        spots.extend((c, _Spot(True)) for c in where)
        inner = {a for a in nullable if any(_null_rejecting(c, a) for c in where)}
        local_aliases = set(items)
        for conjunct, spot in spots:
            if conjunct.find(exp.Select, exp.Subquery) is not None:
                if spot.where:
                    equalities.extend(
                        _subquery_equalities(conjunct, s, by_select, by_name, spot, nullable, inner)
                    )
                continue
            columns = list(conjunct.find_all(exp.Column))
            aliases = {c.table for c in columns}
            if not columns or "" in aliases or not aliases <= local_aliases:
                continue
            if len(aliases) == 1:
                alias = next(iter(aliases))
                r = _ref_of(s, alias, by_name)
                derived = s.sources.get(alias)
                if r is None and isinstance(derived, Scope) and uses.get(id(derived.expression)) == 1:
                    moved = _into_derived(conjunct, alias, derived, by_name)
                    if moved is not None and spot.allows(
                        alias, _null_rejecting(conjunct, alias), nullable, inner
                    ):
                        pushed_down.setdefault(id(derived.expression), []).append(moved)
                    continue
                if r is None:
                    continue
                if spot.allows(alias, _null_rejecting(conjunct, alias), nullable, inner):
                    r.candidates.append(_Candidate(conjunct))
                else:
                    r.notes.append(f"local (outer join): {_sql(conjunct)}")
                continue
            if len(aliases) == 2 and isinstance(conjunct, exp.EQ):
                left, right = _unparen(conjunct.left), _unparen(conjunct.right)
                if isinstance(left, exp.Column) and isinstance(right, exp.Column):
                    lr, rr = _ref_of(s, left.table, by_name), _ref_of(s, right.table, by_name)
                    if lr is not None and rr is not None:
                        equalities.append(
                            _Equality(
                                lr,
                                left.name,
                                rr,
                                right.name,
                                spot.allows(left.table, True, nullable, inner),
                                spot.allows(right.table, True, nullable, inner),
                            )
                        )
    return equalities, root_where


def _into_derived(conjunct: exp.Expr, alias: str, source: Scope, by_name: dict[str, _Ref]) -> exp.Expr | None:
    """``conjunct`` (on the derived table or CTE ``alias``) rewritten over the sources of its query, when
    filtering those rows first keeps the result: a plain select of columns, without grouping,
    aggregates, windows or a row limit. None otherwise."""
    select = source.expression
    if not isinstance(select, exp.Select):
        return None
    if any(
        select.args.get(k) for k in ("group", "having", "limit", "offset", "qualify", "connect", "windows")
    ):
        return None
    if any(p.find(exp.Window, exp.AggFunc) is not None for p in select.expressions):
        return None
    named: dict[str, exp.Expr] = {}
    starred: list[str] = []
    for projection in select.expressions:
        if isinstance(projection, exp.Star):
            starred.extend(source.sources)
        elif isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star):
            starred.append(projection.table)
        elif isinstance(projection, exp.Alias):
            named.setdefault(projection.alias, projection.this)
        else:
            named.setdefault(projection.alias_or_name, projection)
    failed = False

    def resolve(node: exp.Expr) -> exp.Expr:
        nonlocal failed
        if not isinstance(node, exp.Column) or node.table != alias:
            return node
        target = named.get(node.name)
        if target is not None:
            target = _unparen(target)
            if isinstance(target, exp.Column) and not isinstance(target.this, exp.Star):
                return target.copy()
            failed = True
            return node
        owners = [
            a
            for a in starred
            if isinstance(source.sources.get(a), exp.Table)
            and (r := _ref_of(source, a, by_name)) is not None
            and r.catalog_column(node.name) is not None
        ]
        if len(owners) != 1:
            failed = True
            return node
        return exp.column(node.name, table=owners[0])

    moved = conjunct.transform(resolve)
    return None if failed else moved


def _subquery_equalities(
    conjunct: exp.Expr,
    s: Scope,
    by_select: dict[int, Scope],
    by_name: dict[str, _Ref],
    spot: _Spot,
    nullable: set[str],
    inner: set[str],
) -> list[_Equality]:
    """Semi-join candidates from ``a.x in (select b.y from b …)`` and ``exists (… where b.y = a.x …)``,
    top-level conjuncts of a WHERE: ``a`` only matters where its ``x`` is among ``b.y`` and the reverse."""
    node = _unparen(conjunct)
    if isinstance(node, exp.In) and node.args.get("query") is not None:
        outer = _unparen(node.this)
        query = node.args["query"]
        select = query.this if isinstance(query, exp.Subquery) else query
        inner_scope = by_select.get(id(select))
        if not isinstance(outer, exp.Column) or inner_scope is None or not isinstance(select, exp.Select):
            return []
        outer_ref = _ref_of(s, outer.table, by_name) if outer.table in s.sources else None
        if outer_ref is None or len(select.expressions) != 1:
            return []
        projected = select.expressions[0].unalias()
        if not isinstance(projected, exp.Column) or projected.table not in inner_scope.sources:
            return []
        inner_ref = _ref_of(inner_scope, projected.table, by_name)
        if inner_ref is None:
            return []
        into_inner = not any(select.args.get(k) for k in ("limit", "offset"))
        return [
            _Equality(
                outer_ref,
                outer.name,
                inner_ref,
                projected.name,
                spot.allows(outer.table, True, nullable, inner),
                into_inner,
            )
        ]
    if isinstance(node, exp.Exists):
        select = node.this.this if isinstance(node.this, exp.Subquery) else node.this
        inner_scope = by_select.get(id(select))
        if inner_scope is None or not isinstance(select, exp.Select) or not select.args.get("where"):
            return []
        found: list[_Equality] = []
        for c in _conjuncts(select.args["where"].this):
            if not isinstance(c, exp.EQ):
                continue
            left, right = _unparen(c.left), _unparen(c.right)
            if not isinstance(left, exp.Column) or not isinstance(right, exp.Column):
                continue
            for here, there in ((left, right), (right, left)):
                if here.table in inner_scope.sources and there.table in s.sources:
                    inner_ref = _ref_of(inner_scope, here.table, by_name)
                    outer_ref = _ref_of(s, there.table, by_name)
                    if inner_ref is not None and outer_ref is not None:
                        found.append(
                            _Equality(
                                outer_ref,
                                there.name,
                                inner_ref,
                                here.name,
                                spot.allows(there.table, True, nullable, inner),
                                True,
                            )
                        )
        return found
    return []


# -- divisions -----------------------------------------------------------------------------------------


class _CannotEvaluate(Exception):
    pass


def _division_value(node: exp.Expr) -> int:
    constant = sql_constant(node)
    if constant is None or isinstance(constant.value, bool) or not isinstance(constant.value, int):
        raise _CannotEvaluate
    return constant.value


def _evaluate_division(node: exp.Expr, alias: str, division: int) -> bool:
    """The truth of a predicate on ``Division`` alone for one division (NULL counts as false)."""
    node = _unparen(node)
    if isinstance(node, exp.And):
        return _evaluate_division(node.left, alias, division) and _evaluate_division(
            node.right, alias, division
        )
    if isinstance(node, exp.Or):
        return _evaluate_division(node.left, alias, division) or _evaluate_division(
            node.right, alias, division
        )
    if isinstance(node, exp.Not):
        return not _evaluate_division(node.this, alias, division)
    if isinstance(node, _COMPARISONS):
        op = _OPS[type(node)]
        if _direct_column(node.left, alias):
            value = _division_value(node.right)
        elif _direct_column(node.right, alias):
            value, op = _division_value(node.left), _FLIP[op]
        else:
            raise _CannotEvaluate
        return {
            "eq": division == value,
            "ne": division != value,
            "gt": division > value,
            "ge": division >= value,
            "lt": division < value,
            "le": division <= value,
        }[op]
    if isinstance(node, exp.In) and not node.args.get("query") and _direct_column(node.this, alias):
        return division in {_division_value(v) for v in node.expressions}
    if isinstance(node, exp.Between) and _direct_column(node.this, alias):
        return _division_value(node.args["low"]) <= division <= _division_value(node.args["high"])
    raise _CannotEvaluate


def _assign_divisions(r: _Ref, scope: DivisionScope) -> None:
    if r.table is None or not r.table.partitioned:
        return
    try:
        divisions = list(scope.of(r.ref.alias))
    except KeyError:
        raise SQLError(
            f"No connection has the alias {r.ref.alias!r}.",
            f"Known aliases: {', '.join(sorted(scope.by_alias)) or 'none'}.",
        ) from None
    kept: list[_Candidate] = []
    for candidate in r.candidates:
        names = {c.name for c in candidate.expr.find_all(exp.Column)}
        if names != {DIVISION}:
            kept.append(candidate)
            continue
        try:
            allowed = [d for d in divisions if _evaluate_division(candidate.expr, r.alias, d)]
        except _CannotEvaluate:
            kept.append(candidate)
            continue
        r.division_filters.append(candidate.expr)
        divisions = allowed
    r.candidates = kept
    r.divisions = divisions
    if r.division_filters:
        shown = ", ".join(map(str, divisions)) or "none"
        r.notes.append(f"divisions {shown}: pruned by {_sql_list(r.division_filters)}")


def _propagate_divisions(equalities: list[_Equality]) -> None:
    """``a.division = b.division`` (inner): each side reads only the divisions the other may have."""
    changed = True
    while changed:
        changed = False
        for eq in equalities:
            if eq.left_column != DIVISION or eq.right_column != DIVISION:
                continue
            a, b = eq.left, eq.right
            if a.divisions is None or b.divisions is None or a.ref.alias != b.ref.alias:
                continue
            for target, source, allowed in ((a, b, eq.into_left), (b, a, eq.into_right)):
                assert target.divisions is not None and source.divisions is not None
                narrowed = [d for d in target.divisions if d in source.divisions]
                if allowed and narrowed != target.divisions:
                    target.divisions = narrowed
                    target.notes.append(
                        f"divisions {', '.join(map(str, narrowed)) or 'none'}: "
                        f"joined on Division with {source.name}"
                    )
                    changed = True


# -- converting predicates to $filter ------------------------------------------------------------------


class _Converter:
    """Turns SQL predicates on one reference into OData for one access path (None: stays local)."""

    def __init__(self, r: _Ref, path: AccessPath) -> None:
        self.r = r
        self.path = path

    def column(self, node: exp.Expr | None) -> tuple[str, str] | None:
        """The catalog name and Edm type of a column this path can filter, or None."""
        if node is None:
            return None
        node = _unparen(node)
        if not isinstance(node, exp.Column) or node.table != self.r.alias or node.name == DIVISION:
            return None
        name = self.r.catalog_column(node.name)
        if name is None:
            return None
        column = self.path.column(name)
        if column is None or not self.path.can_filter(column.name):
            return None
        return column.name, column.edm

    def convert(self, node: exp.Expr, negate: bool = False) -> _Filter | None:
        node = _unparen(node)
        if isinstance(node, exp.Not):
            return self.convert(node.this, not negate)
        if isinstance(node, exp.And | exp.Or):
            parts = _flatten(node, type(node))
            if isinstance(node, exp.And) != negate:  # an and (or a negated or): weaken by dropping parts
                converted = [self.convert(p, negate) for p in parts]
                kept = [c for c in converted if c is not None]
                return _all_of(kept, exact=len(kept) == len(parts)) if kept else None
            branches = [self.convert(p, negate) for p in parts]
            if any(b is None for b in branches):
                return None
            return _any_of([b for b in branches if b is not None])
        if isinstance(node, _COMPARISONS):
            return self.comparison(node, negate)
        if isinstance(node, exp.Is):
            return self.is_null(node, negate != bool(node.args.get("negate")))
        if isinstance(node, exp.In):
            return self.in_list(node, negate)
        if isinstance(node, exp.Between):
            return self.between(node, negate)
        if isinstance(node, exp.Like):
            return None if negate or node.args.get("negate") else self.like(node)
        if isinstance(node, exp.Column):
            found = self.column(node)
            if found is None or found[1] != "Edm.Boolean":
                return None
            return _atom(f"{found[0]} eq {'false' if negate else 'true'}", found[0], True)
        return None

    def literal(self, node: exp.Expr, edm: str) -> tuple[str, bool] | None:
        """The OData literal of a constant for a column of type ``edm`` and whether it is exact."""
        constant = sql_constant(node)
        if constant is None or constant.value is None:
            return None
        text = render_literal(constant.value, edm)
        if text is None:
            return None
        exact = True
        if edm == "Edm.Guid":
            exact = isinstance(constant.value, str) and is_canonical_guid(constant.value)
        elif edm == "Edm.String":
            exact = False  # Exact compares strings case-insensitively (a superset)
        return text, exact

    def compare(self, name: str, edm: str, op: str, value: exp.Expr) -> _Filter | None:
        rendered = self.literal(value, edm)
        if rendered is None:
            return None
        text, exact = rendered
        if edm == "Edm.String" and op != "eq":
            return None  # Exact's collation orders and equates strings unlike DuckDB
        if edm == "Edm.Guid" and (op not in ("eq", "ne") or (op == "ne" and not exact)):
            return None
        if edm not in (*_RANGE_TYPES, "Edm.Boolean", "Edm.Guid", "Edm.String"):
            return None
        if edm == "Edm.Boolean" and op not in ("eq", "ne"):
            return None
        selective = op == "eq" and edm != "Edm.Boolean"
        return _atom(f"{name} {op} {text}", name, exact, (name, 1) if selective else None)

    def comparison(
        self, node: exp.EQ | exp.NEQ | exp.GT | exp.GTE | exp.LT | exp.LTE, negate: bool
    ) -> _Filter | None:
        op = _OPS[type(node)]
        found = self.column(node.left)
        value = node.right
        if found is None:
            found, value, op = self.column(node.right), node.left, _FLIP[op]
        if found is None:
            return None
        if negate:
            op = _NEGATE[op]
        return self.compare(found[0], found[1], op, value)

    def is_null(self, node: exp.Is, not_null: bool) -> _Filter | None:
        found = self.column(node.this)
        if found is None or not isinstance(node.expression, exp.Null):
            return None
        return _atom(f"{found[0]} {'ne' if not_null else 'eq'} null", found[0], found[1] != "Edm.String")

    def in_list(self, node: exp.In, negate: bool) -> _Filter | None:
        found = self.column(node.this)
        if found is None or node.args.get("query") or node.args.get("unnest") or node.args.get("field"):
            return None
        name, edm = found
        values = node.expressions
        if not values:
            return None
        non_null: list[exp.Expr] = []
        for value in values:
            constant = sql_constant(value)
            if constant is None:
                return None
            if constant.value is not None:
                non_null.append(value)
        if not non_null or (negate and len(non_null) < len(values)):
            return None  # x IN (NULL) and x NOT IN (…, NULL) are never true: DuckDB answers them
        parts: list[_Filter] = []
        for value in non_null:
            part = self.compare(name, edm, "ne" if negate else "eq", value)
            if part is None:
                return None
            parts.append(part)
        return _all_of(_unique(parts)) if negate else _any_of(_unique(parts))

    def between(self, node: exp.Between, negate: bool) -> _Filter | None:
        found = self.column(node.this)
        if found is None or node.args.get("symmetric"):
            return None
        name, edm = found
        if edm not in _RANGE_TYPES:
            return None
        low = self.compare(name, edm, "lt" if negate else "ge", node.args["low"])
        high = self.compare(name, edm, "gt" if negate else "le", node.args["high"])
        if low is None or high is None:
            return None
        return _any_of([low, high]) if negate else _all_of([low, high])

    def like(self, node: exp.Like) -> _Filter | None:
        found = self.column(node.this)
        if found is None or found[1] != "Edm.String":
            return None
        name = found[0]
        constant = sql_constant(node.expression)
        if constant is None or not isinstance(constant.value, str):
            return None
        pattern = constant.value
        if not any(ch in pattern for ch in "%_"):
            return _atom(f"{name} eq {render_literal(pattern, 'Edm.String')}", name, False, (name, 1))
        segments = [s for s in _split_wildcards(pattern)]
        inner = pattern.strip("%")
        if inner and not any(ch in inner for ch in "%_") and "[" not in inner:
            starts, ends = pattern.startswith("%"), pattern.endswith("%")
            lit = render_literal(inner, "Edm.String")
            if starts and ends:
                return _atom(f"substringof({lit},{name})", name, False)
            if ends:
                return _atom(f"startswith({name},{lit})", name, False)
            return _atom(f"endswith({name},{lit})", name, False)
        if not inner:
            return _atom(f"{name} ne null", name, True)  # '%' matches every non-null value
        prefix = segments[0] if not pattern.startswith(("%", "_")) else ""
        prefix = prefix.split("[")[0]
        if prefix:
            return _atom(f"startswith({name},{render_literal(prefix, 'Edm.String')})", name, False)
        longest = max((s.split("[")[0] for s in segments), key=len, default="")
        if longest:
            return _atom(f"substringof({render_literal(longest, 'Edm.String')},{name})", name, False)
        return None


def _split_wildcards(pattern: str) -> list[str]:
    parts, current = [], ""
    for ch in pattern:
        if ch in "%_":
            if current:
                parts.append(current)
            current = ""
        else:
            current += ch
    if current:
        parts.append(current)
    return parts


def _flatten(node: exp.Expr, kind: type) -> list[exp.Expr]:
    node = _unparen(node)
    if isinstance(node, kind):
        return _flatten(node.left, kind) + _flatten(node.right, kind)  # type: ignore[attr-defined]
    return [node]


def _unique(parts: list[_Filter]) -> list[_Filter]:
    seen: dict[str, _Filter] = {}
    for p in parts:
        seen.setdefault(p.text, p)
    return list(seen.values())


# -- choosing the access path --------------------------------------------------------------------------


def _needed_columns(r: _Ref) -> list[str]:
    """The explicitly referenced columns in catalog spelling (not Division)."""
    names: list[str] = []
    for name in r.columns:
        catalog = r.catalog_column(name)
        if catalog is not None and catalog != "Division" and catalog not in names:
            names.append(catalog)
    return names


def _select(r: _Ref, path: AccessPath) -> list[str]:
    needed = set(_needed_columns(r))
    chosen = [
        c.name
        for c in path.columns
        if c.name != "Division" and (c.name in needed or (r.star and c.edm.startswith("Edm.")))
    ]
    if chosen:
        return chosen
    assert r.table is not None
    for key in _keys(r.table, path):
        column = path.column(key)
        if column is not None and column.name != "Division":
            return [column.name]
    first = next((c.name for c in path.columns if c.name != "Division" and c.edm.startswith("Edm.")), None)
    return [first] if first else []


def _encoded(text: str) -> int:
    return len(quote(text, safe="'(),"))


def _rows(r: _Ref, stats: RowStats | None) -> list[int | None]:
    """Known row counts per target (division, or one call for a table without divisions)."""
    assert r.table is not None
    if r.divisions is None:
        return [None]
    return [stats.rows(r.table.full_name, d) if stats else None for d in r.divisions]


def _estimate(
    path: AccessPath, selective: _Filter | None, rows: list[int | None], top: int | None
) -> int | None:
    total = 0
    for n in rows:
        calls: int | None
        if selective is not None and selective.eq is not None:
            calls = max(1, math.ceil(selective.eq[1] / path.page_size))
            if n is not None:
                calls = min(calls, max(1, math.ceil(n / path.page_size)))
        elif n is not None:
            calls = max(1, math.ceil(n / path.page_size))
        else:
            calls = None
        if top is not None:
            capped = max(1, math.ceil(top / path.page_size))
            calls = capped if calls is None else min(calls, capped)
        if calls is None:
            return None
        total += calls
    return total


def _option(r: _Ref, path: AccessPath, rows: list[int | None]) -> _Option:
    converter = _Converter(r, path)
    pushed: list[tuple[_Candidate, _Filter]] = []
    local: list[_Candidate] = []
    for candidate in r.candidates:
        converted = converter.convert(candidate.expr)
        if converted is None:
            local.append(candidate)
        else:
            pushed.append((candidate, converted))
    missing = [n for n in _needed_columns(r) if path.column(n) is None]
    option = _Option(path, pushed, local, [], None, None)
    if missing:
        option.problem = f"{path.endpoint} has no column {', '.join(missing)}"
        return option
    mandatory = set(path.mandatory_filter or ())
    budget = URL_BUDGET - _encoded(",".join(_select(r, path)))
    while pushed and _encoded(" and ".join(f.text for _, f in pushed)) > budget:
        # too long for one URL: the longest conjuncts stay local, a mandatory-filter one last
        drop = max(pushed, key=lambda cf: (not (cf[1].columns & mandatory), len(cf[1].text)))
        pushed.remove(drop)
        option.dropped_for_length.append(drop[0])
    if mandatory and not any(f.columns & mandatory for _, f in pushed):
        option.problem = f"{path.endpoint} requires a $filter on one of its filter columns"
        return option
    assert r.table is not None
    keys = _keys(r.table, path)
    selective = [f for _, f in pushed if f.eq is not None]
    option.selective = min(selective, key=lambda f: (f.eq[0] not in keys, f.eq[1]), default=None)  # type: ignore[index]
    option.estimate = _estimate(path, option.selective, rows, None)
    return option


def _rank(option: _Option) -> tuple:
    kind = (
        0 if option.path.kind == "regular" and option.selective is not None else _KIND_RANK[option.path.kind]
    )
    if option.estimate is not None:
        return (0, option.estimate, -len(option.pushed), kind)
    return (1, -option.path.page_size, -len(option.pushed), kind)


def _choose_path(r: _Ref, stats: RowStats | None) -> None:
    table = r.table
    assert table is not None
    rows = r.rows = _rows(r, stats)
    options = [_option(r, p, rows) for p in table.paths if "GET" in p.methods]
    usable = [o for o in options if not o.problem]
    forced = r.ref.forced_path
    chosen: _Option | None = None
    if forced:
        wanted = [o for o in usable if o.path.kind == forced]
        if wanted:
            chosen = min(wanted, key=_rank)
            r.notes.insert(0, f"path {chosen.path.endpoint}: asked for by the name {r.ref.display}")
        else:
            reasons = "; ".join(o.problem for o in options if o.path.kind == forced) or "no such endpoint"
            r.notes.append(f"the {forced} endpoint named by {r.ref.display} cannot be used ({reasons})")
    if chosen is None:
        if not usable:
            _no_path(r, options)
        chosen = _best(r, usable)
        r.notes.insert(0, _why(chosen, usable))
    r.chosen = chosen
    for candidate in chosen.local:
        r.notes.append(f"local: {_sql(candidate.expr)}")
    for candidate in chosen.dropped_for_length:
        r.notes.append(f"local (the URL would be too long): {_sql(candidate.expr)}")


def _best(r: _Ref, usable: list[_Option]) -> _Option:
    """The regular endpoint with a selective filter; but a 1,000-row endpoint taking the same filters
    when the filter is not on the key (it never costs more calls); else the cheapest wide read."""
    selective = [o for o in usable if o.path.kind == "regular" and o.selective is not None]
    if selective:
        regular = selective[0]
        assert regular.selective is not None and r.table is not None
        on_key = regular.selective.eq is not None and regular.selective.eq[0] in _keys(r.table, regular.path)
        sent = {id(c) for c, _ in regular.pushed}
        wider = [
            o
            for o in usable
            if o.path.page_size > regular.path.page_size and sent <= {id(c) for c, _ in o.pushed}
        ]
        if on_key or not wider:
            return regular
        return min(wider, key=_rank)
    return min(usable, key=_rank)


def _keys(table: Table, path: AccessPath) -> list[str]:
    keys: list[str] = []
    for key in (table.key, path.key):
        keys.extend(key if isinstance(key, list) else [key] if key else [])
    return keys


def _why(chosen: _Option, usable: list[_Option]) -> str:
    path = chosen.path
    if path.kind == "regular" and chosen.selective is not None:
        reason = f"selective filter on {next(iter(chosen.selective.columns))}"
    elif chosen.selective is not None:
        reason = (
            f"selective filter on {next(iter(chosen.selective.columns))}, "
            "taken by this 1,000-row endpoint too (never more calls than the regular one)"
        )
    elif path.kind == "sync":
        reason = "wide read, 1,000 rows a call; sync filters on Timestamp only"
    elif path.kind == "bulk":
        reason = "wide read, 1,000 rows a call"
    elif any(o.path.page_size > 60 for o in usable):
        reason = "fewest calls"
    else:
        reason = "the only endpoint"
    return f"path {path.endpoint}: {reason}"


def _no_path(r: _Ref, options: list[_Option]) -> None:
    table = r.table
    assert table is not None
    display = r.ref.display
    if options and all("has no column" in o.problem for o in options):
        raise SQLError(
            f"No endpoint of {display} returns all the columns the statement uses.",
            "; ".join(o.problem for o in options) + ".",
        )
    mandatory: list[str] = []
    for o in options:
        for name in o.path.mandatory_filter or ():
            if name not in mandatory and name != "Division":
                mandatory.append(name)
    if not mandatory:
        raise SQLError(
            f"No endpoint of {display} can serve this statement.",
            "; ".join(o.problem for o in options if o.problem) + ".",
        )
    key = table.key if isinstance(table.key, str) else None
    preferred = [key, "ID", "Code", "Name", "Description", "Modified", "Created", "Status", "Type"]
    shown = [n for n in preferred if n and n in mandatory]
    shown = list(dict.fromkeys(shown + mandatory))[:8]
    more = ", …" if len(mandatory) > len(shown) else ""
    example = shown[0]
    raise SQLError(
        f"{display} can only be read with a filter: Exact requires a $filter on one of its filter "
        "columns, and no endpoint without that rule returns the columns used.",
        f"Add a condition such as `{r.alias}.{example.lower()} = …` (or in/like 'x%'/between/>=) on one of: "
        f"{', '.join(shown)}{more}.",
    )


# -- $top ----------------------------------------------------------------------------------------------


def _int_literal(node: exp.Expr | None) -> int | None:
    if node is None:
        return None
    constant = sql_constant(node)
    if constant is None or isinstance(constant.value, bool) or not isinstance(constant.value, int):
        return None
    return constant.value if constant.value >= 0 else None


def _limit(select: exp.Select) -> int | None:
    limit = select.args.get("limit")
    if isinstance(limit, exp.Limit):
        n = _int_literal(limit.expression)
    elif isinstance(limit, exp.Fetch):
        options = limit.args.get("limit_options")
        if options is not None and (options.args.get("percent") or options.args.get("with_ties")):
            return None
        n = _int_literal(limit.args.get("count"))
    else:
        return None
    if n is None:
        return None
    offset = select.args.get("offset")
    if offset is not None:
        skip = _int_literal(offset.expression)
        if skip is None:
            return None
        n += skip
    return n


def _plan_top(
    work: exp.Expr,
    scopes: list[Scope],
    refs: list[_Ref],
    root_where: list[exp.Expr],
    stats: RowStats | None,
) -> None:
    if len(refs) != 1 or len(scopes) != 1 or not isinstance(work, exp.Select):
        return
    r = refs[0]
    if r.chosen is None or r.chosen.path.kind == "sync":
        return
    if any(
        work.args.get(k) for k in ("distinct", "group", "having", "order", "qualify", "connect", "windows")
    ):
        return
    if work.find(exp.AggFunc, exp.Window) is not None:
        return
    n = _limit(work)
    if n is None:
        return
    exact = {id(c.expr) for c, f in r.chosen.pushed if f.exact}
    settled = exact | {id(e) for e in r.division_filters}
    if any(id(c) not in settled for c in root_where):
        return
    r.top = n
    r.chosen.estimate = _estimate(r.chosen.path, r.chosen.selective, _rows(r, stats), n)
    r.notes.append(f"$top={n}: every condition was sent exactly")


# -- semi-joins ----------------------------------------------------------------------------------------


def _small(r: _Ref) -> bool:
    """Whether a reference yields few rows: a selective filter, or known to be small."""
    if r.chosen is None:
        return False
    if r.chosen.selective is not None:
        return True
    return bool(r.rows) and None not in r.rows and sum(n or 0 for n in r.rows) <= SMALL_ROWS


def _semi_join_target_ok(target: _Ref, column: str, source_edm: str) -> bool:
    option = target.chosen
    table = target.table
    if option is None or table is None or option.selective is not None or target.semi_join is not None:
        return False
    regular = table.path("regular")
    if regular is None or "GET" not in regular.methods:
        return False
    catalog = target.catalog_column(column)
    if catalog is None or catalog == "Division":
        return False
    target_column = regular.column(catalog)
    if target_column is None or not regular.can_filter(target_column.name):
        return False
    if _category(target_column.edm) != _category(source_edm):
        return False
    if regular.mandatory_filter and target_column.name not in regular.mandatory_filter:
        return False
    if any(regular.column(n) is None for n in _select(target, option.path)):
        return False
    filter_columns = (
        frozenset().union(*(f.columns for _, f in option.pushed)) if option.pushed else frozenset()
    )
    if any(regular.column(n) is None or not regular.can_filter(n) for n in filter_columns):
        return False
    # a full read known to fit one call per division cannot be beaten
    return not (option.estimate is not None and option.estimate <= len(target.divisions or [1]))


def _category(edm: str) -> str:
    return "int" if edm in _INT_TYPES else edm


def _plan_semi_joins(equalities: list[_Equality]) -> None:
    for eq in equalities:
        if DIVISION in (eq.left_column, eq.right_column) or eq.left is eq.right:
            continue
        sides = ((eq.left, eq.left_column, eq.right, eq.right_column, eq.into_right),
                 (eq.right, eq.right_column, eq.left, eq.left_column, eq.into_left))  # fmt: skip
        for source, source_column, target, target_column, allowed in sides:
            if not allowed or source.semi_join is not None or not _small(source) or source.table is None:
                continue
            source_catalog = source.catalog_column(source_column)
            if source_catalog is None or source_catalog == "Division":
                continue
            source_edm = source.table.column(source_catalog)
            if source_edm is None or not _semi_join_target_ok(target, target_column, source_edm.edm):
                continue
            assert target.table is not None
            column = target.catalog_column(target_column)
            assert column is not None
            target.semi_join = SemiJoin(column=column, source=source.name, source_column=source_catalog)
            target.notes.append(
                f"semi-join: may read by chunks of {source.name}.{source_catalog} keys as "
                f"{column} eq … on {target.table.path('regular').endpoint}"  # type: ignore[union-attr]
                " when that costs fewer calls"
            )
            break


def _ordered(refs: list[_Ref]) -> list[_Ref]:
    """References in statement order, each semi-join source before the reference it feeds."""
    order: list[_Ref] = []
    by_name = {r.name: r for r in refs}

    visiting: set[str] = set()

    def visit(r: _Ref) -> None:
        if r in order or r.name in visiting:
            return
        visiting.add(r.name)
        if r.semi_join is not None:
            visit(by_name[r.semi_join.source])
        order.append(r)

    for r in refs:
        visit(r)
    return order


# -- output --------------------------------------------------------------------------------------------


def _fetch_spec(r: _Ref) -> FetchSpec:
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
        select=_select(r, option.path),
        divisions=r.divisions,
        top=r.top,
        semi_join=r.semi_join,
        estimated_calls=option.estimate,
        notes=r.notes,
    )


def _sql(node: exp.Expr) -> str:
    return node.sql(dialect="oracle")


def _sql_list(nodes: list[exp.Expr]) -> str:
    return " and ".join(_sql(n) for n in nodes)
