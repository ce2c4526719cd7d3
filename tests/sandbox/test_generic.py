"""Rows of every catalog entity: typed as the catalog says, keyed, linked to rows that exist, reports that
add up to the transaction lines, deterministic from the seed and the date."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

import numpy as np
import pytest

from exactsql.catalog import load_catalog
from exactsql.sandbox.datagen import ENTITIES, SERVED, DivisionData, World
from exactsql.sandbox.datagen_links import ENTRIES, links
from exactsql.sandbox.values import NULL_DATE, index_of
from tests.sandbox.test_datagen import assert_typed, cents, col, same

TODAY = dt.date(2026, 11, 29)
TL = "financialtransaction/TransactionLines"
GENERIC = [e for e in SERVED if e not in ENTITIES]


@pytest.fixture(scope="module")
def world() -> World:
    return World(seed=21, divisions=2, size="small", today=TODAY)


@pytest.fixture(scope="module")
def division(world: World) -> DivisionData:
    return world.division(world.division_codes[0])


def row_of(d: DivisionData, entity: str, keys: list) -> np.ndarray:
    """The rows of ``entity`` with the given key values (-1 where none)."""
    where = {k: i for i, k in enumerate(col(d, entity, d.key_name(entity)).tolist())}
    return np.array([where.get(k, -1) for k in keys], dtype=np.int64)


def test_every_entity_has_typed_rows(division: DivisionData) -> None:
    catalog = load_catalog()
    assert len(SERVED) > 350 and set(ENTITIES) < set(SERVED)
    empty = []
    for entity in SERVED:
        n = division.count(entity)
        if n == 0:
            empty.append(entity)
        types = {c.name: c.edm for c in catalog.table(entity).columns}
        for name in division.columns(entity):
            if name in types:
                assert_typed(col(division, entity, name), types[name], (entity, name))
            else:
                assert name == division.key_name(entity) == "ID", (entity, name)  # a hidden key
        key = col(division, entity, division.key_name(entity)).tolist()
        assert len(set(key)) == len(key) and None not in key, entity
    assert empty == []


def test_foreign_keys_name_existing_rows_and_companions_agree(division: DivisionData) -> None:
    d, checked = division, 0
    for entity in GENERIC:
        table = load_catalog().table(entity)
        for role in links().roles(table).values():
            if role.target == ENTRIES:
                continue
            keys = [c for c, m in role.members.items() if m == "key" and table.column(c).edm == "Edm.Guid"]  # type: ignore[union-attr]
            if not keys:
                continue
            values = col(d, entity, keys[0]).tolist()
            present = [v for v in values if v is not None]
            rows = row_of(d, role.target, present)
            assert (rows >= 0).all(), (entity, role.prefix, role.target)
            for column, member in role.members.items():
                if member == "key" or member not in d.columns(role.target):
                    continue
                mine = [
                    v for v, k in zip(col(d, entity, column).tolist(), values, strict=True) if k is not None
                ]
                assert mine == d.values(role.target, member, rows).tolist(), (entity, column)
            checked += 1
    assert checked > 500


def test_lines_follow_their_header(division: DivisionData) -> None:
    d, seen = division, 0
    for entity in GENERIC:
        table = d.generic(entity)
        assert table is not None
        head = table.header_role
        if head is None or "LineNumber" not in d.columns(entity):
            continue
        header = col(d, entity, next(c for c, m in head.members.items() if m == "key")).tolist()
        numbers: dict[str, list[int]] = defaultdict(list)
        for h, number in zip(header, col(d, entity, "LineNumber").tolist(), strict=True):
            numbers[h].append(number)
        assert all(v == list(range(1, len(v) + 1)) for v in numbers.values()), entity
        above = d.generic(head.target)
        for prefix, role in table.roles.items():
            mine, theirs = (load_catalog().table(e).column(prefix) for e in (entity, head.target))
            audit = prefix in ("Creator", "Modifier") or not mine or not theirs or mine.edm != theirs.edm
            if (
                above is None
                or role.header
                or audit
                or prefix not in above.roles
                or prefix not in d.columns(entity)
            ):
                continue
            heads = row_of(d, head.target, header)
            assert col(d, entity, prefix).tolist() == d.values(head.target, prefix, heads).tolist(), entity
        seen += 1
    assert seen >= 10


def test_dates_are_anchored_to_today(division: DivisionData) -> None:
    d = division
    today_ms = (d.cal.ref_day + 1) * 86_400_000
    for entity in GENERIC:
        for name in ("Created", "Modified", "Date", "EntryDate", "InvoiceDate", "OrderDate"):
            if name in d.columns(entity):
                values = col(d, entity, name)
                assert values[values != NULL_DATE].max() < today_ms, (entity, name)
    dates = col(d, "salesorder/SalesOrders", "OrderDate")
    months = set((dates // 86_400_000).astype("datetime64[D]").astype("datetime64[M]").tolist())
    assert np.datetime64(TODAY, "M").item() in months or len(months) > 12


def test_same_seed_and_date_same_rows(world: World) -> None:
    again = World(seed=21, divisions=2, size="small", today=TODAY)
    code = world.division_codes[1]
    sample = [
        e for e in GENERIC if e.startswith(("salesorder/", "payroll/", "read_financial/", "financial/"))
    ]
    for entity in sample:
        a, b = world.division(code), again.division(code)
        assert a.count(entity) == b.count(entity), entity
        for name in a.columns(entity):
            assert same(col(a, entity, name), col(b, entity, name)), (entity, name)
    other = world.division(world.division_codes[0])
    assert (
        col(other, "payroll/Employees", "ID").tolist()
        != col(world.division(code), "payroll/Employees", "ID").tolist()
    )
    later = World(seed=21, divisions=2, size="small", today=TODAY + dt.timedelta(days=40))
    assert col(later.division(code), TL, "Date").max() > col(world.division(code), TL, "Date").max()


def test_codes_of_the_books_are_reference_rows(division: DivisionData) -> None:
    d = division
    journals = set(col(d, "financial/Journals", "Code").tolist())
    assert set(col(d, TL, "JournalCode").tolist()) <= journals
    assert set(col(d, "salesinvoice/SalesInvoices", "Journal").tolist()) <= journals
    vat = set(col(d, "vat/VATCodes", "Code").tolist())
    assert {v for v in col(d, TL, "VATCode").tolist() if v} <= vat
    assert set(col(d, "logistics/Items", "Unit").tolist()) <= set(col(d, "logistics/Units", "Code").tolist())
    conditions = set(col(d, "cashflow/PaymentConditions", "Code").tolist())
    assert set(col(d, "salesinvoice/SalesInvoices", "PaymentCondition").tolist()) <= conditions
    periods = set(
        zip(
            col(d, "financial/FinancialPeriods", "FinYear").tolist(),
            col(d, "financial/FinancialPeriods", "FinPeriod").tolist(),
            strict=True,
        )
    )
    lines = set(
        zip(col(d, TL, "FinancialYear").tolist(), col(d, TL, "FinancialPeriod").tolist(), strict=True)
    )
    assert lines <= periods
    assert set(col(d, "general/Currencies", "Code").tolist()) >= {"EUR"}


def test_reporting_balance_adds_up_to_the_lines(division: DivisionData) -> None:
    d, rb = division, "financial/ReportingBalance"
    truth: dict[tuple, int] = defaultdict(int)
    for gl, y, m, c in zip(
        col(d, TL, "GLAccount").tolist(),
        col(d, TL, "FinancialYear").tolist(),
        col(d, TL, "FinancialPeriod").tolist(),
        cents(col(d, TL, "AmountDC")).tolist(),
        strict=True,
    ):
        truth[(gl, y, m)] += c
    report = {
        (gl, y, m): c
        for gl, y, m, c in zip(
            col(d, rb, "GLAccount").tolist(),
            col(d, rb, "ReportingYear").tolist(),
            col(d, rb, "ReportingPeriod").tolist(),
            cents(col(d, rb, "Amount")).tolist(),
            strict=True,
        )
    }
    assert report == dict(truth)
    assert np.array_equal(
        cents(col(d, rb, "Amount")), cents(col(d, rb, "AmountDebit")) - cents(col(d, rb, "AmountCredit"))
    )
    codes = dict(
        zip(
            col(d, "financial/GLAccounts", "ID").tolist(),
            col(d, "financial/GLAccounts", "Code").tolist(),
            strict=True,
        )
    )
    assert [codes[g] for g in col(d, rb, "GLAccount").tolist()] == col(d, rb, "GLAccountCode").tolist()


def test_revenue_and_profit_follow_the_books(division: DivisionData) -> None:
    d = division
    revenue = defaultdict(int)
    for code, y, m, c in zip(
        col(d, TL, "GLAccountCode").tolist(),
        col(d, TL, "FinancialYear").tolist(),
        col(d, TL, "FinancialPeriod").tolist(),
        cents(col(d, TL, "AmountDC")).tolist(),
        strict=True,
    ):
        if code.startswith("8"):
            revenue[(y, m)] -= c
    listed = zip(
        col(d, "read_financial/RevenueList", "Year").tolist(),
        col(d, "read_financial/RevenueList", "Period").tolist(),
        cents(col(d, "read_financial/RevenueList", "Amount")).tolist(),
        strict=True,
    )
    rows = {(y, m): c for y, m, c in listed}
    assert len(rows) == d.cal.n_months and (TODAY.year, TODAY.month) in rows
    assert all(rows[k] == revenue.get(k, 0) for k in rows)
    pl = "read_financial/ProfitLossOverview"
    this_year = sum(c for (y, _), c in rows.items() if y == TODAY.year)
    assert cents(col(d, pl, "RevenueCurrentYear")).tolist() == [this_year]
    assert col(d, pl, "CurrentYear").tolist() == [TODAY.year]


def test_open_items_and_their_ageing(division: DivisionData) -> None:
    d = division
    receivables = cents(col(d, "cashflow/Receivables", "AmountDC"))
    listed = cents(col(d, "read_financial/ReceivablesList", "Amount"))
    assert sorted(listed.tolist()) == sorted(receivables.tolist())
    aging = "read_financial/AgingReceivablesList"
    assert cents(col(d, aging, "TotalAmount")).sum() == receivables.sum()
    groups = sum(cents(col(d, aging, f"AgeGroup{g}Amount")) for g in range(1, 5))
    assert np.array_equal(groups, cents(col(d, aging, "TotalAmount")))
    overview = "read_financial/AgingOverview"
    assert cents(col(d, overview, "AmountReceivable")).sum() == receivables.sum()
    assert cents(
        col(d, "read_financial/OutstandingInvoicesOverview", "OutstandingReceivableInvoiceAmount")
    ).tolist() == [receivables.sum()]


def test_opening_balances_balance(division: DivisionData) -> None:
    d = division
    for entity in ("openingbalance_currentyear/AfterEntry", "openingbalance_previousyear/Processed"):
        amount = cents(col(d, entity, "Amount"))
        side = np.where(col(d, entity, "BalanceSide") == "D", 1, -1)
        assert len(amount) and (amount * side).sum() == 0, entity
    assert set(col(d, "openingbalance_currentyear/AfterEntry", "ReportingYear").tolist()) == {TODAY.year}


def test_rows_of_generic_entities_grow_and_change(world: World) -> None:
    d = World(seed=21, divisions=1, size="small", today=TODAY).division(world.division_codes[0])
    entity = "salesorder/SalesOrders"
    before = {name: col(d, entity, name) for name in d.columns(entity)}
    n = d.count(entity)
    new = d.extend(entity, 5)
    assert new == range(n, n + 5) and d.count(entity) == n + 5
    for name, values in before.items():
        assert same(d.values(entity, name, np.arange(n)), values), name
    assert (col(d, entity, "OrderDate")[n:] // 86_400_000 >= d.cal.ref_day - 28).all()
    changed = d.changed_values(entity, np.arange(3), np.random.default_rng(1))
    assert set(changed) <= set(d.columns(entity)) and changed
    assert index_of(d.key_salt(entity), str(col(d, entity, "OrderID")[n])) == n
