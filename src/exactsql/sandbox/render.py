"""Turns rows into Exact Online's JSON: ``d.results``, ``__metadata``, ``/Date(ms)/``, explicit nulls."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from exactsql.catalog import Column

_INT_TYPES = {"Edm.Int16", "Edm.Int32", "Edm.Int64", "Edm.Byte", "Edm.SByte"}


def _dates(values: np.ndarray) -> list:
    out: list = []
    append = out.append
    null = np.iinfo(np.int64).min
    for v in values.tolist():
        append(None if v == null else f"/Date({v})/")
    return out


def _doubles(values: np.ndarray) -> list:
    if values.dtype == object:
        return [
            None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)
            for v in values.tolist()
        ]
    if not np.isnan(values).any():
        return values.tolist()
    return [None if v != v else v for v in values.tolist()]


def json_values(edm: str, values: np.ndarray) -> list:
    """Column values as JSON-ready Python values for ``edm``."""
    if edm == "Edm.DateTime":
        return _dates(values)
    if edm == "Edm.Double":
        return _doubles(values)
    if edm in _INT_TYPES and values.dtype.kind == "f":
        return [None if v != v else int(v) for v in values.tolist()]
    if edm == "Edm.Binary":
        return [None] * len(values)
    return values.tolist()


def is_navigation(column: Column) -> bool:
    """Whether a column is a navigation collection or complex type (rendered as ``__deferred``)."""
    return not column.edm.startswith("Edm.")


def render_rows(
    columns: list[Column],
    take: Callable[[str, np.ndarray], np.ndarray],
    idx: np.ndarray,
    entity_uri: Callable[[np.ndarray], list[str]],
    entity_type: str,
) -> list[dict]:
    """The records of a page, each with ``__metadata`` first and the selected columns in order."""
    uris = entity_uri(idx)
    names: list[str] = ["__metadata"]
    data: list[list] = [[{"uri": u, "type": entity_type} for u in uris]]
    for col in columns:
        names.append(col.name)
        if is_navigation(col):
            data.append([{"__deferred": {"uri": f"{u}/{col.name}"}} for u in uris])
        else:
            data.append(json_values(col.edm, take(col.name, idx)))
    return [dict(zip(names, row, strict=True)) for row in zip(*data, strict=True)]
