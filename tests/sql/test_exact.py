"""Exact answers: GUIDs compare case-insensitively (pushed down and locally alike), amounts sum exactly."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pyarrow as pa
import pytest

from exactsql.sql.engine import Engine


def _snapshot(control: httpx.Client, division: int, entity: str) -> list[dict]:
    return control.get(f"/_sandbox/snapshot/{division}/{entity}").json()["rows"]


def _all(control: httpx.Client, divisions: list[int], entity: str) -> list[dict]:
    return [row for d in divisions for row in _snapshot(control, d, entity)]


def _count(engine: Engine, sql: str) -> int:
    table = engine.run(sql)[-1].table
    assert table is not None
    return int(table.column(0)[0].as_py())


def _mixed_case(guid: str, salt: int) -> str:
    return "".join(c.upper() if (i + salt) % 2 else c for i, c in enumerate(guid))


def test_guid_comparisons_ignore_case(engine: Engine, control: httpx.Client, server: dict) -> None:
    engine.run("use all@eol")
    invoices = _all(control, server["divisions"], "salesinvoice/SalesInvoices")
    ids = [r["InvoiceID"] for r in invoices]
    chosen = ids[:3]
    written = [chosen[0].upper(), _mixed_case(chosen[1], 1), chosen[2]]
    in_list = ", ".join(f"'{g}'" for g in written)
    assert _count(engine, f"select count(*) from salesinvoices where invoiceid in ({in_list})") == 3
    assert _count(engine, f"select count(*) from salesinvoices where invoiceid = '{written[0]}'") == 1
    assert (
        _count(engine, f"select count(*) from salesinvoices where invoiceid <> '{written[0]}'")
        == len(ids) - 1
    )
    assert (
        _count(engine, f"select count(*) from salesinvoices where invoiceid not in ({in_list})")
        == len(ids) - 3
    )
    assert _count(engine, f"select count(*) from salesinvoices where '{written[0]}' = invoiceid") == 1


def test_guid_joins_ignore_case(engine: Engine, control: httpx.Client, server: dict) -> None:
    engine.run("use all@eol")
    lines = _all(control, server["divisions"], "salesinvoice/SalesInvoiceLines")
    expected = len(lines)
    upper_side = (
        "select count(*) from (select upper(invoiceid) upper_id, division from salesinvoices) i "
        "join salesinvoicelines l on l.invoiceid = i.upper_id and l.division = i.division"
    )
    assert _count(engine, upper_side) == expected
    in_subquery = (
        "select count(*) from salesinvoicelines l "
        "where l.invoiceid in (select upper(invoiceid) from salesinvoices)"
    )
    assert _count(engine, in_subquery) == expected
    first = lines[0]["InvoiceID"].upper()
    on_literal = (
        "select count(*) from salesinvoices i join salesinvoicelines l on l.invoiceid = i.invoiceid "
        f"where i.invoiceid = '{first}'"
    )
    assert _count(engine, on_literal) == sum(r["InvoiceID"] == first.lower() for r in lines)


def test_a_balanced_journal_sums_to_exactly_zero(engine: Engine) -> None:
    engine.run("use all@eol")
    table = engine.run(
        "select division, entrynumber, sum(amountdc) total from transactionlines "
        "group by division, entrynumber"
    )[-1].table
    assert table is not None and table.num_rows > 10
    assert pa.types.is_decimal(table.schema.field("total").type)
    assert set(table.column("total").to_pylist()) == {Decimal("0")}
    (total,) = engine.run("select sum(amountdc) from transactionlines")[-1].table.column(0).to_pylist()  # type: ignore[union-attr]
    assert total == 0 and isinstance(total, Decimal)


@pytest.mark.parametrize(
    ("column", "decimal"),
    [
        ("AmountDC", True),
        ("AmountFC", True),
        ("AmountVATFC", True),
        ("Quantity", False),
        ("ExchangeRate", False),
    ],
)
def test_money_columns_are_decimals(engine: Engine, column: str, decimal: bool) -> None:
    table = engine.run(f"select {column} from transactionlines where {column} is not null limit 1")[-1].table
    assert table is not None
    assert pa.types.is_decimal(table.schema.field(0).type) == decimal
