"""The protocol and the safety of the server: prepared statements, authentication, TLS, cancel between pages,
the statement timeout, call caps, and budget errors as PostgreSQL errors with the command line's message."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from exactsql.serve.process import ServeProcess
from tests.serve.conftest import PASSWORD, USER, Served, current_division

SLOW = "select max(description) from transactionlines"


@pytest.fixture()
def one_row_pages(served: Served) -> Iterator[int]:
    """Pages of one row: a read of the transaction lines takes a call per line. Yields their number."""
    control = served.control
    control.post("/_sandbox/settings", json={"bulk_page_size": 1, "regular_page_size": 1}).raise_for_status()
    division = current_division(served.info)
    rows = len(
        control.get(f"/_sandbox/snapshot/{division}/financialtransaction/TransactionLines").json()["rows"]
    )
    try:
        yield rows
    finally:
        control.post("/_sandbox/settings", json={"bulk_page_size": 1000, "regular_page_size": 60})


def test_prepared_statements_with_typed_parameters(served: Served) -> None:
    with psycopg.connect(served.dsn()) as conn:
        for binary in (False, True):
            cur = conn.cursor(binary=binary)
            for _ in range(6):  # past psycopg's prepare threshold: named statements, Describe, Bind, Execute
                cur.execute(
                    "select code, %s::int + 1 as n, %s as label, %s as flag from glaccounts where code = %s",
                    (41, "it's", True, "1000"),
                )
                assert cur.fetchall() == [("1000", 42, "it's", True)]
            cur.execute("select %s::float8 as f, %s::date as d", (1.5, dt.date(2024, 2, 29)))
            assert cur.fetchone() == (1.5, dt.date(2024, 2, 29))
        cur = conn.cursor()
        cur.execute("select code, description from glaccounts where code like %s order by code", ("10%",))
        rows = cur.fetchall()
        assert rows and all(code.startswith("10") for code, _ in rows)
        assert [d.name for d in cur.description] == ["code", "description"]


def test_session_settings_show_and_transactions(served: Served) -> None:
    with psycopg.connect(served.dsn()) as conn:
        cur = conn.cursor()
        cur.execute("show server_version")
        assert cur.fetchone() == ("16.0",)
        cur.execute("set application_name to 'report'")
        cur.execute("select current_setting('application_name'), current_database(), current_user")
        assert cur.fetchone() == ("report", "exactsql", USER)
        assert conn.info.parameter_status("application_name") == "report"
        with pytest.raises(psycopg.Error) as caught:
            cur.execute("select * from nosuchtable")
        assert caught.value.sqlstate == "42P01" and "Unknown table" in str(caught.value)
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            cur.execute("select 1")
        conn.rollback()
        cur.execute("select 1")
        assert cur.fetchone() == (1,)


def test_passwords_are_checked_and_never_stored(served: Served) -> None:
    for user, password in ((USER, "wrong password"), ("nobody", PASSWORD)):
        with pytest.raises(psycopg.OperationalError) as caught:
            psycopg.connect(served.server.dsn(user, password)).close()
        assert f'password authentication failed for user "{user}"' in str(caught.value)
    users = Path(served.env["EXACTSQL_HOME"]) / "serve-users.json"
    stored = json.loads(users.read_text())["users"]
    assert list(stored) == [USER] and stored[USER].startswith("SCRAM-SHA-256$4096:")
    assert PASSWORD not in users.read_text()
    assert users.stat().st_mode & 0o077 == 0


def test_tls_when_given_a_certificate(served: Served, tmp_path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256())
    )  # fmt: skip
    (tmp_path / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    args = ("-c", "eol", "--tls-cert", str(tmp_path / "cert.pem"), "--tls-key", str(tmp_path / "key.pem"))
    with (
        ServeProcess(*args, env=served.env) as tls_server,
        psycopg.connect(tls_server.dsn(USER, PASSWORD, sslmode="require")) as conn,
    ):
        assert conn.pgconn.ssl_in_use
        assert conn.execute("select code from glaccounts where code = '1000'").fetchall() == [("1000",)]
    with pytest.raises(psycopg.OperationalError, match="SSL"):
        psycopg.connect(served.dsn(sslmode="require")).close()


def _run_in_thread(dsn: str, sql: str, before: str = "") -> tuple[threading.Thread, dict]:
    outcome: dict = {}

    def run() -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            outcome["conn"] = conn
            if before:
                conn.execute(before)
            try:
                outcome["rows"] = conn.execute(sql).fetchall()
            except psycopg.Error as exc:
                outcome["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _wait_for_calls(served: Served, at_least: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while served.calls() < at_least:
        assert time.monotonic() < deadline, "the fetch did not start"
        time.sleep(0.02)


def _assert_stopped(served: Served, pages: int) -> None:
    """No call after the statement ended, and far fewer than a whole read."""
    stopped = served.calls()
    time.sleep(0.5)
    assert served.calls() == stopped
    assert stopped < pages


def test_cancel_stops_the_fetch_between_pages(served: Served, one_row_pages: int) -> None:
    start = served.calls()
    thread, outcome = _run_in_thread(served.dsn(), SLOW)
    _wait_for_calls(served, start + 10)
    while "conn" not in outcome:
        time.sleep(0.01)
    outcome["conn"].cancel_safe()
    thread.join(60)
    error = outcome.get("error")
    assert isinstance(error, psycopg.errors.QueryCanceled), outcome
    assert "canceling statement due to user request" in str(error)
    _assert_stopped(served, start + one_row_pages)


def test_statement_timeout(served: Served, one_row_pages: int) -> None:
    start = served.calls()
    thread, outcome = _run_in_thread(served.dsn(), SLOW, before="set statement_timeout = '500ms'")
    thread.join(60)
    error = outcome.get("error")
    assert isinstance(error, psycopg.errors.QueryCanceled), outcome
    assert "statement timeout" in str(error)
    assert served.calls() > start
    _assert_stopped(served, start + one_row_pages)


def test_call_caps(served: Served, one_row_pages: int) -> None:
    with ServeProcess(
        "-c", "eol", "--session-max-calls", "20", "--max-calls", "45", env=served.env
    ) as capped:
        dsn = capped.dsn(USER, PASSWORD)
        before = served.calls()
        with psycopg.connect(dsn) as conn, pytest.raises(psycopg.Error) as caught:
            conn.execute(SLOW)
        assert caught.value.sqlstate == "54000" and "20" in str(caught.value)
        assert served.calls() - before <= 20 + 1
        with pytest.raises(psycopg.Error) as caught:
            for _ in range(3):  # the server's own cap ends it, whatever the sessions
                with psycopg.connect(dsn) as conn:
                    conn.execute(SLOW)
        assert caught.value.sqlstate == "54000"
        assert served.calls() - before <= 45 + 1


def test_refuses_files_settings_and_extensions(served: Served) -> None:
    refused = [
        "select * from read_csv('/etc/passwd')",
        "select * from '/etc/passwd'",
        "select * from glob('/*')",
        "attach '/tmp/x.duckdb' as x",
        "install httpfs",
        "load httpfs",
        "pragma version",
        "select * from query('select 1')",
        "select * from pg_catalog.pg_class, read_text('/etc/hostname')",
    ]
    with psycopg.connect(served.dsn(), autocommit=True) as conn:
        for sql in refused:
            with pytest.raises(psycopg.Error) as caught:
                conn.execute(sql).fetchall()
            assert caught.value.sqlstate in ("42501", "0A000", "42P01", "42601", "42704"), (sql, caught.value)
            assert "root:" not in str(caught.value)
        # Settings are the session's own, never DuckDB's.
        assert conn.execute("select current_setting('enable_external_access')").fetchall() == [(None,)]
        conn.execute("set enable_external_access = true")
        with pytest.raises(psycopg.Error):
            conn.execute("select * from read_text('/etc/passwd')")
