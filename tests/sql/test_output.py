"""Writing results: DECIMAL columns in JSON lose nothing (numbers digit for digit, or strings beyond a double)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console

from exactsql.sql.output import json_rows, write


def rows(table: pa.Table) -> list[dict]:
    return json.loads(json_rows(table), parse_float=Decimal)  # type: ignore[no-any-return]


def decimals(values: list[str | None], precision: int = 38, scale: int = 2) -> pa.Array:
    return pa.array([None if v is None else Decimal(v) for v in values], pa.decimal128(precision, scale))


def test_decimals_that_a_double_holds_are_numbers_digit_for_digit() -> None:
    table = pa.table({"amount": decimals(["1.25", "2.50", "-0.10", None, "0.00", "9999999999999.99"])})
    text = json_rows(table).decode()
    assert '"amount": 2.50' in text and '"amount": -0.10' in text and '"amount": 0.00' in text
    assert [r["amount"] for r in rows(table)] == [
        Decimal("1.25"), Decimal("2.50"), Decimal("-0.10"), None, Decimal("0.00"), Decimal("9999999999999.99")
    ]  # fmt: skip
    for row in json.loads(text):  # a reader that takes doubles gets the same numbers
        if row["amount"] is not None:
            assert Decimal(repr(row["amount"])) == Decimal(str(row["amount"]))


def test_a_column_with_more_digits_than_a_double_is_strings_throughout() -> None:
    table = pa.table(
        {
            "big": decimals(["12345678901234567.89", "1.00", None]),
            "small": decimals(["1.00", "2.00", "3.00"]),
            "wide": pa.array([Decimal("1." + "1" * 30)], pa.decimal256(60, 30)).take([0, 0, 0]),
        }
    )
    out = rows(table)
    assert [r["big"] for r in out] == ["12345678901234567.89", "1.00", None]
    assert [r["small"] for r in out] == [Decimal("1.00"), Decimal("2.00"), Decimal("3.00")]
    assert out[0]["wide"] == "1." + "1" * 30


def test_scale_and_nesting_are_kept() -> None:
    table = pa.table(
        {
            "tiny": decimals(["0.0000000001", "0E-10"], 38, 10),
            "list": pa.array([[Decimal("1.50"), Decimal("2.25")], None], pa.list_(pa.decimal128(5, 2))),
        }
    )
    text = json_rows(table).decode()
    assert "0.0000000001" in text and "0.0000000000" in text and "1.50" in text
    assert rows(table)[0]["list"] == [Decimal("1.50"), Decimal("2.25")]


def test_other_formats_take_decimals_too(tmp_path: Path) -> None:
    table = pa.table({"amount": decimals(["1.25", "12345678901234567.89"])})
    with open(os.devnull, "w") as sink:
        for fmt in ("csv", "parquet", "xlsx", "table"):
            write(table, fmt, tmp_path / f"out.{fmt}" if fmt != "table" else None, Console(file=sink))
    assert pq.read_table(tmp_path / "out.parquet").column("amount").to_pylist()[1] == Decimal(
        "12345678901234567.89"
    )
    assert "12345678901234567.89" in (tmp_path / "out.csv").read_text()
    assert (tmp_path / "out.xlsx").stat().st_size > 0


@pytest.fixture()
def home(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXACTSQL_")}
    return {**env, "EXACTSQL_HOME": str(tmp_path / "home"), "EXACTSQL_KEYRING": "0"}


def test_query_format_json_writes_decimal_columns(home: dict[str, str]) -> None:
    sql = (
        "select code, 1.50 as price, cast('12345678901234567.89' as decimal(38, 2)) as big, "
        "cast(null as decimal(10, 2)) as nothing, cast(1.5 as decimal(10, 2)) * 2 as twice "
        "from glaccounts where code = '1000'"
    )
    done = subprocess.run(
        [sys.executable, "-m", "exactsql", "query", "-c", "sandbox", "--format", "json", sql],
        env=home,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert '"price": 1.50' in done.stdout and '"twice": 3.00' in done.stdout
    row = json.loads(done.stdout, parse_float=Decimal)[0]
    assert row == {
        "Code": "1000",
        "price": Decimal("1.50"),
        "big": "12345678901234567.89",
        "nothing": None,
        "twice": Decimal("3.00"),
    }
