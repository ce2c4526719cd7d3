"""Replication against a sandbox server, on SQLite, DuckDB and PostgreSQL (a real server): the copy equals the
sandbox's snapshot row for row after a first load, after changes, after kill -9, after a daily limit ran out."""

from __future__ import annotations

import dataclasses
import math
import random
import time
from pathlib import Path

import httpx
import pytest

from exactsql.api.session import Session
from exactsql.replicate import replicate
from exactsql.replicate.plan import DELETED, RELOAD, SYNC, plan_tables
from exactsql.replicate.runner import Run
from exactsql.replicate.targets import open_target
from tests.replicate.helpers import (
    all_plans,
    api_calls,
    cli,
    copy_rows,
    differences,
    kill_while_working,
    lift_limits,
    logged_calls,
    mutate_books,
    page_size,
    truth_rows,
)

BULK_PAGE = 100  # the control fixture's sync/bulk page size


def divisions_of(session: Session) -> list[int]:
    from exactsql.replicate.runner import resolve_divisions

    return resolve_divisions(session, "all")


def test_initial_load_then_changes_equal_the_truth_within_the_calls(
    session: Session, control: httpx.Client, target_url: str
) -> None:
    plans = all_plans()
    divisions = divisions_of(session)

    before = api_calls(control)
    report = replicate(session, target_url, divisions=divisions)
    calls = api_calls(control) - before
    assert report.ok, report.outcomes
    assert report.calls == calls  # the run's own count is the sandbox's
    assert differences(target_url, control, divisions, plans) == []

    used = logged_calls(control, calls)
    for plan in plans:
        for division in divisions:
            rows = truth_rows(control, division, plan).num_rows
            ideal = max(1, math.ceil(rows / page_size(plan, BULK_PAGE)))
            assert used.get((plan.name, division), 0) <= ideal + 1, (plan.name, division, rows)

    # the Timestamps each sync table had reached, then ~1,000 inserts, 500 updates, 200 deletes
    reached = {
        (p.name, d): max(truth_rows(control, d, p).column("Timestamp").to_pylist() or [0])
        for p in plans
        if p.strategy == SYNC
        for d in divisions
    }
    totals = mutate_books(control, divisions)
    assert totals["inserted"] >= 900 and totals["updated"] >= 450 and totals["deleted"] >= 180, totals

    before = api_calls(control)
    report = replicate(session, target_url, divisions=divisions)
    calls = api_calls(control) - before
    assert report.ok, report.outcomes
    assert differences(target_url, control, divisions, plans) == []
    assert sum(o.deleted for o in report.outcomes) > 0

    used = logged_calls(control, calls)
    for plan in plans:
        for division in divisions:
            truth = truth_rows(control, division, plan)
            if plan.strategy == SYNC:
                changes = sum(
                    1 for t in truth.column("Timestamp").to_pylist() if t > reached[(plan.name, division)]
                )
                allowed = math.ceil(changes / BULK_PAGE) + 1
            else:  # a full reload, priced in calls
                allowed = max(1, math.ceil(truth.num_rows / page_size(plan, BULK_PAGE))) + 1
            assert used.get((plan.name, division), 0) <= allowed, (
                plan.name,
                division,
                used.get((plan.name, division)),
            )
    for division in divisions:
        deleted = len(control.get(f"/_sandbox/snapshot/{division}/sync/Deleted").json()["rows"])
        assert used.get((DELETED, division), 0) <= math.ceil(deleted / BULK_PAGE) + 1

    # a run without changes: one call per sync table and division (and the reloads)
    report = replicate(session, target_url, divisions=divisions)
    assert report.ok
    assert all(o.rows == 0 for o in report.outcomes if o.strategy == SYNC)
    assert all(o.calls == 1 for o in report.outcomes if o.strategy in (SYNC, "deleted"))


def test_meta_tables_hold_cursors_and_the_run_history(
    session: Session, control: httpx.Client, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'meta.db'}"
    divisions = divisions_of(session)[:1]
    report = replicate(session, url, tables=["crm/Accounts", "users/Users"], divisions=divisions)
    assert report.ok
    target = open_target(url)
    conn = target.connect()
    try:
        cursors = {(c.table_name, c.division): c for c in conn.cursors()}
        accounts = cursors[("crm/Accounts", divisions[0])]
        truth = truth_rows(control, divisions[0], plan_tables(["crm/Accounts"])[0])
        assert accounts.cursor == max(truth.column("Timestamp").to_pylist())
        assert accounts.loaded and accounts.owner is None and accounts.done_at is not None
        assert accounts.row_count == truth.num_rows
        assert cursors[("users/Users", divisions[0])].strategy == RELOAD
        runs = conn.runs(report.run_id)
        assert {(r["table_name"], r["status"]) for r in runs} == {
            ("crm/Accounts", "ok"), ("users/Users", "ok"), (DELETED, "ok"),
        }  # fmt: skip
        for r in runs:
            assert r["started"] is not None and r["ended"] is not None
            assert r["calls"] >= 1 and r["errors"] == 0
        assert sum(r["row_count"] for r in runs if r["table_name"] == "crm/Accounts") == truth.num_rows
    finally:
        conn.close()
        target.close()


def test_kill_9_at_random_moments_then_run_again_equals_the_truth(
    session: Session, control: httpx.Client, target_url: str, tmp_path: Path
) -> None:
    """Three trials: changes, a run killed with SIGKILL at a random moment, a run to the end; with 5% of the
    API answers failing (500, 503, time-outs). The copy equals the truth after each."""
    divisions = divisions_of(session)
    plans = all_plans()
    for kind, ratio in (("500", 0.0125), ("503", 0.0125), ("timeout", 0.025)):
        control.post(
            "/_sandbox/faults", json={"kind": kind, "ratio": ratio, "path_prefix": "/api/v1/", "seconds": 0.3}
        ).raise_for_status()
    rng = random.Random(5)
    log = tmp_path / "cli.log"
    mid_item = 0
    for trial in range(3):
        if trial:
            mutate_books(control, divisions, scale=0.3)
        # commits of a few pages and items each (100-row pages), so that kills land between and inside them
        child = cli(target_url, "--commit-rows", "250", log=log)
        kill_while_working(child, control, rng.uniform(0.0, 0.6))
        mid_item += bool(interrupted(target_url))
        child = cli(target_url, log=log)
        assert child.wait(timeout=240) == 0, log.read_text()[-3000:]
        assert differences(target_url, control, divisions, plans) == [], f"trial {trial}"
        assert not interrupted(target_url)
    assert mid_item >= 1  # a kill landed while a (table, division) was being written


def interrupted(url: str) -> list[dict]:
    """The items of the run history that started and never ended (their process was killed)."""
    target = open_target(url)
    conn = target.connect()
    try:
        conn.ensure_meta()
        return [r for r in conn.runs() if r["status"] == "running"]
    finally:
        conn.close()
        target.close()


def test_a_daily_limit_reached_mid_load_stops_cleanly_and_the_next_run_resumes(
    session: Session, control: httpx.Client, target_url: str
) -> None:
    divisions = divisions_of(session)
    plans = plan_tables(["financialtransaction/TransactionLines", "crm/Accounts"])
    control.post("/_sandbox/settings", json={"daily_limit": 6}).raise_for_status()
    before = api_calls(control)
    report = replicate(session, target_url, tables=[p.name for p in plans], divisions=divisions)
    first = api_calls(control) - before
    assert "budget" in report.by_status(), report.outcomes
    assert differences(target_url, control, divisions, plans) != []
    loaded = sum(copy_rows(target_url, d, plans[0]).num_rows for d in divisions)
    assert loaded > 0  # what was committed stays

    # the next day: the windows reset (the store forgets today's count), the sandbox allows calls again
    lift_limits(control)
    client_id = session.connection.client_id.lower()
    for division in divisions:
        session.store.update(f"rate:{client_id}|{division}", lambda _: (None, None))
    before = api_calls(control)
    report = replicate(session, target_url, tables=[p.name for p in plans], divisions=divisions)
    second = api_calls(control) - before
    assert report.ok, report.outcomes
    assert differences(target_url, control, divisions, plans) == []
    ideal = sum(
        max(1, math.ceil(truth_rows(control, d, p).num_rows / BULK_PAGE)) for p in plans for d in divisions
    )
    # resumed, not restarted: both runs together cost the ideal plus a few calls per item (the 429 that said
    # the day was used up, the empty Deleted reads, the first page read again where a run stopped)
    assert first + second <= ideal + 3 * len(divisions) * (len(plans) + 1), (first, second, ideal)


def test_new_catalog_columns_are_added_and_read(
    session: Session, control: httpx.Client, target_url: str
) -> None:
    divisions = divisions_of(session)[:1]
    plan = plan_tables(["crm/Contacts"])[0]
    older = dataclasses.replace(plan, spec=dataclasses.replace(plan.spec, columns=plan.spec.columns[:-12]))
    target = open_target(target_url)
    try:
        assert Run(session, target, [older], divisions).run().ok
    finally:
        target.close()
    assert set(copy_rows(target_url, divisions[0], older).column_names) == set(older.spec.column_names)
    report = replicate(session, target_url, tables=["crm/Contacts"], divisions=divisions)
    assert report.ok
    contacts = next(o for o in report.outcomes if o.table == "crm/Contacts")
    assert contacts.rows == truth_rows(control, divisions[0], plan).num_rows  # read again in full
    assert differences(target_url, control, divisions, [plan]) == []


def test_modified_increments_for_a_table_without_sync(
    session: Session, control: httpx.Client, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'modified.db'}"
    divisions = divisions_of(session)
    plans = plan_tables(["users/UserRoles", "cashflow/Receivables"], modified=["all"])
    assert [p.strategy for p in plans] == ["modified", "modified"]
    report = replicate(session, url, tables=[p.name for p in plans], divisions=divisions, modified=["all"])
    assert report.ok, report.outcomes
    assert differences(url, control, divisions, plans) == []
    for division in divisions:  # inserts and updates only: a read by Modified does not see deletions
        for entity, inserts, updates in (("users/UserRoles", 0, 7), ("cashflow/Receivables", 0, 2)):
            control.post(
                "/_sandbox/mutate",
                json={"division": division, "entity": entity, "inserts": inserts, "updates": updates},
            ).raise_for_status()
    report = replicate(session, url, tables=[p.name for p in plans], divisions=divisions, modified=["all"])
    assert report.ok, report.outcomes
    assert differences(url, control, divisions, plans) == []
    roles = [o for o in report.outcomes if o.table == "users/UserRoles"]
    assert all(o.calls == 1 for o in roles)  # the changes (and the rows of the last 10 minutes), one page


def test_deletions_apply_to_tables_outside_the_run(
    session: Session, control: httpx.Client, tmp_path: Path
) -> None:
    """A table replicated earlier but left out of a later run still loses the rows Exact deleted."""
    url = f"sqlite:///{tmp_path / 'outside.db'}"
    divisions = divisions_of(session)[:1]
    plans = plan_tables(["crm/Accounts", "crm/Contacts"])
    assert replicate(session, url, tables=["crm/Accounts", "crm/Contacts"], divisions=divisions).ok
    control.post("/_sandbox/mutate", json={"division": divisions[0], "entity": "crm/Contacts", "deletes": 4})
    report = replicate(session, url, tables=["crm/Accounts"], divisions=divisions)
    assert report.ok
    assert sum(o.deleted for o in report.outcomes) == 4
    assert differences(url, control, divisions, plans) == []


def test_entity_types_agree_with_the_sandbox() -> None:
    from exactsql.sandbox.store import DELETED_ENTITY_TYPES as SANDBOX

    for plan in plan_tables(list(SANDBOX)):
        assert plan.strategy == SYNC and plan.entity_type == SANDBOX[plan.name], plan.name


def test_workers_share_the_work_without_overlap(
    replicate_server: dict,
    control: httpx.Client,
    postgres_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Three ``--worker`` processes on one PostgreSQL replica and one PostgreSQL state store: every
    (table, division) is replicated exactly once, by one of them, and the copy equals the truth."""
    from exactsql.api.session import open_session
    from tests.connections.helpers import isolated_env, make_connection
    from tests.replicate.conftest import fresh_postgres
    from tests.replicate.helpers import UNLIMITED

    state_url, target = fresh_postgres(postgres_url), fresh_postgres(postgres_url)
    env = isolated_env(tmp_path / "home", state_url)
    for name in ("EXACTSQL_HOME", "EXACTSQL_STATE", "EXACTSQL_KEYRING", "EXACTSQL_SECRET_KEY"):
        monkeypatch.setenv(name, env[name])
    make_connection(replicate_server, "eol", minutely_limit=UNLIMITED, daily_limit=UNLIMITED)
    session = open_session("eol")
    try:
        session.login()
        divisions = divisions_of(session)
    finally:
        session.close()
    control.post("/_sandbox/settings", json={"bulk_page_size": 20}).raise_for_status()  # longer runs
    log = tmp_path / "workers.log"
    workers = [cli(target, "--worker", "--parallel", "2", log=log) for _ in range(3)]
    for worker in workers:
        assert worker.wait(timeout=300) == 0, log.read_text()[-3000:]
    assert differences(target, control, divisions, all_plans()) == []

    conn = open_target(target).connect()
    try:
        runs = conn.runs()
    finally:
        conn.close()
    items = [(r["table_name"], r["division"]) for r in runs]
    assert len(items) == len(set(items)) == len(divisions) * (len(all_plans()) + 1), sorted(items)
    assert all(r["status"] == "ok" for r in runs)
    assert len({r["pid"] for r in runs}) > 1  # the work was shared


def test_divisions_in_parallel_within_the_minute_windows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exact's 60 calls a minute per division (a sandbox minute lasting 3 s): three divisions load in
    parallel on one thread — a division waiting for its window holds none, so each window of the run serves
    every division — the waits for a window are reported, and the sandbox never has to answer 429."""
    from exactsql.api.session import open_session
    from exactsql.sandbox.process import SandboxProcess
    from tests.connections.helpers import isolated_env, make_connection

    env = isolated_env(tmp_path / "home", f"sqlite:///{tmp_path / 'state.db'}")
    for name in ("EXACTSQL_HOME", "EXACTSQL_STATE", "EXACTSQL_KEYRING", "EXACTSQL_SECRET_KEY"):
        monkeypatch.setenv(name, env[name])
    scale = 20
    with SandboxProcess("--divisions", "3", "--time-scale", str(scale)) as server:
        info = server.info
        with httpx.Client(base_url=info["base_url"], timeout=60) as control:
            control.post("/_sandbox/settings", json={"bulk_page_size": 10}).raise_for_status()
            make_connection(info, "eol")
            session = open_session("eol")
            try:
                session.login()
                url = f"sqlite:///{tmp_path / 'windows.db'}"
                since = time.time()
                started = time.monotonic()
                report = replicate(session, url, divisions="all", parallel=1)
                wall = time.monotonic() - started
                assert report.ok, report.outcomes
                stats = control.get("/_sandbox/stats").json()
                assert stats["rate_limited"] == 0, stats
                per_division = {
                    d: sum(o.calls for o in report.outcomes if o.division == d) for d in report.divisions
                }
                assert min(per_division.values()) > 120  # three windows each
                assert sum(o.waits for o in report.outcomes) > 0
                # the sandbox's minute windows (on its scaled clock) in which each division was called
                clock, real_at = control.get("/_sandbox/clock").json(), time.time()
                windows: dict[int, set[int]] = {}
                for entry in control.get("/_sandbox/requests", params={"limit": 5000}).json():
                    if entry["time"] >= since and entry.get("division") in per_division:
                        at = clock["now"] + (entry["time"] - real_at) * scale
                        windows.setdefault(math.floor(at / 60), set()).add(entry["division"])
                shared = sum(1 for called in windows.values() if len(called) == len(per_division))
                assert shared >= 2, windows  # one division after another would share none
                # in parallel: about as long as the busiest division needs, not the sum of all three
                window = 60 / scale
                assert wall < window * (0.8 * sum(math.ceil(n / 60) for n in per_division.values()) + 1), (
                    wall,
                    per_division,
                )
                assert differences(url, control, report.divisions, all_plans()) == []
            finally:
                session.close()
