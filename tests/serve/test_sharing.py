"""Many clients at once share one engine state: the same fetch within the cache max-age is made once; and a
server on a replica answers with no API call at all."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg

from exactsql.serve.process import ServeProcess
from tests.serve.conftest import PASSWORD, SEED, USER, Served, current_division, truth


def test_sixteen_sessions_share_one_fetch(served: Served) -> None:
    division = current_division(served.info)
    items = len(served.control.get(f"/_sandbox/snapshot/{division}/logistics/Items").json()["rows"])
    sql = "select count(*), max(code) from items where code is not null"
    with psycopg.connect(served.dsn()) as conn:  # the server learns the current division once, for all
        conn.execute("select code from glaccounts where code = '1000'")
    before = served.calls()

    def client(_: int) -> tuple:
        with psycopg.connect(served.dsn()) as conn:
            return conn.execute(sql).fetchone()  # type: ignore[return-value]

    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(client, range(16)))
    assert {a[0] for a in answers} == {items}
    pages = -(-items // 1000)  # the bulk endpoint: 1,000 rows a page
    assert served.calls() - before == pages


def test_a_replica_is_served_without_api_calls(served: Served, tmp_path: Path) -> None:
    replica = f"duckdb:///{tmp_path / 'books.duckdb'}"
    load = subprocess.run(
        [sys.executable, "-m", "exactsql", "replicate", "--to", replica, "-c", "eol", "-d", "all",
         "--tables", "users/UserRoles,users/Users", "-q"],
        env=served.env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert load.returncode == 0, load.stderr
    before = served.calls()
    with ServeProcess("--replica", replica, env=served.env) as server:
        with psycopg.connect(server.dsn(USER, PASSWORD)) as conn:
            names = sorted(r[0] for r in conn.execute(SEED).fetchall())
            tables = conn.execute(
                "select table_name from information_schema.tables where table_schema = 'users'"
            ).fetchall()
            with_param = conn.execute("select count(*) from userroles where role = %s", (274,)).fetchone()
        assert served.calls() == before
    assert names == truth(served.control, served.info["divisions"])
    assert ("UserRoles",) in tables
    assert with_param is not None and with_param[0] > 0
