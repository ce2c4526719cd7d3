"""Invantive scripts against a sandbox server: names, SystemDivisions, in-memory tables, skipped and refused
script statements (at no API cost), pushed date filters and sysdate in Amsterdam time."""

from __future__ import annotations

import calendar
import datetime as dt
import json
import subprocess
import sys
from zoneinfo import ZoneInfo

import httpx
import pytest

import exactsql
from exactsql.api.session import open_session
from exactsql.sql.dialect import SQLError
from exactsql.sql.engine import Engine
from tests.connections.helpers import make_connection


@pytest.fixture()
def http(control: httpx.Client) -> httpx.Client:
    """The control plane (conftest), after a reset."""
    return control


@pytest.fixture()
def eol(engine: Engine) -> Engine:
    """The engine (conftest), once it learned the current division: tests count calls from here."""
    engine.scope()
    return engine


def calls(http: httpx.Client) -> int:
    return int(http.get("/_sandbox/stats").json()["api_calls"])


def rows(engine: Engine, sql: str) -> list[dict]:
    table = engine.run(sql)[-1].table
    assert table is not None
    return table.to_pylist()


def test_incremental_bulk_and_bracketed_names_read_the_books(eol: Engine, sandbox_server: dict) -> None:
    division = eol.current_division("eol")
    truth = rows(eol, "select count(*) n from transactionlines")[0]["n"]
    for name in (
        "ExactOnlineREST.Incremental.TransactionLinesIncremental@eol",
        "ExactOnlineREST..TransactionLinesIncremental",
        "[TransactionLines]@eol",
    ):
        assert rows(eol, f"select count(*) n from {name}") == [{"n": truth}], name
    endpoints = {r.endpoint for r in eol.ios}
    assert "sync/Financial/TransactionLines" in endpoints
    bulk = rows(
        eol,
        f"select count(*) n from ExactOnlineREST.FinancialTransaction.TransactionLinesBulk@eol "
        f"where financialyear >= 2000 and division = {division}",
    )
    assert bulk == [{"n": truth}]
    assert eol.ios[-1].endpoint == "bulk/Financial/TransactionLines"


def test_use_select_from_systemdivisions_by_name(eol: Engine, sandbox_server: dict) -> None:
    divisions = rows(eol, "select code, name, label, description from systemdivisions@eol order by code")
    assert {d["Code"] for d in divisions} == set(sandbox_server["divisions"])
    assert all(d["Name"] == d["Description"] == d["Label"] for d in divisions)
    chosen = divisions[1]
    word = chosen["Name"].split()[0]
    expected = sorted(d["Code"] for d in divisions if word.lower() in d["Name"].lower())
    eol.run(f"-- chosen by name\n\n/* … */\nuse select code from systemdivisions where name like '%{word}%'")
    assert sorted(eol.scope().of("eol")) == expected


def test_unknown_names_keep_their_did_you_mean(eol: Engine, http: httpx.Client) -> None:
    before = calls(http)
    with pytest.raises(SQLError) as info:
        eol.run("select * from ExactOnlineREST.Incremental.TransactionLinesIncrementl@eol")
    assert "Did you mean Incremental.TransactionLinesIncremental" in info.value.hint
    assert calls(http) == before


def test_inmemorystorage_tables_live_for_the_engine(eol: Engine, http: httpx.Client) -> None:
    results = eol.run(
        "create or replace table accounts8@inmemorystorage as\n"
        "select code, description from glaccounts where code like '8%';\n"
        "select count(*) n from accounts8@inmemorystorage"
    )
    assert "accounts8@inmemorystorage" in results[0].message and results[0].table is None
    count = results[1].table.to_pylist()[0]["n"]  # type: ignore[union-attr]
    assert count > 0
    before = calls(http)
    assert rows(eol, "select count(*) n from Accounts8@InMemoryStorage") == [{"n": count}]
    eol.run("insert into accounts8@inmemorystorage select code, description from accounts8@inmemorystorage")
    eol.run("insert into accounts8@inmemorystorage (description) select 'extra' from dual")
    assert calls(http) == before  # in-memory tables and dual cost no API call
    assert rows(eol, "select count(*) n, count(code) c from accounts8@inmemorystorage") == [
        {"n": 2 * count + 1, "c": 2 * count}
    ]
    joined = rows(
        eol,
        "select count(*) n from accounts8@inmemorystorage a join glaccounts g on g.code = a.code",
    )
    assert joined == [{"n": 2 * count}]
    with pytest.raises(SQLError, match="already exists"):
        eol.run("create table accounts8@inmemorystorage as select 1 as x from dual")
    eol.run("drop table accounts8@inmemorystorage")
    with pytest.raises(SQLError, match="accounts8@inmemorystorage"):
        eol.run("select * from accounts8@inmemorystorage")


def test_inmemorystorage_refusals(eol: Engine, http: httpx.Client) -> None:
    before = calls(http)
    with pytest.raises(SQLError, match="Give each column a name"):
        eol.run("create table twice@inmemorystorage as select 1 as x, 2 as x from dual")
    eol.run("create table t@inmemorystorage as select 1 as x from dual")
    with pytest.raises(SQLError, match=r"returns 2 column\(s\); t@inmemorystorage takes 1"):
        eol.run("insert into t@inmemorystorage select 1, 2 from dual")
    with pytest.raises(SQLError, match="eol is a connection to Exact Online"):
        eol.run("create table t@eol as select 1 as x from dual")
    with pytest.raises(SQLError, match="warehouse is no replica the config names"):
        eol.run("select 1 from dual; insert into t@warehouse select 1 from dual")
    assert calls(http) == before


def test_script_statements_not_carried_out_cost_nothing(eol: Engine, http: httpx.Client) -> None:
    before = calls(http)
    results = eol.run(
        "local remark this script came from Invantive\n"
        "set use-http-memory-cache@eol false;\n"
        "local on error continue\n"
    )
    assert [r.message.split(":")[0] for r in results] == [
        "Skipped `local remark this script came from Invantive` (line 1)",
        "Skipped `set use-http-memory-cache@eol false` (line 2)",
        "Skipped `local on error continue` (line 3)",
    ]
    with pytest.raises(SQLError, match="procedural"):
        eol.run("select count(*) from glaccounts;\nbegin\n  null;\nend;")
    with pytest.raises(SQLError, match="procedural"):
        eol.run("declare\n  n number;\nbegin\n  select count(*) into n from glaccounts;\nend;")
    assert calls(http) == before


def _year_before(day: dt.date) -> dt.date:
    """``add_months(day, -12)`` as Oracle computes it: a month end stays a month end."""
    last = calendar.monthrange(day.year - 1, day.month)[1]
    if day.day == calendar.monthrange(day.year, day.month)[1]:
        return day.replace(year=day.year - 1, day=last)
    return day.replace(year=day.year - 1, day=min(day.day, last))


def test_date_filters_of_constants_go_to_exact(eol: Engine, http: httpx.Client) -> None:
    sql = "select count(*) n from salesinvoices where invoicedate >= add_months(trunc(sysdate), -12)"
    cutoff = dt.datetime.combine(
        _year_before(dt.datetime.now(ZoneInfo("Europe/Amsterdam")).date()), dt.time()
    )
    result = rows(eol, sql)[0]["n"]
    requests = http.get("/_sandbox/requests", params={"limit": 20}).json()
    filters = [r["query"].get("$filter", "") for r in requests if r["path"].endswith("SalesInvoices")]
    assert filters and set(filters) == {f"InvoiceDate ge datetime'{cutoff.isoformat()}'"}
    everything = rows(eol, "select invoicedate from salesinvoices")
    assert 0 < result == sum(1 for r in everything if r["InvoiceDate"] >= cutoff)


def test_trunc_sysdate_is_the_amsterdam_date(eol: Engine) -> None:
    (row,) = rows(eol, "select trunc(sysdate) d, sysdate s, sysdateutc u from dual")
    now = dt.datetime.now(ZoneInfo("Europe/Amsterdam")).replace(tzinfo=None)
    assert abs((row["s"] - now).total_seconds()) < 60
    assert row["d"] == dt.datetime.combine(row["s"].date(), dt.time())
    assert row["s"] - row["u"] == ZoneInfo("Europe/Amsterdam").utcoffset(row["s"])


def test_inmemorystorage_across_dbapi_cursors(
    sqlite_env: dict, sandbox_server: dict, http: httpx.Client
) -> None:
    make_connection(sandbox_server, "eol")
    open_session("eol").login()
    with exactsql.connect("eol") as conn:  # type: ignore[attr-defined]
        first = conn.cursor()
        first.execute(
            "create table codes@inmemorystorage as select code from glaccounts where code like '1%'"
        )
        assert first.description is None and first.fetchall() == []
        second = conn.cursor()
        second.execute("select count(*) from codes@inmemorystorage")
        assert second.fetchone()[0] > 0


def test_cli_query_and_explain_of_an_invantive_script(
    sqlite_env: dict, sandbox_server: dict, http: httpx.Client
) -> None:
    make_connection(sandbox_server, "eol")
    open_session("eol").login()

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "exactsql", *args],
            env={**sqlite_env, "NO_COLOR": "1"},
            capture_output=True,
            text=True,
            timeout=180,
        )

    script = (
        "local remark codes of revenue accounts\n"
        "set use-http-memory-cache@eol false;\n"
        "create or replace table revenue@inmemorystorage as\n"
        "select code from ExactOnlineREST..GLAccounts@eol where code like '8%';\n"
        "select count(*) n from revenue@inmemorystorage"
    )
    done = run("query", script, "-f", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["n"] > 0
    assert "Skipped `set use-http-memory-cache@eol false`" in done.stderr
    explained = run(
        "explain", "select invoiceid from salesinvoices where invoicedate >= add_months(trunc(sysdate), -12)"
    )
    assert explained.returncode == 0, explained.stderr
    assert "InvoiceDate ge datetime'" in explained.stdout
