"""A budget that cannot be overspent: ``--max-calls`` holds to the call, ``explain`` counts every call, and a
statement rejected locally costs no call at all (``current/Me`` included)."""

from __future__ import annotations

import httpx
import pytest

from exactsql.sql.dialect import SQLError
from exactsql.sql.engine import Engine
from tests.sql.conftest import api_calls


@pytest.fixture()
def small_pages(control: httpx.Client) -> httpx.Client:
    """Pages of 5 rows on every endpoint: a wide read takes hundreds of calls."""
    control.post(
        "/_sandbox/settings",
        json={"regular_page_size": 5, "bulk_page_size": 5, "minutely_limit": 100_000, "daily_limit": 100_000},
    ).raise_for_status()
    return control


def test_max_calls_is_a_hard_cap(engine: Engine, small_pages: httpx.Client) -> None:
    before = api_calls(small_pages)
    with pytest.raises(SQLError, match=r"--max-calls 50") as caught:
        engine.run("use all@eol; select count(*) from transactionlines", max_calls=50)
    assert "call 51" in str(caught.value)
    assert api_calls(small_pages) - before == 50  # current/Me and the division list count too


def test_max_calls_is_a_hard_cap_on_the_command(logged_in_cli, small_pages: httpx.Client) -> None:  # type: ignore[no-untyped-def]
    before = api_calls(small_pages)
    done = logged_in_cli("query", "use all@eol; select * from transactionlines", "--max-calls", "50")
    assert done.returncode == 1 and "--max-calls 50" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert api_calls(small_pages) - before == 50


def test_max_calls_enough_for_the_statement(engine: Engine, small_pages: httpx.Client) -> None:
    before = api_calls(small_pages)
    table = engine.run("select code from glaccounts where code = '1000'", max_calls=1)[-1].table
    assert table is not None and table.num_rows == 1
    assert api_calls(small_pages) - before == 1  # one page: current/Me is kept from the login
    with pytest.raises(SQLError, match="max-calls"):  # the plan alone is over the cap: nothing is sent
        engine.run("select code from glaccounts where code = '1000'", max_calls=0)
    assert api_calls(small_pages) - before == 1


def test_a_statement_without_api_reads_needs_no_call(engine: Engine, control: httpx.Client) -> None:
    before = api_calls(control)
    table = engine.run("select 1 + 1 two from dual", max_calls=0)[-1].table
    assert table is not None and table.to_pylist() == [{"two": 2}]
    assert api_calls(control) == before


def test_explain_counts_every_call(logged_in_cli, control: httpx.Client, server: dict) -> None:  # type: ignore[no-untyped-def]
    done = logged_in_cli("explain", "use all@eol; select code from glaccounts where code = '1000'")
    assert done.returncode == 0, done.stderr
    lines = [" ".join(line.split()) for line in done.stdout.splitlines()]
    assert "current/Me 0 calls (who the user is, the current division)" in lines  # kept from the login
    assert "system/Divisions 1 call (the divisions of use all)" in lines
    divisions = len(server["divisions"])
    assert f"estimated calls: {1 + divisions}" in lines, done.stdout
    before = api_calls(control)
    ran = logged_in_cli("query", "use all@eol; select code from glaccounts where code = '1000'")
    assert ran.returncode == 0, ran.stderr
    assert api_calls(control) - before == divisions  # the division list explain read is kept


@pytest.mark.parametrize(
    "sql",
    [
        "select from where",
        "select code from glaccountz",
        "select nope from glaccounts",
        "select code + 'x' from glaccounts",
        "select code from glaccounts; select nope from glaccounts",
        "select code from glaccounts where code = :code",
        "delete from glaccounts",
        "update glaccounts set nope = 1 where code = '1'",
        "insert into glaccounts (code) values ('1')",
        "create table x (a int)",
        "drop table glaccounts",
        "use select description from glaccounts@eol",
        "use select code from glaccounts@eol where code = :c",
        "select * from read_text('/etc/passwd')",
        "select * from read_csv('/etc/passwd')",
        "select * from duckdb_settings()",
        "select * from glob('/etc/*')",
        "select * from query('select 1')",
        "copy (select 1) to '/tmp/x.csv'",
        "attach '/tmp/x.db' as x",
        "install httpfs",
        "load httpfs",
        "set enable_external_access = true",
        "pragma database_list",
        "select current_setting('home_directory') from dual",
        "select 1 from dual; select nope from glaccounts",
    ],
)
def test_a_locally_rejected_statement_costs_nothing(engine: Engine, control: httpx.Client, sql: str) -> None:
    before = api_calls(control)
    with pytest.raises(SQLError):
        engine.run(sql)
    assert api_calls(control) == before  # not even current/Me


def test_duckdb_itself_has_no_file_access(engine: Engine) -> None:
    import duckdb

    for statement in ("select * from read_text('/etc/passwd')", "set enable_external_access = true"):
        with pytest.raises(duckdb.Error):
            engine.duck.execute(statement)


def test_file_access_when_asked_for(session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    data = tmp_path / "codes.csv"
    data.write_text("code\n1000\n")
    engine = Engine({"eol": session}, file_access=True)
    table = engine.run(f"select code from read_csv('{data}')")[-1].table
    assert table is not None and table.num_rows == 1


def test_use_select_of_other_numbers_is_refused(engine: Engine, control: httpx.Client) -> None:
    with pytest.raises(SQLError, match="not available"):
        engine.run("use select 12345 from dual")
    before = api_calls(control)
    engine.run("use select code from systemdivisions@eol where code > 0")
    assert api_calls(control) - before == 0  # the division list the statement before read is kept


def test_a_kept_division_list_costs_no_call_under_the_cap(engine: Engine, control: httpx.Client) -> None:
    engine.run("select count(*) from systemdivisions")  # reads the list and keeps it with the chain
    before = api_calls(control)
    table = engine.run("select count(*) n from systemdivisions", max_calls=0)[-1].table
    assert table is not None and table.to_pylist()[0]["n"] >= 1
    assert api_calls(control) == before
