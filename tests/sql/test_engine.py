"""The SQL engine end to end against a sandbox server: the seed query, divisions, errors at zero cost, outputs."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

import exactsql
from exactsql.api.session import open_session
from exactsql.sql.dialect import SQLError
from exactsql.sql.engine import Engine
from tests.connections.helpers import make_connection
from tests.sql.conftest import api_calls

SEED = (Path(__file__).resolve().parents[2] / "examples" / "seed.sql").read_text().strip()


def _truth(control: httpx.Client, divisions: list[int]) -> list[str]:
    """The full names the seed query must return, from the sandbox's own rows."""
    now = dt.datetime.now().timestamp() * 1000 + 3600 * 1000  # CET is ahead of UTC: a safe "now"
    names = set()
    for division in divisions:
        roles = control.get(f"/_sandbox/snapshot/{division}/users/UserRoles").json()["rows"]
        users = {
            u["UserID"]: u["FullName"]
            for u in control.get(f"/_sandbox/snapshot/{division}/users/Users").json()["rows"]
        }
        for role in roles:
            end = role["EndDate"]
            if role["Role"] == 274 and role["UserID"] in users and (end is None or int(end[6:-2]) >= now):
                names.add(users[role["UserID"]])
    return sorted(names)


_calls = api_calls


def test_seed_query_on_the_current_division(engine: Engine, control: httpx.Client) -> None:
    current = engine.current_division("eol")
    result = engine.run(SEED)[-1]
    assert result.table is not None
    assert sorted(result.table.column(0).to_pylist()) == _truth(control, [current])
    requests = control.get("/_sandbox/requests", params={"limit": 100}).json()
    roles = [r for r in requests if r["path"].endswith("/users/UserRoles")]
    assert roles and all(r["query"]["$filter"] == "Role eq 274" for r in roles)
    assert all(r["division"] == current for r in roles)


def test_seed_query_on_all_divisions(engine: Engine, control: httpx.Client, server: dict) -> None:
    before = _calls(control)
    results = engine.run("use all@eol;\n" + SEED)
    table = results[-1].table
    assert table is not None
    assert sorted(table.column(0).to_pylist()) == _truth(control, server["divisions"])
    # system/Divisions (current/Me is kept from the login), then one page of UserRoles and one of Users per
    # division
    assert _calls(control) - before == 1 + 2 * len(server["divisions"])


def test_division_predicates_prune_the_fan_out(engine: Engine, control: httpx.Client, server: dict) -> None:
    chosen = server["divisions"][1]
    engine.run("use all@eol")
    before = _calls(control)
    table = engine.run(f"select count(*) n from glaccounts where division = {chosen}")[-1].table
    assert table is not None and table.column(0).to_pylist()[0] == len(
        control.get(f"/_sandbox/snapshot/{chosen}/financial/GLAccounts").json()["rows"]
    )
    divisions = {
        r["division"]
        for r in control.get("/_sandbox/requests", params={"limit": 10}).json()[-(_calls(control) - before) :]
    }
    assert divisions == {chosen}


def test_every_page_is_reported_for_the_progress_display(
    engine: Engine, control: httpx.Client, server: dict
) -> None:
    engine.run("use all@eol")
    pages: list[tuple[str, int | None, int, int | None]] = []
    engine.on_page = lambda *page: pages.append(page)
    before = _calls(control)
    table = engine.run("select division, count(*) n from transactionlines group by division")[-1].table
    assert table is not None
    assert len(pages) == _calls(control) - before  # one report per page fetched
    assert {p[0] for p in pages} == {"sync/Financial/TransactionLines"}
    assert {p[1] for p in pages} == set(server["divisions"])
    per_division = dict(zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True))
    for division in server["divisions"]:
        assert sum(p[2] for p in pages if p[1] == division) == per_division[division]


def test_use_a_list_and_use_select(engine: Engine, server: dict) -> None:
    first, second, third = server["divisions"]
    engine.run(f"use {first}, {third}@eol")
    assert engine.scope().of("eol") == [first, third]
    engine.run(f"use select code, 'eol' from systemdivisions@eol where code <> {first}")
    assert sorted(engine.scope().of("eol")) == sorted([second, third])
    with pytest.raises(SQLError, match="not available"):
        engine.run("use 12345@eol")


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select from where", "Syntax error"),
        ("select * from accountz", "Unknown table 'accountz'"),
        ("select nope from glaccounts", "nope"),
        ("select code + 'x' from glaccounts where code = '1000'", "argument types"),
        ("select nvl2x(code) from glaccounts", "nvl2x"),
    ],
)
def test_user_mistakes_cost_no_api_call(
    engine: Engine, control: httpx.Client, sql: str, expected: str
) -> None:
    engine.scope()  # the current division is learned once, before
    before = _calls(control)
    with pytest.raises(SQLError) as caught:
        engine.run(sql)
    assert expected.lower() in str(caught.value).lower()
    assert caught.value.line is not None and caught.value.column is not None  # points at the spot
    assert _calls(control) == before


def test_max_calls_refuses_an_expensive_plan(engine: Engine, control: httpx.Client) -> None:
    engine.run("use all@eol")
    before = _calls(control)
    with pytest.raises(SQLError, match="max-calls"):
        engine.run("select count(*) from glaccounts where code = '1000'", max_calls=1)
    assert _calls(control) == before


def test_the_same_fetch_is_made_once_per_statement_and_cached_on_request(
    engine: Engine, control: httpx.Client
) -> None:
    sql = "select a.code, b.code from glaccounts a join glaccounts b on a.id = b.id where a.code = '1000' and b.code = '1000'"
    engine.scope()
    before = _calls(control)
    assert engine.run(sql)[-1].table.num_rows == 1  # type: ignore[union-attr]
    assert _calls(control) - before == 1
    engine.run(sql)
    assert _calls(control) - before == 2  # no cache by default
    engine.cache_max_age = 60
    engine.run(sql)
    assert _calls(control) - before == 2


def test_dictionary_tables(engine: Engine) -> None:
    engine.run("select code from glaccounts where code = '1000'")
    tables = engine.run("select count(*) from systemtables where schema = 'crm'")[-1].table
    assert tables is not None and tables.column(0).to_pylist()[0] > 10
    cols = engine.run(
        "select name, filterable, mandatoryfilter from systemtablecolumns where tablename = 'Accounts' and schema = 'crm' and name in ('Name', 'Website')"
    )[-1].table
    assert cols is not None and {r["Name"]: r["MandatoryFilter"] for r in cols.to_pylist()} == {
        "Name": True,
        "Website": False,
    }
    ios = engine.run("select relation, endpoint, calls, rows from sessionios")[-1].table
    assert ios is not None
    endpoints = [r["Endpoint"] for r in ios.to_pylist()]
    assert endpoints[0] == "current/Me" and endpoints[1].lower().endswith("financial/glaccounts")
    limits = engine.run("select * from ratelimits")[-1].table
    assert limits is not None and limits.num_rows >= 1


def test_cli_query_formats_and_errors(sqlite_env: dict, server: dict, tmp_path: Path) -> None:
    make_connection(server, "eol")
    assert (
        subprocess.run(
            [sys.executable, "-m", "exactsql", "login", "eol"], env=sqlite_env, capture_output=True
        ).returncode
        == 0
    )
    sql = "select code, description from glaccounts where code in ('1000', '1100') order by code"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "exactsql", *args],
            env=sqlite_env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    as_json = run("query", sql, "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    assert json.loads(as_json.stdout) == [
        {"Code": "1000", "Description": "Kas"},
        {"Code": "1100", "Description": "Bank"},
    ]
    assert run("query", sql, "-f", "csv").stdout.splitlines()[0] == '"Code","Description"'
    parquet = tmp_path / "r.parquet"
    assert run("query", sql, "-f", "parquet", "-o", str(parquet)).returncode == 0
    assert pq.read_table(parquet).num_rows == 2
    xlsx = tmp_path / "r.xlsx"
    assert run("query", sql, "-f", "xlsx", "-o", str(xlsx)).returncode == 0 and xlsx.stat().st_size > 0
    explained = run("explain", sql)
    assert explained.returncode == 0 and "Code eq '1000' or Code eq '1100'" in explained.stdout
    bad = run("query", "select nope from glaccounts")
    assert bad.returncode == 1 and "nope" in bad.stderr and "Traceback" not in bad.stderr


def test_the_built_in_sandbox_answers_when_nothing_is_configured(sqlite_env: dict) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "exactsql", "query", SEED, "-f", "json"],
        env=sqlite_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "built-in sandbox" in done.stderr
    assert len(json.loads(done.stdout)) >= 1


def test_explain_prices_the_seed_query_before_it_runs(sqlite_env: dict) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "exactsql", "explain", SEED],
        env=sqlite_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    lines = [line.split() for line in done.stdout.splitlines()]
    assert ["$filter", "Role", "eq", "274"] in lines
    assert ["$select", "EndDate,", "Role,", "UserID"] in lines
    assert ["est.", "calls", "1", "(0.02%", "of", "today's", "remaining", "5,000)"] in lines
    # users/Users has not been read yet: no row count, so at least one page
    assert ["est.", "calls", "at", "least", "1", "(no", "row", "count", "seen", "yet)"] in lines
    # the built-in sandbox logs in as the command starts: its current/Me is kept from that login
    assert ["current/Me", "0", "calls", "(who", "the", "user", "is,", "the", "current", "division)"] in lines
    assert ["estimated", "calls:", "at", "least", "2"] in lines


def test_dbapi(sqlite_env: dict, server: dict) -> None:
    make_connection(server, "eol")
    open_session("eol").login()
    with exactsql.connect("eol") as conn:  # type: ignore[attr-defined]
        cursor = conn.cursor()
        cursor.execute("select code, description from glaccounts where code = '1000'")
        assert [d[0] for d in cursor.description] == ["Code", "Description"]
        assert cursor.fetchone() == ("1000", "Kas")
        assert cursor.fetchone() is None
        assert (
            conn.arrow("select count(*) n from glaccounts where code like '1%'").column(0).to_pylist()[0] > 1
        )
