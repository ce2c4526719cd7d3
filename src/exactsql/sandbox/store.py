"""Per-division state: generated base rows plus changes, rowversion Timestamps and the deletion log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np

from exactsql.catalog import Table, load_catalog
from exactsql.sandbox.values import NULL_DATE, guids_for, index_of, salt_for

# EntityType codes of sync/Deleted (API.md §5.4), by the name of the sync endpoint of the entity.
_DELETED_CODES = {
    "TransactionLines": 1, "Accounts": 2, "Addresses": 3, "DocumentAttachments": 4, "Contacts": 5,
    "Documents": 6, "GLAccounts": 7, "SalesItemPrices": 8, "Items": 9, "PaymentTerms": 10,
    "SalesInvoices": 13, "TimeCostTransactions": 14, "StockPositions": 15, "GoodsDeliveries": 16,
    "GoodsDeliveryLines": 17, "GLClassifications": 18, "ItemWarehouses": 19,
    "StorageLocationStockPositions": 20, "Projects": 21, "PurchaseOrders": 22, "Subscriptions": 23,
    "SubscriptionLines": 24, "ProjectWBS": 25, "ProjectPlanning": 26, "LeaveAbsenceHoursByDay": 27,
    "SerialBatchNumbers": 28, "StockSerialBatchNumbers": 29, "SalesOrderHeaders": 32, "SalesOrderLines": 33,
    "QuotationHeaders": 34, "QuotationLines": 35, "ShopOrders": 36, "ShopOrderMaterialPlans": 37,
    "ShopOrderRoutingStepPlans": 38, "Schedules": 39, "ScheduleEntries": 40, "ItemStorageLocations": 41,
    "Employees": 42, "Employments": 43, "EmploymentContracts": 44, "EmploymentOrganizations": 45,
    "EmploymentCLAs": 46, "EmploymentSalaries": 47, "BankAccounts": 48, "EmploymentTaxAuthoritiesGeneral": 49,
    "ShopOrderPurchasePlanning": 50, "ShopOrderSubOrders": 51, "BillOfMaterialMaterials": 54,
    "BillOfMaterialVersions": 55, "LeaveRegistrations": 56, "LeaveBuildUpRegistrations": 57,
    "AbsenceRegistrationTransactions": 58, "AbsenceRegistrations": 59,
}  # fmt: skip

TIMESTAMP_BASE = 13_000_000_000
TIMESTAMP_STRIDE = 1 << 22
"""Each entity's generated rows take Timestamps from a range of their own (the entity's place in the
catalog × this stride), so they do not depend on which entities were built first; changes take fresh
ones from a counter above all ranges."""


def _deleted_types() -> dict[str, int]:
    out = {}
    for table in load_catalog().tables:
        path = table.path("sync")
        code = _DELETED_CODES.get(path.endpoint.rsplit("/", 1)[-1]) if path is not None else None
        if code is not None:
            out[table.full_name] = code
    return out


DELETED_ENTITY_TYPES: dict[str, int] = _deleted_types()
"""EntityType codes of sync/Deleted by entity, for the entities with a sync endpoint."""


def deleted_entity_type(table: Table) -> int:
    """The EntityType of sync/Deleted records of ``table`` (0 for an entity without a sync endpoint)."""
    return DELETED_ENTITY_TYPES.get(table.full_name, 0)


def null_array(edm: str, n: int) -> np.ndarray:
    """A column of ``n`` nulls in the value conventions of ``values.py``."""
    if edm == "Edm.DateTime":
        return np.full(n, NULL_DATE, dtype=np.int64)
    if edm == "Edm.Double":
        return np.full(n, np.nan)
    return np.full(n, None, dtype=object)


class RowSource(Protocol):
    """What a query needs from a table's rows."""

    key_name: str
    key_salt: int

    @property
    def n(self) -> int: ...

    def alive_mask(self) -> np.ndarray: ...

    def column(self, name: str) -> np.ndarray: ...

    def take(self, name: str, idx: np.ndarray) -> np.ndarray: ...

    def sync_order(self) -> tuple[np.ndarray, np.ndarray]: ...


class Books(Protocol):
    """What the store needs from the generator of a division's books (``datagen.DivisionData``)."""

    def count(self, entity: str) -> int: ...

    def key_name(self, entity: str) -> str: ...

    def key_salt(self, entity: str) -> int: ...

    def columns(self, entity: str) -> list[str]: ...

    def values(self, entity: str, name: str, idx: np.ndarray) -> np.ndarray: ...

    def extend(self, entity: str, count: int) -> range: ...

    def changed_values(
        self, entity: str, idx: np.ndarray, rng: np.random.Generator
    ) -> dict[str, np.ndarray]: ...

    def group_of(self, entity: str, idx: np.ndarray) -> np.ndarray: ...


class RowVersion:
    """A division-wide rowversion counter, as SQL Server keeps per database."""

    def __init__(self, start: int) -> None:
        self.value = start

    def take(self, count: int) -> np.ndarray:
        """``count`` fresh, increasing Timestamps."""
        out = np.arange(self.value + 1, self.value + 1 + count, dtype=np.int64)
        self.value += count
        return out


class StaticRows:
    """Rows given as whole columns (system tables): no Timestamps, no changes."""

    def __init__(self, table: Table, columns: dict[str, np.ndarray], key_name: str) -> None:
        self.table = table
        self._columns = columns
        self.key_name = key_name
        self.key_salt = 0
        self._n = len(next(iter(columns.values()))) if columns else 0

    @property
    def n(self) -> int:
        return self._n

    def alive_mask(self) -> np.ndarray:
        return np.ones(self._n, dtype=bool)

    def column(self, name: str) -> np.ndarray:
        if name in self._columns:
            return self._columns[name]
        col = self.table.column(name)
        return null_array(col.edm if col else "Edm.String", self._n)

    def take(self, name: str, idx: np.ndarray) -> np.ndarray:
        return self.column(name)[idx]

    def sync_order(self) -> tuple[np.ndarray, np.ndarray]:
        idx = np.arange(self._n)
        return idx, idx.astype(np.int64)


class EntityRows:
    """The rows of one entity in one division: pure generated values overlaid with changes.

    Args:
        first_timestamp: the Timestamp of generated row 0 (row ``i`` has ``first_timestamp + i``).
    """

    def __init__(
        self, data: Books, table: Table, division: int, rowversion: RowVersion, first_timestamp: int
    ) -> None:
        self.data = data
        self.table = table
        self.entity = table.full_name
        self.division = division
        self.rowversion = rowversion
        self.key_name = data.key_name(self.entity)
        self.key_salt = data.key_salt(self.entity)
        self._generated = set(data.columns(self.entity))
        n = data.count(self.entity)
        self._n = n
        self.alive = np.ones(n, dtype=bool)
        self.timestamps = np.arange(first_timestamp, first_timestamp + n, dtype=np.int64)
        self._full: dict[str, np.ndarray] = {}
        self._order: tuple[np.ndarray, np.ndarray] | None = None
        self._reversible: bool | None = None
        self._generated_n = n
        #: The generator's index of each row, -1 for a row written through the API; None while every row
        #: is the generator's own (row i is generator row i).
        self._gen: np.ndarray | None = None
        self._gen_rows: np.ndarray | None = None  # the row of each generator index, once rows are written
        self._written: dict[str, int] = {}  # the key of each written row (lower case) and its row

    @property
    def n(self) -> int:
        return self._n

    def alive_mask(self) -> np.ndarray:
        return self.alive

    def _edm(self, name: str) -> str:
        col = self.table.column(name)
        return col.edm if col else "Edm.String"

    def _base(self, name: str, idx: np.ndarray) -> np.ndarray:
        if name == "Timestamp":
            return self.timestamps[idx]
        if name == "Division":
            return np.full(len(idx), self.division, dtype=np.int64)
        if name not in self._generated:
            return null_array(self._edm(name), len(idx))
        if self._gen is None:
            return self.data.values(self.entity, name, idx)
        gen = self._gen[idx]
        made = gen >= 0
        if made.all():
            return self.data.values(self.entity, name, gen)
        out = null_array(self._edm(name), len(idx))
        if made.any():
            values = self.data.values(self.entity, name, gen[made])
            if out.dtype != values.dtype and not (out.dtype.kind == "f" and values.dtype.kind in "fi"):
                out, values = out.astype(object), values.astype(object)
            out[made] = values
        return out

    def _to_generated(self, idx: np.ndarray) -> np.ndarray:
        """The generator indexes of rows ``idx`` (-1 for written rows)."""
        return idx if self._gen is None else self._gen[idx]

    def _from_generated(self, gen: np.ndarray) -> np.ndarray:
        """The rows of generator indexes ``gen``."""
        if self._gen is None:
            return gen
        if self._gen_rows is None:
            self._gen_rows = np.flatnonzero(self._gen >= 0)
        return self._gen_rows[gen]

    def column(self, name: str) -> np.ndarray:
        """The whole column (materialised once, then kept and updated in place)."""
        if name == "Timestamp":
            return self.timestamps
        full = self._full.get(name)
        if full is None:
            full = self._base(name, np.arange(self._n))
            if name in self._generated or name == "Division":
                self._full[name] = full  # columns that are always null are cheaper made anew than kept
        return full

    def take(self, name: str, idx: np.ndarray) -> np.ndarray:
        """Values of ``name`` for rows ``idx``."""
        full = self._full.get(name)
        if full is not None:
            return full[idx]
        return self._base(name, idx)

    def sync_order(self) -> tuple[np.ndarray, np.ndarray]:
        """Row indexes sorted by Timestamp, and the sorted Timestamps."""
        if self._order is None:
            order = np.argsort(self.timestamps, kind="stable")
            self._order = (order, self.timestamps[order])
        return self._order

    def _set(self, name: str, idx: np.ndarray, values: np.ndarray) -> None:
        if self.table.column(name) is None:
            return
        full = self.column(name)
        self._full[name] = full
        if full.dtype != values.dtype and full.dtype != object:
            full = full.astype(object) if values.dtype == object else full
            self._full[name] = full
        full[idx] = values

    def _touch(self, idx: np.ndarray, now_ms: int, created: bool) -> None:
        self.timestamps[idx] = self.rowversion.take(len(idx))
        self._order = None
        stamp = np.full(len(idx), now_ms, dtype=np.int64)
        for name in ("Modified", "Created") if created else ("Modified",):
            if self.table.column(name) is not None:
                self._set(name, idx, stamp)

    def _add_rows(self, count: int, generated: np.ndarray | None) -> np.ndarray:
        """Appends ``count`` rows (the generator's ``generated`` rows, or written ones); returns them."""
        old_n = self._n
        idx = np.arange(old_n, old_n + count)
        if generated is None or self._gen is not None:
            if self._gen is None:
                self._gen = np.arange(old_n, dtype=np.int64)
            more = generated if generated is not None else np.full(count, -1, dtype=np.int64)
            self._gen = np.concatenate([self._gen, more])
            self._gen_rows = None
        self._n = old_n + count
        self.alive = np.concatenate([self.alive, np.ones(count, dtype=bool)])
        self.timestamps = np.concatenate([self.timestamps, np.zeros(count, dtype=np.int64)])
        for name, full in list(self._full.items()):
            added = self._base(name, idx)
            if full.dtype != added.dtype and not (full.dtype.kind == "f" and added.dtype.kind in "fi"):
                full, added = full.astype(object), added.astype(object)
            self._full[name] = np.concatenate([full[:old_n], added])
        return idx

    def grow(self, now_ms: int) -> np.ndarray:
        """Takes in rows the generator added (by this entity's insert or a related one's); returns them."""
        new_n = self.data.count(self.entity)
        if new_n <= self._generated_n:
            return np.arange(0)
        generated = np.arange(self._generated_n, new_n, dtype=np.int64)
        self._generated_n = new_n
        idx = self._add_rows(len(generated), generated)
        self._touch(idx, now_ms, created=True)
        return idx

    def append(self, values: dict[str, object], now_ms: int) -> int:
        """Adds one row written through the API with these values (others null); returns its index.

        Created and Modified are set to ``now_ms`` unless given; the row takes a fresh Timestamp.
        """
        row = int(self._add_rows(1, None)[0])
        idx = np.array([row])
        self._touch(idx, now_ms, created=True)
        self.set_values(row, values)
        key = values.get(self.key_name)
        if key is not None:
            self._written[str(key).lower()] = row
        return row

    def set_values(self, row: int, values: Mapping[str, object]) -> None:
        """Sets the given values of one row (in the value conventions of ``values.py``)."""
        idx = np.array([row])
        for name, value in values.items():
            if self.table.column(name) is None:
                continue
            edm = self._edm(name)
            if edm == "Edm.DateTime":
                one = np.array([value if value is not None else null_array(edm, 1)[0]], dtype=np.int64)
            elif edm == "Edm.Double":
                one = np.array([np.nan if value is None else float(value)])  # type: ignore[arg-type]
            else:
                one = np.array([value], dtype=object)
            self._set(name, idx, one)

    def write(self, row: int, values: Mapping[str, object], now_ms: int) -> None:
        """An update through the API: the given values, a new Modified and a fresh Timestamp."""
        self.set_values(row, values)
        self._touch(np.array([row]), now_ms, created=False)

    def update(self, idx: np.ndarray, now_ms: int, rng: np.random.Generator) -> None:
        """Changes some values of rows ``idx`` as the generator sees fit; bumps their Timestamps."""
        gen = self._to_generated(idx)
        made = gen >= 0
        for name, values in self.data.changed_values(self.entity, gen[made], rng).items():
            self._set(name, idx[made], values)
        self._touch(idx, now_ms, created=False)

    def delete(self, idx: np.ndarray) -> np.ndarray:
        """Marks rows deleted (with the rows that must go with them); returns the deleted indexes."""
        gen = self._to_generated(idx)
        made = gen >= 0
        group = self._from_generated(self.data.group_of(self.entity, gen[made]))
        idx = np.unique(np.concatenate([group, idx[~made]])).astype(np.int64)
        idx = idx[self.alive[idx]]
        self.alive[idx] = False
        self._order = None
        return idx

    def index_of_key(self, key: str) -> int | None:
        """The row index of a key value, or None: reversed for generated guids, else looked up."""
        if self._reversible is None:
            first = self.take(self.key_name, np.zeros(1, np.int64)) if self._generated_n else None
            self._reversible = first is not None and index_of(self.key_salt, str(first[0])) == 0
        if self._reversible:
            written = self._written.get(key.lower())
            if written is not None:
                return written
            i = index_of(self.key_salt, key)
            if i is None or not 0 <= i < self._generated_n:
                return None
            return int(self._from_generated(np.array([i]))[0])
        hits = np.flatnonzero(self.column(self.key_name).astype(str) == key)
        return int(hits[0]) if len(hits) else None


class DeletedLog:
    """The rows of sync/Deleted: one per deleted record, with its own Timestamp."""

    key_name = "Timestamp"

    def __init__(self, division: int, rowversion: RowVersion, salt: int) -> None:
        self.division = division
        self.rowversion = rowversion
        self.key_salt = salt
        self._cols: dict[str, list] = {
            k: [] for k in ("Timestamp", "DeletedBy", "DeletedDate", "EntityKey", "EntityType", "ID")
        }

    @property
    def n(self) -> int:
        return len(self._cols["Timestamp"])

    def append(self, entity_type: int, keys: list[str], deleted_by: str, now_ms: int) -> None:
        """Logs deleted records."""
        stamps = self.rowversion.take(len(keys)).tolist()
        ids = guids_for(self.key_salt, np.arange(self.n, self.n + len(keys))).tolist()
        self._cols["Timestamp"].extend(stamps)
        self._cols["DeletedBy"].extend([deleted_by] * len(keys))
        self._cols["DeletedDate"].extend([now_ms] * len(keys))
        self._cols["EntityKey"].extend(keys)
        self._cols["EntityType"].extend([entity_type] * len(keys))
        self._cols["ID"].extend(ids)

    def alive_mask(self) -> np.ndarray:
        return np.ones(self.n, dtype=bool)

    def column(self, name: str) -> np.ndarray:
        if name == "Division":
            return np.full(self.n, self.division, dtype=np.int64)
        values = self._cols.get(name)
        if values is None:
            return np.full(self.n, None, dtype=object)
        if name in ("Timestamp", "DeletedDate", "EntityType"):
            return np.array(values, dtype=np.int64)
        return np.array(values, dtype=object)

    def take(self, name: str, idx: np.ndarray) -> np.ndarray:
        return self.column(name)[idx]

    def sync_order(self) -> tuple[np.ndarray, np.ndarray]:
        ts = self.column("Timestamp")
        return np.arange(self.n), ts


class DivisionState:
    """Everything the sandbox holds for one division; an entity's rows are built on first use.

    Args:
        tables: the entities the division has rows of, in a fixed order (their Timestamp ranges).
    """

    def __init__(self, data: Books, code: int, tables: list[Table], seed: int) -> None:
        self.code = code
        self.data = data
        base = TIMESTAMP_BASE + (code % 1000) * 1_000_000
        self._tables = {t.full_name.lower(): (t, base + k * TIMESTAMP_STRIDE) for k, t in enumerate(tables)}
        self.rowversion = RowVersion(base + len(tables) * TIMESTAMP_STRIDE)
        self._built: dict[str, EntityRows] = {}
        self.deleted = DeletedLog(code, self.rowversion, salt_for(seed, code, "sync/Deleted"))

    def rows(self, entity: str) -> EntityRows | None:
        """The rows of an entity by its logical name, case-insensitive; None for an unknown entity."""
        name = entity.lower()
        rows = self._built.get(name)
        if rows is None and name in self._tables:
            table, first = self._tables[name]
            rows = self._built[name] = EntityRows(self.data, table, self.code, self.rowversion, first)
        return rows

    @property
    def entities(self) -> list[str]:
        """The entities of the division (lower case)."""
        return list(self._tables)

    @property
    def built(self) -> list[str]:
        """The entities whose rows have been asked for (lower case)."""
        return list(self._built)

    def mutate(
        self,
        entity: str,
        inserts: int,
        updates: int,
        deletes: int,
        rng: np.random.Generator,
        deleted_by: str,
        now_ms: int,
    ) -> dict[str, int]:
        """Random inserts, updates and deletes that bump Timestamps and feed sync/Deleted."""
        rows = self.rows(entity)
        if rows is None:
            raise KeyError(entity)
        done = {"inserted": 0, "updated": 0, "deleted": 0}
        if inserts:
            self.data.extend(rows.entity, inserts)  # may add rows to related entities too
            grown = {name: other.grow(now_ms) for name, other in self._built.items()}
            done["inserted"] = len(grown[rows.entity.lower()])
        alive = np.flatnonzero(rows.alive)
        if updates and len(alive):
            pick = np.sort(rng.choice(alive, size=min(updates, len(alive)), replace=False))
            rows.update(pick, now_ms, rng)
            done["updated"] = len(pick)
        alive = np.flatnonzero(rows.alive)
        if deletes and len(alive):
            pick = np.sort(rng.choice(alive, size=min(deletes, len(alive)), replace=False))
            gone = rows.delete(pick)
            keys = [str(k) for k in rows.take(rows.key_name, gone).tolist()]
            self.deleted.append(deleted_entity_type(rows.table), keys, deleted_by, now_ms)
            done["deleted"] = len(gone)
        return done
