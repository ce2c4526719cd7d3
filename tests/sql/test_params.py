"""Bind variables: ``:name`` and ``?`` in SQL, values from the DB-API and ``--param``, typed, never pasted."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

import exactsql
from exactsql import dbapi
from exactsql.api.session import Session
from exactsql.sql.dialect import SQLError
from exactsql.sql.engine import Engine
from tests.sql.conftest import api_calls


def _filters(control: httpx.Client, entity: str) -> list[str]:
    """The $filter of every request of ``entity`` (``GLAccounts``) on any endpoint."""
    requests = control.get("/_sandbox/requests", params={"limit": 50}).json()
    return [
        r["query"].get("$filter", "") for r in requests if r["path"].lower().endswith("/" + entity.lower())
    ]


def test_named_parameters_are_pushed_as_typed_literals(engine: Engine, control: httpx.Client) -> None:
    table = engine.run(
        "select code, description from glaccounts where code = :code or code = :Other order by code",
        params={"code": "1000", "other": "1100"},
    )[-1].table
    assert table is not None and table.column(0).to_pylist() == ["1000", "1100"]
    assert _filters(control, "GLAccounts") == ["(Code eq '1000' or Code eq '1100')"]


def test_a_quote_in_a_value_stays_inside_the_literal(engine: Engine, control: httpx.Client) -> None:
    hostile = "1000' or '1'='1"
    table = engine.run("select code from glaccounts where code = :c", params={"c": hostile})[-1].table
    assert table is not None and table.num_rows == 0
    assert _filters(control, "GLAccounts") == ["Code eq '1000'' or ''1''=''1'"]
    injected = "x'); select * from read_text('/etc/passwd'); --"
    table = engine.run("select :v as v from dual", params={"v": injected})[-1].table
    assert table is not None and table.to_pylist() == [{"v": injected}]


def test_values_of_every_type(engine: Engine, control: httpx.Client) -> None:
    rows = engine.run("select id, code from glaccounts where code = '1000'")[-1].table
    assert rows is not None
    gl_id = rows.column("ID")[0].as_py()
    values = {
        "i": 274,
        "d": Decimal("12.50"),
        "f": 2.5,
        "b": True,
        "n": None,
        "ts": dt.datetime(2024, 1, 31, 10, 30),
        "day": dt.date(2024, 1, 31),
        "g": uuid.UUID(gl_id),
        "s": "O'Brien",
    }
    table = engine.run(
        "select :i + 1 i, :d * 2 d, :f f, :b b, :n n, :ts ts, :day day, :g g, :s s from dual", params=values
    )[-1].table
    assert table is not None
    row = table.to_pylist()[0]
    assert row["i"] == 275 and row["d"] == Decimal("25.00") and row["f"] == 2.5 and row["b"] is True
    assert row["n"] is None and row["ts"] == dt.datetime(2024, 1, 31, 10, 30)
    assert row["day"] == dt.date(2024, 1, 31) and row["g"] == gl_id and row["s"] == "O'Brien"
    table = engine.run("select code from glaccounts where id = :g", params={"g": uuid.UUID(gl_id)})[-1].table
    assert table is not None and table.column(0).to_pylist() == ["1000"]
    assert _filters(control, "GLAccounts")[-1] == f"ID eq guid'{gl_id}'"


def test_positional_parameters(engine: Engine) -> None:
    table = engine.run(
        "select code from glaccounts where code in (?, ?) order by code", params=["1000", "1100"]
    )[-1].table
    assert table is not None and table.column(0).to_pylist() == ["1000", "1100"]


@pytest.mark.parametrize(
    ("sql", "params", "expected"),
    [
        ("select code from glaccounts where code = :code", {}, ":code has no value"),
        ("select code from glaccounts where code = :code", None, ":code has no value"),
        ("select code from glaccounts where code in (?, ?)", ["1000"], "2 positional parameters"),
        ("select code from glaccounts where code = ?", {"code": "1"}, "positional"),
        ("select code from glaccounts where code = :code and id = ?", {"code": "1"}, "both"),
        ("select code from glaccounts where code = :c", {"c": object()}, "type object"),
        ("select code from glaccounts where code = :c", {"c": b"\x00"}, "type bytes"),
        ("select code from glaccounts where code = :c", {"c": float("nan")}, "not a finite number"),
    ],
)
def test_parameters_without_values_cost_nothing(
    engine: Engine, control: httpx.Client, sql: str, params: object, expected: str
) -> None:
    before = api_calls(control)
    with pytest.raises(SQLError) as caught:
        engine.run(sql, params=params)  # type: ignore[arg-type]
    assert expected in str(caught.value)
    assert api_calls(control) == before  # current/Me included


def test_dbapi_module_globals() -> None:
    assert dbapi.apilevel == "2.0"
    assert dbapi.paramstyle == "named"
    assert dbapi.threadsafety == 1
    for name in ("apilevel", "paramstyle", "threadsafety", "Error", "ProgrammingError", "NotSupportedError"):
        assert getattr(exactsql, name) is getattr(dbapi, name)
    importlib.import_module("exactsql.connect")  # the module of that name does not hide the function
    assert callable(exactsql.connect) and exactsql.connect.__module__ == "exactsql"


def test_dbapi_takes_named_and_qmark_parameters(session: Session, control: httpx.Client) -> None:
    with exactsql.connect("eol") as conn:
        cursor = conn.cursor()
        cursor.execute("select code from glaccounts where code = :code", {"code": "1000"})
        assert cursor.fetchall() == [("1000",)]
        cursor.execute("select code from glaccounts where code = ?", ("1100",))
        assert cursor.fetchall() == [("1100",)]
        cursor.executemany("select code from glaccounts where code = ?", [("1000",), ("1100",)])
        assert cursor.fetchall() == [("1100",)]
        with pytest.raises(dbapi.ProgrammingError, match="no value"):
            cursor.execute("select code from glaccounts where code = :code")


def test_dbapi_rows_keep_same_named_columns(session: Session) -> None:
    with exactsql.connect("eol") as conn:
        cursor = conn.execute(
            "select a.division, b.division, a.code, b.code from glaccounts a "
            "join glaccounts b on a.id = b.id where a.code = '1000'"
        )
        assert [d[0] for d in cursor.description] == ["Division", "Division", "Code", "Code"]
        (row,) = cursor.fetchall()
        assert len(row) == 4 and row[2:] == ("1000", "1000") and row[0] == row[1]


def test_dbapi_on_a_replica_makes_no_api_call(
    session: Session, control: httpx.Client, tmp_path: Path
) -> None:
    from exactsql.replicate import replicate as run_replicate

    url = f"sqlite:///{tmp_path / 'books.db'}"
    run_replicate(session, url, tables=["financial/GLAccounts"])
    before = api_calls(control)
    with exactsql.connect(replica=url) as conn:
        cursor = conn.execute("select code from glaccounts where code = :code", {"code": "1000"})
        assert cursor.fetchall() == [("1000",)]
        assert conn.execute("select count(*) from glaccounts where code like ?", ["1%"]).fetchone()[0] > 1
    assert api_calls(control) == before


def test_cli_param(logged_in_cli, control: httpx.Client) -> None:  # type: ignore[no-untyped-def]
    done = logged_in_cli(
        "query",
        "select code from glaccounts where code = :code or code = :other order by code",
        "--param",
        "code=1000",
        "--param",
        "other=1100",
        "-f",
        "json",
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{"Code": "1000"}, {"Code": "1100"}]
    before = api_calls(control)
    for args, expected in [
        (("--param", "code"), "NAME=VALUE"),
        (("--param", "=1"), "NAME=VALUE"),
        ((), ":code has no value"),
        (("--param", "code=1", "--param", "nope=2"), "nope"),
    ]:
        bad = logged_in_cli("query", "select code from glaccounts where code = :code", *args)
        assert bad.returncode != 0 and expected in bad.stderr, bad.stderr
        assert "Traceback" not in bad.stderr
    assert api_calls(control) == before


def test_pandas_is_an_optional_extra() -> None:
    import tomllib

    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    assert any(d.startswith("pandas") for d in extras["pandas"])
    assert not any(d.startswith("pandas") for d in pyproject["project"]["dependencies"])
