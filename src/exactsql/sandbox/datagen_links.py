"""How the columns of a catalog entity link to other entities, by Exact's naming conventions.

A *role* is a foreign key with its companions: ``Account`` (a guid) with ``AccountCode`` and
``AccountName``, ``Journal`` (a code) with ``JournalDescription``, or ``CurrencyCode`` on its own. Every
column of a role takes its value from the same row of the target entity, so codes, names and
descriptions always agree with the key they describe. Roles are found from the catalog alone:

1. a guid column named like the key of another entity of the same service is its header
   (``OrderID`` in SalesOrderLines → salesorder/SalesOrders);
2. otherwise the name, without a trailing ``ID``/``Id``, is matched on its CamelCase words against
   entity names in the singular and a few aliases (``DeliveryAccountContact`` → crm/Contacts,
   ``InvoiceTo`` → crm/Accounts, ``Creator`` → users/Users, ``GLRevenue`` → financial/GLAccounts);
3. a string column links by code only to the entities that Exact references by code (journals, cost
   centers and units, units, VAT codes, currencies, payment conditions);
4. ``{role}Code``, ``{role}Description``, ``{role}Name``, ``{role}FullName``, ``{role}HID`` and
   ``{role}Number`` are companions of the role.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

from exactsql.catalog import Catalog, Table, load_catalog

ENTRIES = "financialtransaction/Transactions"
"""The journal entries of the books: not an endpoint, but what ``EntryID`` columns point at."""
USERS = "users/Users"

# Whole names (without ID) that name an entity.
_EXACT = {
    "entry": ENTRIES,
    "transactionentry": ENTRIES,
    "transaction": "financialtransaction/TransactionLines",
    "invoice": "salesinvoice/SalesInvoices",
    "salesinvoice": "salesinvoice/SalesInvoices",
    "order": "salesorder/SalesOrders",
}
# Trailing words that name an entity wherever they appear (``DeliveryAccount``, ``SupplierContact``).
_SUFFIX = {
    "account": "crm/Accounts",
    "customer": "crm/Accounts",
    "supplier": "crm/Accounts",
    "invoiceto": "crm/Accounts",
    "orderedby": "crm/Accounts",
    "deliverto": "crm/Accounts",
    "accountant": "crm/Accounts",
    "reseller": "crm/Accounts",
    "contact": "crm/Contacts",
    "contactperson": "crm/Contacts",
    "creator": USERS,
    "modifier": USERS,
    "createdby": USERS,
    "user": USERS,
    "owner": USERS,
    "assignedto": USERS,
    "manager": USERS,
    "manageruser": USERS,
    "salesperson": USERS,
    "approver": USERS,
    "orderpicker": USERS,
    "modifiedby": USERS,
    "syscreator": USERS,
    "sysmodifier": USERS,
    "purchaseagent": USERS,
    "leaddeveloper": USERS,
    "expense": "project/WBSExpenses",
    "activity": "project/WBSActivities",
    "classification": "crm/AccountClassifications",
    "accountmanager": USERS,
    "countedby": USERS,
    "pickedby": USERS,
    "transferredby": USERS,
    "deletedby": USERS,
    "identificationuser": USERS,
    "item": "logistics/Items",
    "project": "project/Projects",
    "employee": "payroll/Employees",
    "warehouse": "inventory/Warehouses",
    "costcenter": "hrm/Costcenters",
    "costunit": "hrm/Costunits",
    "journal": "financial/Journals",
    "currency": "general/Currencies",
    "unit": "logistics/Units",
    "vatcode": "vat/VATCodes",
    "paymentcondition": "cashflow/PaymentConditions",
    "pricelist": "sales/PriceLists",
    "document": "documents/Documents",
    "opportunity": "crm/Opportunities",
    "quotation": "crm/Quotations",
    "salesorder": "salesorder/SalesOrders",
    "purchaseorder": "purchaseorder/PurchaseOrders",
    "shoporder": "manufacturing/ShopOrders",
    "bankaccount": "crm/BankAccounts",
    "bank": "cashflow/Banks",
}
# Entities a string column may reference by their Code.
CODE_TARGETS = frozenset(
    {
        "financial/Journals",
        "hrm/Costcenters",
        "hrm/Costunits",
        "logistics/Units",
        "vat/VATCodes",
        "general/Currencies",
        "cashflow/PaymentConditions",
    }
)
_PARENT = {"parent", "partof", "parentid", "main"}
COMPANIONS = ("FullName", "Fullname", "Description", "Name", "Code", "HID", "Number")
_FALLBACK = {
    "FullName": ("FullName", "Name", "Description"),
    "Fullname": ("FullName", "Name", "Description"),
    "Name": ("Name", "FullName", "Description"),
    "Description": ("Description", "Name", "FullName"),
    "Code": ("Code",),
    "HID": ("HID", "Hid"),
    "Number": ("Number",),
}
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+")


def words(name: str) -> list[str]:
    """CamelCase words: ``GLAccountCode`` → ``["GL", "Account", "Code"]``."""
    return _WORDS.findall(name)


def singular(name: str) -> str:
    """``Opportunities`` → ``Opportunity``, ``Addresses`` → ``Address``, ``ProjectWBS`` unchanged."""
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith(("sses", "shes", "ches", "xes")):
        return name[:-2]
    if name.endswith("s") and not name.endswith("ss") and not (len(name) > 1 and name[-2].isupper()):
        return name[:-1]
    return name


def _strip_id(name: str) -> str:
    for suffix in ("ID", "Id"):
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return name


@dataclass
class Role:
    """A foreign key of an entity and the columns that describe the row it names.

    Attributes:
        prefix: the role's name (``DeliveryAccount``).
        target: the entity it points at.
        members: column → what it takes from the target row: ``"key"`` (the target's key, a guid or a
            code) or a target column name.
        parent: the role names an earlier row of the same entity (``Parent``).
        header: the role names the header of a line entity (``OrderID`` of SalesOrderLines).
    """

    prefix: str
    target: str
    members: dict[str, str] = field(default_factory=dict)
    parent: bool = False
    header: bool = False


class Links:
    """The roles of every entity of a catalog (computed once per entity)."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._singular: dict[str, list[Table]] = {}
        keyed: dict[tuple[str, str], list[Table]] = {}
        for table in catalog.tables:
            self._singular.setdefault(singular(table.name).lower(), []).append(table)
            keyed_by_fk = table.schema.startswith("read_")  # function results keyed by AccountId, ItemId …
            if (
                isinstance(table.key, str)
                and table.key not in ("ID", "Id", "Code", "Timestamp")
                and not keyed_by_fk
            ):
                column = table.column(table.key)
                if column is not None and column.edm == "Edm.Guid":
                    keyed.setdefault((table.schema, table.key), []).append(table)
        # Several entities may share a key name (Quotations and AcceptQuotation): the best-served one.
        self._keys = {
            k: min(
                ts, key=lambda t: (-len(t.paths), not singular(t.name).endswith(_strip_id(k[1])), len(t.name))
            )
            for k, ts in keyed.items()
        }
        self._roles: dict[str, dict[str, Role]] = {}
        self._headers: set[str] | None = None

    def table(self, entity: str) -> Table | None:
        """The catalog table of ``entity``, or None (the entries of the books are not one)."""
        try:
            return self.catalog.table(entity)
        except KeyError:
            return None

    def header_of(self, table: Table) -> tuple[str, Table] | None:
        """The column and the header entity of a line entity (``OrderID``, SalesOrders), or None."""
        if table.name.endswith("Lines"):
            base = singular(table.name[:-5] + "s")
            for other in self._singular.get(base.lower(), []):
                key = other.key if isinstance(other.key, str) else None
                if other.schema == table.schema and key and table.column(key) is not None and key != "ID":
                    return key, other
        for column in table.columns:
            keyed = self._keys.get((table.schema, column.name))
            if (
                column.edm == "Edm.Guid"
                and keyed is not None
                and keyed is not table
                and column.name != table.key
            ):
                return column.name, keyed
        return None

    def has_lines(self, table: Table) -> bool:
        """Whether a line entity has ``table`` as its header (SalesOrders has SalesOrderLines)."""
        if self._headers is None:
            self._headers = set()
            for other in self.catalog.tables:
                found = self.header_of(other)
                if found is not None:
                    self._headers.add(found[1].full_name)
        return table.full_name in self._headers

    def _by_words(self, table: Table, name: str, prefixes: bool = True) -> str | None:
        """The entity a name (without ID) names, by its words: longest suffix first, then prefixes."""
        lowered = name.lower()
        if lowered in _EXACT:
            return _EXACT[lowered]
        parts = words(name)
        if len(parts) > 1 and parts[0] == "GL" and lowered not in self._singular:
            return "financial/GLAccounts"
        candidates = ["".join(parts[k:]) for k in range(len(parts))]
        if prefixes:
            candidates += ["".join(parts[:k]) for k in range(len(parts) - 1, 0, -1)]
        for word in candidates:
            low = word.lower()
            if low in self._singular:
                return self._pick(table, self._singular[low])
            if low in _SUFFIX:
                return _SUFFIX[low]
        return None

    def _pick(self, table: Table, tables: list[Table]) -> str:
        preferred = set(_SUFFIX.values())
        ranked = sorted(
            tables,
            key=lambda t: (
                t.full_name not in preferred,
                t.schema != table.schema,
                t.schema.startswith("read_"),
                not t.partitioned,
            ),
        )
        return ranked[0].full_name

    def target(self, table: Table, name: str, edm: str, prefixes: bool = True) -> tuple[str, bool] | None:
        """The entity a key-like column points at, and whether it is the entity's own parent."""
        if edm == "Edm.Guid":
            header = self._keys.get((table.schema, name))
            if header is not None and header is not table:
                return header.full_name, False
            word = _strip_id(name)
            if word.lower() in _PARENT or word.lower() == "parent" + singular(table.name).lower():
                return table.full_name, True
            found = self._by_words(table, word, prefixes)
        elif edm == "Edm.String":
            found = self._by_words(table, name, prefixes=False)
            if found not in CODE_TARGETS:
                return None
        else:
            return None
        if found is None or found == table.full_name:
            return None
        return found, False

    def roles(self, table: Table) -> dict[str, Role]:
        """The roles of ``table`` by prefix (cached)."""
        cached = self._roles.get(table.full_name)
        if cached is None:
            cached = self._roles[table.full_name] = self._find_roles(table)
        return cached

    def _find_roles(self, table: Table) -> dict[str, Role]:
        roles: dict[str, Role] = {}
        names = {c.name for c in table.columns}
        skip = {"Division", "Timestamp"}
        header = self.header_of(table)
        own_key = table.key if not table.schema.startswith("read_") else None  # functions: keyed by a link
        for column in table.columns:
            if column.name in skip or column.name == own_key:
                continue
            found = self.target(table, column.name, column.edm)
            if header is not None and header[0] == column.name:
                found = header[1].full_name, False
            if found is None:
                continue
            target, parent = found
            role = roles.setdefault(column.name, Role(column.name, target, parent=parent))
            role.members[column.name] = "key"
            role.header = header is not None and header[0] == column.name
        for column in table.columns:
            if column.name in skip or column.name in roles or column.edm not in _COMPANION_EDMS:
                continue
            for suffix in COMPANIONS:
                prefix = column.name[: -len(suffix)]
                if not column.name.endswith(suffix) or not prefix or prefix == "Division":
                    continue
                owner = roles.get(prefix) or roles.get(prefix + "ID") or roles.get(prefix + "Id")
                if owner is None and prefix not in names:
                    found = self.target(table, prefix, "Edm.Guid", prefixes=False)
                    if found is not None and not found[1]:
                        owner = roles.setdefault(prefix, Role(prefix, found[0]))
                if owner is None or owner.parent:
                    continue
                source = self._companion(owner, prefix, suffix, column.edm)
                if source is not None:
                    owner.members[column.name] = source
                    break
        return {p: r for p, r in roles.items() if r.members}

    def _companion(self, role: Role, prefix: str, suffix: str, edm: str) -> str | None:
        """The column of the target that a companion ``prefix + suffix`` copies, or None."""
        target = self.table(role.target)
        if role.target == ENTRIES:
            return {"Number": "EntryNumber", "Description": "Description"}.get(suffix)
        if target is None:
            return None
        last = words(prefix)[-1] if words(prefix) else prefix
        for name in (*_FALLBACK[suffix], prefix + suffix, last + suffix):
            column = target.column(name)
            if column is not None and _kind(column.edm) == _kind(edm):
                return column.name
        return None


_COMPANION_EDMS = {"Edm.String", "Edm.Int16", "Edm.Int32", "Edm.Int64"}


def _kind(edm: str) -> str:
    return "int" if edm in ("Edm.Int16", "Edm.Int32", "Edm.Int64", "Edm.Byte") else edm


@functools.cache
def links() -> Links:
    """The links of the packaged catalog."""
    return Links(load_catalog())
