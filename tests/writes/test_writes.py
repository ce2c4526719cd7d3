"""Writes through SQL against a sandbox server: invoices with lines, updates, deletes, local validation,
lost answers and crashes (never a duplicate), the error reserve, and explain (no call)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from exactsql.api.session import Session
from exactsql.replicate import replicate
from exactsql.replicate.query import query_replica
from exactsql.sql.dialect import SQLError
from exactsql.sql.engine import Engine
from tests.sql.conftest import api_calls
from tests.writes.conftest import invoice_script, requests_made, snapshot

INVOICES = "salesinvoice/SalesInvoices"
LINES = "salesinvoice/SalesInvoiceLines"


def _with_ref(control: httpx.Client, division: int, ref: str) -> list[dict]:
    return [r for r in snapshot(control, division, INVOICES) if r["YourRef"] == ref]


def test_an_invoice_with_lines_is_posted_once_with_its_lines_inline(
    engine: Engine, control: httpx.Client, books: dict
) -> None:
    results = engine.run(invoice_script(books, ["W-1"], lines=3))
    (row,) = results[-1].table.to_pylist()  # type: ignore[union-attr]
    assert row["status"] == "created" and row["row"] == "'W-1'"
    (invoice,) = _with_ref(control, books["division"], "W-1")
    assert invoice["InvoiceID"] == row["id"]
    lines = [r for r in snapshot(control, books["division"], LINES) if r["InvoiceID"] == row["id"]]
    assert sorted(line["Quantity"] for line in lines) == [1, 2, 3]
    posts = [
        r for r in requests_made(control) if r["method"] == "POST" and "salesinvoice" in r["path"].lower()
    ]
    assert len(posts) == 1  # header and lines in one call
    ios = engine.run("select relation, endpoint, calls, rows from sessionios where relation = 'write'")
    assert ios[-1].table.to_pylist() == [  # type: ignore[union-attr]
        {"Relation": "write", "Endpoint": INVOICES, "Calls": 1, "Rows": 1}
    ]
    changed = engine.run(
        "select TableName, Action, Row, ID, Successful from sessionrowschanged@datadictionary"
    )
    assert changed[-1].table.to_pylist() == [  # type: ignore[union-attr]
        {"TableName": INVOICES, "Action": "insert", "Row": "'W-1'", "ID": row["id"], "Successful": True}
    ]
    again = engine.run(invoice_script(books, ["W-1"], lines=3))
    assert again[-1].table.to_pylist()[0]["status"] == "existing"  # type: ignore[union-attr]
    assert len(_with_ref(control, books["division"], "W-1")) == 1


def test_update_and_delete_show_in_the_books_in_sync_deleted_and_in_a_replica(
    engine: Engine, control: httpx.Client, books: dict, session: Session, tmp_path: Path
) -> None:
    engine.run(invoice_script(books, ["U-1", "U-2"]))
    updated = engine.run("update SalesInvoices set Description = 'Changed by SQL' where YourRef = 'U-1'")
    assert [r["status"] for r in updated[-1].table.to_pylist()] == ["updated"]  # type: ignore[union-attr]
    reads = [
        r for r in requests_made(control) if r["method"] == "GET" and "YourRef eq 'U-1'" in str(r["query"])
    ]
    assert reads, "the rows to update are read with the filter pushed down"
    (changed,) = _with_ref(control, books["division"], "U-1")
    assert changed["Description"] == "Changed by SQL"
    (gone,) = _with_ref(control, books["division"], "U-2")
    deleted = engine.run("delete from SalesInvoices where YourRef = 'U-2'")
    assert [r["status"] for r in deleted[-1].table.to_pylist()] == ["deleted"]  # type: ignore[union-attr]
    assert _with_ref(control, books["division"], "U-2") == []
    tombstones = snapshot(control, books["division"], "sync/Deleted")
    assert any(str(t["EntityKey"]).lower() == gone["InvoiceID"].lower() for t in tombstones)

    url = f"sqlite:///{tmp_path / 'replica.db'}"
    replicate(session, url, tables=[INVOICES])
    copied = query_replica(
        url, "select YourRef, Description from SalesInvoices where YourRef in ('U-1', 'U-2')"
    ).to_pylist()
    assert copied == [{"YourRef": "U-1", "Description": "Changed by SQL"}]


def test_a_batch_with_invalid_rows_sends_nothing_and_names_them(
    engine: Engine, control: httpx.Client, books: dict
) -> None:
    rows = []
    for n in range(1, 21):
        code, description, kind = f"'9{n:03d}'", f"'Written by test {n}'", "110"
        if n == 4:
            description = "null"  # required
        if n == 9:
            kind = "1.5"  # Type is Int32
        if n == 15:
            code = "'9002'"  # the Code of row 2: two rows, one natural key
        rows.append(f"({code}, {description}, {kind})")
    sql = f"insert into GLAccounts (Code, Description, Type) values {', '.join(rows)}"
    engine.current_division("eol")
    logged = len(requests_made(control))
    with pytest.raises(SQLError) as info:
        engine.run(sql)
    message = str(info.value)
    assert "3 problem(s) in 3 row(s); nothing was sent" in message
    for n in (4, 9, 15):
        assert f"row {n} of line 1" in message
    assert "Description is required" in message and "Type takes a whole number" in message
    assert "Code '9002' is row 2 of line 1's too" in message
    made = requests_made(control)[logged:]
    assert not [r for r in made if r["method"] != "GET" or r["status"] >= 400]

    engine.writes.send_valid_rows = True
    result = engine.run(sql)[-1].table.to_pylist()  # type: ignore[union-attr]
    assert sorted(r["status"] for r in result).count("created") == 17
    assert [r["row"] for r in result if r["status"] == "invalid"] == [
        "row 4 of line 1",
        "row 9 of line 1",
        "row 15 of line 1",
    ]


def test_a_lost_answer_is_found_again_not_posted_twice(
    engine: Engine, control: httpx.Client, books: dict
) -> None:
    prefix = f"/api/v1/{books['division']}/salesinvoice"
    control.post("/_sandbox/faults", json={"kind": "lost_response", "count": 2, "path_prefix": prefix})
    refs = ["L-1", "L-2", "L-3"]
    first = engine.run(invoice_script(books, refs))[-1].table.to_pylist()  # type: ignore[union-attr]
    assert [r["status"] for r in first] == ["created"] * 3
    assert sum("answer lost" in r["message"] for r in first) == 2
    rerun = engine.run(invoice_script(books, refs))[-1].table.to_pylist()  # type: ignore[union-attr]
    assert [r["status"] for r in rerun] == ["existing"] * 3
    for ref in refs:
        assert len(_with_ref(control, books["division"], ref)) == 1


def test_a_crash_after_the_post_and_a_rerun_post_once(
    logged_in_cli: object, control: httpx.Client, books: dict, tmp_path: Path
) -> None:
    script = tmp_path / "invoices.sql"
    refs = ["C-1", "C-2"]
    script.write_text(invoice_script(books, refs))
    marker = tmp_path / "marker"
    env = {**os.environ, "NO_COLOR": "1", "EXACTSQL_FAILPOINTS": f"write_answered:{marker}"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "exactsql", "query", f"@{script}"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert marker.exists(), "the run did not reach its first POST's answer"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert len(_with_ref(control, books["division"], "C-1")) == 1  # written, but the record says pending
    rerun = subprocess.run(
        [sys.executable, "-m", "exactsql", "query", "-f", "csv", f"@{script}"],
        env={**os.environ, "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rerun.returncode == 0, rerun.stderr
    assert "existing" in rerun.stdout and "created" in rerun.stdout
    for ref in refs:
        assert len(_with_ref(control, books["division"], ref)) == 1


def test_refused_writes_stop_at_the_error_reserve(engine: Engine, control: httpx.Client, books: dict) -> None:
    too_long = "x" * 300  # Exact refuses it (the catalog knows no lengths: only Exact can say)
    rows = ", ".join(f"('T8{n:03d}', '{too_long}')" for n in range(12))
    with pytest.raises(SQLError) as info:
        engine.run(f"insert into GLAccounts (Code, Description) values {rows}")
    message = str(info.value)
    assert "Stopped after 8 of 12 write(s) (8 failed)" in message
    assert "refused 8 write(s) of this batch" in message and "too long" in message
    posts = [r for r in requests_made(control) if r["method"] == "POST" and r["path"].startswith("/api/v1/")]
    assert len(posts) == 8
    refused = engine.run("select Status, ErrorMessage from SessionRowsChanged where not Successful")
    assert [r["Status"] for r in refused[-1].table.to_pylist()] == ["failed"] * 8  # type: ignore[union-attr]
    codes = {r["Code"].strip() for r in snapshot(control, books["division"], "financial/GLAccounts")}
    assert not {f"T8{n:03d}" for n in range(12)} & codes


def test_explain_of_writes_makes_no_call(engine: Engine, control: httpx.Client, books: dict) -> None:
    fresh = Engine(engine.sessions)
    before = api_calls(control)
    sql = invoice_script(books, ["E-1", "E-2"]) + (
        ";\nupdate SalesInvoices set Description = 'x' where YourRef = 'E-1'"
        ";\ndelete from SalesInvoices where YourRef = 'E-2'"
    )
    explained = fresh.explain(sql)
    assert api_calls(control) == before
    messages = [e.message for e in explained]
    assert any(
        "commit sends 2 POST(s) to salesinvoice/SalesInvoices with 4 line(s) inline" in m for m in messages
    )
    assert "one PUT" in messages[-2] and "one DELETE" in messages[-1]
    bad = fresh.explain(
        f"insert into SalesInvoices (OrderedBy, Journal, YourRef) values ('{books['account']}', '70', 'X') "
        "identified by 'X'; commit"
    )
    assert "needs at least one line" in bad[-1].message
    implicit = fresh.explain(invoice_script(books, ["E-3"], begin=False))
    assert implicit[-1].message.startswith("at the end of the script, sends 1 POST(s)")
    assert api_calls(control) == before


def test_db_api_transactions_commit_with_the_connection(
    session: Session, control: httpx.Client, books: dict
) -> None:
    import exactsql

    conn = exactsql.connect("eol")
    try:
        cur = conn.cursor()
        cur.execute("begin transaction")
        cur.execute(
            "insert into SalesInvoices (OrderedBy, Journal, YourRef) values (:account, '70', 'D-1') "
            "identified by 'D-1'",
            {"account": books["account_code"]},  # a code where a GUID is due: resolved by one read
        )
        cur.executemany(
            "insert into SalesInvoiceLines (Item, Quantity, GLAccount) values (?, ?, ?) attach to 'D-1'",
            [(item, n, books["gl"]) for n, item in enumerate(books["items"][:3], start=1)],
        )
        assert _with_ref(control, books["division"], "D-1") == []
        conn.commit()
    finally:
        conn.close()
    (invoice,) = _with_ref(control, books["division"], "D-1")
    assert invoice["OrderedBy"] == books["account"]
    lines = [r for r in snapshot(control, books["division"], LINES) if r["InvoiceID"] == invoice["InvoiceID"]]
    assert len(lines) == 3


def test_max_calls_holds_for_writes(engine: Engine, control: httpx.Client, books: dict) -> None:
    engine.run(invoice_script(books, ["M-0"], lines=1))  # the references are read and kept for the engine
    script = invoice_script(books, ["M-1", "M-2", "M-3"], lines=1)
    with pytest.raises(SQLError) as info:
        engine.run(script, max_calls=2)  # (current/Me, if not kept) and the first POSTs
    message = str(info.value)
    went = re.search(r"Stopped after (\d) of 3 write\(s\)", message)
    assert went is not None and 1 <= int(went.group(1)) < 3 and "--max-calls 2" in message, message
    written = [len(_with_ref(control, books["division"], ref)) for ref in ("M-1", "M-2", "M-3")]
    assert written == [1] * int(went.group(1)) + [0] * (3 - int(went.group(1)))
    rest = engine.run(script)[-1].table.to_pylist()  # type: ignore[union-attr]
    assert [r["status"] for r in rest] == ["existing"] * int(went.group(1)) + ["created"] * (
        3 - int(went.group(1))
    )
    assert [len(_with_ref(control, books["division"], ref)) for ref in ("M-1", "M-2", "M-3")] == [1, 1, 1]


def test_insert_select_from_script_tables_and_from_exact(
    engine: Engine, control: httpx.Client, books: dict
) -> None:
    engine.run(
        "create table plan@inmemorystorage as select 'S' || code code, 'Copied ' || description description "
        "from glaccounts where code in ('0100', '0110');"
        "insert into GLAccounts (Code, Description) select code, description from plan@inmemorystorage;"
        "insert into GLAccounts (Code, Description) select 'T' || Code, Description from GLAccounts "
        "where Code = '0100'"
    )
    codes = {
        r["Code"].strip(): r["Description"]
        for r in snapshot(control, books["division"], "financial/GLAccounts")
    }
    assert {c: codes.get(c, "").startswith("Copied") for c in ("S0100", "S0110")} == {
        "S0100": True,
        "S0110": True,
    }
    assert "T0100" in codes
