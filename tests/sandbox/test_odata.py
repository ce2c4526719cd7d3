"""Tests for the sandbox's OData v2 $filter / $orderby / $select engine."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from exactsql.sandbox import odata
from exactsql.sandbox.odata import (
    And,
    Arith,
    Call,
    Compare,
    Field,
    Literal,
    Not,
    ODataError,
    Or,
    evaluate,
    fields,
    order_indexes,
    parse_filter,
    parse_orderby,
    parse_select,
    timestamp_lower_bound,
)
from exactsql.sandbox.values import NULL_DATE

ENTITY = "Exact.Web.Api.Models.Account"


def wall_ms(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, micro: int = 0
) -> int:
    """Milliseconds of a naive wall-clock time, computed without values.cet_ms."""
    moment = dt.datetime(year, month, day, hour, minute, second, micro)
    return (moment - dt.datetime(1970, 1, 1)) // dt.timedelta(milliseconds=1)


# ------------------------------------------------------------------------------------------ parsing


def test_precedence_and_binds_tighter_than_or() -> None:
    node = parse_filter("A eq 1 or B eq 2 and C eq 3")
    assert node == Or(
        Compare("eq", Field("A"), Literal(1, "int")),
        And(Compare("eq", Field("B"), Literal(2, "int")), Compare("eq", Field("C"), Literal(3, "int"))),
    )


def test_parentheses_override_precedence() -> None:
    node = parse_filter("(A eq 1 or B eq 2) and C eq 3")
    assert node == And(
        Or(Compare("eq", Field("A"), Literal(1, "int")), Compare("eq", Field("B"), Literal(2, "int"))),
        Compare("eq", Field("C"), Literal(3, "int")),
    )


def test_not_binds_tighter_than_comparison() -> None:
    assert parse_filter("not A eq true") == Compare("eq", Not(Field("A")), Literal(True, "bool"))
    assert parse_filter("not (A eq true)") == Not(Compare("eq", Field("A"), Literal(True, "bool")))


def test_chains_are_left_associative() -> None:
    a, b, c = (Compare("eq", Field(x), Literal(1, "int")) for x in "ABC")
    assert parse_filter("A eq 1 and B eq 1 and C eq 1") == And(And(a, b), c)
    assert parse_filter("A eq 1 or B eq 1 or C eq 1") == Or(Or(a, b), c)


def test_keywords_are_case_insensitive() -> None:
    assert parse_filter("A EQ 1 AND NOT B Ne 2 OR C gE 3") == parse_filter("A eq 1 and not B ne 2 or C ge 3")


@pytest.mark.parametrize("op", ["eq", "ne", "gt", "ge", "lt", "le"])
def test_every_comparison_operator(op: str) -> None:
    assert parse_filter(f"Amount {op} 5") == Compare(op, Field("Amount"), Literal(5, "int"))


def test_arithmetic_precedence() -> None:
    node = parse_filter("A add 2 mul 3 eq 8")
    assert node == Compare(
        "eq", Arith("add", Field("A"), Arith("mul", Literal(2, "int"), Literal(3, "int"))), Literal(8, "int")
    )
    assert parse_filter("A sub 1 sub 1 eq 0").left == Arith(  # type: ignore[union-attr]
        "sub", Arith("sub", Field("A"), Literal(1, "int")), Literal(1, "int")
    )
    assert parse_filter("A div 2 mod 3 eq 1").left == Arith(  # type: ignore[union-attr]
        "mod", Arith("div", Field("A"), Literal(2, "int")), Literal(3, "int")
    )


def test_whitespace_is_flexible() -> None:
    assert parse_filter("  (Name   eq\t'x')  ") == Compare("eq", Field("Name"), Literal("x", "string"))
    assert parse_filter("startswith(Name,'A')") == parse_filter("startswith( Name , 'A' )")


def test_field_identifiers_keep_their_spelling() -> None:
    assert parse_filter("Class_01 eq 'x'") == Compare("eq", Field("Class_01"), Literal("x", "string"))
    assert parse_filter("_x1 eq 1").left == Field("_x1")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("text", "value", "kind"),
    [
        ("'text'", "text", "string"),
        ("'O''Brien'", "O'Brien", "string"),
        ("''''", "'", "string"),
        ("''", "", "string"),
        ("'a b, (c) eq d'", "a b, (c) eq d", "string"),
        ("'              1068'", "              1068", "string"),
        (
            "guid'5B3DEBEF-AB12-4C3D-8E9F-0123456789AB'",
            "5b3debef-ab12-4c3d-8e9f-0123456789ab",
            "guid",
        ),
        (
            "guid'5b3debefab124c3d8e9f0123456789ab'",
            "5b3debef-ab12-4c3d-8e9f-0123456789ab",
            "guid",
        ),
        ("datetime'2022-12-12T01:00:00'", wall_ms(2022, 12, 12, 1), "datetime"),
        ("datetime'2022-12-12T01:02:03.456'", wall_ms(2022, 12, 12, 1, 2, 3, 456000), "datetime"),
        ("datetime'2022-12-12T01:02:03.4567891'", wall_ms(2022, 12, 12, 1, 2, 3, 456000), "datetime"),
        ("datetime'2022-12-12'", wall_ms(2022, 12, 12), "datetime"),
        ("datetime'2022-12-12T01:02'", wall_ms(2022, 12, 12, 1, 2), "datetime"),
        ("datetime'1960-01-01T00:00:00'", wall_ms(1960, 1, 1), "datetime"),
        # UTC and offsets are converted to Amsterdam wall-clock time (CET in winter, CEST in summer).
        ("datetime'2022-12-12T00:00:00Z'", wall_ms(2022, 12, 12, 1), "datetime"),
        ("datetime'2022-07-01T00:00:00Z'", wall_ms(2022, 7, 1, 2), "datetime"),
        ("datetimeoffset'2022-07-01T12:00:00+02:00'", wall_ms(2022, 7, 1, 12), "datetime"),
        ("123", 123, "int"),
        ("-7", -7, "int"),
        ("123L", 123, "int64"),
        ("13419952052L", 13419952052, "int64"),
        ("13419952052", 13419952052, "int64"),
        ("1.5", 1.5, "double"),
        ("1.5M", 1.5, "double"),
        ("1.5m", 1.5, "double"),
        ("1.5d", 1.5, "double"),
        ("2E+3", 2000.0, "double"),
        ("-0.25", -0.25, "double"),
        ("true", True, "bool"),
        ("false", False, "bool"),
        ("TRUE", True, "bool"),
        ("null", None, "null"),
    ],
)
def test_literal_kinds(text: str, value: Any, kind: str) -> None:
    node = parse_filter(f"X eq {text}")
    assert isinstance(node, Compare)
    assert node.right == Literal(value, kind)
    assert type(node.right.value) is type(value)


def test_functions_parse() -> None:
    assert parse_filter("substringof('GmbH', Name) eq true") == Compare(
        "eq", Call("substringof", (Literal("GmbH", "string"), Field("Name"))), Literal(True, "bool")
    )
    assert parse_filter("startswith(Name,'A')") == Call("startswith", (Field("Name"), Literal("A", "string")))
    assert parse_filter("StartsWith(Name,'A')") == Call("startswith", (Field("Name"), Literal("A", "string")))
    assert parse_filter("year(Date) eq 2024") == Compare(
        "eq", Call("year", (Field("Date"),)), Literal(2024, "int")
    )
    assert parse_filter("tolower(trim(Name)) eq 'x'") == Compare(
        "eq", Call("tolower", (Call("trim", (Field("Name"),)),)), Literal("x", "string")
    )
    assert parse_filter("not endswith(Name, 'x')") == Not(
        Call("endswith", (Field("Name"), Literal("x", "string")))
    )


def test_operator_words_can_follow_literals_without_confusion() -> None:
    node = parse_filter("Name eq 'and' and Code eq 'or'")
    assert node == And(
        Compare("eq", Field("Name"), Literal("and", "string")),
        Compare("eq", Field("Code"), Literal("or", "string")),
    )


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("Name eq ", "Syntax error at position 8 in 'Name eq '.", 8),
        ("", "Syntax error at position 0 in ''.", 0),
        ("Name eq 'a')", "Syntax error at position 11 in 'Name eq 'a')'.", 11),
        ("(Name eq 'a'", "Syntax error at position 12 in '(Name eq 'a''.", 12),
        ("Name eq 'a' Code", "Syntax error at position 12 in 'Name eq 'a' Code'.", 12),
        ("Name == 'a'", "Syntax error at position 5 in 'Name == 'a''.", 5),
        ("and eq 1 or", "Syntax error at position 11 in 'and eq 1 or'.", 11),
        ("A eq 12ab", "Syntax error at position 7 in 'A eq 12ab'.", 7),
        ("Name eq 'abc", "Unterminated string literal at position 8 in 'Name eq 'abc'.", 8),
        ("Name eq foo'x'", "Syntax error at position 11 in 'Name eq foo'x''.", 11),
        (
            "ID eq guid'abc'",
            "Unrecognized 'Edm.Guid' literal 'guid'abc'' at '6' in 'ID eq guid'abc''.",
            6,
        ),
        (
            "D eq datetime'2022-13-01'",
            "Unrecognized 'Edm.DateTime' literal 'datetime'2022-13-01'' at '5' in 'D eq datetime'2022-13-01''.",
            5,
        ),
        (
            "D eq datetime'yesterday'",
            "Unrecognized 'Edm.DateTime' literal 'datetime'yesterday'' at '5' in 'D eq datetime'yesterday''.",
            5,
        ),
        ("T gt 1.5L", "Unrecognized 'Edm.Int64' literal '1.5L' at '5' in 'T gt 1.5L'.", 5),
        (
            "T gt 99999999999999999999L",
            "Unrecognized 'Edm.Int64' literal '99999999999999999999L' at '5' in 'T gt 99999999999999999999L'.",
            5,
        ),
        ("foo(Name)", "Unknown function 'foo' at position 0.", 0),
        ("Name eq 'a' and bar(1) eq 2", "Unknown function 'bar' at position 16.", 16),
        (
            "startswith(Name)",
            "No applicable function found for 'startswith' at position 0 with the specified arguments. "
            "The functions considered are: startswith(Edm.String, Edm.String).",
            0,
        ),
    ],
)
def test_parse_errors(text: str, message: str, position: int) -> None:
    with pytest.raises(ODataError) as info:
        parse_filter(text)
    assert str(info.value) == message
    assert info.value.position == position
    assert isinstance(info.value, ValueError)


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(ODataError):
        parse_filter("(" * 500 + "A eq 1" + ")" * 500)
    with pytest.raises(ODataError):
        parse_filter("not " * 500 + "A")


def test_long_or_chain_parses_and_evaluates() -> None:
    text = " or ".join(f"N eq {i}" for i in range(3000))
    node = parse_filter(text)
    n = np.array([5, 2999, 3000, -1], dtype=np.int64)
    mask = evaluate(node, {"N": n}.__getitem__, 4, {"N": "Edm.Int32"})
    assert mask.tolist() == [True, True, False, False]
    assert fields(node) == {"N"}


# --------------------------------------------------------------------------------- fields / bounds


def test_fields() -> None:
    node = parse_filter(
        "(Timestamp gt 5L and substringof('x', Name)) or not (year(Date) eq 2020) or Amount mul 2 gt Other"
    )
    assert fields(node) == {"Timestamp", "Name", "Date", "Amount", "Other"}
    assert fields(parse_filter("true")) == set()


@pytest.mark.parametrize(
    ("text", "bound"),
    [
        ("Timestamp gt 5", 5),
        ("Timestamp gt 13419952052L", 13419952052),
        ("Timestamp ge 5L", 4),
        ("(Timestamp ge 2)", 1),
        ("Timestamp gt 5 and EntityType eq 2", 5),
        ("EntityType eq 2 and (Timestamp gt 10L and Timestamp ge 20)", 19),
        ("5 lt Timestamp", 5),
        ("5 le Timestamp", 4),
        ("Timestamp gt 5 or EntityType eq 2", None),
        ("Timestamp lt 5", None),
        ("Timestamp eq 5", None),
        ("not (Timestamp gt 5)", None),
        ("EntityType eq 2", None),
        ("Timestamp gt 5.5", None),
        ("timestamp gt 5", None),
    ],
)
def test_timestamp_lower_bound(text: str, bound: int | None) -> None:
    assert timestamp_lower_bound(parse_filter(text)) == bound


# --------------------------------------------------------------------------------------- evaluation

G1 = "5b3debef-ab12-4c3d-8e9f-0123456789ab"
G2 = "00000000-0000-4000-8000-000000000002"

ROWS: list[dict[str, Any]] = [
    {
        "ID": G1,
        "Name": "Acme GmbH",
        "Code": "  A1",
        "Amount": 10.5,
        "Count": 7,
        "Stock": 3,
        "Timestamp": 100,
        "Date": (2024, 3, 15, 10, 30),
        "IsSales": True,
        "Flag": True,
    },
    {
        "ID": G2,
        "Name": "O'Brien Ltd",
        "Code": "B2  ",
        "Amount": 5.0,
        "Count": None,
        "Stock": -3,
        "Timestamp": 200,
        "Date": (2023, 12, 31, 23, 59),
        "IsSales": False,
        "Flag": None,
    },
    {
        "ID": None,
        "Name": None,
        "Code": None,
        "Amount": None,
        "Count": 0,
        "Stock": 0,
        "Timestamp": 13419952052,
        "Date": None,
        "IsSales": True,
        "Flag": False,
    },
    {
        "ID": "00000000-0000-4000-8000-000000000003",
        "Name": "acme gmbh",
        "Code": " C3 ",
        "Amount": -2.25,
        "Count": -3,
        "Stock": 5,
        "Timestamp": 300,
        "Date": (2024, 1, 1),
        "IsSales": False,
        "Flag": True,
    },
    {
        "ID": "00000000-0000-4000-8000-000000000004",
        "Name": "",
        "Code": "D4",
        "Amount": 5.0,
        "Count": 12,
        "Stock": 7,
        "Timestamp": 123,
        "Date": (1969, 7, 20, 20, 17),
        "IsSales": True,
        "Flag": None,
    },
]

TYPES = {
    "ID": "Edm.Guid",
    "Name": "Edm.String",
    "Code": "Edm.String",
    "Amount": "Edm.Double",
    "Count": "Edm.Int32",
    "Stock": "Edm.Int32",
    "Timestamp": "Edm.Int64",
    "Date": "Edm.DateTime",
    "IsSales": "Edm.Boolean",
    "Flag": "Edm.Boolean",
}


def _obj(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _columns(rows: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Columns in the values.py conventions."""
    return {
        "ID": _obj([r["ID"] for r in rows]),
        "Name": _obj([r["Name"] for r in rows]),
        "Code": _obj([r["Code"] for r in rows]),
        "Amount": np.array([math.nan if r["Amount"] is None else r["Amount"] for r in rows]),
        "Count": _obj([r["Count"] for r in rows]),
        "Stock": np.array([r["Stock"] for r in rows], dtype=np.int64),
        "Timestamp": np.array([r["Timestamp"] for r in rows], dtype=np.int64),
        "Date": np.array(
            [NULL_DATE if r["Date"] is None else wall_ms(*r["Date"]) for r in rows], dtype=np.int64
        ),
        "IsSales": np.array([r["IsSales"] for r in rows], dtype=bool),
        "Flag": _obj([r["Flag"] for r in rows]),
    }


COLUMNS = _columns(ROWS)


def run(text: str, entity_type: str = ENTITY) -> list[bool]:
    requested: list[str] = []

    def get(name: str) -> np.ndarray:
        requested.append(name)
        return COLUMNS[name]

    mask = evaluate(parse_filter(text), get, len(ROWS), TYPES, entity_type=entity_type)
    assert mask.dtype == np.bool_
    assert mask.shape == (len(ROWS),)
    return mask.tolist()


def expect(pred: Callable[[dict[str, Any]], bool]) -> list[bool]:
    return [bool(pred(r)) for r in ROWS]


def _date(r: dict[str, Any]) -> dt.datetime | None:
    return None if r["Date"] is None else dt.datetime(*r["Date"])


@pytest.mark.parametrize(
    ("text", "pred"),
    [
        # strings: ordinal, null never matches a comparison
        ("Name eq 'Acme GmbH'", lambda r: r["Name"] == "Acme GmbH"),
        ("Name eq 'acme gmbh'", lambda r: r["Name"] == "acme gmbh"),
        ("Name eq 'O''Brien Ltd'", lambda r: r["Name"] == "O'Brien Ltd"),
        ("Name ne 'Acme GmbH'", lambda r: r["Name"] is not None and r["Name"] != "Acme GmbH"),
        ("Name gt 'B'", lambda r: r["Name"] is not None and r["Name"] > "B"),
        ("Name ge 'O''Brien Ltd'", lambda r: r["Name"] is not None and r["Name"] >= "O'Brien Ltd"),
        ("Name lt 'a'", lambda r: r["Name"] is not None and r["Name"] < "a"),
        ("Name le ''", lambda r: r["Name"] is not None and r["Name"] <= ""),
        ("'B' lt Name", lambda r: r["Name"] is not None and r["Name"] > "B"),
        ("Code eq '  A1'", lambda r: r["Code"] == "  A1"),
        ("Name eq null", lambda r: r["Name"] is None),
        ("Name ne null", lambda r: r["Name"] is not None),
        ("null eq Name", lambda r: r["Name"] is None),
        # guids: case-insensitive literal
        (f"ID eq guid'{G1.upper()}'", lambda r: r["ID"] == G1),
        (f"ID ne guid'{G1}'", lambda r: r["ID"] is not None and r["ID"] != G1),
        (f"ID gt guid'{G2}'", lambda r: r["ID"] is not None and r["ID"] > G2),
        ("ID eq null", lambda r: r["ID"] is None),
        # doubles (NaN is null), int and double literals
        ("Amount gt 5", lambda r: r["Amount"] is not None and r["Amount"] > 5),
        ("Amount ge 5", lambda r: r["Amount"] is not None and r["Amount"] >= 5),
        ("Amount eq 5.0", lambda r: r["Amount"] == 5.0),
        ("Amount eq 5.0M", lambda r: r["Amount"] == 5.0),
        ("Amount ne 5", lambda r: r["Amount"] is not None and r["Amount"] != 5),
        ("Amount lt -2", lambda r: r["Amount"] is not None and r["Amount"] < -2),
        ("Amount le 10.5d", lambda r: r["Amount"] is not None and r["Amount"] <= 10.5),
        ("Amount eq null", lambda r: r["Amount"] is None),
        # nullable ints (object arrays), double literals on int columns
        ("Count gt 0", lambda r: r["Count"] is not None and r["Count"] > 0),
        ("Count ge 0", lambda r: r["Count"] is not None and r["Count"] >= 0),
        ("Count ne 7", lambda r: r["Count"] is not None and r["Count"] != 7),
        ("Count lt 6.5", lambda r: r["Count"] is not None and r["Count"] < 6.5),
        ("Count eq null", lambda r: r["Count"] is None),
        ("Stock le 0", lambda r: r["Stock"] <= 0),
        ("Stock eq -3", lambda r: r["Stock"] == -3),
        ("Stock gt 2.5", lambda r: r["Stock"] > 2.5),
        # Int64 Timestamp with and without the L suffix
        ("Timestamp gt 123", lambda r: r["Timestamp"] > 123),
        ("Timestamp gt 123L", lambda r: r["Timestamp"] > 123),
        ("Timestamp ge 123L", lambda r: r["Timestamp"] >= 123),
        ("Timestamp eq 13419952052", lambda r: r["Timestamp"] == 13419952052),
        ("Timestamp eq 13419952052L", lambda r: r["Timestamp"] == 13419952052),
        ("Timestamp lt 200L", lambda r: r["Timestamp"] < 200),
        # DateTime (CET wall-clock ms), NULL_DATE is null
        (
            "Date ge datetime'2024-01-01'",
            lambda r: _date(r) is not None and _date(r) >= dt.datetime(2024, 1, 1),  # type: ignore[operator]
        ),
        (
            "Date gt datetime'2024-01-01T00:00:00'",
            lambda r: _date(r) is not None and _date(r) > dt.datetime(2024, 1, 1),  # type: ignore[operator]
        ),
        ("Date eq datetime'2024-03-15T10:30:00.000'", lambda r: _date(r) == dt.datetime(2024, 3, 15, 10, 30)),
        (
            "Date lt datetime'1970-01-01'",
            lambda r: _date(r) is not None and _date(r) < dt.datetime(1970, 1, 1),  # type: ignore[operator]
        ),
        (
            "Date ne datetime'2024-01-01'",
            lambda r: _date(r) is not None and _date(r) != dt.datetime(2024, 1, 1),
        ),
        ("Date eq null", lambda r: r["Date"] is None),
        ("Date ne null", lambda r: r["Date"] is not None),
        # booleans, plain and nullable
        ("IsSales", lambda r: r["IsSales"]),
        ("not IsSales", lambda r: not r["IsSales"]),
        ("IsSales eq true", lambda r: r["IsSales"]),
        ("IsSales eq false", lambda r: not r["IsSales"]),
        ("IsSales ne true", lambda r: not r["IsSales"]),
        ("Flag", lambda r: r["Flag"] is True),
        ("not Flag", lambda r: r["Flag"] is False),
        ("Flag eq false", lambda r: r["Flag"] is False),
        ("Flag ne true", lambda r: r["Flag"] is False),
        ("Flag eq null", lambda r: r["Flag"] is None),
        ("true", lambda r: True),
        ("false", lambda r: False),
        ("1 eq 1", lambda r: True),
        ("'a' gt 'b'", lambda r: False),
        ("null eq null", lambda r: True),
        ("null", lambda r: False),
    ],
)
def test_comparisons(text: str, pred: Callable[[dict[str, Any]], bool]) -> None:
    assert run(text) == expect(pred)


def _and3(a: bool | None, b: bool | None) -> bool | None:
    if a is False or b is False:
        return False
    if a is None or b is None:
        return None
    return True


def _or3(a: bool | None, b: bool | None) -> bool | None:
    if a is True or b is True:
        return True
    if a is None or b is None:
        return None
    return False


def _not3(a: bool | None) -> bool | None:
    return None if a is None else not a


def _name_eq(r: dict[str, Any], value: str) -> bool | None:
    return None if r["Name"] is None else r["Name"] == value


def _amount_gt(r: dict[str, Any], value: float) -> bool | None:
    return None if r["Amount"] is None else r["Amount"] > value


@pytest.mark.parametrize(
    ("text", "pred"),
    [
        ("Name eq 'Acme GmbH' or Amount gt 5", lambda r: _or3(_name_eq(r, "Acme GmbH"), _amount_gt(r, 5))),
        ("Name ne 'x' and Amount gt 0", lambda r: _and3(_not3(_name_eq(r, "x")), _amount_gt(r, 0))),
        ("not (Name eq 'Acme GmbH')", lambda r: _not3(_name_eq(r, "Acme GmbH"))),
        ("not (Amount gt 5)", lambda r: _not3(_amount_gt(r, 5))),
        (
            "not (Name eq 'x' or Amount gt 100)",
            lambda r: _not3(_or3(_name_eq(r, "x"), _amount_gt(r, 100))),
        ),
        (
            "not (Name eq 'x' and Amount gt 100)",
            lambda r: _not3(_and3(_name_eq(r, "x"), _amount_gt(r, 100))),
        ),
        ("IsSales or Flag", lambda r: _or3(r["IsSales"], r["Flag"])),
        ("IsSales and not Flag", lambda r: _and3(r["IsSales"], _not3(r["Flag"]))),
        ("not (not IsSales)", lambda r: r["IsSales"]),
        ("Name eq null or Amount gt 10", lambda r: _or3(r["Name"] is None, _amount_gt(r, 10))),
        (
            "(Count gt 0 or Count lt 0) and Stock ne 0",
            lambda r: r["Count"] not in (0, None) and r["Stock"] != 0,
        ),
    ],
)
def test_three_valued_logic(text: str, pred: Callable[[dict[str, Any]], bool | None]) -> None:
    # SQL semantics: an unknown (null) result is not selected, and `not unknown` stays unknown.
    assert run(text) == [pred(r) is True for r in ROWS]


@pytest.mark.parametrize(
    ("text", "pred"),
    [
        ("substringof('GmbH', Name)", lambda r: r["Name"] is not None and "GmbH" in r["Name"]),
        ("substringof('GmbH', Name) eq true", lambda r: r["Name"] is not None and "GmbH" in r["Name"]),
        ("substringof('GmbH', Name) eq false", lambda r: r["Name"] is not None and "GmbH" not in r["Name"]),
        ("not substringof('GmbH', Name)", lambda r: r["Name"] is not None and "GmbH" not in r["Name"]),
        ("substringof('', Name)", lambda r: r["Name"] is not None),
        ("substringof(Name, 'xAcme GmbHx')", lambda r: r["Name"] is not None and r["Name"] in "xAcme GmbHx"),
        ("startswith(Name, 'Acme')", lambda r: r["Name"] is not None and r["Name"].startswith("Acme")),
        ("startswith(Name,'acme') eq true", lambda r: r["Name"] is not None and r["Name"].startswith("acme")),
        ("endswith(Name, 'Ltd')", lambda r: r["Name"] is not None and r["Name"].endswith("Ltd")),
        ("endswith(Name, Name)", lambda r: r["Name"] is not None),
        (
            "tolower(Name) eq 'acme gmbh'",
            lambda r: r["Name"] is not None and r["Name"].lower() == "acme gmbh",
        ),
        (
            "toupper(Name) eq 'ACME GMBH'",
            lambda r: r["Name"] is not None and r["Name"].upper() == "ACME GMBH",
        ),
        ("trim(Code) eq 'C3'", lambda r: r["Code"] is not None and r["Code"].strip() == "C3"),
        ("length(Code) eq 4", lambda r: r["Code"] is not None and len(r["Code"]) == 4),
        ("length(Name) gt 9", lambda r: r["Name"] is not None and len(r["Name"]) > 9),
        ("length(Name) eq null", lambda r: r["Name"] is None),
        ("indexof(Name, 'GmbH') eq 5", lambda r: r["Name"] is not None and r["Name"].find("GmbH") == 5),
        ("substring(Name, 5) eq 'GmbH'", lambda r: r["Name"] is not None and r["Name"][5:] == "GmbH"),
        ("substring(Name, 0, 4) eq 'acme'", lambda r: r["Name"] is not None and r["Name"][:4] == "acme"),
        ("concat(Name, '!') eq 'Acme GmbH!'", lambda r: r["Name"] == "Acme GmbH"),
        (
            "startswith(tolower(Name), 'acme')",
            lambda r: r["Name"] is not None and r["Name"].lower()[:4] == "acme",
        ),
        ("year(Date) eq 2024", lambda r: r["Date"] is not None and r["Date"][0] == 2024),
        ("year(Date) lt 2000", lambda r: r["Date"] is not None and r["Date"][0] < 2000),
        ("month(Date) eq 12", lambda r: r["Date"] is not None and r["Date"][1] == 12),
        ("day(Date) eq 20", lambda r: r["Date"] is not None and r["Date"][2] == 20),
        ("hour(Date) eq 20", lambda r: _date(r) is not None and _date(r).hour == 20),  # type: ignore[union-attr]
        ("minute(Date) eq 59", lambda r: _date(r) is not None and _date(r).minute == 59),  # type: ignore[union-attr]
        ("round(Amount) eq -2", lambda r: r["Amount"] is not None and round(r["Amount"]) == -2),
        ("floor(Amount) eq -3", lambda r: r["Amount"] is not None and math.floor(r["Amount"]) == -3),
        ("ceiling(Amount) eq 11", lambda r: r["Amount"] is not None and math.ceil(r["Amount"]) == 11),
        ("startswith(Name, null)", lambda r: False),
        ("tolower(null) eq null", lambda r: True),
    ],
)
def test_functions(text: str, pred: Callable[[dict[str, Any]], bool]) -> None:
    assert run(text) == expect(pred)


def _cs_div(a: int, b: int) -> int:
    """C# integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


@pytest.mark.parametrize(
    ("text", "pred"),
    [
        ("Amount mul 2 gt 10", lambda r: r["Amount"] is not None and r["Amount"] * 2 > 10),
        ("Amount add 1 eq 6", lambda r: r["Amount"] is not None and r["Amount"] + 1 == 6),
        ("Amount sub 0.5 le 4.5", lambda r: r["Amount"] is not None and r["Amount"] - 0.5 <= 4.5),
        ("Amount div 2 eq 2.5", lambda r: r["Amount"] is not None and r["Amount"] / 2 == 2.5),
        ("Stock div 2 eq -1", lambda r: _cs_div(r["Stock"], 2) == -1),
        ("Stock mod 2 eq -1", lambda r: r["Stock"] - 2 * _cs_div(r["Stock"], 2) == -1),
        ("Stock mod 2 eq 1", lambda r: r["Stock"] - 2 * _cs_div(r["Stock"], 2) == 1),
        ("Count add Stock gt 5", lambda r: r["Count"] is not None and r["Count"] + r["Stock"] > 5),
        (
            "Stock div Count eq 0",
            lambda r: r["Count"] not in (None, 0) and _cs_div(r["Stock"], r["Count"]) == 0,
        ),
        ("-Stock eq 3", lambda r: -r["Stock"] == 3),
        ("Timestamp sub 100 eq 0", lambda r: r["Timestamp"] == 100),
    ],
)
def test_arithmetic(text: str, pred: Callable[[dict[str, Any]], bool]) -> None:
    assert run(text) == expect(pred)


def test_columns_are_read_once_per_evaluation() -> None:
    calls: list[str] = []

    def get(name: str) -> np.ndarray:
        calls.append(name)
        return COLUMNS[name]

    evaluate(parse_filter("Name eq 'a' or Name eq 'b' or startswith(Name, 'c')"), get, len(ROWS), TYPES)
    assert calls == ["Name"]


def test_empty_table() -> None:
    empty = {name: col[:0] for name, col in COLUMNS.items()}
    mask = evaluate(parse_filter("Amount gt 5 and startswith(Name, 'A')"), empty.__getitem__, 0, TYPES)
    assert mask.shape == (0,)
    assert mask.dtype == np.bool_


def test_literal_only_filter_broadcasts() -> None:
    mask = evaluate(parse_filter("true"), COLUMNS.__getitem__, 3, {})
    assert mask.tolist() == [True, True, True]


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        (
            "Name eq 5",
            "Operator 'eq' incompatible with operand types 'Edm.String' and 'Edm.Int32' at position 5.",
            5,
        ),
        (
            "ID eq 'abc'",
            "Operator 'eq' incompatible with operand types 'Edm.Guid' and 'Edm.String' at position 3.",
            3,
        ),
        (
            "Date eq 'x'",
            "Operator 'eq' incompatible with operand types 'Edm.DateTime' and 'Edm.String' at position 5.",
            5,
        ),
        (
            "Amount gt '5'",
            "Operator 'gt' incompatible with operand types 'Edm.Double' and 'Edm.String' at position 7.",
            7,
        ),
        (
            "Timestamp gt datetime'2024-01-01'",
            "Operator 'gt' incompatible with operand types 'Edm.Int64' and 'Edm.DateTime' at position 10.",
            10,
        ),
        (
            "IsSales eq 1",
            "Operator 'eq' incompatible with operand types 'Edm.Boolean' and 'Edm.Int32' at position 8.",
            8,
        ),
        (
            f"Name eq guid'{G1}'",
            "Operator 'eq' incompatible with operand types 'Edm.String' and 'Edm.Guid' at position 5.",
            5,
        ),
        (
            "Count eq 5L and Name eq true",
            "Operator 'eq' incompatible with operand types 'Edm.String' and 'Edm.Boolean' at position 21.",
            21,
        ),
        (
            "Name add 1 eq 2",
            "Operator 'add' incompatible with operand types 'Edm.String' and 'Edm.Int32' at position 5.",
            5,
        ),
        ("Name", "Expression of type 'Edm.Boolean' expected at position 0.", 0),
        ("Amount add 1", "Expression of type 'Edm.Boolean' expected at position 0.", 0),
        (
            "Amount gt 5 and Name",
            "Operator 'and' incompatible with operand type 'Edm.String' at position 12.",
            12,
        ),
        ("not Name", "Operator 'not' incompatible with operand type 'Edm.String' at position 0.", 0),
        (
            "not Name eq 'x'",
            "Operator 'not' incompatible with operand type 'Edm.String' at position 0.",
            0,
        ),
        (
            "startswith(ID, 'a')",
            "No applicable function found for 'startswith' at position 0 with the specified arguments. "
            "The functions considered are: startswith(Edm.String, Edm.String).",
            0,
        ),
        (
            "Amount gt 1 or year(Name) eq 2020",
            "No applicable function found for 'year' at position 15 with the specified arguments. "
            "The functions considered are: year(Edm.DateTime).",
            15,
        ),
        ("Nmae eq 'x'", f"No property 'Nmae' exists in type '{ENTITY}' at position 0.", 0),
        ("name eq 'x'", f"No property 'name' exists in type '{ENTITY}' at position 0.", 0),
        (
            "Amount gt 5 and substringof('x', Foo)",
            f"No property 'Foo' exists in type '{ENTITY}' at position 33.",
            33,
        ),
    ],
)
def test_evaluation_errors(text: str, message: str, position: int) -> None:
    with pytest.raises(ODataError) as info:
        run(text)
    assert str(info.value) == message
    assert info.value.position == position


def test_default_entity_type_in_messages() -> None:
    with pytest.raises(ODataError, match=r"in type 'Exact\.Web\.Api\.Models\.Entity'"):
        evaluate(parse_filter("Foo eq 1"), COLUMNS.__getitem__, len(ROWS), TYPES)


def test_decimal_and_other_edm_types() -> None:
    cols = {
        "Price": np.array([1.5, math.nan, 3.0]),
        "Small": np.array([1, 2, 3], dtype=np.int64),
        "Bin": _obj([b"a", None, b"c"]),
    }
    types = {"Price": "Edm.Decimal", "Small": "Edm.Byte", "Bin": "Edm.Binary"}
    assert evaluate(parse_filter("Price ge 1.5M"), cols.__getitem__, 3, types).tolist() == [True, False, True]
    assert evaluate(parse_filter("Small eq 2"), cols.__getitem__, 3, types).tolist() == [False, True, False]
    assert evaluate(parse_filter("Bin eq null"), cols.__getitem__, 3, types).tolist() == [False, True, False]
    with pytest.raises(ODataError, match="incompatible"):
        evaluate(parse_filter("Bin eq 'a'"), cols.__getitem__, 3, types)


def test_large_table_numeric_and_date_filter() -> None:
    n = 1_000_000
    rng = np.random.default_rng(20240101)
    amount = rng.normal(5.0, 3.0, n)
    amount[rng.random(n) < 0.05] = np.nan
    low, high = wall_ms(2023, 1, 1), wall_ms(2025, 1, 1)
    date = rng.integers(low, high, n, dtype=np.int64)
    date[rng.random(n) < 0.05] = NULL_DATE
    date[:3] = wall_ms(2024, 1, 1)  # exactly on the bound
    date[3:6] = wall_ms(2024, 1, 1) - 1
    cols = {"Amount": amount, "Date": date}
    types = {"Amount": "Edm.Double", "Date": "Edm.DateTime"}

    mask = evaluate(parse_filter("Amount gt 5 and Date ge datetime'2024-01-01'"), cols.__getitem__, n, types)

    bound = wall_ms(2024, 1, 1)
    expected = [
        (not math.isnan(a)) and a > 5 and d != NULL_DATE and d >= bound
        for a, d in zip(amount.tolist(), date.tolist(), strict=True)
    ]
    assert mask.dtype == np.bool_
    assert mask.tolist() == expected
    assert 0 < sum(expected) < n


# ------------------------------------------------------------------------------------------ orderby


def test_parse_orderby() -> None:
    assert parse_orderby("Name", TYPES) == [("Name", False)]
    assert parse_orderby("Modified asc", {"Modified": "Edm.DateTime"}) == [("Modified", False)]
    assert parse_orderby("Name desc, Amount", TYPES) == [("Name", True), ("Amount", False)]
    assert parse_orderby("  Name   DESC ,Amount ASC ", TYPES) == [("Name", True), ("Amount", False)]


@pytest.mark.parametrize(
    ("text", "message", "position"),
    [
        ("Nmae", f"No property 'Nmae' exists in type '{ENTITY}' at position 0.", 0),
        ("Name, name desc", f"No property 'name' exists in type '{ENTITY}' at position 6.", 6),
        ("Name up", "Syntax error at position 5 in 'Name up'.", 5),
        ("Name asc desc", "Syntax error at position 9 in 'Name asc desc'.", 9),
        ("Name,", "Syntax error at position 5 in 'Name,'.", 5),
        ("", "Syntax error at position 0 in ''.", 0),
        ("tolower(Name)", "Syntax error at position 0 in 'tolower(Name)'.", 0),
    ],
)
def test_parse_orderby_errors(text: str, message: str, position: int) -> None:
    with pytest.raises(ODataError) as info:
        parse_orderby(text, TYPES, entity_type=ENTITY)
    assert str(info.value) == message
    assert info.value.position == position


def _sorted_expected(
    indexes: list[int], keys: list[tuple[str, bool]], rows: list[dict[str, Any]]
) -> list[int]:
    """Stable multi-key sort in plain Python: nulls first ascending, last descending."""
    result = list(indexes)
    for name, descending in reversed(keys):
        present = [i for i in result if rows[i][name] is not None]
        missing = [i for i in result if rows[i][name] is None]
        present.sort(key=lambda i: rows[i][name], reverse=descending)
        # reverse=True keeps ties in their original order too.
        result = present + missing if descending else missing + present
    return result


@pytest.mark.parametrize(
    "keys",
    [
        [("Name", False)],
        [("Name", True)],
        [("Amount", False)],
        [("Amount", True)],
        [("Count", False)],
        [("Count", True)],
        [("Date", False)],
        [("Date", True)],
        [("IsSales", False), ("Timestamp", True)],
        [("IsSales", True), ("Amount", False)],
        [("Flag", False), ("Name", False)],
        [("ID", False)],
    ],
)
def test_order_indexes(keys: list[tuple[str, bool]]) -> None:
    indexes = np.array([4, 3, 2, 1, 0], dtype=np.int64)
    got = order_indexes(indexes, keys, COLUMNS.__getitem__).tolist()
    assert got == _sorted_expected([4, 3, 2, 1, 0], keys, ROWS)


def test_order_indexes_is_stable_on_subsets() -> None:
    rng = np.random.default_rng(7)
    n = 2000
    group = rng.integers(0, 5, n)
    names = [None if g == 0 else f"g{g}" for g in group.tolist()]
    value = rng.integers(0, 3, n).astype(np.int64)
    cols = {"G": _obj(names), "V": value}
    rows = [{"G": names[i], "V": int(value[i])} for i in range(n)]
    subset = rng.permutation(n)[:1500]
    keys = [("G", True), ("V", False)]
    got = order_indexes(subset, keys, cols.__getitem__).tolist()
    assert got == _sorted_expected(subset.tolist(), keys, rows)
    assert order_indexes(subset, [], cols.__getitem__).tolist() == subset.tolist()


def test_order_indexes_large_values_descending() -> None:
    col = np.array([np.iinfo(np.int64).max, 0, np.iinfo(np.int64).min + 1, 5], dtype=np.int64)
    got = order_indexes(np.arange(4), [("T", True)], {"T": col}.__getitem__).tolist()
    assert got == [0, 3, 1, 2]


# ------------------------------------------------------------------------------------------- select

NAMES = ["ID", "Name", "Timestamp", "Amount", "IsSales"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Name", ["Name"]),
        ("Timestamp, ID", ["Timestamp", "ID"]),
        ("Timestamp,ID,Name", ["Timestamp", "ID", "Name"]),
        ("  name ,TIMESTAMP", ["Name", "Timestamp"]),
        ("Name,ID,name,Name", ["Name", "ID"]),
        ("*", NAMES),
        ("Amount, *", ["Amount", "ID", "Name", "Timestamp", "IsSales"]),
        ("", NAMES),
    ],
)
def test_parse_select(text: str, expected: list[str]) -> None:
    assert parse_select(text, NAMES) == expected


def test_parse_select_errors() -> None:
    with pytest.raises(ODataError) as info:
        parse_select("Name, Foo", NAMES, entity_type=ENTITY)
    assert str(info.value) == f"Could not find a property named 'Foo' on type '{ENTITY}'."
    assert info.value.position == 6
    with pytest.raises(ODataError, match=r"^Could not find a property named 'Bar' on type 'Exact\.Web\.Api"):
        parse_select("Bar", NAMES)
    with pytest.raises(ODataError, match="Syntax error at position 5"):
        parse_select("Name,,ID", NAMES)


def test_module_exports() -> None:
    assert set(odata.__all__) >= {"parse_filter", "evaluate", "fields", "ODataError", "Node"}
