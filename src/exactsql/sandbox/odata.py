"""OData v2 query options for the sandbox: ``$filter`` (``odata_syntax``, ``odata_eval``), ``$orderby``,
``$select`` and ``$expand``."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import numpy.typing as npt

from exactsql.sandbox.odata_eval import ColumnGetter, evaluate, object_nulls
from exactsql.sandbox.odata_syntax import (
    DEFAULT_ENTITY_TYPE,
    IDENT,
    And,
    Arith,
    Call,
    Compare,
    Field,
    Literal,
    LiteralError,
    Node,
    Not,
    ODataError,
    Or,
    fields,
    parse_filter,
    syntax_error,
    timestamp_lower_bound,
)
from exactsql.sandbox.values import NULL_DATE

__all__ = [
    "And",
    "Arith",
    "Call",
    "Compare",
    "Field",
    "Literal",
    "LiteralError",
    "Node",
    "Not",
    "ODataError",
    "Or",
    "evaluate",
    "fields",
    "order_indexes",
    "parse_filter",
    "parse_orderby",
    "parse_select",
    "timestamp_lower_bound",
]


# ---------------------------------------------------------------------------------------- $orderby


def parse_orderby(
    text: str, field_types: dict[str, str], entity_type: str = DEFAULT_ENTITY_TYPE
) -> list[tuple[str, bool]]:
    """``"Field asc, Field2 desc"`` → ``[("Field", False), ("Field2", True)]`` (True = descending)."""
    keys: list[tuple[str, bool]] = []
    offset = 0
    for part in text.split(","):
        words = [(m.group(0), offset + m.start()) for m in re.finditer(r"\S+", part)]
        end = offset + len(part)
        offset = end + 1
        if not words:
            raise syntax_error(end, text)
        name, pos = words[0]
        if IDENT.fullmatch(name) is None:
            raise syntax_error(pos, text)
        if name not in field_types:
            raise ODataError(f"No property '{name}' exists in type '{entity_type}' at position {pos}.", pos)
        descending = False
        if len(words) >= 2:
            direction, dpos = words[1]
            if direction.lower() not in ("asc", "desc"):
                raise syntax_error(dpos, text)
            descending = direction.lower() == "desc"
        if len(words) > 2:
            raise syntax_error(words[2][1], text)
        keys.append((name, descending))
    return keys


def _sort_rank(col: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    """Dense ranks of ``col`` with nulls (None, NaN, NULL_DATE) ranked lowest (-1)."""
    if col.dtype == object:
        nulls = object_nulls(col)
    elif col.dtype.kind == "f":
        nulls = np.isnan(col)
    elif col.dtype.kind in "iu":
        nulls = col == NULL_DATE
    else:
        nulls = np.zeros(len(col), dtype=bool)
    ranks = np.full(len(col), -1, dtype=np.int64)
    present = ~nulls
    if present.any():
        _, inverse = np.unique(col[present], return_inverse=True)
        ranks[present] = inverse.reshape(-1)
    return ranks


def order_indexes(
    indexes: npt.NDArray[Any], keys: list[tuple[str, bool]], get_column: ColumnGetter
) -> npt.NDArray[Any]:
    """``indexes`` stably sorted by ``keys`` (name, descending); nulls first ascending, last descending.

    ``get_column(name)`` returns the full column, which is indexed with ``indexes``.
    """
    indexes = np.asarray(indexes)
    if not keys or len(indexes) < 2:
        return indexes.copy()
    sort_keys: list[npt.NDArray[np.int64]] = []
    for name, descending in keys:
        ranks = _sort_rank(np.asarray(get_column(name))[indexes])
        sort_keys.append(-ranks if descending else ranks)
    order = np.lexsort(sort_keys[::-1])
    return indexes[order]


# ----------------------------------------------------------------------------------------- $select


def parse_select(text: str, field_names: list[str], entity_type: str = DEFAULT_ENTITY_TYPE) -> list[str]:
    """The properties named in ``$select`` (``*`` = all), canonical spelling, duplicates removed."""
    canonical: dict[str, str] = {}
    for name in field_names:
        canonical.setdefault(name.lower(), name)
    if not text.strip():
        return list(field_names)
    chosen: dict[str, None] = {}
    offset = 0
    for part in text.split(","):
        item = part.strip()
        pos = offset + (len(part) - len(part.lstrip()))
        offset += len(part) + 1
        if not item:
            raise syntax_error(pos, text)
        if item == "*":
            for name in field_names:
                chosen.setdefault(name, None)
            continue
        found = canonical.get(item.lower())
        if found is None:
            raise ODataError(f"Could not find a property named '{item}' on type '{entity_type}'.", pos)
        chosen.setdefault(found, None)
    return list(chosen)
