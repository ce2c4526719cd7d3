"""OData literals: typed by Edm type, escaped, and None whenever they cannot be rendered faithfully."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import pytest
from sqlglot import exp

from exactsql.sandbox.odata import parse_filter
from exactsql.sql.dialect import parse_statement
from exactsql.sql.odata_literals import (
    SQLValue,
    literal_to_odata,
    render_literal,
    sql_constant,
)

GUID = "5b3debef-0d0a-4f11-9a2b-7c8d9e0f1a2b"


@pytest.mark.parametrize(
    ("value", "edm", "expected"),
    [
        ("Jansen", "Edm.String", "'Jansen'"),
        ("O'Brien", "Edm.String", "'O''Brien'"),
        ("''", "Edm.String", "''''''"),
        ("", "Edm.String", "''"),
        ("Zoë & co", "Edm.String", "'Zoë & co'"),
        (GUID.upper(), "Edm.Guid", f"guid'{GUID}'"),
        (uuid.UUID(GUID), "Edm.Guid", f"guid'{GUID}'"),
        (dt.datetime(2024, 1, 31, 10, 5, 7), "Edm.DateTime", "datetime'2024-01-31T10:05:07'"),
        (dt.datetime(2024, 1, 31, 10, 5, 7, 250_000), "Edm.DateTime", "datetime'2024-01-31T10:05:07.250'"),
        (dt.date(2024, 2, 29), "Edm.DateTime", "datetime'2024-02-29T00:00:00'"),
        ("2024-03-01", "Edm.DateTime", "datetime'2024-03-01T00:00:00'"),
        ("2024-03-01 12:30", "Edm.DateTime", "datetime'2024-03-01T12:30:00'"),
        ("2024-03-01T12:30:15.5", "Edm.DateTime", "datetime'2024-03-01T12:30:15.500'"),
        (13361108664, "Edm.Int64", "13361108664L"),
        (-5, "Edm.Int64", "-5L"),
        (274, "Edm.Int32", "274"),
        ("274", "Edm.Int32", "274"),
        (Decimal("2.0"), "Edm.Int32", "2"),
        (2.0, "Edm.Int16", "2"),
        (255, "Edm.Byte", "255"),
        (Decimal("100.50"), "Edm.Double", "100.50"),
        (Decimal("1E+3"), "Edm.Double", "1000"),
        (0.1, "Edm.Double", "0.1"),
        (1e-7, "Edm.Double", "0.0000001"),
        (-2, "Edm.Double", "-2"),
        (Decimal("1.5"), "Edm.Decimal", "1.5M"),
        (True, "Edm.Boolean", "true"),
        (False, "Edm.Boolean", "false"),
        (1, "Edm.Boolean", "true"),
        ("FALSE", "Edm.Boolean", "false"),
        (None, "Edm.String", "null"),
        (None, "Edm.Guid", "null"),
    ],
)
def test_render_literal(value: object, edm: str, expected: str) -> None:
    assert render_literal(value, edm) == expected


@pytest.mark.parametrize(
    ("value", "edm"),
    [
        (123, "Edm.String"),
        (True, "Edm.String"),
        ("not-a-guid", "Edm.Guid"),
        ("{" + GUID + "}", "Edm.Guid"),
        (GUID.replace("-", ""), "Edm.Guid"),
        (GUID + "0", "Edm.Guid"),
        (12, "Edm.Guid"),
        (dt.datetime(2024, 1, 31, 10, 0, 0, 123_456), "Edm.DateTime"),
        (dt.datetime(2024, 1, 31, tzinfo=dt.UTC), "Edm.DateTime"),
        ("2024-03-01T00:00:00+01:00", "Edm.DateTime"),
        ("31-01-2024", "Edm.DateTime"),
        ("2024-02-30", "Edm.DateTime"),
        (dt.datetime(999, 1, 1), "Edm.DateTime"),
        (2.5, "Edm.Int32"),
        (Decimal("2.5"), "Edm.Int32"),
        ("2.5", "Edm.Int32"),
        (True, "Edm.Int32"),
        (2**31, "Edm.Int32"),
        (70000, "Edm.Int16"),
        (256, "Edm.Byte"),
        (-1, "Edm.Byte"),
        (2**63, "Edm.Int64"),
        (float("nan"), "Edm.Double"),
        (float("inf"), "Edm.Double"),
        (Decimal("NaN"), "Edm.Double"),
        ("abc", "Edm.Double"),
        (True, "Edm.Double"),
        (2, "Edm.Boolean"),
        ("yes", "Edm.Boolean"),
        ("x", "Edm.Binary"),
        ("x", "Collection(BankAccounts)"),
    ],
)
def test_render_literal_refuses_what_it_cannot_render_faithfully(value: object, edm: str) -> None:
    assert render_literal(value, edm) is None


@pytest.mark.parametrize(
    ("value", "edm"),
    [
        ("O'Brien", "Edm.String"),
        (GUID, "Edm.Guid"),
        (dt.datetime(2024, 1, 31, 10, 5, 7, 250_000), "Edm.DateTime"),
        (13361108664, "Edm.Int64"),
        (274, "Edm.Int32"),
        (Decimal("-100.50"), "Edm.Double"),
        (True, "Edm.Boolean"),
    ],
)
def test_rendered_literals_parse_in_the_sandbox(value: object, edm: str) -> None:
    """The sandbox's $filter parser (Exact's grammar) reads each literal back as the same value."""
    literal = render_literal(value, edm)
    assert literal is not None
    node = parse_filter(f"X eq {literal}")
    parsed = node.right.value  # type: ignore[union-attr]
    if edm == "Edm.DateTime":
        assert node.right.kind == "datetime"  # type: ignore[union-attr]
    elif edm == "Edm.Double":
        assert parsed == float(value)  # type: ignore[arg-type]
    else:
        assert parsed == value


def _constant(sql: str) -> exp.Expr:
    tree = parse_statement(f"select 1 from t where x = {sql}")
    where = tree.args["where"].this
    assert isinstance(where, exp.EQ)
    return where.expression


@pytest.mark.parametrize(
    ("sql", "value"),
    [
        ("'O''Brien'", "O'Brien"),
        ("N'Jansen'", "Jansen"),
        ("274", 274),
        ("-5", -5),
        ("2.50", Decimal("2.50")),
        ("1e3", Decimal("1E+3")),
        ("(7)", 7),
        ("true", True),
        ("false", False),
        ("null", None),
        ("date '2024-01-31'", dt.date(2024, 1, 31)),
        ("timestamp '2024-01-31 10:00:00'", dt.datetime(2024, 1, 31, 10)),
        ("timestamp '2024-01-31 10:00:00.250'", dt.datetime(2024, 1, 31, 10, 0, 0, 250_000)),
        ("cast(2.5 as decimal(10, 1))", Decimal("2.5")),
        ("cast('2024-01-31 08:30:00' as timestamp)", dt.datetime(2024, 1, 31, 8, 30)),
        ("cast('2024-01-31' as date)", dt.date(2024, 1, 31)),
        ("cast('abc' as varchar(10))", "abc"),
        ("cast('12' as int)", 12),
        ("cast(null as int)", None),
    ],
)
def test_sql_constant(sql: str, value: object) -> None:
    assert sql_constant(_constant(sql)) == SQLValue(value)


@pytest.mark.parametrize(
    "sql",
    [
        "y",
        "sysdate",
        "upper('a')",
        "1 + 1",
        "to_date('2024-01-31 10:00', 'YYYY-MM-DD HH24:MI')",
        "to_date('2024-31-01', 'YYYY-MM-DD')",
        "cast('2024-01-31 10:00' as date)",
        "cast('x' as timestamp)",
        "cast(2.55 as decimal(10, 1))",  # DuckDB rounds it: not the value written
        "interval '1' day",
        "-'a'",
    ],
)
def test_sql_constant_refuses_non_constants_and_unclear_values(sql: str) -> None:
    assert sql_constant(_constant(sql)) is None


def test_literal_to_odata_combines_both_sides() -> None:
    assert literal_to_odata(_constant("'O''Brien'"), "Edm.String") == "'O''Brien'"
    assert literal_to_odata(_constant(f"'{GUID.upper()}'"), "Edm.Guid") == f"guid'{GUID}'"
    assert literal_to_odata(_constant("date '2024-01-31'"), "Edm.DateTime") == "datetime'2024-01-31T00:00:00'"
    assert literal_to_odata(_constant("13361108664"), "Edm.Int64") == "13361108664L"
    assert literal_to_odata(_constant("2.5"), "Edm.Int32") is None
    assert literal_to_odata(_constant("null"), "Edm.String") is None  # `= NULL` matches nothing


def test_typed_parameter_literals_are_constants() -> None:
    assert sql_constant(_constant("cast('12.50' as decimal(4, 2))")) == SQLValue(Decimal("12.50"))
    assert sql_constant(_constant("cast(2.5 as double)")) == SQLValue(Decimal("2.5"))
    assert sql_constant(_constant("cast('x' as decimal(4, 2))")) is None
