"""What the planner hands the executor: one fetch per table reference, and the query to run over them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlglot import exp

from exactsql.catalog import AccessPath
from exactsql.sql.names import TableRef


@dataclass
class SemiJoin:
    """Fetch this reference by chunks of the keys another reference produced (an equi-join with a small side).

    Attributes:
        column: this table's column matched by the keys (e.g. ``ID``), filtered as ``column eq …`` chunks.
        source: the relation name of the fetch whose rows give the keys.
        source_column: that fetch's column holding the keys.
    """

    column: str
    source: str
    source_column: str


@dataclass
class FetchSpec:
    """One API read (per division) that feeds one table reference of a statement.

    Attributes:
        name: the relation name the executor registers the rows under in DuckDB (``f0_userroles``).
        ref: the resolved table (catalog table or dictionary table) and its connection alias.
        path: the endpoint to read, or None for a dictionary table.
        filter: the OData ``$filter`` (every pushable conjunct), or None.
        select: the columns for ``$select``, in catalog spelling; the executor adds ``Division`` itself.
        divisions: the divisions to read for a partitioned table (after pruning); None otherwise.
        top: a ``$top`` when the whole statement only needs that many rows of this table, else None.
        semi_join: fetch by key chunks of another fetch's rows, when that is cheaper than a full read.
        estimated_calls: the calls the planner expects (None when it cannot tell).
        notes: why this path, what stayed local (for ``explain``).
    """

    name: str
    ref: TableRef
    path: AccessPath | None
    filter: str | None = None
    select: list[str] = field(default_factory=list)
    divisions: list[int] | None = None
    top: int | None = None
    semi_join: SemiJoin | None = None
    estimated_calls: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def least_calls(self) -> int:
        """The estimate, or with no row count yet, the least it can cost: one page a division."""
        if self.estimated_calls is not None:
            return self.estimated_calls
        return max(1, len(self.divisions or ()))

    def params(self) -> dict[str, str]:
        """The OData query options of one request of this fetch (``$select``, ``$filter``, ``$top``)."""
        params = {"$select": ",".join(self.select)}
        if self.filter:
            params["$filter"] = self.filter
        if self.top is not None:
            params["$top"] = str(self.top)
        return params


@dataclass
class Plan:
    """A statement ready to run: its fetches, in an order that respects semi-join dependencies,
    and the statement with every table reference replaced by its fetch's relation name."""

    fetches: list[FetchSpec]
    tree: exp.Expression


@dataclass
class DivisionScope:
    """The divisions each connection alias reads by default (``use`` changes them).

    Attributes:
        by_alias: the divisions of each alias known so far.
        load: gives the divisions of an alias not in ``by_alias`` yet (its current division), or raises
            KeyError for an alias without a connection; None: every alias is in ``by_alias``.
        known: the aliases ``load`` knows (for messages).
    """

    by_alias: dict[str, list[int]]
    load: Callable[[str], list[int]] | None = None
    known: tuple[str, ...] = ()

    def aliases(self) -> list[str]:
        """Every alias with a connection, sorted."""
        return sorted({*self.by_alias, *self.known})

    def of(self, alias: str) -> list[int]:
        """The divisions for ``alias``; KeyError when the alias has no connection."""
        if alias not in self.by_alias:
            if self.load is None:
                raise KeyError(alias)
            self.by_alias[alias] = self.load(alias)
        return self.by_alias[alias]


class RowStats:
    """Row counts seen per (table, division), to estimate the calls of wide reads before they run."""

    def __init__(self, counts: dict[tuple[str, int], int] | None = None) -> None:
        self.counts = dict(counts or {})

    def rows(self, table: str, division: int) -> int | None:
        """The last row count seen for ``table`` (``crm/Accounts``) in ``division``, or None."""
        return self.counts.get((table.lower(), division))

    def record(self, table: str, division: int, rows: int) -> None:
        """Remembers a full read's row count."""
        self.counts[(table.lower(), division)] = rows
