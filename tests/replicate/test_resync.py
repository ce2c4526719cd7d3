"""Resync on SQLite, DuckDB and PostgreSQL: a replica table dropped or recreated by hand is read again in full,
a table that lost rows outside replication is reported, and ``--resync`` reads it again."""

from __future__ import annotations

import contextlib
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from exactsql.api.session import Session
from exactsql.replicate import generations, replicate
from exactsql.replicate.plan import SYNC, TablePlan, plan_tables, stage_name
from exactsql.replicate.runner import new_owner, resolve_divisions
from exactsql.replicate.targets import CURSORS, LeaseLost, TargetConnection, open_target
from tests.replicate.helpers import ROOT, cli, copy_rows, differences, mutate_books

TABLES = ["financialtransaction/TransactionLines", "crm/Accounts", "users/Users"]


@contextlib.contextmanager
def connected(url: str) -> Iterator[TargetConnection]:
    """A connection to the replica, as a user's SQL client would hold one."""
    target = open_target(url)
    conn = target.connect()
    try:
        yield conn
    finally:
        conn.close()
        target.close()


def recreate_by_hand(conn: TargetConnection, plan: TablePlan, rows: int) -> None:
    """Drops the table and creates it again as someone restoring an older copy would: the same columns and
    key, the first ``rows`` of its old rows, nothing else."""
    spec = plan.spec
    old = conn.read(spec.name, spec.columns).slice(0, rows)
    cols = ", ".join(f"{conn.q(c.name)} {conn.sql_type(c.edm)}" for c in spec.columns)
    with conn.transaction():
        conn.execute(f"DROP TABLE {conn.q(spec.name)}")
        conn.execute(
            f"CREATE TABLE {conn.q(spec.name)} ({cols}, PRIMARY KEY ({conn.q('Division')}, {conn.q(spec.key)}))"
        )
        conn.upsert(spec, old)


def test_a_dropped_or_recreated_table_is_read_again_in_full(
    session: Session, control: httpx.Client, target_url: str
) -> None:
    divisions = resolve_divisions(session, "all")
    lines, accounts, users = plans = plan_tables(TABLES)
    assert replicate(session, target_url, tables=TABLES, divisions=divisions).ok
    mutate_books(control, divisions, scale=0.2)
    assert replicate(session, target_url, tables=TABLES, divisions=divisions).ok  # the cursors moved on

    with connected(target_url) as conn, conn.transaction():
        conn.execute(f"DROP TABLE {conn.q(lines.spec.name)}")
        conn.execute(f"DROP TABLE {conn.q(users.spec.name)}")
    with connected(target_url) as conn:
        recreate_by_hand(conn, accounts, 5)

    report = replicate(session, target_url, tables=TABLES, divisions=divisions)
    assert report.ok, report.outcomes
    assert differences(target_url, control, divisions, plans) == []

    # the tables are recognised from now on: the next run reads only what changed
    report = replicate(session, target_url, tables=TABLES, divisions=divisions)
    assert report.ok
    assert all(o.rows == 0 for o in report.outcomes if o.strategy == SYNC), report.outcomes
    assert differences(target_url, control, divisions, plans) == []


def remove_by_hand(url: str, plan: TablePlan, division: int, keep: int) -> int:
    """Deletes all but ``keep`` rows of a table in one division, as a user's SQL client would; returns how
    many rows there were."""
    with connected(url) as conn:
        keys = conn.read(plan.spec.name, plan.spec.columns, [division]).column(plan.spec.key).to_pylist()
        with conn.transaction():
            conn.delete_keys(plan.spec, division, keys[keep:])
    return len(keys)


def test_rows_removed_by_hand_are_reported_until_a_resync(
    session: Session, control: httpx.Client, target_url: str
) -> None:
    divisions = resolve_divisions(session, "all")
    tables = ["crm/Accounts", "crm/Contacts"]
    accounts, _contacts = plans = plan_tables(tables)
    assert replicate(session, target_url, tables=tables, divisions=divisions).ok
    had = remove_by_hand(target_url, accounts, divisions[0], keep=3)
    assert had >= 20

    for _ in range(2):  # reported on every run: the rows do not come back by themselves
        report = replicate(session, target_url, tables=tables, divisions=divisions)
        assert report.ok
        assert [(o.table, o.division, o.shortfall) for o in report.short] == [
            ("crm/Accounts", divisions[0], (had, 3))
        ]
        assert differences(target_url, control, divisions, plans) != []

    report = replicate(
        session, target_url, tables=["crm/Contacts"], divisions=divisions[:1], resync=["Accounts"]
    )
    assert report.ok and not report.short
    assert {(o.table, o.rows) for o in report.outcomes if o.strategy == SYNC} == {
        ("crm/Accounts", had),
        ("crm/Contacts", 0),
    }
    assert differences(target_url, control, divisions, plans) == []
    report = replicate(session, target_url, tables=tables, divisions=divisions)
    assert report.ok and not report.short
    assert all(o.rows == 0 for o in report.outcomes)


def test_a_resync_starts_from_an_empty_copy(session: Session, control: httpx.Client, tmp_path: Path) -> None:
    """Rows the copy should not have (a deletion missed while the table was out of the runs and its
    deletions read by nobody) go with a resync; other divisions and tables stay as they are."""
    url = f"sqlite:///{tmp_path / 'resync.db'}"
    divisions = resolve_divisions(session, "all")
    tables = ["crm/Accounts", "users/Users"]
    accounts, users = plans = plan_tables(tables)
    assert replicate(session, url, tables=tables, divisions=divisions).ok
    stray = copy_rows(url, divisions[0], accounts).slice(0, 1)
    stray = stray.set_column(
        stray.schema.get_field_index("ID"), "ID", [["00000000-0000-0000-0000-00000000beef"]]
    )
    with connected(url) as conn, conn.transaction():
        conn.upsert(accounts.spec, stray)
    assert differences(url, control, divisions[:1], [accounts]) != []

    report = replicate(session, url, tables=tables, divisions=divisions[:1], resync=["all"])
    assert report.ok
    assert {o.table: o.rows for o in report.outcomes} == {
        "sync/Deleted": 0,
        "crm/Accounts": copy_rows(url, divisions[0], accounts).num_rows,
        "users/Users": copy_rows(url, divisions[0], users).num_rows,
    }
    assert differences(url, control, divisions, plans) == []


def test_the_command_warns_of_a_short_copy_and_resyncs_it(
    session: Session, control: httpx.Client, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    log = tmp_path / "cli.log"
    divisions = resolve_divisions(session, "all")
    accounts = plan_tables(["crm/Accounts"])[0]
    assert cli(url, "--tables", "crm/Accounts", log=log).wait(timeout=120) == 0, log.read_text()
    had = remove_by_hand(url, accounts, divisions[1], keep=0)

    log.write_text("")
    assert cli(url, "--tables", "crm/Accounts", log=log).wait(timeout=120) == 3, log.read_text()
    text = log.read_text()
    assert f"crm/Accounts in division {divisions[1]} has 0 rows; its last run left {had:,}." in " ".join(
        text.split()
    )
    command = next(
        line.strip() for line in text.splitlines() if line.strip().startswith("exactsql replicate")
    )
    assert command == (
        f"exactsql replicate -c eol --to {shlex.quote(url)} --divisions {divisions[1]} --tables crm/Accounts "
        "--resync crm/Accounts"
    )

    resync = subprocess.run(
        [sys.executable, "-m", "exactsql.cli_replicate", *shlex.split(command)[2:], "-q"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert resync.returncode == 0, resync.stderr
    assert differences(url, control, divisions, [accounts]) == []


# -- generations on each target ---------------------------------------------------------------------------


@pytest.fixture()
def conn(target_url: str) -> Iterator[TargetConnection]:
    with connected(target_url) as connection:
        connection.ensure_meta()
        yield connection


def test_a_generation_stays_with_its_table(conn: TargetConnection) -> None:
    accounts = plan_tables(["crm/Accounts"])[0]
    narrow = accounts.spec.__class__(
        accounts.spec.name, accounts.spec.columns[:-3], accounts.spec.key, accounts.spec.has_timestamp
    )
    conn.ensure_table(narrow, generation="0123456789abcdef")
    assert conn.ensure_table(accounts.spec) != []  # widened
    assert conn.table_generation(accounts.spec.name) == "0123456789abcdef"
    assert conn.table_generation("no_such_table") is None
    with conn.transaction():
        conn.drop_table(accounts.spec.name)
    conn.ensure_table(accounts.spec)
    assert conn.table_generation(accounts.spec.name) not in (None, "", "0123456789abcdef")


def test_cursors_follow_the_table_they_were_read_into(conn: TargetConnection) -> None:
    plan = plan_tables(["crm/Accounts"])[0]
    conn.add_items([(plan.name, 1, SYNC), (plan.name, 2, SYNC)])
    assert generations.settle(conn, plan) == 0  # a new replica: nothing to reset
    first = conn.table_generation(plan.spec.name)
    owner = new_owner()
    row = conn.cursor(plan.name, 1)
    assert row is not None and row.generation == first and conn.try_claim(row, owner, 60)
    with conn.transaction():
        conn.save(plan.name, 1, owner, 60, first, cursor=500, loaded=True, row_count=40)

    assert generations.settle(conn, plan) == 0  # the same table: the cursors stay
    assert conn.cursor(plan.name, 1).cursor == 500  # type: ignore[union-attr]

    with conn.transaction():
        conn.drop_table(plan.spec.name)
    assert generations.settle(conn, plan) == 1  # the table is new: the cursor read into the old one goes
    state = conn.cursor(plan.name, 1)
    assert state is not None and (state.cursor, state.loaded, state.row_count) == (None, False, None)
    assert state.generation == conn.table_generation(plan.spec.name) != first
    with pytest.raises(LeaseLost), conn.transaction():  # the process still at work on the old table
        conn.save(plan.name, 1, owner, 60, first, cursor=900)
    assert conn.cursor(plan.name, 1).cursor is None  # type: ignore[union-attr]


def test_a_replica_from_before_generations_is_adopted_not_reloaded(conn: TargetConnection) -> None:
    plan = plan_tables(["users/Users"])[0]
    conn.add_items([(plan.name, 1, "reload")])
    with conn.transaction():
        conn.execute(f"DROP TABLE {CURSORS}")  # the meta table as it was: no generation column
    conn.ensure_meta()
    conn.add_items([(plan.name, 1, "reload")])
    with conn.transaction():
        conn.execute(f"UPDATE {CURSORS} SET cursor = 7, loaded = TRUE, resume = 'x', generation = NULL")
    for name in (plan.spec.name, stage_name(plan.spec.name)):
        conn.ensure_table(plan.spec, name, generation="")  # unmarked, as earlier versions made them
        assert conn.table_generation(name) == ""

    assert generations.settle(conn, plan) == 0
    state = conn.cursor(plan.name, 1)
    assert state is not None and (state.cursor, state.loaded) == (7, True)
    assert state.generation == conn.table_generation(plan.spec.name)
    # the staging table carries its table's generation (SQLite cannot mark an existing table: both stay
    # unmarked there); where it was made again, the reload under way starts over
    assert conn.table_generation(stage_name(plan.spec.name)) == state.generation
    assert state.resume == ("x" if state.generation == "" else None)
