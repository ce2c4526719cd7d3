"""Turns rows into Exact Online's JSON: ``__metadata``, ``/Date(ms)/``, explicit nulls, Exact's numbers."""

from __future__ import annotations

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
    """Doubles in their shortest form, whole ones without ``.0`` (``100``, not ``100.0``); NaN is null."""
    if values.dtype == object:
        values = np.array([np.nan if v is None else float(v) for v in values.tolist()], dtype=np.float64)
    floats = values.astype(np.float64, copy=False)
    out = floats.tolist()
    present = ~np.isnan(floats)
    whole = np.flatnonzero(present & (np.floor(floats) == floats) & (np.abs(floats) < 2.0**53))
    for i, v in zip(whole.tolist(), floats[whole].astype(np.int64).tolist(), strict=True):
        out[i] = v
    for i in np.flatnonzero(~present).tolist():
        out[i] = None
    return out


def json_values(edm: str, values: np.ndarray, int64_text: bool = False) -> list:
    """Column values as JSON-ready Python values for ``edm``; Int64 as decimal text if ``int64_text``."""
    if edm == "Edm.DateTime":
        return _dates(values)
    if edm == "Edm.Double":
        return _doubles(values)
    if edm == "Edm.Int64" and int64_text:
        return [None if v is None or v != v else str(int(v)) for v in values.tolist()]
    if edm in _INT_TYPES and values.dtype.kind == "f":
        return [None if v != v else int(v) for v in values.tolist()]
    if edm == "Edm.Binary":
        return [None] * len(values)
    return values.tolist()


def escape_slashes(body: bytes) -> bytes:
    """A JSON body with every ``/`` written ``\\/``, as Exact's serializer does (``"\\/Date(…)\\/"``).

    A slash can only occur inside a JSON string, so the body stays the same JSON.
    """
    return body.replace(b"/", b"\\/")


def is_navigation(column: Column) -> bool:
    """Whether a column is a navigation collection or complex type (rendered as ``__deferred``)."""
    return not column.edm.startswith("Edm.")


def render_rows(
    columns: list[Column],
    take: Callable[[str, np.ndarray], np.ndarray],
    idx: np.ndarray,
    entity_uri: Callable[[np.ndarray], list[str]],
    entity_type: str,
    int64_text: bool = False,
    expanded: dict[str, list] | None = None,
) -> list[dict]:
    """The records of a page, each with ``__metadata`` first and the selected columns in order.

    Navigation properties are ``__deferred`` links, or the values given in ``expanded`` (one a row).
    """
    uris = entity_uri(idx)
    names: list[str] = ["__metadata"]
    data: list[list] = [[{"uri": u, "type": entity_type} for u in uris]]
    for col in columns:
        names.append(col.name)
        if expanded is not None and col.name in expanded:
            data.append(expanded[col.name])
        elif is_navigation(col):
            data.append([{"__deferred": {"uri": f"{u}/{col.name}"}} for u in uris])
        else:
            data.append(json_values(col.edm, take(col.name, idx), int64_text))
    return [dict(zip(names, row, strict=True)) for row in zip(*data, strict=True)]
