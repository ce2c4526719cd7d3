"""``create table NAME@ALIAS as select …`` where the config names a replica ALIAS: the table is kept in that
replica (SQLite, DuckDB, PostgreSQL), outlives the run, is read back through the engine, and never replaces a
replicated table."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from exactsql.replicate.targets import open_target

SCRIPT = (
    "create or replace table totals@warehouse as\n"
    "select code, description, cast(1.25 as decimal(18, 2)) as amount from glaccounts where code like '1%';\n"
    "insert into totals@warehouse (code, description) select 'X1', 'added' from dual"
)


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXACTSQL_")}
    env["EXACTSQL_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "exactsql", *args], env=env, capture_output=True, text=True, timeout=120
    )


@pytest.fixture()
def home(tmp_path: Path, target_url: str) -> Path:
    home = tmp_path / "home"
    home.mkdir(mode=0o700)
    (home / "config.toml").write_text(f'[replicas]\nwarehouse = "{target_url}"\n')
    return home


def test_a_script_keeps_its_table_in_the_replica(home: Path, target_url: str) -> None:
    made = run(home, "query", SCRIPT)
    assert made.returncode == 0, made.stderr
    assert "totals@warehouse" in made.stdout + made.stderr
    read = run(
        home, "query", "-f", "csv", "select count(*) n, count(amount) a, sum(amount) s from totals@warehouse"
    )
    assert read.returncode == 0, read.stderr
    n, a, s = read.stdout.strip().splitlines()[-1].split(",")
    assert int(n) == int(a) + 1 and float(s) == pytest.approx(1.25 * int(a)) and int(a) > 0
    target = open_target(target_url, read_only=True)
    conn = target.connect()
    try:
        assert conn.column_types("totals") is not None  # a plain table of the replica, for any of its readers
        assert conn.execute('SELECT COUNT(*) FROM "totals"').fetchall()[0][0] == int(n)
    finally:
        conn.close()
        target.close()
    dropped = run(home, "query", "drop table totals@warehouse")
    assert dropped.returncode == 0, dropped.stderr
    gone = run(home, "query", "select * from totals@warehouse")
    assert gone.returncode != 0 and "There is no table totals@warehouse" in gone.stderr


def test_a_replicated_table_is_never_replaced(home: Path, target_url: str) -> None:
    target = open_target(target_url)
    conn = target.connect()
    try:
        with conn.transaction():
            conn.execute('CREATE TABLE "GLAccounts" ("Code" TEXT)')
    finally:
        conn.close()
        target.close()
    refused = run(home, "query", "create or replace table GLAccounts@warehouse as select 1 as x from dual")
    assert refused.returncode != 0
    assert "no script made" in refused.stderr and "Traceback" not in refused.stderr


def test_an_alias_that_names_no_replica_costs_nothing(home: Path) -> None:
    refused = run(home, "query", "create table t@elsewhere as select code from glaccounts")
    assert refused.returncode != 0
    assert "elsewhere is no replica the config names" in refused.stderr
    assert "[replicas]" in refused.stderr
