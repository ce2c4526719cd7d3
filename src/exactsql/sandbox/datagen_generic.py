"""Rows of any catalog entity without a hand-made generator, derived from the catalog alone.

An entity's rows are, like the hand-made ones, pure functions of (seed, division, entity, column, row):

- the row count follows the kind of entity: a handful for reference lists (types, codes, units), some
  dozens of master rows, more transactions, and one to four lines per header row for line entities;
- every row has an *anchor day*: the day a master row was created (before the books began) or the day
  of a transaction (within the books, more often recent ones, up to today); lines share their header's;
- foreign keys (see ``datagen_links``) pick existing rows of their target, and their companions copy
  the target row's code, name or description; a line entity takes its header's account, project …;
- the other columns follow their Edm type and name (see ``datagen_columns``).

A :class:`Spec` overrides any of this for entities whose rows must agree with the books (reports,
reference lists the hand-made generators use).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from exactsql.catalog import Table as CatalogTable
from exactsql.sandbox import datagen_names as N
from exactsql.sandbox.datagen_base import (
    Column,
    Table,
    nulls,
    pool,
    rint,
    runi,
    weekday_shift,
    year_month,
)
from exactsql.sandbox.datagen_columns import make_column
from exactsql.sandbox.datagen_links import ENTRIES, USERS, Role, links, singular, words
from exactsql.sandbox.values import guids_for

if TYPE_CHECKING:
    from exactsql.sandbox.datagen import DivisionData

SCALE = {"small": 1, "medium": 5, "large": 15}
"""Rows of a generic entity grow with the size of the books, far less than the transaction lines."""

_REFERENCE = (
    "Types", "Categories", "Classes", "Codes", "Methods", "Reasons", "Sources", "Priorities", "Settings",
    "Units", "Currencies", "Journals", "Groups", "Stages", "Phases", "Percentages", "Scenarios", "Schemes",
    "Conditions", "Channels", "Layouts", "Features", "Purposes", "States", "Incoterms", "Banks", "Folders",
    "Names", "Values", "Rules", "Mailboxes", "Areas", "Workcenters", "Departments", "Titles", "Charges",
)  # fmt: skip
_TRANSACTION_DATES = (
    "Date", "EntryDate", "InvoiceDate", "OrderDate", "DocumentDate", "TransactionDate", "QuotationDate",
    "ReceiptDate", "DeliveryDate", "PlannedDate", "StockCountDate", "TransferDate", "AssemblyDate",
    "ReturnDate", "PickedDate", "ActionDate", "StartTime", "FinancialYear", "ReportingYear", "EntryNumber",
)  # fmt: skip
_SINGLE_ROW_KEYS = ("Division", "CurrencyCode", "CurrentYear")
_ALWAYS = {
    "crm/Accounts", "logistics/Items", "payroll/Employees", "financial/GLAccounts", "financial/Journals",
    USERS, "general/Currencies", "logistics/Units", "inventory/Warehouses", "vat/VATCodes", ENTRIES,
}  # fmt: skip
_SUPPLIER_SIDE = ("purchase", "purchaseorder", "purchaseentry")
_LABELS = {
    "Warehouse": "Magazijn", "Costcenter": "Kostenplaats", "Costunit": "Kostendrager", "Department": "Afdeling",
    "ItemGroup": "Artikelgroep", "ShippingMethod": "Verzendwijze", "Unit": "Eenheid", "Journal": "Dagboek",
    "StorageLocation": "Locatie", "Asset": "Activum", "AssetGroup": "Activagroep", "Budget": "Budget",
    "Document": "Document", "DocumentFolder": "Map", "Opportunity": "Verkoopkans", "Quotation": "Offerte",
    "SalesOrder": "Verkooporder", "PurchaseOrder": "Inkooporder", "Subscription": "Abonnement",
    "Task": "Taak", "Event": "Afspraak", "ShopOrder": "Productieorder", "Operation": "Bewerking",
    "Workcenter": "Werkplek", "JobTitle": "Functie", "JobGroup": "Functiegroep", "Schedule": "Rooster",
    "PriceList": "Prijslijst", "SalesPriceList": "Prijslijst", "Mailbox": "Postbus", "ReasonCode": "Redencode",
    "SelectionCode": "Selectiecode", "LeadSource": "Leadbron", "LeadPurpose": "Leaddoel", "Layout": "Lay-out",
    "DepreciationMethod": "Afschrijvingsmethode", "PaymentCondition": "Betalingsconditie", "Bank": "Bank",
}  # fmt: skip


@dataclass
class Spec:
    """What an entity's rows must be, where the catalog's conventions are not enough.

    Attributes:
        count: the number of rows.
        cols: column functions that replace the generic ones.
        roles: role prefix → function of the target row index per row (companions follow).
        anchor: the anchor day per row.
    """

    count: int
    cols: dict[str, Column] = field(default_factory=dict)
    roles: dict[str, Column] = field(default_factory=dict)
    anchor: Column | None = None


def key_name(table: CatalogTable) -> str:
    """The column that identifies a row: the catalog's key, else ``ID`` (hidden when not a column)."""
    key = table.key
    if isinstance(key, str) and key != "Timestamp" and table.column(key) is not None:
        return table.column(key).name  # type: ignore[union-attr]
    for name in ("ID", "Id"):
        column = table.column(name)
        if column is not None and column.edm == "Edm.Guid":
            return column.name
    return "ID"


class GenericTable(Table):
    """The rows of one catalog entity in one division, from the catalog's columns (see module doc)."""

    def __init__(self, div: DivisionData, table: CatalogTable, spec: Spec | None = None) -> None:
        self.entity = table.full_name
        self.key = key_name(table)
        super().__init__(div)
        self.catalog = table
        self.spec = spec
        self.roles = links().roles(table)
        self.role_of: dict[str, tuple[Role, str]] = {
            column: (role, member) for role in self.roles.values() for column, member in role.members.items()
        }
        self.person = table.column("FirstName") is not None and table.column("LastName") is not None
        names = {c.name for c in table.columns}
        self.transactional = any(n in names for n in _TRANSACTION_DATES) or links().has_lines(table)
        noun = singular(table.name)
        self.label = _LABELS.get(noun, " ".join(words(noun)).capitalize())
        self.initials = "".join(w[0] for w in words(noun)).upper()[:3] or "X"
        header = next((r for r in self.roles.values() if r.header and r.target != self.entity), None)
        self.header_role = header
        self._role_fns: dict[str, Column] = {}
        self.line_start: np.ndarray | None = None
        self.n = self.base = self._count()
        self._columns()

    # ---------------------------------------------------------------- shape

    def salt_of(self, name: str) -> int:
        """A salt shared by the columns of one concept (``person``, ``city``) of this entity."""
        return self.s("@" + name)

    def _count(self) -> int:
        if self.spec is not None:
            return self.spec.count
        scale = SCALE[self.div.world.size]
        key = self.catalog.key if isinstance(self.catalog.key, str) else ""
        variety = int(rint(self.salt_of("count"), np.zeros(1, np.int64), 1000)[0])
        if key in _SINGLE_ROW_KEYS:
            return 1
        if key == "AgeGroup":
            return 4
        if self.header_role is not None:
            heads = self.div.base_count(self.header_role.target)
            per = 1 + rint(self.salt_of("lines"), np.arange(heads), 4)
            self.line_start = np.r_[0, np.cumsum(per)].astype(np.int64)
            return int(self.line_start[-1])
        keyed = self.role_of.get(key)
        if keyed is not None:
            return min(self.div.base_count(keyed[0].target), 50 * scale)
        if self.catalog.name.endswith(_REFERENCE):
            return 3 + variety % 8
        if self.transactional:
            return (30 + variety % 90) * scale
        return (8 + variety % 30) * scale

    def _columns(self) -> None:
        spec_cols = self.spec.cols if self.spec is not None else {}
        for column in self.catalog.columns:
            name = column.name
            if name in ("Division", "Timestamp"):
                continue
            if name in spec_cols:
                fn: Column | None = spec_cols[name]
            elif name in self.role_of:
                fn = self._member(*self.role_of[name], column.edm)
            else:
                fn = make_column(self, name, column.edm)
            if fn is not None:
                self.cols[name] = fn
        if self.key == "Division":  # one row per division (settings)
            self.cols[self.key] = lambda i: np.full(len(i), self.div.code, dtype=np.int64)
        for name in ("Notes", "Remarks", "Note"):  # always null, but changes may fill them
            notes = self.catalog.column(name)
            if name not in self.cols and notes is not None and notes.edm == "Edm.String":
                self.cols[name] = lambda i: nulls(len(i))
        if self.key not in self.cols:
            self.cols[self.key] = self.ids
        self.audit(self.anchor)
        for name in ("Created", "Modified", "Creator", "CreatorFullName", "Modifier", "ModifierFullName"):
            if self.catalog.column(name) is None:
                del self.cols[name]
            elif name in spec_cols:
                self.cols[name] = spec_cols[name]

    # ---------------------------------------------------------------- per-row structure

    def header(self, i: np.ndarray) -> np.ndarray:
        """The header row of line rows ``i`` (lines added later belong to a random header)."""
        assert self.line_start is not None
        inside = i < self.base
        heads = len(self.line_start) - 1
        mine = np.searchsorted(self.line_start, np.minimum(i, self.base - 1), side="right") - 1
        return np.where(inside, mine, rint(self.salt_of("head"), i, max(heads, 1))).astype(np.int64)

    def line_number(self, i: np.ndarray) -> np.ndarray:
        """1, 2, … within the header (or the row number when there is no header)."""
        if self.line_start is None:
            return i + 1
        return np.where(i < self.base, i - self.line_start[self.header(i)] + 1, 1).astype(np.int64)

    def anchor(self, i: np.ndarray) -> np.ndarray:
        """The day each row is about (see module docstring)."""
        return self.memo("@anchor", self._anchor, i)

    def _anchor(self, i: np.ndarray) -> np.ndarray:
        cal, s = self.div.cal, self.salt_of("anchor")
        if self.spec is not None and self.spec.anchor is not None:
            return self.spec.anchor(i)
        if self.header_role is not None:
            days = self.div.anchor(self.header_role.target, self.header(i))
        elif self.transactional:
            span = cal.ref_day - cal.start_day + 1
            days = weekday_shift(cal.start_day + (runi(s, i) ** 0.85 * span).astype(np.int64), cal.ref_day)
        else:
            days = cal.start_day - 30 - rint(s, i, 1500)
        return np.where(i < self.base, days, cal.ref_day - rint(s + 1, i, 28)).astype(np.int64)

    def own_guids(self, name: str, i: np.ndarray) -> np.ndarray:
        """Unique guids of a guid column that is not a key (``ID`` of an entity keyed by Timestamp)."""
        return guids_for(self.salt_of(name), i)

    # ---------------------------------------------------------------- roles

    def role_index(self, prefix: str) -> Column:
        """The target row of role ``prefix`` per row (-1: none); worked out on first use."""

        def index(i: np.ndarray) -> np.ndarray:
            made = self._role_fns.get(prefix)
            if made is None:
                made = self._role_fns[prefix] = self._role_index(self.roles[prefix])
            return self.memo("@role" + prefix, made, i)

        return index

    def _role_index(self, role: Role) -> Column:
        div, s = self.div, self.salt_of("role:" + role.prefix)
        if self.spec is not None and role.prefix in self.spec.roles:
            return self.spec.roles[role.prefix]
        if role.header:
            return self.header
        if self.key in role.members:
            return lambda i: i
        head = self.header_role
        if head is not None:
            above = div.generic(head.target)
            if (
                above is not None
                and role.prefix in above.roles
                and above.roles[role.prefix].target == role.target
            ):
                inherited = above.role_index(role.prefix)
                return lambda i: inherited(self.header(i))
        if role.parent:
            return lambda i: np.where(
                (i == 0) | (runi(s, i) < 0.6), -1, rint(s + 1, i, 1 << 30) % np.maximum(i, 1)
            )
        if role.target == USERS:
            return lambda i: div.user_of(s, i, self.anchor(i))
        if role.target == "general/Currencies":
            return lambda i: np.zeros(len(i), dtype=np.int64)  # the books are in euro
        if role.target == "crm/Contacts":
            account = self._account_of(role.prefix)
            if account is not None:
                return lambda i: np.where(
                    account(i) >= 0, div.accounts.main_contact(np.maximum(account(i), 0)), -1
                )
        chosen = self._chooser(role, s)
        if role.target in _ALWAYS:
            return chosen
        return lambda i: np.where(runi(s + 1, i) < 0.3, -1, chosen(i))

    def _chooser(self, role: Role, s: int) -> Column:
        """Any row of the target that existed before changes (customers or suppliers for accounts)."""
        if role.target == "crm/Accounts":
            accounts = self.div.accounts
            supplier = "supplier" in role.prefix.lower() or self.catalog.schema in _SUPPLIER_SIDE
            pool = accounts.suppliers if supplier else accounts.customers
            return lambda i: pool[rint(s, i, len(pool))]
        n = self.div.base_count(role.target)
        if not n:
            return lambda i: np.full(len(i), -1, dtype=np.int64)
        return lambda i: rint(s, i, n)

    def _account_of(self, prefix: str) -> Column | None:
        """The account role a contact role belongs to (``DeliveryAccount`` for ``DeliveryAccountContact``)."""
        accounts = [r for r in self.roles.values() if r.target == "crm/Accounts"]
        if not accounts:
            return None
        best = max(
            accounts, key=lambda r: (prefix.startswith(r.prefix.removesuffix("Id")), r.prefix == "Account")
        )
        return self.role_index(best.prefix)

    def _member(self, role: Role, member: str, edm: str) -> Column:
        """A column of a role: the target's key (guid or code) or a companion column of the target row."""
        div, index = self.div, self.role_index(role.prefix)
        if member == "key":
            if edm == "Edm.Guid":
                return lambda i: self._target_keys(role.target, index(i))
            member = "Code"
        source = member

        def companion(i: np.ndarray) -> np.ndarray:
            if source not in div.columns(role.target):
                return nulls(len(i))
            return div.lookup(role.target, source, index(i))

        return companion

    def _target_keys(self, target: str, idx: np.ndarray) -> np.ndarray:
        """The guids that name rows ``idx`` of ``target``: its key, or its ``ID`` when the key is not a guid."""
        key: str | None = self.div.key_name(target)
        table = links().table(target)
        column = table.column(key) if table is not None and key else None
        if column is not None and column.edm != "Edm.Guid":
            key = "ID" if "ID" in self.div.columns(target) else None
        return self.div.lookup(target, key, idx) if key else nulls(len(idx))

    # ---------------------------------------------------------------- values shared by columns

    def codes(self, i: np.ndarray) -> np.ndarray:
        return pool(f"{self.initials}{x:03d}" for x in (i + 1).tolist())

    def descriptions(self, i: np.ndarray) -> np.ndarray:
        item = next((r for r in self.roles.values() if r.target == "logistics/Items"), None)
        if self.line_start is not None and item is not None:
            return self.div.lookup("logistics/Items", "Description", self.role_index(item.prefix)(i))
        if self.transactional:
            year, month = year_month(self.anchor(i))
            return pool(
                f"{self.label} {N.MONTHS_NL[m - 1]} {y}"
                for y, m in zip(year.tolist(), month.tolist(), strict=True)
            )
        return pool(f"{self.label} {x}" for x in (i + 1).tolist())

    def quantity(self, i: np.ndarray) -> np.ndarray:
        return (1 + rint(self.salt_of("quantity"), i, 20)).astype(np.float64)

    def price(self, i: np.ndarray) -> np.ndarray:
        item = next((r for r in self.roles.values() if r.target == "logistics/Items"), None)
        if item is not None:
            idx = self.role_index(item.prefix)(i)
            return np.where(idx >= 0, self.div.items.price(np.maximum(idx, 0)) / 100, 0.0)
        s = self.salt_of("price")
        return np.round(25.0 * np.exp((runi(s, i) - 0.3) * 3.0), 2)

    def amount(self, i: np.ndarray) -> np.ndarray:
        return np.round(self.quantity(i) * self.price(i), 2)

    # ---------------------------------------------------------------- changes

    def changed_values(self, idx: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        for name in ("Notes", "Remarks", "Note"):
            column = self.catalog.column(name)
            if column is not None and column.edm == "Edm.String":
                texts = ["Gecontroleerd", "Aangepast op verzoek", "Zie bijlage"]
                return {name: pool(rng.choice(texts, len(idx)).tolist())}
        return {}


GenericSpec = Callable[["DivisionData"], Spec]
"""Builds the :class:`Spec` of an entity for a division."""
