"""Deterministic, realistic, memory-lean books for the sandbox: one :class:`World` of divisions and users.

Every value is a pure function of (seed, division, entity, column, row index). Construction keeps only
compact integer arrays (entry starts, GL account and amount per transaction line, ...); strings and guids
are derived on demand in :meth:`DivisionData.values` from small pools and :func:`~exactsql.sandbox.values.
guids_for`, so a division of a million transaction lines is built in well under a second.

The books are Dutch and cover three financial years up to the world's "today" (the sandbox clock's date
when the world is made; a :class:`Calendar`): an RGS-like chart of accounts, companies with Dutch names and
addresses, sales invoices whose totals are the sum of their lines (VAT 21% or 9%), and journal entries
that each balance to the cent: sales (journal 70), purchases (60), bank (20: receipts, payments,
salaries, VAT), cash (10) and memorial (90: opening balance, salary journals, depreciation, quarterly VAT
returns). Each booked sales invoice has exactly one sales entry whose lines match it; receivables are the
invoices not paid by today. Purchases are scaled to the revenue for a plausible result.

The :data:`ENTITIES` have hand-made generators; every other entity of the catalog (:data:`SERVED`) is
generated from its catalog columns when first asked for (``datagen_generic``), reference lists and reports
from the books (``datagen_reference``, ``datagen_reports``); see docs/design/sandbox-generator.md.

Keys are ``guids_for(key_salt(entity), index)``, foreign keys too, so ``index_of`` resolves them. A user
has one ``UserID`` in every division: users/Users uses the world's salt, and division ``d``'s users are
the world's users ``0..k_d-1`` (user 0, the default API user, sees every division).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from exactsql.catalog import load_catalog
from exactsql.sandbox import datagen_names as N
from exactsql.sandbox import datagen_pools as P
from exactsql.sandbox import datagen_templates as T
from exactsql.sandbox.datagen_base import (
    MS_PER_DAY,
    Calendar,
    Column,
    Table,
    const,
    day_ms,
    nulls,
    pool,
    rint,
    slug,
)
from exactsql.sandbox.datagen_books import Books, Masters
from exactsql.sandbox.datagen_finance import Receivables, SalesInvoiceLines, SalesInvoices, TransactionLines
from exactsql.sandbox.datagen_generic import GenericTable, Spec
from exactsql.sandbox.datagen_master import (
    Accounts,
    Contacts,
    GLAccounts,
    GLClassifications,
    Items,
    Projects,
    city_of,
    mobiles,
    phones,
    postcodes,
)
from exactsql.sandbox.datagen_reference import REFERENCE, Entries
from exactsql.sandbox.datagen_reports import REPORTS
from exactsql.sandbox.datagen_users import Roles, UserRoles, UserRolesPerDivision, Users
from exactsql.sandbox.values import NULL_DATE, guids_for, salt_for

__all__ = ["ENTITIES", "SERVED", "SIZES", "Calendar", "DivisionData", "SandboxUser", "World"]

logger = logging.getLogger(__name__)
_T = TypeVar("_T", bound=Table)

SIZES: dict[str, int] = {"small": 1_000, "medium": 100_000, "large": 1_000_000}
"""Transaction lines per division (about) for each size."""

ENTITIES: tuple[str, ...] = (
    "users/Users",
    "users/UserRoles",
    "users/UserRolesPerDivision",
    "financial/GLAccounts",
    "financial/GLClassifications",
    "crm/Accounts",
    "crm/Contacts",
    "logistics/Items",
    "salesinvoice/SalesInvoices",
    "salesinvoice/SalesInvoiceLines",
    "financialtransaction/TransactionLines",
    "cashflow/Receivables",
    "project/Projects",
)
"""The entities with hand-made generators (where the books must add up); the others are generic."""

NOT_PER_DIVISION = frozenset(
    {
        "current/Me",
        "system/Users",
        "system/Divisions",
        "system/AllDivisions",
        "system/GetMostRecentlyUsedDivisions",
    }
)
SERVED: tuple[str, ...] = tuple(
    t.full_name
    for t in load_catalog().tables
    if t.full_name not in NOT_PER_DIVISION and t.full_name != "sync/Deleted"
)
"""Every entity a division has rows of: all of the catalog but the world-wide ones and sync/Deleted."""


@dataclass(frozen=True)
class SandboxUser:
    """A user of the sandbox: who can log in, with which password, and which divisions they see."""

    user_id: str
    username: str
    password: str
    full_name: str
    first_name: str
    last_name: str
    email: str
    language: str
    divisions: tuple[int, ...]


def amsterdam_today(epoch_seconds: float | None = None) -> dt.date:
    """The date in Amsterdam at ``epoch_seconds`` (default: now)."""
    from zoneinfo import ZoneInfo

    moment = (
        dt.datetime.now(dt.UTC) if epoch_seconds is None else dt.datetime.fromtimestamp(epoch_seconds, dt.UTC)
    )
    return moment.astimezone(ZoneInfo("Europe/Amsterdam")).date()


class World:
    """Everything not tied to one division: the division codes, the users and their access.

    Args:
        seed: the seed of all generated data; the same seed gives the same values.
        divisions: how many divisions (companies) the world has.
        size: ``"small"``, ``"medium"`` or ``"large"``, see :data:`SIZES`.
        today: the last day of the books (default: today in Amsterdam); dates are relative to it.
    """

    def __init__(
        self, seed: int = 1, divisions: int = 3, size: str = "small", today: dt.date | None = None
    ) -> None:
        if size not in SIZES:
            raise ValueError(f"unknown size {size!r}; choose one of {', '.join(SIZES)}")
        if divisions < 1:
            raise ValueError(f"a world needs at least one division, not {divisions}")
        self.seed = seed
        self.size = size
        self.cal = Calendar(today or amsterdam_today())
        rng = np.random.default_rng(salt_for(seed, "world"))
        codes: list[int] = []
        while len(codes) < divisions:
            code = int(rng.integers(100_000, 4_000_000))
            if code not in codes:
                codes.append(code)
        self.division_codes = codes
        n_users = int(rng.integers(6, 13))
        # Division d is accessible to users 0..k_d-1, so its users/Users rows are the world's first k_d users.
        self._access = [n_users] + [int(rng.integers(4, n_users + 1)) for _ in range(divisions - 1)]
        order = rng.permutation(len(P.PROFILES))
        self._profiles = [int(order[d % len(order)]) for d in range(divisions)]
        family = rng.permutation(len(N.SURNAMES))
        self._division_names = [
            f"{self._cap(int(family[d % len(family)]))} {P.PROFILES[self._profiles[d]][0]} B.V."
            for d in range(divisions)
        ]
        self._division_pos = {code: d for d, code in enumerate(codes)}
        self._divisions: dict[int, DivisionData] = {}
        self.user_salt = salt_for(seed, "users/Users")
        self._make_users(rng, n_users)

    @staticmethod
    def _cap(k: int) -> str:
        prefix, base = N.SURNAMES[k]
        return f"{prefix[0].upper()}{prefix[1:]} {base}" if prefix else base

    def _make_users(self, rng: np.random.Generator, n: int) -> None:
        seen: set[str] = set()
        firsts: list[str] = []
        prefixes: list[str] = []
        lasts: list[str] = []
        female: list[bool] = []
        names: list[str] = []
        while len(names) < n:
            f = bool(rng.random() < 0.45)
            first = str(rng.choice(N.FIRST_NAMES_F if f else N.FIRST_NAMES_M))
            prefix, last = N.SURNAMES[int(rng.integers(len(N.SURNAMES)))]
            user = f"{first[0].lower()}.{slug(prefix + last)}@example.nl"
            if user in seen:
                continue
            seen.add(user)
            firsts.append(first)
            prefixes.append(prefix)
            lasts.append(last)
            female.append(f)
            names.append(user)
        full = [f"{a} {p} {b}" if p else f"{a} {b}" for a, p, b in zip(firsts, prefixes, lasts, strict=True)]
        idx = np.arange(n)
        self.user_guids = pool(guids_for(self.user_salt, idx))
        self.user_full_names = pool(full)
        # Sorted: user 0 (the administrator) came first; everyone started before the books' first year.
        start_day = self.cal.start_day
        self.user_start_day = np.sort(start_day - 2100 + rng.integers(0, 2040, n))
        self.user_start_day[0] = start_day - 2200
        lists = [
            ",".join(str(c) for d, c in enumerate(self.division_codes) if u < self._access[d])
            for u in range(n)
        ]
        self.users = [
            SandboxUser(
                user_id=str(self.user_guids[u]),
                username=names[u],
                password=f"sandbox-{u + 1}",
                full_name=full[u],
                first_name=firsts[u],
                last_name=f"{prefixes[u]} {lasts[u]}".strip(),
                email=names[u],
                language="NL",
                divisions=tuple(c for d, c in enumerate(self.division_codes) if u < self._access[d]),
            )
            for u in range(n)
        ]
        us = salt_for(self.seed, "users/Users", "columns")
        main_city = np.zeros(n, dtype=np.int64)
        two_step = rng.random(n) < 0.6
        female_a = np.array(female)
        start = self.user_start_day
        login = self.cal.ref_day - rng.integers(0, 21, n)
        customer = salt_for(self.seed, "customer")
        self._user_cols: dict[str, np.ndarray] = {
            "UserID": self.user_guids,
            "UserName": pool(names),
            "FullName": self.user_full_names,
            "FirstName": pool(firsts),
            "MiddleName": pool(p or None for p in prefixes),
            "LastName": pool(lasts),
            "Initials": pool(f[0] + "." for f in firsts),
            "Email": pool(names),
            "Gender": np.take(pool(["M", "V"]), female_a.astype(int)),
            "Title": np.take(pool(["DHR", "MEVR"]), female_a.astype(int)),
            "Language": const("NL", n),
            "Nationality": const("NL", n),
            "Phone": phones(us, idx, main_city),
            "Mobile": mobiles(us + 1, idx),
            "StartDate": day_ms(start),
            "EndDate": np.full(n, NULL_DATE, dtype=np.int64),
            "LastLogin": login * MS_PER_DAY + 7 * 3_600_000 + rint(us + 2, idx, 11 * 3_600_000),
            "UserDivisionList": pool(lists),
            "AuthenticationType": np.where(two_step, 2 | 8, 2).astype(np.int64),
            "HasTwoStepVerification": two_step,
            "HasRegisteredForTwoStepVerification": two_step,
            "IsAnonymised": np.zeros(n, dtype=bool),
            "IsAPICall": np.zeros(n, dtype=bool),
            "Customer": const(guids_for(customer, np.zeros(1, np.int64))[0], n),
            "CustomerName": const(self._division_names[0], n),
            "Created": start * MS_PER_DAY + 9 * 3_600_000 + rint(us + 3, idx, 8 * 3_600_000),
            "Modified": np.maximum(login - 30, start) * MS_PER_DAY + 10 * 3_600_000,
            "Creator": np.take(self.user_guids, np.zeros(n, np.int64)),
            "CreatorFullName": np.take(self.user_full_names, np.zeros(n, np.int64)),
            "Modifier": np.take(self.user_guids, np.zeros(n, np.int64)),
            "ModifierFullName": np.take(self.user_full_names, np.zeros(n, np.int64)),
            "Notes": nulls(n),
        }

    def user_columns(self) -> list[str]:
        """The columns of system/Users (and users/Users) that are filled."""
        return list(self._user_cols)

    def user_column(self, name: str) -> Column:
        """A column function of the users (index = user number)."""
        values = self._user_cols[name]
        return lambda i: values[i]

    def system_users(self) -> dict[str, np.ndarray]:
        """Columns of system/Users: one row per user; ``UserDivisionList`` is a CSV of division codes."""
        return {name: values.copy() for name, values in self._user_cols.items()}

    def divisions_table(self) -> dict[str, np.ndarray]:
        """Columns of system/Divisions (and system/AllDivisions): one row per division."""
        n = len(self.division_codes)
        idx = np.arange(n)
        s = salt_for(self.seed, "system/Divisions")
        city = city_of(s, idx)
        names = self._division_names
        created = self.cal.start_day - 1700 + rint(s + 1, idx, 150)
        customer = salt_for(self.seed, "customer")
        sbi = [P.PROFILE_SBI[p] for p in self._profiles]
        return {
            "Code": np.array(self.division_codes, dtype=np.int64),
            "Description": pool(names),
            "AddressLine1": pool(
                f"{N.STREETS[a]} {b}"
                for a, b in zip(
                    rint(s + 2, idx, len(N.STREETS)).tolist(),
                    (1 + rint(s + 3, idx, 120)).tolist(),
                    strict=True,
                )
            ),
            "Postcode": postcodes(s + 4, idx, city),
            "City": pool(N.CITIES[c][0] for c in city.tolist()),
            "Country": const("NL", n),
            "Currency": const("EUR", n),
            "Legislation": const("NL", n),
            "Status": np.ones(n, dtype=np.int64),
            "BlockingStatus": np.zeros(n, dtype=np.int64),
            "Current": idx == 0,
            "IsMainDivision": idx == 0,
            "IsDossierDivision": np.zeros(n, dtype=bool),
            "IsPracticeDivision": np.zeros(n, dtype=bool),
            "IsHRDivision": np.zeros(n, dtype=bool),
            "Hid": idx.astype(np.int64) + 1,
            "Customer": const(guids_for(customer, np.zeros(1, np.int64))[0], n),
            "CustomerName": const(names[0], n),
            "Email": pool(f"administratie@{slug(x)}.nl" for x in names),
            "Website": pool(f"www.{slug(x)}.nl" for x in names),
            "Phone": phones(s + 5, idx, city),
            "VATNumber": pool(f"NL{x:09d}B01" for x in rint(s + 6, idx, 10**9).tolist()),
            "ChamberOfCommerceNumber": pool(
                f"{x:08d}" for x in (10**7 + rint(s + 7, idx, 9 * 10**7)).tolist()
            ),
            "SbiCode": pool(x[0] for x in sbi),
            "SbiDescription": pool(x[1] for x in sbi),
            "StartDate": day_ms(created),
            "Created": created * MS_PER_DAY + 10 * 3_600_000,
            "Modified": (created + 30) * MS_PER_DAY + 10 * 3_600_000,
            "Creator": const(self.user_guids[0], n),
            "CreatorFullName": const(self.user_full_names[0], n),
            "Modifier": const(self.user_guids[0], n),
            "ModifierFullName": const(self.user_full_names[0], n),
        }

    def division(self, code: int) -> DivisionData:
        """The books of one division (built on first use, then cached)."""
        data = self._divisions.get(code)
        if data is None:
            pos = self._division_pos.get(code)
            if pos is None:
                raise KeyError(
                    f"division {code} is not in this world; its divisions are {self.division_codes}"
                )
            data = self._divisions[code] = DivisionData(self, code, pos)
        return data


class DivisionData:
    """The generated rows of one division, per entity; see the module docstring."""

    def __init__(self, world: World, code: int, pos: int) -> None:
        self.world = world
        self.cal = world.cal
        self.seed = world.seed
        self.code = code
        self.n_users = world._access[pos]
        self.profile = world._profiles[pos]
        self.profile_name = P.PROFILES[self.profile][0]
        self.description = world._division_names[pos]
        self.created_day = self.cal.start_day - 1700 + pos * 30
        n = SIZES[world.size]
        self._tables: dict[str, Table] = {}
        self._base: dict[str, int] = {}
        self._served = frozenset(SERVED)
        self.specs: dict[str, Callable[[DivisionData], Spec]] = {**REFERENCE, **REPORTS}
        self.gl = self._add(GLAccounts(self))
        self._add(GLClassifications(self))
        self.accounts = self._add(Accounts(self, max(50, n // 50)))
        self._add(Contacts(self, self.accounts))
        self.items = self._add(Items(self, max(30, n // 200)))
        projects = self._add(Projects(self, max(10, n // 1000), self.accounts))
        self._add(Users(self))
        roles = Roles(self)
        self._add(UserRoles(self, roles))
        self._add(UserRolesPerDivision(self, roles))
        acc = np.arange(self.accounts.base)
        items = np.arange(self.items.base)
        account_project = np.full(self.accounts.base, -1, dtype=np.int64)
        account_project[projects.account(np.arange(projects.base))] = np.arange(projects.base)
        gl = self.gl.index
        general = [gl[c] for c, _ in T.SUPPLIER_COSTS if not c.startswith("7")]
        masters = Masters(
            gl=gl,
            customers=self.accounts.customers,
            suppliers=self.accounts.suppliers,
            pay_days=self.accounts.pay_days(acc),
            supplier_gl=self.accounts.supplier_gl(acc),
            item_price=self.items.price(items),
            item_low=self.items.low(items),
            item_service=self.items.service(items),
            item_gl=self.items.p_revenue[self.items.product(items)],
            account_project=account_project,
            cost_gls=np.array(general),
            cost_weights=np.array(
                [w for c, w in T.SUPPLIER_COSTS if not c.startswith("7")], dtype=np.float64
            ),
            pl_gl=np.array([row[3] == "W" for row in self.gl.rows]),
            n_users=self.n_users,
        )
        self.books = Books(np.random.default_rng(self.rng_salt("books")), n, masters, self.cal)
        self._add(SalesInvoices(self, self.books))
        self._add(SalesInvoiceLines(self, self.books))
        self._add(TransactionLines(self, self.books))
        self._add(Receivables(self, self.books))
        self._add(Entries(self, self.books))
        logger.debug(
            "division %s (%s): %d transaction lines, %d invoices",
            code,
            self.description,
            self.books.n_lines,
            self.books.n_invoices,
        )

    def _add(self, table: _T) -> _T:
        self._tables[table.entity] = table
        self._base[table.entity] = table.count()
        return table

    def _table(self, entity: str) -> Table:
        table = self._tables.get(entity)
        if table is None:
            if entity not in self._served:
                raise KeyError(f"the sandbox generates no {entity!r}; see datagen.SERVED")
            spec = self.specs.get(entity)
            table = self._add(GenericTable(self, load_catalog().table(entity), spec(self) if spec else None))
        return table

    def generic(self, entity: str) -> GenericTable | None:
        """The generic generator of ``entity`` (built on first use), or None for a hand-made one."""
        table = self._table(entity)
        return table if isinstance(table, GenericTable) else None

    def base_count(self, entity: str) -> int:
        """The rows ``entity`` had before any insert: foreign keys pick among these, so they never move."""
        self._table(entity)
        return self._base[entity]

    def anchor(self, entity: str, idx: np.ndarray) -> np.ndarray:
        """The day rows ``idx`` of ``entity`` are about (their creation day for hand-made ones)."""
        table = self._table(entity)
        if isinstance(table, GenericTable):
            return table.anchor(idx)
        if "Created" in table.cols:
            return self.lookup(entity, "Created", idx).astype(np.int64) // MS_PER_DAY
        return np.full(len(idx), self.cal.start_day, dtype=np.int64)

    def rng_salt(self, *parts: object) -> int:
        """A seed for ``np.random.default_rng`` of this division."""
        return salt_for(self.seed, self.code, *parts)

    def user_of(self, salt: int, idx: np.ndarray, days: np.ndarray | None = None) -> np.ndarray:
        """A user with access to this division per index (the first users a little more often).

        With ``days``, only users who had started on that day (user 0 always has).
        """
        u = rint(salt, idx, 1 << 30) / (1 << 30)
        n = np.full(len(idx), self.n_users, dtype=np.int64)
        if days is not None:
            n = np.clip(np.searchsorted(self.world.user_start_day[: self.n_users], days, side="right"), 1, n)
        return (u**1.3 * n).astype(np.int64)

    # ------------------------------------------------------------------ the interface of the store

    def count(self, entity: str) -> int:
        """The current row count of ``entity`` (base rows and rows added by :meth:`extend`)."""
        return self._table(entity).count()

    def key_name(self, entity: str) -> str:
        """The key column: ``ID``, ``InvoiceID`` for SalesInvoices, ``UserID`` for users/Users."""
        return self._table(entity).key

    def entities(self) -> tuple[str, ...]:
        """Every entity this division has rows of."""
        return SERVED

    def key_salt(self, entity: str) -> int:
        """The salt of the guids of ``entity``'s keys: ``index_of(key_salt(entity), guid)`` is the row index.

        users/Users uses the world's user salt (a user has one UserID in all divisions), and
        users/UserRolesPerDivision shares the keys of users/UserRoles (they are the same rows).
        """
        table = self._tables.get(entity)
        if table is None and entity in self._served:
            table = self._table(entity)
        return table.salt if table is not None else self.base_salt(entity)

    def base_salt(self, entity: str) -> int:
        """The salt of ``entity``'s guids before any table exists (see :meth:`key_salt`)."""
        if entity == "users/Users":
            return self.world.user_salt
        if entity == "users/UserRolesPerDivision":
            entity = "users/UserRoles"
        return salt_for(self.seed, self.code, entity)

    def columns(self, entity: str) -> list[str]:
        """The columns this generator fills for ``entity`` (all others are always null)."""
        return list(self._table(entity).cols)

    def values(self, entity: str, name: str, idx: np.ndarray) -> np.ndarray:
        """Values of one column for rows ``idx``: a pure function of (seed, division, entity, name, index)."""
        table = self._table(entity)
        fn = table.cols.get(name)
        if fn is None:
            raise KeyError(f"{entity} has no generated column {name!r}; see columns({entity!r})")
        idx = np.asarray(idx, dtype=np.int64)
        if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= table.count()):
            raise IndexError(f"{entity} has {table.count()} rows; indexes must be in [0, {table.count()})")
        return fn(idx)

    def extend(self, entity: str, count: int) -> range:
        """Adds about ``count`` rows to ``entity`` and returns the range of their indexes.

        TransactionLines grow by whole balanced entries (purchases, bank and memorial entries dated in the
        last four weeks up to today). SalesInvoices grow by draft invoices (status 10, not
        booked) *together with their lines* in SalesInvoiceLines, and SalesInvoiceLines grow the same way
        (so both counts change). users/UserRoles and users/UserRolesPerDivision are the same rows and grow
        together. users/Users and cashflow/Receivables do not grow (an empty range).
        """
        return self._table(entity).extend(int(count))

    def changed_values(self, entity: str, idx: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """New values for an update of rows ``idx`` that keep the books consistent (never booked amounts)."""
        idx = np.asarray(idx, dtype=np.int64)
        return self._table(entity).changed_values(idx, rng)

    def group_of(self, entity: str, idx: np.ndarray) -> np.ndarray:
        """Rows to delete together with ``idx`` (whole entries for TransactionLines), sorted and unique."""
        idx = np.asarray(idx, dtype=np.int64)
        return self._table(entity).group_of(idx).astype(np.int64)

    def lookup(self, entity: str, name: str, target: np.ndarray) -> np.ndarray:
        """Values of column ``name`` of ``entity`` rows ``target`` (-1 gives null), computed once per row."""
        target = np.asarray(target, dtype=np.int64)
        if target.size == 0:
            return nulls(0)
        uniq, inv = np.unique(target, return_inverse=True)
        ok = uniq >= 0
        vals = self.values(entity, name, uniq[ok])
        if ok.all():
            return vals[inv]
        out = nulls(len(uniq))
        out[ok] = vals
        return out[inv]
