"""Values as Exact sends them: fixed-width codes padded, non-nullable numbers and flags never null.

The generators make plain values; ``FaithfulRows`` wraps a row source so that filters, ordering, pages and
snapshots all see Exact's form (sandbox-fidelity.md §3 and §4).
"""

from __future__ import annotations

import functools

import numpy as np

from exactsql.catalog import Table
from exactsql.sandbox.fidelity_tables import NOT_NULL
from exactsql.sandbox.keys import find_row
from exactsql.sandbox.settings import SandboxSettings
from exactsql.sandbox.store import RowSource

_NUMBERS = frozenset({"Edm.Byte", "Edm.SByte", "Edm.Int16", "Edm.Int32", "Edm.Int64", "Edm.Double"})


@functools.cache
def _listed(entity_type: str) -> frozenset[str]:
    return frozenset(NOT_NULL.get(entity_type.rsplit(".", 1)[-1], "").split())


def not_null(table: Table) -> set[str]:
    """The number and flag properties of ``table`` that are never null (0 or false when unset)."""
    listed = _listed(table.entity_type)
    return {
        c.name for c in table.columns if c.name in listed and (c.edm in _NUMBERS or c.edm == "Edm.Boolean")
    }


def padded(values: np.ndarray, width: int) -> np.ndarray:
    """Text values as ``char(width)``: left-aligned, padded with spaces, cut at ``width``; None stays."""
    out = np.empty(len(values), dtype=object)
    out[:] = [v if v is None else str(v).ljust(width)[:width] for v in values.tolist()]
    return out


def filled(values: np.ndarray, edm: str) -> np.ndarray:
    """A column with its nulls replaced by the type's default (0, 0.0 or false)."""
    if edm == "Edm.Double":
        return np.nan_to_num(values.astype(np.float64), nan=0.0)
    if values.dtype != object:
        return values
    nulls = np.asarray(values == None, dtype=bool)  # noqa: E711 (element-wise)
    if edm == "Edm.Boolean":
        return np.where(nulls, False, values).astype(bool)
    return np.where(nulls, 0, values).astype(np.int64)


class FaithfulRows:
    """A row source whose values are Exact's: every read of a column goes through ``fix``.

    Args:
        keep: a mask of the rows to show (the lines of one header, for a navigation URL); None: all.
    """

    def __init__(
        self, source: RowSource, table: Table, settings: SandboxSettings, keep: np.ndarray | None = None
    ) -> None:
        self.source = source
        self.table = table
        self._keep = keep
        self.key_name = source.key_name
        self.key_salt = source.key_salt
        self._fixes: dict[str, tuple[int, str]] = {}
        flags = not_null(table)
        models = table.entity_type.startswith("Exact.Web.Api.Models.")  # not Me: its Language is "NL"
        for column in table.columns:
            width = settings.code_widths.get(column.name) if models else None
            if width and column.edm == "Edm.String":
                self._fixes[column.name] = (width, column.edm)
            elif column.name in flags:
                self._fixes[column.name] = (0, column.edm)
        self._columns: dict[str, np.ndarray] = {}

    def fix(self, name: str, values: np.ndarray) -> np.ndarray:
        """``values`` of column ``name`` in Exact's form."""
        found = self._fixes.get(name)
        if found is None:
            return values
        width, edm = found
        return padded(values, width) if width else filled(values, edm)

    @property
    def n(self) -> int:
        return self.source.n

    def alive_mask(self) -> np.ndarray:
        alive = self.source.alive_mask()
        return alive if self._keep is None else alive & self._keep

    def column(self, name: str) -> np.ndarray:
        if name not in self._fixes:
            return self.source.column(name)
        full = self._columns.get(name)
        if full is None:
            full = self._columns[name] = self.fix(name, self.source.column(name))
        return full

    def take(self, name: str, idx: np.ndarray) -> np.ndarray:
        full = self._columns.get(name)
        if full is not None:
            return full[idx]
        return self.fix(name, self.source.take(name, idx))

    def sync_order(self) -> tuple[np.ndarray, np.ndarray]:
        return self.source.sync_order()

    def index_of_key(self, key: str) -> int | None:
        """The row of a key value, or None."""
        return find_row(self.source, key)
