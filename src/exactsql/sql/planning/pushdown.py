"""SQL predicates as OData ``$filter`` text for one access path (None: the predicate stays local)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlglot import exp

from exactsql.catalog import AccessPath
from exactsql.sql.odata_literals import render_literal, sql_constant
from exactsql.sql.planning.refs import COMPARISONS, DIVISION, FLIP, NEGATE, OPS, RANGE_TYPES, Ref, unparen


@dataclass(frozen=True)
class Filter:
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


def atom(text: str, column: str, exact: bool, eq: tuple[str, int] | None = None) -> Filter:
    return Filter(text, "atom", frozenset([column]), exact, eq)


def all_of(parts: list[Filter], exact: bool = True) -> Filter:
    if len(parts) == 1:
        only = parts[0]
        return Filter(only.text, only.kind, only.columns, only.exact and exact, only.eq)
    return Filter(
        " and ".join(p.text for p in parts),
        "and",
        frozenset().union(*(p.columns for p in parts)),
        exact and all(p.exact for p in parts),
    )


def any_of(parts: list[Filter]) -> Filter:
    if len(parts) == 1:
        return parts[0]
    text = "(" + " or ".join(f"({p.text})" if p.kind == "and" else p.text for p in parts) + ")"
    columns = frozenset().union(*(p.columns for p in parts))
    eq = None
    if all(p.eq is not None for p in parts) and len(columns) == 1:
        eq = (next(iter(columns)), sum(p.eq[1] for p in parts if p.eq is not None))
    return Filter(text, "or", columns, all(p.exact for p in parts), eq)


class Converter:
    """Turns SQL predicates on one reference into OData for one access path (None: stays local)."""

    def __init__(self, r: Ref, path: AccessPath) -> None:
        self.r = r
        self.path = path

    def column(self, node: exp.Expr | None) -> tuple[str, str] | None:
        """The catalog name and Edm type of a column this path can filter, or None."""
        if node is None:
            return None
        node = unparen(node)
        if not isinstance(node, exp.Column) or node.table != self.r.alias or node.name == DIVISION:
            return None
        name = self.r.catalog_column(node.name)
        if name is None:
            return None
        column = self.path.column(name)
        if column is None or not self.path.can_filter(column.name):
            return None
        return column.name, column.edm

    def convert(self, node: exp.Expr, negate: bool = False) -> Filter | None:
        node = unparen(node)
        if isinstance(node, exp.Not):
            return self.convert(node.this, not negate)
        if isinstance(node, exp.And | exp.Or):
            parts = _flatten(node, type(node))
            if isinstance(node, exp.And) != negate:  # an and (or a negated or): weaken by dropping parts
                converted = [self.convert(p, negate) for p in parts]
                kept = [c for c in converted if c is not None]
                return all_of(kept, exact=len(kept) == len(parts)) if kept else None
            branches = [self.convert(p, negate) for p in parts]
            if any(b is None for b in branches):
                return None
            return any_of([b for b in branches if b is not None])
        if isinstance(node, COMPARISONS):
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
            return atom(f"{found[0]} eq {'false' if negate else 'true'}", found[0], True)
        return None

    def literal(self, node: exp.Expr, edm: str) -> tuple[str, bool] | None:
        """The OData literal of a constant for a column of type ``edm`` and whether it is exact."""
        constant = sql_constant(node)
        if constant is None or constant.value is None:
            return None
        text = render_literal(constant.value, edm)
        if text is None:
            return None
        # Exact compares strings case-insensitively (a superset of DuckDB's matches); GUIDs compare
        # case-insensitively on both sides (see types.py), so a guid literal in any case is exact
        return text, edm != "Edm.String"

    def compare(self, name: str, edm: str, op: str, value: exp.Expr) -> Filter | None:
        rendered = self.literal(value, edm)
        if rendered is None:
            return None
        text, exact = rendered
        if edm == "Edm.String" and op != "eq":
            return None  # Exact's collation orders and equates strings unlike DuckDB
        if edm == "Edm.Guid" and op not in ("eq", "ne"):
            return None
        if edm not in (*RANGE_TYPES, "Edm.Boolean", "Edm.Guid", "Edm.String"):
            return None
        if edm == "Edm.Boolean" and op not in ("eq", "ne"):
            return None
        selective = op == "eq" and edm != "Edm.Boolean"
        return atom(f"{name} {op} {text}", name, exact, (name, 1) if selective else None)

    def comparison(
        self, node: exp.EQ | exp.NEQ | exp.GT | exp.GTE | exp.LT | exp.LTE, negate: bool
    ) -> Filter | None:
        op = OPS[type(node)]
        found = self.column(node.left)
        value = node.right
        if found is None:
            found, value, op = self.column(node.right), node.left, FLIP[op]
        if found is None:
            return None
        if negate:
            op = NEGATE[op]
        return self.compare(found[0], found[1], op, value)

    def is_null(self, node: exp.Is, not_null: bool) -> Filter | None:
        found = self.column(node.this)
        if found is None or not isinstance(node.expression, exp.Null):
            return None
        return atom(f"{found[0]} {'ne' if not_null else 'eq'} null", found[0], found[1] != "Edm.String")

    def in_list(self, node: exp.In, negate: bool) -> Filter | None:
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
        parts: list[Filter] = []
        for value in non_null:
            part = self.compare(name, edm, "ne" if negate else "eq", value)
            if part is None:
                return None
            parts.append(part)
        return all_of(_unique(parts)) if negate else any_of(_unique(parts))

    def between(self, node: exp.Between, negate: bool) -> Filter | None:
        found = self.column(node.this)
        if found is None or node.args.get("symmetric"):
            return None
        name, edm = found
        if edm not in RANGE_TYPES:
            return None
        low = self.compare(name, edm, "lt" if negate else "ge", node.args["low"])
        high = self.compare(name, edm, "gt" if negate else "le", node.args["high"])
        if low is None or high is None:
            return None
        return any_of([low, high]) if negate else all_of([low, high])

    def like(self, node: exp.Like) -> Filter | None:
        found = self.column(node.this)
        if found is None or found[1] != "Edm.String":
            return None
        name = found[0]
        constant = sql_constant(node.expression)
        if constant is None or not isinstance(constant.value, str):
            return None
        pattern = constant.value
        if not any(ch in pattern for ch in "%_"):
            return atom(f"{name} eq {render_literal(pattern, 'Edm.String')}", name, False, (name, 1))
        segments = [s for s in _split_wildcards(pattern)]
        inner = pattern.strip("%")
        if inner and not any(ch in inner for ch in "%_") and "[" not in inner:
            starts, ends = pattern.startswith("%"), pattern.endswith("%")
            lit = render_literal(inner, "Edm.String")
            if starts and ends:
                return atom(f"substringof({lit},{name})", name, False)
            if ends:
                return atom(f"startswith({name},{lit})", name, False)
            return atom(f"endswith({name},{lit})", name, False)
        if not inner:
            return atom(f"{name} ne null", name, True)  # '%' matches every non-null value
        prefix = segments[0] if not pattern.startswith(("%", "_")) else ""
        prefix = prefix.split("[")[0]
        if prefix:
            return atom(f"startswith({name},{render_literal(prefix, 'Edm.String')})", name, False)
        longest = max((s.split("[")[0] for s in segments), key=len, default="")
        if longest:
            return atom(f"substringof({render_literal(longest, 'Edm.String')},{name})", name, False)
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
    node = unparen(node)
    if isinstance(node, kind):
        return _flatten(node.left, kind) + _flatten(node.right, kind)  # type: ignore[attr-defined]
    return [node]


def _unique(parts: list[Filter]) -> list[Filter]:
    seen: dict[str, Filter] = {}
    for p in parts:
        seen.setdefault(p.text, p)
    return list(seen.values())
