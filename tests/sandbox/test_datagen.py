"""Tests of the sandbox data generator: determinism, balanced books, matching invoices, keys, roles, growth."""

from __future__ import annotations

import datetime as dt
import math
import time
from collections import defaultdict

import numpy as np
import pytest

from exactsql.sandbox import datagen_templates as T
from exactsql.sandbox.datagen import ENTITIES, SIZES, DivisionData, World
from exactsql.sandbox.values import NULL_DATE, cet_ms, index_of

TL = "financialtransaction/TransactionLines"
INV = "salesinvoice/SalesInvoices"
LINES = "salesinvoice/SalesInvoiceLines"
TODAY = dt.date(2025, 12, 31)
REF_MS = cet_ms(dt.datetime.combine(TODAY, dt.time()))


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=7, divisions=3, size="small", today=TODAY)


@pytest.fixture(scope="module")
def medium() -> DivisionData:
    w = World(seed=3, divisions=1, size="medium", today=TODAY)
    return w.division(w.division_codes[0])


def col(d: DivisionData, entity: str, name: str) -> np.ndarray:
    return d.values(entity, name, np.arange(d.count(entity)))


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal arrays, NaN equal to NaN and None to None."""
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype == np.float64:
        return bool(np.array_equal(a, b, equal_nan=True))
    return a.tolist() == b.tolist()


def cents(values: np.ndarray) -> np.ndarray:
    return np.round(values * 100).astype(np.int64)


# ------------------------------------------------------------------------------------------- world


def test_world_basics(world: World) -> None:
    codes = world.division_codes
    assert len(codes) == 3 and len(set(codes)) == 3
    assert all(100_000 <= c < 10_000_000 for c in codes)
    assert 6 <= len(world.users) <= 12
    assert set(world.users[0].divisions) == set(codes)
    assert len({u.username for u in world.users}) == len(world.users)
    users = world.system_users()
    assert users["UserID"].tolist() == [u.user_id for u in world.users]
    for u, csv in zip(world.users, users["UserDivisionList"].tolist(), strict=True):
        assert csv == ",".join(str(c) for c in u.divisions)
        assert u.divisions and u.password and u.language == "NL"
    table = world.divisions_table()
    assert table["Code"].tolist() == codes
    assert all(isinstance(x, str) and x.endswith("B.V.") for x in table["Description"].tolist())
    for code in codes:
        d = world.division(code)
        assert world.division(code) is d
        ids = col(d, "users/Users", "UserID").tolist()
        assert ids == [u.user_id for u in world.users if code in u.divisions]
        assert (
            d.key_name("users/Users") == "UserID"
            and d.key_name(INV) == "InvoiceID"
            and d.key_name(TL) == "ID"
        )
    with pytest.raises(KeyError):
        world.division(1)
    with pytest.raises(ValueError):
        World(size="huge")


def test_sizes_scale() -> None:
    w = World(seed=1, divisions=1, size="small", today=TODAY)
    d = w.division(w.division_codes[0])
    assert abs(d.count(TL) - SIZES["small"]) <= 50
    assert 50 <= d.count("crm/Accounts") <= 100
    assert d.count("logistics/Items") >= 30
    assert (
        60 <= len(d.values("financial/GLAccounts", "Code", np.arange(d.count("financial/GLAccounts")))) <= 120
    )
    assert d.count("cashflow/Receivables") > 0


def test_determinism_across_worlds() -> None:
    a, b = World(seed=11, divisions=2, today=TODAY), World(seed=11, divisions=2, today=TODAY)
    assert a.division_codes == b.division_codes
    for name, values in a.system_users().items():
        assert same(values, b.system_users()[name]), name
    for name, values in a.divisions_table().items():
        assert same(values, b.divisions_table()[name]), name
    code = a.division_codes[1]
    da, db = a.division(code), b.division(code)
    for entity in ENTITIES:
        assert da.count(entity) == db.count(entity)
        assert da.columns(entity) == db.columns(entity)
        for name in da.columns(entity):
            assert same(col(da, entity, name), col(db, entity, name)), (entity, name)
    other = a.division(a.division_codes[0])
    assert col(other, "crm/Accounts", "Name").tolist() != col(da, "crm/Accounts", "Name").tolist()
    assert set(col(other, TL, "ID").tolist()).isdisjoint(col(da, TL, "ID").tolist())
    assert World(seed=12, divisions=2, today=TODAY).division_codes != a.division_codes


def test_subset_equals_full(world: World) -> None:
    d = world.division(world.division_codes[1])
    rng = np.random.default_rng(0)
    for entity in ENTITIES:
        n = d.count(entity)
        sub = np.sort(rng.choice(n, size=min(n, 37), replace=False))[::-1].copy()
        for name in d.columns(entity):
            full = col(d, entity, name)
            assert same(d.values(entity, name, sub), full[sub]), (entity, name)
            assert len(d.values(entity, name, np.zeros(0, dtype=np.int64))) == 0
    with pytest.raises(IndexError):
        d.values(TL, "AmountDC", np.array([d.count(TL)]))
    with pytest.raises(KeyError):
        d.values(TL, "NoSuchColumn", np.array([0]))


def assert_typed(values: np.ndarray, edm: str, where: object) -> None:
    """Column values follow the conventions of ``values.py`` for ``edm``."""
    if edm == "Edm.String":
        assert values.dtype == object and all(x is None or isinstance(x, str) for x in values.tolist()), where
    elif edm == "Edm.Guid":
        ok = all(
            x is None or (isinstance(x, str) and len(x) == 36 and x == x.lower()) for x in values.tolist()
        )
        assert values.dtype == object and ok, where
    elif edm in ("Edm.Int16", "Edm.Int32", "Edm.Int64", "Edm.Byte"):
        ok = values.dtype == np.int64 or (
            values.dtype == object and all(x is None or type(x) is int for x in values)
        )
        assert ok, (where, values.dtype)
    elif edm == "Edm.Double":
        assert values.dtype == np.float64, where
    elif edm == "Edm.Boolean":
        assert values.dtype == bool, where
    elif edm == "Edm.DateTime":
        assert values.dtype == np.int64, where
    else:
        pytest.fail(f"{where} has unexpected type {edm}")


def test_columns_and_types_match_catalog(world: World) -> None:
    from exactsql.catalog import load_catalog

    catalog = load_catalog()  # the packaged catalog, built from the reference one
    fields = {t.full_name: {c.name: c.edm for c in t.paths[0].columns} for t in catalog.tables}
    d = world.division(world.division_codes[0])
    for entity in ENTITIES:
        types = fields[entity]
        for name in d.columns(entity):
            assert name in types, (entity, name)
            assert name not in ("Division", "Timestamp")
            assert_typed(col(d, entity, name), types[name], (entity, name))
    for table in (world.system_users(), world.divisions_table()):
        assert all(len(v) == len(next(iter(table.values()))) for v in table.values())
    assert set(world.divisions_table()) <= set(fields["system/Divisions"])
    assert set(world.system_users()) <= set(fields["system/Users"])


# ------------------------------------------------------------------------------------------- the books


def assert_balanced(d: DivisionData, idx: np.ndarray | None = None) -> None:
    idx = np.arange(d.count(TL)) if idx is None else idx
    entry = d.values(TL, "EntryID", idx)
    amount = cents(d.values(TL, "AmountDC", idx))
    assert np.array_equal(amount, np.round(d.values(TL, "AmountDC", idx) * 100))  # two decimals exactly
    _, inv = np.unique(entry.astype(str), return_inverse=True)
    sums = np.bincount(inv, weights=amount)
    assert np.all(sums == 0)
    assert np.all(np.bincount(inv) >= 2)


def test_every_entry_balances_small(world: World) -> None:
    for code in world.division_codes:
        assert_balanced(world.division(code))


def test_every_entry_balances_medium(medium: DivisionData) -> None:
    n = medium.count(TL)
    assert abs(n - SIZES["medium"]) < 1000
    assert_balanced(medium)


def test_transaction_lines_are_consistent(medium: DivisionData) -> None:
    d = medium
    date = col(d, TL, "Date")
    year, month = col(d, TL, "FinancialYear"), col(d, TL, "FinancialPeriod")
    days = (date // 86_400_000).astype("datetime64[D]")
    assert np.array_equal(days.astype("datetime64[Y]").astype(int) + 1970, year)
    assert np.array_equal(days.astype("datetime64[M]").astype(int) % 12 + 1, month)
    assert set(np.unique(year).tolist()) == {2023, 2024, 2025}
    assert date.max() <= REF_MS
    journal, kind = col(d, TL, "JournalCode"), col(d, TL, "Type")
    assert set(journal.tolist()) == {"10", "20", "60", "70", "90"}
    expected = {"70": {20, 21}, "60": {30}, "20": {40}, "10": {40}, "90": {10, 50, 90}}
    for j, types in expected.items():
        assert set(kind[journal == j].tolist()) <= types
    # GL code/description and account code/name agree with the referenced rows.
    gl = np.array([index_of(d.key_salt("financial/GLAccounts"), g) for g in col(d, TL, "GLAccount")])
    assert col(d, TL, "GLAccountCode").tolist() == d.values("financial/GLAccounts", "Code", gl).tolist()
    assert (
        col(d, TL, "GLAccountDescription").tolist()
        == d.values("financial/GLAccounts", "Description", gl).tolist()
    )
    acc = col(d, TL, "Account")
    has = np.array([a is not None for a in acc])
    ai = np.array([index_of(d.key_salt("crm/Accounts"), a) for a in acc[has]])
    assert col(d, TL, "AccountName")[has].tolist() == d.values("crm/Accounts", "Name", ai).tolist()
    assert col(d, TL, "AccountCode")[has].tolist() == d.values("crm/Accounts", "Code", ai).tolist()
    assert all(len(c) == 18 and c == c.strip().rjust(18) for c in col(d, TL, "AccountCode")[has].tolist())
    # Entry numbers: one per entry, ordered by date within journal and year.
    entry, number = col(d, TL, "EntryID"), col(d, TL, "EntryNumber")
    assert len(set(zip(entry.tolist(), number.tolist(), strict=True))) == len(set(entry.tolist()))
    assert len(set(number.tolist())) == len(set(entry.tolist()))


@pytest.mark.parametrize("today", [dt.date(2026, 11, 29), dt.date(2027, 3, 1), dt.date(2026, 2, 7)])
def test_books_reach_today(today: dt.date) -> None:
    w = World(seed=4, divisions=2, size="small", today=today)
    first_year = today.year - 2
    for code in w.division_codes:
        d = w.division(code)
        date = col(d, TL, "Date")
        assert date.max() == cet_ms(dt.datetime.combine(today, dt.time()))
        months = set((date // 86_400_000).astype("datetime64[D]").astype("datetime64[M]").tolist())
        wanted = np.arange(
            np.datetime64(f"{first_year}-01", "M"), np.datetime64(today, "M") + 1, dtype="datetime64[M]"
        )
        assert months == set(wanted.tolist())  # every month of the books has lines, this one too
        assert_balanced(d)
        opening = col(d, TL, "Type") == 10
        assert set(date[opening].tolist()) == {cet_ms(dt.datetime(first_year, 1, 1))}
        for entity in ENTITIES:
            for name in ("Created", "Modified", "StartDate", "InvoiceDate"):
                if name in d.columns(entity):
                    values = col(d, entity, name)
                    assert values[values != NULL_DATE].max() < after(today), (entity, name)
    again = World(seed=4, divisions=2, size="small", today=today)
    code = w.division_codes[1]
    assert same(col(w.division(code), TL, "AmountDC"), col(again.division(code), TL, "AmountDC"))


def after(today: dt.date) -> int:
    """The first millisecond after ``today``."""
    return cet_ms(dt.datetime.combine(today + dt.timedelta(days=1), dt.time()))


def test_templates_balance() -> None:
    for t in T.TEMPLATES:
        coef = np.array([c for _, c in t.lines])
        assert coef.shape == (len(t.lines), len(t.variables)), t.description
        assert np.all(coef.sum(axis=0) == 0), t.description
        for follower, _days, weights, _lo, _hi in t.followers:
            assert len(weights) == len(t.variables) and len(T.TEMPLATES[follower].variables) == 1


def test_books_close_sensibly(medium: DivisionData) -> None:
    d = medium
    gl, amount = col(d, TL, "GLAccountCode"), cents(col(d, TL, "AmountDC"))
    kind, entry = col(d, TL, "Type"), col(d, TL, "EntryID")
    # Quarterly VAT returns clear the VAT accounts; the last one is still to be paid.
    for code in ("1500", "1510", "1520"):
        assert amount[gl == code].sum() == 0, code
    assert amount[gl == "1530"].sum() < 0
    assert len(set(entry[kind == 50].tolist())) == 12
    # One opening balance, on the first day.
    assert len(set(entry[kind == 10].tolist())) == 1
    assert set(col(d, TL, "Date")[kind == 10].tolist()) == {cet_ms(dt.datetime(2023, 1, 1))}
    # A plausible result: revenue minus costs within -10% .. +30% of revenue; money in the bank.
    revenue = -amount[np.char.startswith(gl.astype(str), "8")].sum()
    costs = amount[np.char.startswith(gl.astype(str), "4") | np.char.startswith(gl.astype(str), "7")].sum()
    assert -0.1 < (revenue - costs) / revenue < 0.3
    assert amount[gl == "1100"].sum() > 0
    assert amount[gl == "1000"].sum() >= 0  # the cash box is never below zero in total
    # Salaries: every net salary payment pays a salary journal of the month before or the same month.
    assert amount[gl == "1710"].sum() <= 0


def entries_by_invoice(d: DivisionData) -> dict[int, list[int]]:
    journal, number = col(d, TL, "JournalCode"), col(d, TL, "InvoiceNumber")
    out: dict[int, list[int]] = defaultdict(list)
    for k in np.flatnonzero(journal == "70").tolist():
        out[number[k]].append(k)
    return out


@pytest.mark.parametrize("which", ["small", "medium"])
def test_invoices_match_their_lines_and_entries(which: str, world: World, medium: DivisionData) -> None:
    d = world.division(world.division_codes[2]) if which == "small" else medium
    n = d.count(INV)
    assert n > 0
    total, excl, vat = col(d, INV, "AmountDC"), col(d, INV, "AmountFCExclVat"), col(d, INV, "VATAmountFC")
    assert np.array_equal(cents(total), cents(excl) + cents(vat))
    # Lines: AmountFCExclVat is the sum of the lines; VAT 21% or 9%.
    line_inv = np.array([index_of(d.key_salt(INV), g) for g in col(d, LINES, "InvoiceID")])
    line_amount = cents(col(d, LINES, "AmountDC"))
    assert np.array_equal(np.bincount(line_inv, weights=line_amount, minlength=n), cents(excl))
    assert np.array_equal(
        np.bincount(line_inv, weights=cents(col(d, LINES, "VATAmountDC")), minlength=n), cents(vat)
    )
    assert set(col(d, LINES, "VATPercentage").tolist()) <= {0.21, 0.09}
    qty, price = col(d, LINES, "Quantity"), cents(col(d, LINES, "UnitPrice"))
    assert np.array_equal(np.round(qty).astype(np.int64) * price, line_amount)
    # Entries: exactly one sales entry per booked invoice, matching it.
    entries = entries_by_invoice(d)
    numbers, status = col(d, INV, "InvoiceNumber"), col(d, INV, "Status")
    to = col(d, INV, "InvoiceTo")
    tl_gl, tl_amount, tl_account = (
        col(d, TL, "GLAccountCode"),
        cents(col(d, TL, "AmountDC")),
        col(d, TL, "Account"),
    )
    tl_entry, tl_item, tl_desc = col(d, TL, "EntryID"), col(d, TL, "ItemCode"), col(d, TL, "Description")
    item_code, description = col(d, LINES, "ItemCode"), col(d, INV, "Description")
    lines_of: dict[int, list[int]] = defaultdict(list)
    for k, i in enumerate(line_inv.tolist()):
        lines_of[i].append(k)
    assert len(entries) == int((status == 50).sum())
    for i in range(n):
        if status[i] != 50:
            continue
        rows = entries[numbers[i]]
        assert len({tl_entry[r] for r in rows}) == 1
        assert {tl_account[r] for r in rows} == {to[i]}
        debtor = [r for r in rows if tl_gl[r] == "1300"]
        vat_rows = [r for r in rows if tl_gl[r] in ("1500", "1510")]
        revenue = [r for r in rows if tl_gl[r].startswith("8")]
        assert len(debtor) == 1 and tl_amount[debtor[0]] == cents(total)[i]
        assert len(vat_rows) == 1 and tl_amount[vat_rows[0]] == -cents(vat)[i]
        assert len(revenue) == len(lines_of[i]) == len(rows) - 2
        assert sorted(tl_amount[revenue].tolist()) == sorted((-line_amount[lines_of[i]]).tolist())
        assert sorted(tl_item[revenue].tolist()) == sorted(item_code[lines_of[i]].tolist())
        assert tl_desc[debtor[0]] == description[i]


def test_receivables_are_open_invoices(world: World) -> None:
    d = world.division(world.division_codes[0])
    n = d.count("cashflow/Receivables")
    assert 0 < n < d.count(INV)
    numbers = col(d, INV, "InvoiceNumber").tolist()
    totals = dict(zip(numbers, cents(col(d, INV, "AmountDC")).tolist(), strict=True))
    to = dict(zip(numbers, col(d, INV, "InvoiceTo").tolist(), strict=True))
    open_numbers = col(d, "cashflow/Receivables", "InvoiceNumber").tolist()
    assert len(set(open_numbers)) == n
    for k, number in enumerate(open_numbers):
        assert totals[number] == cents(col(d, "cashflow/Receivables", "AmountDC"))[k]
        assert to[number] == col(d, "cashflow/Receivables", "Account")[k]
    # Paid invoices have a bank receipt; open ones do not.
    desc = col(d, TL, "Description").tolist()
    receipts = {int(x.rsplit(" ", 1)[1]) for x in desc if x.startswith("Ontvangst factuur ")}
    assert receipts.isdisjoint(open_numbers)
    assert receipts | set(open_numbers) == set(numbers)


FOREIGN_KEYS = [
    ("crm/Contacts", "Account", "crm/Accounts"),
    ("crm/Accounts", "MainContact", "crm/Contacts"),
    ("crm/Accounts", "GLAR", "financial/GLAccounts"),
    ("crm/Accounts", "GLAP", "financial/GLAccounts"),
    ("crm/Accounts", "GLAccountPurchase", "financial/GLAccounts"),
    ("crm/Accounts", "AccountManager", "users/Users"),
    ("logistics/Items", "GLRevenue", "financial/GLAccounts"),
    ("logistics/Items", "GLCosts", "financial/GLAccounts"),
    ("logistics/Items", "GLStock", "financial/GLAccounts"),
    ("project/Projects", "Account", "crm/Accounts"),
    ("project/Projects", "AccountContact", "crm/Contacts"),
    ("project/Projects", "Manager", "users/Users"),
    (INV, "InvoiceTo", "crm/Accounts"),
    (INV, "OrderedBy", "crm/Accounts"),
    (INV, "DeliverTo", "crm/Accounts"),
    (INV, "InvoiceToContactPerson", "crm/Contacts"),
    (INV, "Salesperson", "users/Users"),
    (LINES, "InvoiceID", INV),
    (LINES, "Item", "logistics/Items"),
    (LINES, "GLAccount", "financial/GLAccounts"),
    (LINES, "Project", "project/Projects"),
    (TL, "Account", "crm/Accounts"),
    (TL, "GLAccount", "financial/GLAccounts"),
    (TL, "Item", "logistics/Items"),
    (TL, "Project", "project/Projects"),
    ("cashflow/Receivables", "Account", "crm/Accounts"),
    ("cashflow/Receivables", "TransactionID", TL),
    ("cashflow/Receivables", "GLAccount", "financial/GLAccounts"),
    ("cashflow/Receivables", "AccountContact", "crm/Contacts"),
    ("users/UserRoles", "UserID", "users/Users"),
    ("users/UserRolesPerDivision", "UserID", "users/Users"),
    ("financial/GLClassifications", "Parent", "financial/GLClassifications"),
] + [(e, c, "users/Users") for e in ENTITIES for c in ("Creator", "Modifier")]


def test_foreign_keys_resolve(world: World) -> None:
    for code in world.division_codes:
        d = world.division(code)
        for entity, name, target in FOREIGN_KEYS:
            if name not in d.columns(entity):
                continue
            values = [g for g in col(d, entity, name).tolist() if g is not None]
            assert values, (entity, name)
            salt, n = d.key_salt(target), d.count(target)
            for g in set(values):
                k = index_of(salt, g)
                assert k is not None and 0 <= k < n, (entity, name, g)
        for entity in ENTITIES:
            key = col(d, entity, d.key_name(entity))
            assert len(set(key.tolist())) == len(key)
            assert [index_of(d.key_salt(entity), g) for g in key.tolist()] == list(range(len(key)))
    # The same TransactionLine is the receivable's transaction: the debtor line of its entry.
    d = world.division(world.division_codes[0])
    rec = col(d, "cashflow/Receivables", "TransactionID").tolist()
    lines = np.array([index_of(d.key_salt(TL), g) for g in rec])
    assert set(d.values(TL, "GLAccountCode", lines).tolist()) == {"1300"}
    assert np.array_equal(
        cents(d.values(TL, "AmountDC", lines)), cents(col(d, "cashflow/Receivables", "AmountDC"))
    )


def test_user_roles_manage_subscriptions(world: World) -> None:
    for code in world.division_codes:
        d = world.division(code)
        role = col(d, "users/UserRoles", "Role")
        end, start = col(d, "users/UserRoles", "EndDate"), col(d, "users/UserRoles", "StartDate")
        user = col(d, "users/UserRoles", "UserID")
        subs = role == 274
        assert (subs & (end == NULL_DATE)).any()
        assert (subs & (end != NULL_DATE) & (end < REF_MS)).any()
        assert ((end != NULL_DATE) & (end > REF_MS)).any()
        ended = end != NULL_DATE
        assert np.all(start[ended] < end[ended])
        users = set(col(d, "users/Users", "UserID").tolist())
        assert users - set(user[subs].tolist()), "some user lacks role 274"
        assert set(user.tolist()) <= users
        # The query of the app-registration guide finds the active subscription managers.
        now = cet_ms(dt.datetime.now())
        active = {
            u
            for u, e in zip(user[subs].tolist(), end[subs].tolist(), strict=True)
            if (now if e == NULL_DATE else e) >= now
        }
        names = dict(
            zip(
                col(d, "users/Users", "UserID").tolist(),
                col(d, "users/Users", "FullName").tolist(),
                strict=True,
            )
        )
        assert {names[u] for u in active}
        per_div = d.columns("users/UserRolesPerDivision")
        for name in per_div:
            assert same(col(d, "users/UserRolesPerDivision", name), col(d, "users/UserRoles", name))


# ------------------------------------------------------------------------------------------- growth and changes


def test_extend_transaction_lines_keeps_balance() -> None:
    w1, w2 = World(seed=5, divisions=1, today=TODAY), World(seed=5, divisions=1, today=TODAY)
    d1, d2 = w1.division(w1.division_codes[0]), w2.division(w2.division_codes[0])
    before = {name: col(d1, TL, name) for name in d1.columns(TL)}
    n = d1.count(TL)
    new = d1.extend(TL, 200)
    assert new.start == n and 180 <= len(new) <= 220 and d1.count(TL) == new.stop
    assert d2.extend(TL, 200) == new
    for name, values in before.items():
        assert same(d1.values(TL, name, np.arange(n)), values), name
        assert same(
            d1.values(TL, name, np.arange(new.start, new.stop)),
            d2.values(TL, name, np.arange(new.start, new.stop)),
        ), name
    assert_balanced(d1)
    assert_balanced(d1, np.arange(new.start, new.stop))  # new rows are whole entries
    numbers = col(d1, TL, "EntryNumber")
    assert len(set(numbers.tolist())) == len(set(col(d1, TL, "EntryID").tolist()))
    assert col(d1, TL, "Date")[new.start :].max() <= REF_MS


def test_extend_other_entities() -> None:
    w = World(seed=9, divisions=1, today=TODAY)
    d = w.division(w.division_codes[0])
    for entity in ENTITIES:
        n = d.count(entity)
        new = d.extend(entity, 5)
        assert new.start == n and d.count(entity) == new.stop
        if entity not in ("users/Users", "cashflow/Receivables"):
            assert len(new) >= 1, entity
        idx = np.arange(d.count(entity))
        for name in d.columns(entity):
            assert len(d.values(entity, name, idx)) == len(idx)
    # Draft invoices come with their lines; totals still add up.
    n = d.count(INV)
    lines = d.count(LINES)
    new = d.extend(INV, 3)
    assert len(new) == 3 and d.count(LINES) > lines
    assert set(d.values(INV, "Status", np.arange(new.start, new.stop)).tolist()) == {10}
    assert all(x is None for x in d.values(INV, "InvoiceNumber", np.arange(new.start, new.stop)))
    line_inv = np.array([index_of(d.key_salt(INV), g) for g in col(d, LINES, "InvoiceID")])
    sums = np.bincount(line_inv, weights=cents(col(d, LINES, "AmountDC")), minlength=d.count(INV))
    assert np.array_equal(sums, cents(col(d, INV, "AmountFCExclVat")))
    assert n + 3 <= d.count(INV)


def test_group_of_returns_whole_entries(world: World) -> None:
    d = world.division(world.division_codes[0])
    entry = col(d, TL, "EntryID")
    rng = np.random.default_rng(1)
    idx = rng.choice(d.count(TL), size=25, replace=False)
    group = d.group_of(TL, idx)
    wanted = np.flatnonzero(np.isin(entry, list(set(entry[idx].tolist()))))
    assert group.tolist() == wanted.tolist()
    assert set(idx.tolist()) <= set(group.tolist())
    assert d.group_of(INV, np.array([3, 1, 3])).tolist() == [1, 3]


def test_changed_values_keep_books_consistent(world: World) -> None:
    d = world.division(world.division_codes[0])
    rng = np.random.default_rng(2)
    for entity in ENTITIES:
        n = d.count(entity)
        idx = np.arange(min(n, 4))
        changes = d.changed_values(entity, idx, rng)
        for name, values in changes.items():
            assert name in d.columns(entity), (entity, name)
            assert len(values) == len(idx)
            assert name != d.key_name(entity)
            allowed = entity == "cashflow/Receivables" and name == "Description"
            assert allowed or not (name.startswith("Amount") or name in ("Code", "Name", "Description")), name
    assert "Notes" in d.changed_values(TL, np.arange(3), rng)


# ------------------------------------------------------------------------------------------- large


def test_large_division_is_quick() -> None:
    t = time.perf_counter()
    w = World(seed=1, divisions=2, size="large", today=TODAY)
    d = w.division(w.division_codes[1])
    build = time.perf_counter() - t
    assert build < 10, build
    n = d.count(TL)
    assert abs(n - SIZES["large"]) < 1000
    idx = np.arange(n // 2, n // 2 + 1000)
    t = time.perf_counter()
    for name in d.columns(TL):
        assert len(d.values(TL, name, idx)) == 1000
    assert time.perf_counter() - t < 2.0
    assert_balanced(d, d.group_of(TL, np.random.default_rng(3).choice(n, 2000, replace=False)))
    assert not math.isnan(float(d.values(TL, "AmountDC", np.array([0]))[0]))
