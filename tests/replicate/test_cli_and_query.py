"""The ``replicate`` command (registered in a local typer app, as the lead will in ``exactsql``), ``--watch``,
queries on a replica, and the table plans."""

from __future__ import annotations

import math
import signal
import time
from pathlib import Path

import httpx
import pytest
import typer
from typer.testing import CliRunner

from exactsql.api.session import Session
from exactsql.cli_replicate import parse_divisions, parse_interval, replicate
from exactsql.errors import ConfigError
from exactsql.replicate import replicate as run_replicate
from exactsql.replicate.plan import MODIFIED, RELOAD, SYNC, plan_tables, resolve_table
from exactsql.replicate.query import ReplicaEngine, query_replica
from exactsql.replicate.targets import open_target
from exactsql.sql.engine import Engine
from tests.replicate.helpers import all_plans, cli, differences

SEED_QUERY = (
    Path(__file__).resolve().parents[2] / "examples" / "seed.sql"
).read_text().strip() + "\norder by 1"

GROUP_BY = """select tle.division, tle.glaccountcode, tle.financialyear, sum(tle.amountdc) amount, count(*) lines,
       min(trunc(tle.date)) first_day
from transactionlines@eol tle
group by tle.division, tle.glaccountcode, tle.financialyear
order by 1, 2, 3"""


def app() -> typer.Typer:
    """``exactsql`` with the replicate command, as ``cli.py`` will register it."""
    local = typer.Typer()
    local.command()(replicate)
    local.command(name="noop")(lambda: None)  # a second command keeps ``replicate`` a subcommand
    return local


def test_the_command_replicates_and_reports(session: Session, control: httpx.Client, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = CliRunner().invoke(
        app(),
        [
            "replicate",
            "--to",
            url,
            "-c",
            "eol",
            "--divisions",
            "all",
            "--tables",
            "crm/Accounts,Contacts",
            "--detail",
        ],
    )
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert "9 ok" in output and "API calls" in output and "crm/Accounts" in output
    # without --detail: one summary line (items, divisions, rows, calls), no line per item
    result = CliRunner().invoke(
        app(), ["replicate", "--to", url, "-c", "eol", "-d", "all", "-t", "crm/Accounts"]
    )
    output = " ".join(result.output.split())
    assert result.exit_code == 0 and "6 items done, 0 under way, 3 divisions" in output, output
    assert "crm/Accounts" not in output
    from exactsql.replicate.runner import resolve_divisions

    plans = plan_tables(["crm/Accounts", "crm/Contacts"])
    assert differences(url, control, resolve_divisions(session, "all"), plans) == []


def test_the_command_refuses_bad_options(session: Session, tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(app(), ["replicate", "--to", "mysql://x", "-c", "eol"])
    assert result.exit_code != 0 and isinstance(result.exception, ConfigError)
    assert "sqlite:///" in str(result.exception)
    result = runner.invoke(
        app(), ["replicate", "--to", f"sqlite:///{tmp_path}/x.db", "-c", "eol", "--worker"]
    )
    assert isinstance(result.exception, ConfigError) and "PostgreSQL" in str(result.exception)
    result = runner.invoke(
        app(), ["replicate", "--to", f"sqlite:///{tmp_path}/x.db", "-c", "eol", "-t", "nosuch"]
    )
    assert isinstance(result.exception, ConfigError) and "no table" in str(result.exception)


def test_watch_runs_again_until_sigterm(session: Session, control: httpx.Client, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'watch.db'}"
    log = tmp_path / "watch.log"
    child = cli(url, "--tables", "crm/Accounts", "--watch", "1s", log=log)
    deadline = time.monotonic() + 60
    runs: set[str] = set()
    while time.monotonic() < deadline and len(runs) < 3:
        time.sleep(0.5)
        try:
            conn = open_target(url).connect()
            runs = {r["run_id"] for r in conn.runs() if r["status"] == "ok"}
            conn.close()
        except Exception:  # the tables may not exist yet
            continue
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=30) in (0, 2), log.read_text()
    assert len(runs) >= 3


def test_intervals_and_divisions_options() -> None:
    assert parse_interval("30") == 30 and parse_interval("5m") == 300 and parse_interval("1h") == 3600
    assert parse_interval("1.5s") == 1.5
    with pytest.raises(ConfigError):
        parse_interval("soon")
    assert parse_divisions(None) is None
    assert parse_divisions(["all"]) == "all"
    assert parse_divisions(["12,7", "3"]) == [3, 7, 12]
    with pytest.raises(ConfigError):
        parse_divisions(["all,3"])


def test_queries_on_the_replica_answer_as_the_api_does(
    session: Session, control: httpx.Client, target_url: str
) -> None:
    report = run_replicate(session, target_url, divisions="all")
    assert report.ok
    engine = Engine({"eol": session})
    engine.run("use all@eol")
    before = session.client().calls
    for sql in (
        SEED_QUERY,
        GROUP_BY,
        "select count(*) n, count(distinct division) d from ExactOnlineREST.crm.Accounts",
    ):
        want = engine.run(sql)[-1].table
        got = query_replica(target_url, sql)
        assert want is not None and got.schema == want.schema, sql
        assert got.num_rows == want.num_rows > 0
        for a, b in zip(got.to_pylist(), want.to_pylist(), strict=True):
            for k in a:
                if isinstance(a[k], float):
                    assert math.isclose(a[k], b[k], rel_tol=1e-9, abs_tol=1e-6), (sql, k)
                else:
                    assert a[k] == b[k], (sql, k)
    assert session.client().calls == before  # (a new client: it made no call; the replica needs none)

    divisions = sorted(report.divisions)
    with ReplicaEngine(target_url) as replica:
        results = replica.run(f"use {divisions[0]}; select count(*) n, min(division) d from accounts; "
                              "with x as (select * from contacts) select count(*) from x")  # fmt: skip
        assert results[0].message.startswith("Using 1 division")
        assert results[1].table is not None and results[1].table.to_pylist()[0]["d"] == divisions[0]
    with pytest.raises(Exception, match="no table"):
        query_replica(target_url, "select * from exactonlinerest.financial.journals")


def test_plans_choose_endpoints_keys_and_strategies() -> None:
    by_name = {p.name: p for p in all_plans()}
    tl = by_name["financialtransaction/TransactionLines"]
    assert (tl.strategy, tl.path.endpoint, tl.spec.key, tl.entity_type) == (
        SYNC,
        "sync/Financial/TransactionLines",
        "ID",
        1,
    )
    assert tl.spec.name == "financialtransaction_transactionlines" and tl.spec.has_timestamp
    assert by_name["salesinvoice/SalesInvoices"].spec.key == "InvoiceID"
    lines = by_name["salesinvoice/SalesInvoiceLines"]
    assert (lines.strategy, lines.path.kind) == (RELOAD, "bulk")
    users = by_name["users/Users"]
    assert (users.strategy, users.path.kind, users.spec.key) == (RELOAD, "regular", "UserID")
    assert users.spec.column_names.count("Division") == 1
    assert [p.strategy for p in plan_tables(["users/Users"], modified=["users/Users"])] == [MODIFIED]
    with pytest.raises(ConfigError, match="sync endpoint"):
        plan_tables(["crm/Accounts"], modified=["crm/Accounts"])
    assert resolve_table("transactionlines").full_name == "financialtransaction/TransactionLines"
    assert resolve_table("crm.accounts").full_name == "crm/Accounts"
    with pytest.raises(ConfigError, match="no table"):
        resolve_table("transactionlinez")
    with pytest.raises(ConfigError, match="not copied"):
        plan_tables(["sync/Deleted"])
