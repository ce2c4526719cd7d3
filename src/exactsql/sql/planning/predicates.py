"""Which WHERE and ON conjuncts may filter a reference before the joins, and the equalities between references."""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp
from sqlglot.optimizer.scope import Scope

from exactsql.sql.planning.refs import (
    COMPARISONS,
    Candidate,
    Equality,
    Ref,
    conjuncts,
    direct_column,
    ref_of,
    sql_text,
    unparen,
)


def null_rejecting(node: exp.Expr, alias: str) -> bool:
    """Whether ``node`` is not true when every column of ``alias`` is NULL (a null-extended row)."""
    node = unparen(node)
    if isinstance(node, exp.And):
        return null_rejecting(node.left, alias) or null_rejecting(node.right, alias)
    if isinstance(node, exp.Or):
        return null_rejecting(node.left, alias) and null_rejecting(node.right, alias)
    if isinstance(node, exp.Not):
        inner = unparen(node.this)
        if isinstance(inner, exp.Is):
            return not inner.args.get("negate") and direct_column(inner.this, alias)
        if isinstance(inner, exp.Column):
            return direct_column(inner, alias)
        if isinstance(inner, (*COMPARISONS, exp.In, exp.Between, exp.Like, exp.ILike)):
            return null_rejecting(inner, alias)
        return False
    if isinstance(node, exp.Is):
        return bool(node.args.get("negate")) and direct_column(node.this, alias)
    if isinstance(node, COMPARISONS):
        return direct_column(node.left, alias) or direct_column(node.right, alias)
    if isinstance(node, exp.In | exp.Between | exp.Like | exp.ILike):
        return direct_column(node.this, alias)
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
    right_rejected = any(null_rejecting(c, joined) for c in where)
    left_rejected = any(null_rejecting(c, a) for c in where for a in earlier)
    if side == "LEFT":
        return "" if right_rejected else side
    if side == "RIGHT":
        return "" if left_rejected else side
    if left_rejected and right_rejected:
        return ""
    return "LEFT" if left_rejected else "RIGHT" if right_rejected else side


def collect_predicates(
    work: exp.Expr, scopes: list[Scope], by_name: dict[str, Ref]
) -> tuple[list[Equality], list[exp.Expr]]:
    """Assigns pushable conjuncts to references; returns the equalities between references and the
    conjuncts of the root query's WHERE (for ``$top``)."""
    equalities: list[Equality] = []
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
        where = conjuncts(select.args["where"].this) if select.args.get("where") else []
        for join in select.args.get("joins") or []:
            joined = join.this.alias_or_name
            side = _simplified_side(join, joined, items, where)
            kind = (join.kind or "").upper()
            spot = _Spot(False, side, kind, joined, frozenset(items), frozenset(nullable))
            spots.extend((c, spot) for c in conjuncts(join.args.get("on")))
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
        inner = {a for a in nullable if any(null_rejecting(c, a) for c in where)}
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
                r = ref_of(s, alias, by_name)
                derived = s.sources.get(alias)
                if r is None and isinstance(derived, Scope) and uses.get(id(derived.expression)) == 1:
                    moved = _into_derived(conjunct, alias, derived, by_name)
                    if moved is not None and spot.allows(
                        alias, null_rejecting(conjunct, alias), nullable, inner
                    ):
                        pushed_down.setdefault(id(derived.expression), []).append(moved)
                    continue
                if r is None:
                    continue
                if spot.allows(alias, null_rejecting(conjunct, alias), nullable, inner):
                    r.candidates.append(Candidate(conjunct))
                else:
                    r.notes.append(f"local (outer join): {sql_text(conjunct)}")
                continue
            if len(aliases) == 2 and isinstance(conjunct, exp.EQ):
                left, right = unparen(conjunct.left), unparen(conjunct.right)
                if isinstance(left, exp.Column) and isinstance(right, exp.Column):
                    lr, rr = ref_of(s, left.table, by_name), ref_of(s, right.table, by_name)
                    if lr is not None and rr is not None:
                        equalities.append(
                            Equality(
                                lr,
                                left.name,
                                rr,
                                right.name,
                                spot.allows(left.table, True, nullable, inner),
                                spot.allows(right.table, True, nullable, inner),
                            )
                        )
    return equalities, root_where


def _into_derived(conjunct: exp.Expr, alias: str, source: Scope, by_name: dict[str, Ref]) -> exp.Expr | None:
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
            target = unparen(target)
            if isinstance(target, exp.Column) and not isinstance(target.this, exp.Star):
                return target.copy()
            failed = True
            return node
        owners = [
            a
            for a in starred
            if isinstance(source.sources.get(a), exp.Table)
            and (r := ref_of(source, a, by_name)) is not None
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
    by_name: dict[str, Ref],
    spot: _Spot,
    nullable: set[str],
    inner: set[str],
) -> list[Equality]:
    """Semi-join candidates from ``a.x in (select b.y from b …)`` and ``exists (… where b.y = a.x …)``,
    top-level conjuncts of a WHERE: ``a`` only matters where its ``x`` is among ``b.y`` and the reverse."""
    node = unparen(conjunct)
    if isinstance(node, exp.In) and node.args.get("query") is not None:
        outer = unparen(node.this)
        query = node.args["query"]
        select = query.this if isinstance(query, exp.Subquery) else query
        inner_scope = by_select.get(id(select))
        if not isinstance(outer, exp.Column) or inner_scope is None or not isinstance(select, exp.Select):
            return []
        outer_ref = ref_of(s, outer.table, by_name) if outer.table in s.sources else None
        if outer_ref is None or len(select.expressions) != 1:
            return []
        projected = select.expressions[0].unalias()
        if not isinstance(projected, exp.Column) or projected.table not in inner_scope.sources:
            return []
        inner_ref = ref_of(inner_scope, projected.table, by_name)
        if inner_ref is None:
            return []
        into_inner = not any(select.args.get(k) for k in ("limit", "offset"))
        return [
            Equality(
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
        found: list[Equality] = []
        for c in conjuncts(select.args["where"].this):
            if not isinstance(c, exp.EQ):
                continue
            left, right = unparen(c.left), unparen(c.right)
            if not isinstance(left, exp.Column) or not isinstance(right, exp.Column):
                continue
            for here, there in ((left, right), (right, left)):
                if here.table in inner_scope.sources and there.table in s.sources:
                    inner_ref = ref_of(inner_scope, here.table, by_name)
                    outer_ref = ref_of(s, there.table, by_name)
                    if inner_ref is not None and outer_ref is not None:
                        found.append(
                            Equality(
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
