"""The target protocol on SQLite, DuckDB and PostgreSQL: typed tables, upserts, the deletion rule, staging,
claims fenced by their lease, the run history."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pyarrow as pa
import pytest

from exactsql.catalog import Column
from exactsql.replicate.plan import DIVISION, TableSpec
from exactsql.replicate.runner import new_owner, stealable
from exactsql.replicate.targets import LeaseLost, open_target
from exactsql.replicate.targets.base import TargetConnection

SPEC = TableSpec(
    "things",
    (
        Column("Timestamp", "Edm.Int64"),
        Column("ID", "Edm.Guid"),
        Column("Name", "Edm.String"),
        Column("Amount", "Edm.Double"),
        Column("Active", "Edm.Boolean"),
        Column("Created", "Edm.DateTime"),
        Column("Count", "Edm.Int32"),
        DIVISION,
    ),
    "ID",
    True,
)


def batch(rows: list[tuple]) -> pa.Table:
    names = SPEC.column_names
    columns = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
    return pa.Table.from_arrays(
        [pa.array(list(c), f.type) for c, f in zip(columns, SPEC.schema, strict=True)], schema=SPEC.schema
    )


@pytest.fixture()
def conn(target_url: str):  # type: ignore[no-untyped-def]
    target = open_target(target_url)
    connection = target.connect()
    connection.ensure_meta()
    connection.ensure_table(SPEC)
    yield connection
    connection.close()
    target.close()


def when(day: int) -> dt.datetime:
    return dt.datetime(2024, 1, day, 13, 45, 12, 345000)


def test_upsert_read_and_the_deletion_rule(conn: TargetConnection) -> None:
    with conn.transaction():
        conn.upsert(
            SPEC,
            batch(
                [
                    (10, "a", "één", 1.5, True, when(1), 7, 1),
                    (11, "b", None, None, None, None, None, 1),
                    (12, "a", "other division", -2.25, False, when(2), 0, 2),
                ]
            ),
        )
    with conn.transaction():
        conn.upsert(SPEC, batch([(20, "a", "newer", 3.0, False, when(3), 8, 1)]))
    rows = conn.read("things", SPEC.columns, [1]).sort_by("ID").to_pylist()
    assert rows == [
        {"Timestamp": 20, "ID": "a", "Name": "newer", "Amount": 3.0, "Active": False, "Created": when(3),
         "Count": 8, "Division": 1},
        {"Timestamp": 11, "ID": "b", "Name": None, "Amount": None, "Active": None, "Created": None,
         "Count": None, "Division": 1},
    ]  # fmt: skip
    assert conn.read("things", SPEC.columns).schema == SPEC.schema
    with conn.transaction():
        # a deletion older than the local row keeps it; a newer one deletes; other divisions are untouched
        assert conn.delete_keys(SPEC, 1, ["a", "b"], [15, 15]) == 1
    assert conn.read("things", SPEC.columns, [1]).column("ID").to_pylist() == ["a"]
    assert conn.count("things", 2) == 1


def test_staging_replaces_a_division_at_once(conn: TargetConnection) -> None:
    conn.ensure_table(SPEC, "exactsql_stage_things")
    with conn.transaction():
        conn.upsert(
            SPEC,
            batch([(1, "old", "x", 1.0, True, when(1), 1, 5), (2, "keep", "y", 1.0, True, when(1), 1, 6)]),
        )
    with conn.transaction():
        conn.upsert(SPEC, batch([(3, "new", "z", 2.0, True, when(2), 2, 5)]), stage=True)
    with conn.transaction():
        assert conn.replace_from_stage(SPEC, 5) == 1
    assert conn.read("things", SPEC.columns, [5]).column("ID").to_pylist() == ["new"]
    assert conn.read("things", SPEC.columns, [6]).column("ID").to_pylist() == ["keep"]
    assert conn.count("exactsql_stage_things") == 0


def test_new_columns_are_added(conn: TargetConnection) -> None:
    wider = TableSpec("things", (*SPEC.columns, Column("Extra", "Edm.String")), "ID", True)
    assert conn.ensure_table(wider) == ["Extra"]
    assert conn.ensure_table(wider) == []
    assert "Extra" in (conn.column_types("things") or {})


def test_claims_are_exclusive_and_fence_commits(conn: TargetConnection) -> None:
    conn.add_items([("crm/Accounts", 7, "sync")])
    me, other = new_owner(), new_owner()
    row = conn.cursor("crm/Accounts", 7)
    assert row is not None and conn.try_claim(row, me, 60)
    assert not conn.try_claim(row, other, 60)  # the row changed since it was read: the CAS fails
    claimed, _waiting, held = conn.claim_next(
        ["crm/Accounts"], [7], conn.now(), other, 60, set(), lambda o: False
    )
    assert claimed is None and [h.owner for h in held] == [me]
    with conn.transaction():
        conn.save("crm/Accounts", 7, me, 60, None, cursor=123, loaded=True)
    with pytest.raises(LeaseLost), conn.transaction():
        conn.save("crm/Accounts", 7, other, 60, None, cursor=999)
    assert conn.cursor("crm/Accounts", 7).cursor == 123  # type: ignore[union-attr]
    conn.release("crm/Accounts", 7, me, done=True)
    state = conn.cursor("crm/Accounts", 7)
    assert state is not None and state.owner is None and state.done_at is not None
    assert (
        conn.claim_next(["crm/Accounts"], [7], state.done_at - 1, other, 60, set(), lambda o: False)[0]
        is None
    )
    assert (
        conn.claim_next(["crm/Accounts"], [7], state.done_at + 1, other, 60, set(), lambda o: False)[0]
        is not None
    )


def test_a_dead_process_claim_is_taken_over(conn: TargetConnection) -> None:
    child = subprocess.run(
        [sys.executable, "-c", "from exactsql.replicate.runner import new_owner; print(new_owner())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = child.stdout.strip()
    assert stealable(dead)
    assert not stealable(new_owner())
    conn.add_items([("crm/Contacts", 3, "sync")])
    row = conn.cursor("crm/Contacts", 3)
    assert row is not None and conn.try_claim(row, dead, 3600)
    mine = new_owner()
    claimed, _, _ = conn.claim_next(["crm/Contacts"], [3], conn.now(), mine, 60, set(), stealable)
    assert claimed is not None and claimed.owner == mine


def test_run_history(conn: TargetConnection) -> None:
    conn.run_started("r1", "crm/Accounts", 7, "sync", "host", 1)
    conn.run_ended("r1", "crm/Accounts", 7, "ok", 10, 2, 3, 0, 1, None)
    (run,) = conn.runs("r1")
    assert (run["status"], run["row_count"], run["deleted"], run["calls"], run["waits"]) == (
        "ok",
        10,
        2,
        3,
        1,
    )
    assert run["started"] is not None and run["ended"] is not None
    conn.run_started("r2", "crm/Accounts", 7, "sync", "host", 1)
    assert conn.close_dead_runs(lambda host, pid: False) == 1
    assert conn.runs("r2")[0]["status"] == "interrupted"
    assert conn.prune_runs(1) == 0
    assert conn.prune_runs(-1) == 2 and conn.runs() == []
