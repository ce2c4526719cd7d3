"""Table references as the planner sees them, and the helpers every step shares."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlglot import exp
from sqlglot.errors import SqlglotError
from sqlglot.optimizer.scope import Scope, traverse_scope

from exactsql.catalog import Table
from exactsql.sql.dialect import SQLError
from exactsql.sql.names import TableRef
from exactsql.sql.plan import SemiJoin

if TYPE_CHECKING:
    from exactsql.sql.planning.paths import Option

DIVISION = "division"

INT_TYPES = ("Edm.Byte", "Edm.SByte", "Edm.Int16", "Edm.Int32", "Edm.Int64")
RANGE_TYPES = (*INT_TYPES, "Edm.Double", "Edm.Single", "Edm.Decimal", "Edm.DateTime")
COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE)
OPS: dict[type[exp.Expr], str] = {
    exp.EQ: "eq",
    exp.NEQ: "ne",
    exp.GT: "gt",
    exp.GTE: "ge",
    exp.LT: "lt",
    exp.LTE: "le",
}
FLIP = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}
NEGATE = {"eq": "ne", "ne": "eq", "gt": "le", "ge": "lt", "lt": "ge", "le": "gt"}


# -- table references ----------------------------------------------------------------------------------


@dataclass
class Candidate:
    """A conjunct of a WHERE or ON that may be pushed into one reference."""

    expr: exp.Expr


@dataclass
class Equality:
    """``a.col = b.col`` between two references (for semi-joins and division pruning)."""

    left: Ref
    left_column: str
    right: Ref
    right_column: str
    into_left: bool  # a null-rejecting predicate on the left side may be pushed at this spot
    into_right: bool


@dataclass
class Ref:
    """One table reference of a statement, and what the planner decides for it."""

    index: int
    name: str
    ref: TableRef
    alias: str
    columns: dict[str, None] = field(default_factory=dict)
    star: bool = False
    candidates: list[Candidate] = field(default_factory=list)
    division_filters: list[exp.Expr] = field(default_factory=list)
    divisions: list[int] | None = None
    chosen: Option | None = None
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


# -- helpers -------------------------------------------------------------------------------------------


def scopes_of(tree: exp.Expr) -> list[Scope]:
    try:
        return list(traverse_scope(tree))
    except SqlglotError as exc:
        raise SQLError(f"Cannot analyse the statement: {exc}.") from None


def lookup(s: Scope | None, alias: str) -> object:
    while s is not None:
        if alias in s.sources:
            return s.sources[alias]
        s = s.parent
    return None


def ref_of(s: Scope, alias: str, by_name: dict[str, Ref]) -> Ref | None:
    source = lookup(s, alias)
    if isinstance(source, exp.Table):
        return by_name.get(source.name)
    return None


def conjuncts(node: exp.Expr | None) -> list[exp.Expr]:
    if node is None:
        return []
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, exp.And):
        return conjuncts(node.left) + conjuncts(node.right)
    return [node]


def unparen(node: exp.Expr) -> exp.Expr:
    while isinstance(node, exp.Paren):
        node = node.this
    return node


def direct_column(node: exp.Expr | None, alias: str) -> bool:
    if node is None:
        return False
    inner = unparen(node)
    return isinstance(inner, exp.Column) and inner.table == alias


def sql_text(node: exp.Expr) -> str:
    return node.sql(dialect="oracle")


def sql_list(nodes: list[exp.Expr]) -> str:
    return " and ".join(sql_text(n) for n in nodes)
