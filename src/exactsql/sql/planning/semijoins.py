"""Semi-joins: a wide read narrowed to the keys a small reference produced."""

from __future__ import annotations

from exactsql.sql.plan import SemiJoin
from exactsql.sql.planning.paths import select_columns
from exactsql.sql.planning.refs import DIVISION, INT_TYPES, Equality, Ref

SMALL_ROWS = 1000
"""A reference known (from row statistics) to hold at most this many rows can feed a semi-join."""


def _small(r: Ref) -> bool:
    """Whether a reference yields few rows: a selective filter, or known to be small."""
    if r.chosen is None:
        return False
    if r.chosen.selective is not None:
        return True
    return bool(r.rows) and None not in r.rows and sum(n or 0 for n in r.rows) <= SMALL_ROWS


def _semi_join_target_ok(target: Ref, column: str, source_edm: str) -> bool:
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
    if any(regular.column(n) is None for n in select_columns(target, option.path)):
        return False
    filter_columns = (
        frozenset().union(*(f.columns for _, f in option.pushed)) if option.pushed else frozenset()
    )
    if any(regular.column(n) is None or not regular.can_filter(n) for n in filter_columns):
        return False
    # a full read known to fit one call per division cannot be beaten
    return not (option.estimate is not None and option.estimate <= len(target.divisions or [1]))


def _category(edm: str) -> str:
    return "int" if edm in INT_TYPES else edm


def plan_semi_joins(equalities: list[Equality]) -> None:
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


def ordered(refs: list[Ref]) -> list[Ref]:
    """References in statement order, each semi-join source before the reference it feeds."""
    order: list[Ref] = []
    by_name = {r.name: r for r in refs}

    visiting: set[str] = set()

    def visit(r: Ref) -> None:
        if r in order or r.name in visiting:
            return
        visiting.add(r.name)
        if r.semi_join is not None:
            visit(by_name[r.semi_join.source])
        order.append(r)

    for r in refs:
        visit(r)
    return order
