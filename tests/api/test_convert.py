"""Exact's JSON pages to typed Arrow tables, checked against the sandbox's truth."""

from __future__ import annotations

import datetime as dt

import httpx
import orjson
import pyarrow as pa

from exactsql.api.convert import page_to_arrow, rows_to_arrow
from exactsql.catalog import Column, load_catalog
from exactsql.sandbox.core import Sandbox
from exactsql.sandbox.process import control_plane_tokens
from exactsql.sandbox.transport import SandboxTransport


def _page() -> tuple[bytes, list[Column], list[dict]]:
    sb = Sandbox(divisions=1)
    with httpx.Client(transport=SandboxTransport(sb), base_url="http://sandbox") as http:
        token = control_plane_tokens(http, sb.info("http://sandbox"))["access_token"]
        division = sb.world.division_codes[0]
        body = http.get(
            f"/api/v1/{division}/sync/Financial/TransactionLines",
            params={"$select": "*"},
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        ).content
        truth = http.get(f"/_sandbox/snapshot/{division}/financialtransaction/TransactionLines").json()[
            "rows"
        ]
    path = load_catalog().table("financialtransaction/TransactionLines").path("sync")
    assert path is not None
    return body, list(path.columns), truth


def test_a_sync_page_becomes_typed_arrow() -> None:
    body, columns, truth = _page()
    table = page_to_arrow(body, columns)
    assert table.num_rows == 1000
    assert table.schema.field("Date").type == pa.timestamp("ms")
    assert table.schema.field("AmountDC").type == pa.float64()
    assert table.schema.field("Timestamp").type == pa.int64()
    assert table.schema.field("FinancialYear").type == pa.int16()
    by_id = {r["ID"]: r for r in truth}
    for row in table.slice(0, 50).to_pylist():
        expected = by_id[row["ID"]]
        assert row["AmountDC"] == expected["AmountDC"]
        assert row["Timestamp"] == int(expected["Timestamp"])  # Edm.Int64: a JSON string, as Exact sends it
        ms = int(expected["Date"][6:-2])
        assert row["Date"] == dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms)  # CET wall clock, naive
        assert row["Description"] == expected["Description"]


def test_numbers_and_booleans_sent_as_strings_are_accepted() -> None:
    columns = [
        Column("Timestamp", "Edm.Int64"),
        Column("Amount", "Edm.Double"),
        Column("Paid", "Edm.Boolean"),
        Column("Date", "Edm.DateTime"),
    ]
    rows = [
        {"Timestamp": "13361108664", "Amount": "12.5", "Paid": "true", "Date": "/Date(1387372837753)/"},
        {"Timestamp": 5, "Amount": None, "Paid": False, "Date": None},
    ]
    body = orjson.dumps({"d": {"results": rows}})
    table = page_to_arrow(body, columns)
    assert table.to_pylist()[0]["Timestamp"] == 13361108664
    assert table.to_pylist()[0]["Paid"] is True
    assert table.to_pylist()[1]["Amount"] is None
    assert table.equals(rows_to_arrow(rows, columns))


def test_a_bare_array_page_is_read_too() -> None:
    columns = [Column("Code", "Edm.Int32")]
    table = page_to_arrow(orjson.dumps({"d": [{"Code": 1}, {"Code": 2}]}), columns)
    assert table.column("Code").to_pylist() == [1, 2]


def test_int64_as_exact_sends_them_strings_or_numbers_and_escaped_slashes() -> None:
    """Exact writes Edm.Int64 as JSON strings (OData v2) and escapes '/' in dates; both read exactly, and a
    page that sends numbers instead reads the same."""
    columns = [
        Column("Timestamp", "Edm.Int64"),
        Column("AmountDC", "Edm.Double"),
        Column("Date", "Edm.DateTime"),
    ]
    rows = [
        {"Timestamp": "9007199254740993", "AmountDC": 100, "Date": "/Date(1700000000000)/"},
        {"Timestamp": "7", "AmountDC": -0.5, "Date": None},
    ]
    as_text = b'{"d":{"results":[' + b",".join(orjson.dumps(r).replace(b"/", b"\\/") for r in rows) + b"]}}"
    as_numbers = orjson.dumps(
        {"d": {"results": [{**r, "Timestamp": int(str(r["Timestamp"]))} for r in rows]}}
    )
    expected = [
        {"Timestamp": 9007199254740993, "AmountDC": 100.0, "Date": dt.datetime(2023, 11, 14, 22, 13, 20)},
        {"Timestamp": 7, "AmountDC": -0.5, "Date": None},
    ]
    for body in (as_text, as_numbers, as_text):
        table = page_to_arrow(body, columns)
        assert table.schema.field("Timestamp").type == pa.int64()
        assert table.to_pylist() == expected
