"""What to replicate: per catalog table the endpoint, the strategy, the typed columns and the key.

A table with a sync endpoint is replicated through it (``Timestamp gt cursor``; deletions from
``sync/Deleted``). A table without one is reloaded in full through its bulk (or regular) endpoint, or,
when asked for and possible, read by ``Modified ge cursor`` (new and changed rows only; deletions are not
seen that way).
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from exactsql.api.convert import schema_for
from exactsql.catalog import AccessPath, Catalog, Column, Table, load_catalog
from exactsql.errors import ConfigError

DIVISION = Column("Division", "Edm.Int32")
DELETED = "sync/Deleted"

#: The tables replicated when ``--tables`` is not given: the core of the books.
DEFAULT_TABLES: tuple[str, ...] = (
    "financialtransaction/TransactionLines",
    "financial/GLAccounts",
    "financial/GLClassifications",
    "crm/Accounts",
    "crm/Contacts",
    "logistics/Items",
    "salesinvoice/SalesInvoices",
    "salesinvoice/SalesInvoiceLines",
    "cashflow/Receivables",
    "project/Projects",
    "users/Users",
    "users/UserRoles",
    "users/UserRolesPerDivision",
)

#: EntityType codes of ``sync/Deleted`` (API.md §5.4), by the sync endpoint whose records they name.
DELETED_ENTITY_TYPES: dict[str, int] = {
    "sync/Financial/TransactionLines": 1,
    "sync/CRM/Accounts": 2,
    "sync/CRM/Addresses": 3,
    "sync/Documents/DocumentAttachments": 4,
    "sync/CRM/Contacts": 5,
    "sync/Documents/Documents": 6,
    "sync/Financial/GLAccounts": 7,
    "sync/Logistics/SalesItemPrices": 8,
    "sync/Logistics/Items": 9,
    "sync/Cashflow/PaymentTerms": 10,
    "sync/SalesInvoice/SalesInvoices": 13,
    "sync/Project/TimeCostTransactions": 14,
    "sync/Inventory/StockPositions": 15,
    "sync/SalesOrder/GoodsDeliveries": 16,
    "sync/SalesOrder/GoodsDeliveryLines": 17,
    "sync/Financial/GLClassifications": 18,
    "sync/Inventory/ItemWarehouses": 19,
    "sync/Inventory/StorageLocationStockPositions": 20,
    "sync/Project/Projects": 21,
    "sync/PurchaseOrder/PurchaseOrders": 22,
    "sync/Subscription/Subscriptions": 23,
    "sync/Subscription/SubscriptionLines": 24,
    "sync/Project/ProjectWBS": 25,
    "sync/Project/ProjectPlanning": 26,
    "sync/HRM/LeaveAbsenceHoursByDay": 27,
    "sync/Inventory/SerialBatchNumbers": 28,
    "sync/Inventory/StockSerialBatchNumbers": 29,
    "sync/SalesOrder/SalesOrderHeaders": 32,
    "sync/SalesOrder/SalesOrderLines": 33,
    "sync/CRM/QuotationHeaders": 34,
    "sync/CRM/QuotationLines": 35,
    "sync/Manufacturing/ShopOrders": 36,
    "sync/Manufacturing/ShopOrderMaterialPlans": 37,
    "sync/Manufacturing/ShopOrderRoutingStepPlans": 38,
    "sync/HRM/Schedules": 39,
    "sync/HRM/ScheduleEntries": 40,
    "sync/Inventory/ItemStorageLocations": 41,
    "sync/Payroll/Employees": 42,
    "sync/Payroll/Employments": 43,
    "sync/Payroll/EmploymentContracts": 44,
    "sync/Payroll/EmploymentOrganizations": 45,
    "sync/Payroll/EmploymentCLAs": 46,
    "sync/Payroll/EmploymentSalaries": 47,
    "sync/Payroll/BankAccounts": 48,
    "sync/Payroll/EmploymentTaxAuthoritiesGeneral": 49,
    "sync/Manufacturing/ShopOrderPurchasePlanning": 50,
    "sync/Manufacturing/ShopOrderSubOrders": 51,
    "sync/Manufacturing/BillOfMaterialMaterials": 54,
    "sync/Manufacturing/BillOfMaterialVersions": 55,
    "sync/HRM/LeaveRegistrations": 56,
    "sync/HRM/LeaveBuildUpRegistrations": 57,
    "sync/HRM/AbsenceRegistrationTransactions": 58,
    "sync/HRM/AbsenceRegistrations": 59,
}
_ENTITY_TYPE_BY_ENDPOINT = {k.lower(): v for k, v in DELETED_ENTITY_TYPES.items()}

SYNC, RELOAD, MODIFIED, DELETIONS = "sync", "reload", "modified", "deleted"


def physical_name(table: Table) -> str:
    """The target table of a catalog table: ``crm/Accounts`` → ``crm_accounts``."""
    return f"{table.schema}_{table.name}".lower()


def stage_name(name: str) -> str:
    """The staging table in which a full reload of ``name`` is collected before it replaces the rows."""
    return f"exactsql_stage_{name}"


@dataclass(frozen=True)
class TableSpec:
    """A target table: its name, typed columns (``Division`` included) and primary key (Division, key)."""

    name: str
    columns: tuple[Column, ...]
    key: str
    has_timestamp: bool

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema of the rows."""
        return schema_for(self.columns)

    @property
    def column_names(self) -> list[str]:
        """The column names in order."""
        return [c.name for c in self.columns]

    def edm(self, name: str) -> str:
        """The Edm type of a column (``Edm.String`` when unknown)."""
        lowered = name.lower()
        return next((c.edm for c in self.columns if c.name.lower() == lowered), "Edm.String")


@dataclass(frozen=True)
class TablePlan:
    """How one catalog table is replicated."""

    table: Table
    path: AccessPath
    strategy: str
    spec: TableSpec
    entity_type: int | None = None

    @property
    def name(self) -> str:
        """The catalog name, ``crm/Accounts``."""
        return self.table.full_name

    @property
    def partitioned(self) -> bool:
        """Whether the endpoint has a division in its URL."""
        return self.path.division_in_url

    def select(self) -> str:
        """The ``$select`` of every column read (``Division`` only when the endpoint has it)."""
        return ",".join(c.name for c in self.path_columns())

    def path_columns(self) -> list[Column]:
        """The typed columns the endpoint returns."""
        return [c for c in self.path.columns if c.edm.startswith("Edm.")]

    def probe_path(self) -> AccessPath | None:
        """A regular endpoint of the table that can tell whether it changed in one call — its row count and
        latest ``Modified`` (``$orderby=Modified desc&$top=1&$inlinecount=allpages``) — or None (no such
        endpoint: no ``Modified``, or a mandatory filter). Bulk endpoints are not used: Exact documents only
        ``$select`` and some filters for them."""
        for path in self.table.paths:
            if (
                path.kind == "regular"
                and "GET" in path.methods
                and not path.function
                and not path.mandatory_filter
                and path.column("Modified") is not None
                and path.division_in_url == self.partitioned
            ):
                return path
        return None

    def tautology(self) -> str | None:
        """A ``$filter`` that keeps every row, for an endpoint with mandatory filtering (None: not needed)."""
        path = self.path
        if not path.mandatory_filter or path.kind == SYNC:
            return None
        key = self.spec.key
        column = path.column(key)
        if key in path.mandatory_filter and column is not None and path.can_filter(key):
            if column.edm == "Edm.Guid":
                return f"{key} ne guid'00000000-0000-0000-0000-000000000000'"
            if column.edm.startswith("Edm.Int"):
                return f"{key} ne -2147483648"
        raise ConfigError(
            f"{path.endpoint} demands a filter on one of {', '.join(path.mandatory_filter[:6])}…; exactsql "
            "cannot read all its rows.",
            "Leave this table out of --tables.",
        )


def identity_key(table: Table, path: AccessPath) -> str:
    """The column that identifies a record: the table's key, or ``ID`` where the catalog names Timestamp."""
    key = table.key
    if key and key != "Timestamp" and path.column(key) is not None:
        return key
    if path.column("ID") is not None:
        return "ID"
    raise ConfigError(f"{table.full_name} has no key column exactsql can replicate by.")


def entity_type_of(path: AccessPath) -> int | None:
    """The EntityType of ``sync/Deleted`` records for a sync endpoint (None: Exact reports none)."""
    return _ENTITY_TYPE_BY_ENDPOINT.get(path.endpoint.lower())


def _read_path(table: Table, strategy: str | None) -> tuple[AccessPath, str]:
    readable = [p for p in table.paths if "GET" in p.methods and not p.function]
    if strategy == MODIFIED:
        candidates = [p for p in readable if p.kind != SYNC and p.column("Modified") is not None]
        candidates = [p for p in candidates if p.can_filter("Modified") and _modified_allowed(p)]
        if not candidates:
            raise ConfigError(
                f"{table.full_name} cannot be read by Modified (no endpoint filters on it).",
                "Leave it out of --modified: it is reloaded in full instead.",
            )
        return max(candidates, key=lambda p: p.page_size), MODIFIED
    sync = next((p for p in readable if p.kind == SYNC), None)
    if sync is not None:
        return sync, SYNC
    bulk = [p for p in readable if p.kind == "bulk"]
    regular = [p for p in readable if p.kind == "regular"]
    for path in bulk + regular:
        if not path.mandatory_filter or path.column(table.key or "ID") is not None:
            return path, RELOAD
    if readable:
        return readable[0], RELOAD
    raise ConfigError(f"{table.full_name} has no endpoint to read it from.")


def _modified_allowed(path: AccessPath) -> bool:
    return not path.mandatory_filter or "Modified" in path.mandatory_filter


def spec_for(table: Table, path: AccessPath) -> TableSpec:
    """The target table of ``table`` read through ``path``."""
    columns = [c for c in path.columns if c.edm.startswith("Edm.")]
    if all(c.name != "Division" for c in columns):
        columns.append(DIVISION)
    else:
        columns = [DIVISION if c.name == "Division" else c for c in columns]
    key = identity_key(table, path)
    return TableSpec(physical_name(table), tuple(columns), key, any(c.name == "Timestamp" for c in columns))


def plan_table(table: Table, strategy: str | None = None) -> TablePlan:
    """The plan of one table (``strategy`` "modified" to read a table without sync by Modified)."""
    path, chosen = _read_path(table, strategy)
    spec = spec_for(table, path)
    return TablePlan(table, path, chosen, spec, entity_type_of(path) if chosen == SYNC else None)


def deleted_plan(catalog: Catalog | None = None) -> TablePlan:
    """The plan of the ``sync/Deleted`` reads (one per division; its rows are applied, not kept)."""
    catalog = catalog or load_catalog()
    table = catalog.table(DELETED)
    path = table.path(SYNC)
    assert path is not None
    spec = TableSpec("exactsql_deleted", (), "Timestamp", True)
    return TablePlan(table, path, DELETIONS, spec)


def resolve_table(name: str, catalog: Catalog | None = None) -> Table:
    """A table by ``service/Entity`` or by its entity name alone (division-partitioned ones first)."""
    catalog = catalog or load_catalog()
    text = name.strip().replace(".", "/")
    if "/" in text:
        try:
            return catalog.table(text)
        except KeyError:
            pass
    entity = text.rsplit("/", 1)[-1].lower()
    found = [t for t in catalog.tables if t.name.lower() == entity and t.full_name != DELETED]
    if len(found) > 1:
        found = [t for t in found if t.partitioned] or found
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        names = ", ".join(t.full_name for t in found)
        raise ConfigError(f"The table name {name!r} is ambiguous.", f"Name the service: one of {names}.")
    close = difflib.get_close_matches(text.lower(), [t.full_name.lower() for t in catalog.tables], n=3)
    hint = f"Did you mean {', '.join(close)}?" if close else "Use service/Entity, e.g. crm/Accounts."
    raise ConfigError(f"There is no table {name!r} in the catalog.", hint)


def names_in(items: Sequence[str] | None) -> list[str]:
    """Table names as options give them: comma-separated, repeated."""
    return [part.strip() for item in items or [] for part in item.split(",") if part.strip()]


def resynced(plans: list[TablePlan], names: list[str]) -> set[str]:
    """The catalog names of the plans to resync: those ``names`` name, every one for ``all``."""
    if any(n.lower() == "all" for n in names):
        return {p.name for p in plans}
    catalog = load_catalog()
    return {resolve_table(n, catalog).full_name for n in names}


def plan_tables(names: list[str] | None = None, modified: list[str] | None = None) -> list[TablePlan]:
    """The plans of the tables to replicate (``DEFAULT_TABLES`` when ``names`` is None).

    ``modified``: tables without a sync endpoint to read by ``Modified`` instead of reloading in full
    (``["all"]``: every such table that can be).
    """
    catalog = load_catalog()
    chosen: list[Table] = []
    for name in names_in(names or DEFAULT_TABLES):
        table = resolve_table(name, catalog)
        if table.full_name == DELETED:
            raise ConfigError(
                "sync/Deleted is not copied: its records are applied to the tables they name.",
                "Leave it out of --tables.",
            )
        if table not in chosen:
            chosen.append(table)
    wanted = {m.lower() for m in names_in(modified)}
    every = "all" in wanted
    by_modified = {resolve_table(m, catalog).full_name for m in wanted - {"all"}}
    plans = []
    for table in chosen:
        has_sync = table.path(SYNC) is not None
        strategy = None
        if table.full_name in by_modified:
            if has_sync:
                raise ConfigError(f"{table.full_name} has a sync endpoint; it needs no --modified.")
            strategy = MODIFIED
        elif every and not has_sync:
            try:
                _read_path(table, MODIFIED)
                strategy = MODIFIED
            except ConfigError:
                strategy = None
        plans.append(plan_table(table, strategy))
    return plans
