"""Division pruning: predicates on ``Division`` alone, and ``a.Division = b.Division``."""

from __future__ import annotations

from sqlglot import exp

from exactsql.sql.dialect import SQLError
from exactsql.sql.odata_literals import sql_constant
from exactsql.sql.plan import DivisionScope
from exactsql.sql.planning.refs import (
    COMPARISONS,
    DIVISION,
    FLIP,
    OPS,
    Candidate,
    Equality,
    Ref,
    direct_column,
    sql_list,
    unparen,
)


class _CannotEvaluate(Exception):
    pass


def _division_value(node: exp.Expr) -> int:
    constant = sql_constant(node)
    if constant is None or isinstance(constant.value, bool) or not isinstance(constant.value, int):
        raise _CannotEvaluate
    return constant.value


def _evaluate_division(node: exp.Expr, alias: str, division: int) -> bool:
    """The truth of a predicate on ``Division`` alone for one division (NULL counts as false)."""
    node = unparen(node)
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
    if isinstance(node, COMPARISONS):
        op = OPS[type(node)]
        if direct_column(node.left, alias):
            value = _division_value(node.right)
        elif direct_column(node.right, alias):
            value, op = _division_value(node.left), FLIP[op]
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
    if isinstance(node, exp.In) and not node.args.get("query") and direct_column(node.this, alias):
        return division in {_division_value(v) for v in node.expressions}
    if isinstance(node, exp.Between) and direct_column(node.this, alias):
        return _division_value(node.args["low"]) <= division <= _division_value(node.args["high"])
    raise _CannotEvaluate


def assign_divisions(r: Ref, scope: DivisionScope) -> None:
    if r.table is None or not r.table.partitioned:
        return
    try:
        divisions = list(scope.of(r.ref.alias))
    except KeyError:
        raise SQLError(
            f"No connection has the alias {r.ref.alias!r}.",
            f"Known aliases: {', '.join(scope.aliases()) or 'none'}.",
        ) from None
    kept: list[Candidate] = []
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
        r.notes.append(f"divisions {shown}: pruned by {sql_list(r.division_filters)}")


def propagate_divisions(equalities: list[Equality]) -> None:
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
