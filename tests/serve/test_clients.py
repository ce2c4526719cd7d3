"""Real PostgreSQL clients against ``exactsql serve``: each lists tables and columns, runs the seed query and
gets the sandbox's truth, and is refused a statement that would read the server's files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import psycopg
import pyodbc
import pytest
import sqlalchemy as sa

from tests.serve.conftest import PASSWORD, ROOT, SEED, USER, Served, current_division, truth

CLIENTS = Path(__file__).parent / "clients"
NODE_MODULES = (
    Path(os.environ.get("EXACTSQL_TEST_CLIENTS", Path.home() / ".cache" / "exactsql-test-clients"))
    / "node"
    / "node_modules"
)
JDBC_JAR = Path("/usr/share/java/postgresql.jar")
READ_FILE = "select * from read_text('/etc/passwd')"
COPY_OUT = "copy (select 1) to '/tmp/exactsql-serve-copy'"


def _expected(served: Served) -> list[str]:
    return truth(served.control, [current_division(served.info)])


def test_psql(served: Served) -> None:
    env = {**os.environ, "PGPASSWORD": PASSWORD}
    base = [
        "psql",
        "-X",
        "-h",
        served.server.host,
        "-p",
        str(served.server.port),
        "-U",
        USER,
        "-d",
        "exactsql",
    ]

    def psql(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, *args], env=env, capture_output=True, text=True, timeout=120)

    schemas = psql("-At", "-c", r"\dn")
    assert schemas.returncode == 0, schemas.stderr
    assert {"crm|exactsql", "users|exactsql", "dictionary|exactsql"} <= set(schemas.stdout.split())
    tables = psql("-At", "-c", r"\dt crm.*")
    assert "crm|Accounts|table|exactsql" in tables.stdout.splitlines()
    columns = psql("-c", r'\d crm."Accounts"')
    assert columns.returncode == 0, columns.stderr
    assert 'Table "crm.Accounts"' in columns.stdout and " Name " in columns.stdout
    seed = psql("-At", "-f", str(ROOT / "examples" / "seed.sql"))
    assert seed.returncode == 0, seed.stderr
    assert sorted(seed.stdout.split("\n")[:-1]) == _expected(served)
    denied = psql("-c", READ_FILE)
    assert denied.returncode != 0 and "cannot be read here" in denied.stderr
    copy = psql("-c", COPY_OUT)
    assert copy.returncode != 0 and "COPY is not allowed" in copy.stderr
    assert not Path("/tmp/exactsql-serve-copy").exists()


def test_psycopg(served: Served) -> None:
    with psycopg.connect(served.dsn()) as conn:
        cur = conn.cursor()
        cur.execute(
            "select table_name from information_schema.tables where table_schema = %s order by 1", ("crm",)
        )
        assert "Accounts" in [r[0] for r in cur.fetchall()]
        cur.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = %s and table_name = %s",
            ("financial", "GLAccounts"),
        )
        columns = dict(cur.fetchall())
        assert columns["Code"] == "text" and columns["Division"] == "integer"
        cur.execute(SEED)
        assert sorted(r[0] for r in cur.fetchall()) == _expected(served)
        assert [d.name for d in cur.description] == ["fullname"]  # as PostgreSQL names it
        for sql, state in ((READ_FILE, "42501"), (COPY_OUT, "42501"), ("drop table crm.accounts", "0A000")):
            with pytest.raises(psycopg.Error) as caught:
                cur.execute(sql)
            assert caught.value.sqlstate == state
            conn.rollback()


def test_sqlalchemy_and_pandas(served: Served) -> None:
    url = f"postgresql+psycopg://{USER}:{PASSWORD.replace(' ', '%20')}@{served.server.host}:{served.server.port}/exactsql"
    engine = sa.create_engine(url)
    try:
        inspector = sa.inspect(engine)
        assert {"crm", "financial", "dictionary"} <= set(inspector.get_schema_names())
        assert "GLAccounts" in inspector.get_table_names(schema="financial")
        columns = {c["name"]: c["type"] for c in inspector.get_columns("GLAccounts", schema="financial")}
        assert isinstance(columns["Code"], sa.Text) and isinstance(columns["Division"], sa.Integer)
        frame = pd.read_sql(sa.text(SEED), engine)
        assert sorted(frame["fullname"]) == _expected(served)
        with pytest.raises(sa.exc.DBAPIError) as caught, engine.connect() as conn:
            conn.execute(sa.text(READ_FILE))
        assert caught.value.orig.sqlstate == "42501"  # type: ignore[union-attr]
    finally:
        engine.dispose()


def test_psqlodbc(served: Served) -> None:
    conn = pyodbc.connect(
        f"DRIVER={{PostgreSQL Unicode}};SERVER={served.server.host};PORT={served.server.port};"
        f"DATABASE=exactsql;UID={USER};PWD={{{PASSWORD}}}",
        autocommit=True,
    )
    try:
        cur = conn.cursor()
        assert "Accounts" in [r.table_name for r in cur.tables(schema="crm", tableType="TABLE")]
        columns = {r.column_name: r.type_name for r in cur.columns(table="GLAccounts", schema="financial")}
        assert columns["Code"] == "text" and columns["Division"] == "int4"
        cur.execute(SEED)
        assert sorted(r[0] for r in cur.fetchall()) == _expected(served)
        cur.execute("select code from glaccounts where code = ?", "1000")
        assert [r[0] for r in cur.fetchall()] == ["1000"]
        with pytest.raises(pyodbc.Error) as caught:
            cur.execute(READ_FILE)
        assert caught.value.args[0] == "42501"
    finally:
        conn.close()


def test_pgjdbc(served: Served) -> None:
    java = shutil.which("java")
    assert java and JDBC_JAR.exists(), "run scripts/install_test_servers.sh"
    url = f"jdbc:postgresql://{served.server.host}:{served.server.port}/exactsql"
    result = subprocess.run(
        [java, "-cp", str(JDBC_JAR), str(CLIENTS / "JdbcClient.java"), url, USER, PASSWORD, "crm", "Accounts",
         str(ROOT / "examples" / "seed.sql"), READ_FILE],
        capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert {"crm", "financial", "dictionary"} <= set(out["schemas"])
    assert "Accounts" in out["tables"]
    assert "Name:text" in out["columns"] and "Division:int4" in out["columns"]
    assert sorted(out["rows"]) == _expected(served)
    assert out["bound"] == ["1000"]
    assert out["sqlstate"] == "42501" and "cannot be read here" in out["denied"]


def test_node_postgres(served: Served) -> None:
    node = shutil.which("node")
    assert node and (NODE_MODULES / "pg").exists(), "run scripts/install_test_servers.sh"
    env = {
        **os.environ, "NODE_PATH": str(NODE_MODULES), "PGHOST": served.server.host,
        "PGPORT": str(served.server.port), "PGUSER": USER, "PGPASSWORD": PASSWORD, "PGDATABASE": "exactsql",
    }  # fmt: skip
    result = subprocess.run(
        [node, str(CLIENTS / "node_client.js"), str(ROOT / "examples" / "seed.sql"), COPY_OUT],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert "crm" in out["schemas"] and "Accounts" in out["tables"]
    assert "Name:text" in out["columns"] and "Division:integer" in out["columns"]
    assert sorted(out["rows"]) == _expected(served)
    assert out["bound"] == ["1000"]
    assert out["sqlstate"] == "42501" and "COPY is not allowed" in out["denied"]
