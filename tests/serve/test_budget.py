"""Budget errors reach a PostgreSQL client with a fitting SQLSTATE and the command line's message (a module
of its own: it uses up the day's calls of its sandbox and store)."""

from __future__ import annotations

import subprocess
import sys

import psycopg
import pytest

from tests.serve.conftest import Served


def test_budget_errors_carry_the_command_lines_message(served: Served) -> None:
    """The day's limit reached: the same message as ``exactsql query``, SQLSTATE 53400."""
    control = served.control
    control.post("/_sandbox/settings", json={"daily_limit": 1}).raise_for_status()
    try:
        with psycopg.connect(served.dsn()) as conn:
            cur = conn.cursor()
            for table in ("accounts", "items", "contacts", "projects"):
                try:
                    cur.execute(f"select count(*) from {table}")
                except psycopg.Error as exc:
                    error = exc
                    break
            else:
                pytest.fail("no budget error")
        assert error.sqlstate == "53400", error
        cli = subprocess.run(
            [sys.executable, "-m", "exactsql", "query", "-c", "eol", f"select count(*) from {table}"],
            env=served.env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert cli.returncode == 1
        first_line = cli.stderr.split("\n")[0].removeprefix("Error: ")
        assert error.diag.message_primary == first_line
    finally:
        control.post("/_sandbox/settings", json={"daily_limit": 1_000_000}).raise_for_status()
