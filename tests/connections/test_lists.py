"""What a session asks once: ``current/Me`` per login and the division list per max-age, kept in the state
store for every process; and queries over several divisions with a given number of workers, a division
waiting for its minute window holding none (against a real sandbox server)."""

from __future__ import annotations

import threading
import time

import httpx

from exactsql.api.session import open_session
from exactsql.sql.engine import Engine
from tests.connections.helpers import logged_in

ALL = "use all@eol; select count(*) from systemdivisions"


def calls_to(control: httpx.Client, endpoint: str) -> int:
    log = control.get("/_sandbox/requests", params={"limit": 20000}).json()
    return sum(1 for e in log if e["path"].endswith(endpoint) and e["path"].startswith("/api/v1/"))


def test_me_is_asked_once_per_login_across_sessions(
    sqlite_env: dict, scaled: dict, control: httpx.Client
) -> None:
    first = logged_in(scaled)  # the login reads current/Me
    Engine({"eol": first}).current_division("eol")
    second = open_session("eol")  # another process: same store, same chain
    assert Engine({"eol": second}).current_division("eol") == scaled["divisions"][0]
    assert calls_to(control, "current/Me") == 1


def test_the_division_list_is_kept_then_read_again_after_its_max_age(
    sqlite_env: dict, scaled: dict, control: httpx.Client
) -> None:
    session = logged_in(scaled, divisions_max_age=2)
    assert Engine({"eol": session}).run(ALL)[-1].table.to_pylist() == [{"count_star()": 2}]  # type: ignore[union-attr]
    again = Engine({"eol": open_session("eol")})
    again.run(ALL)
    assert calls_to(control, "system/Divisions") == 1  # the second use all cost no list call
    assert [io.calls for io in again.ios if io.endpoint == "system/Divisions"] == [0, 0]
    time.sleep(2.1)
    Engine({"eol": open_session("eol")}).run(ALL)
    assert calls_to(control, "system/Divisions") == 2
    Engine({"eol": open_session("eol")}, divisions_max_age=0).run(ALL)  # --divisions-max-age 0
    assert calls_to(control, "system/Divisions") == 4  # each statement reads it: use all, then the select


def test_a_division_waiting_for_its_window_holds_no_worker(
    sqlite_env: dict, scaled: dict, control: httpx.Client
) -> None:
    """2 divisions, one worker, 4 calls a window, 10 pages each: while a division waits for its window the
    worker reads the other, so their reads overlap (one after the other, each would wait for 2 windows)."""
    control.post(
        "/_sandbox/settings", json={"minutely_limit": 4, "regular_page_size": 10, "bulk_page_size": 10}
    ).raise_for_status()
    session = logged_in(scaled, minutely_limit=4)
    engine = Engine({"eol": session}, workers=1)
    threads: set[str] = set()
    engine.on_page = lambda *_: threads.add(threading.current_thread().name)
    rows = engine.run("use all@eol; select count(*) from glaccounts where description <> 'x'")[-1].table
    assert rows is not None
    log = control.get("/_sandbox/requests", params={"limit": 1000}).json()
    reads: dict[int, list[float]] = {}
    for entry in log:
        if entry["path"].lower().endswith("financial/glaccounts"):
            reads.setdefault(entry["division"], []).append(entry["time"])
    assert len(reads) == 2 and all(len(times) >= 8 for times in reads.values()), reads
    assert max(min(t) for t in reads.values()) < min(max(t) for t in reads.values())  # all in flight at once
    assert control.get("/_sandbox/stats").json()["rate_limited"] == 0
    assert len(threads) == 1


def test_workers_read_divisions_at_once(sqlite_env: dict, scaled: dict, control: httpx.Client) -> None:
    session = logged_in(scaled)
    threads: set[str] = set()
    engine = Engine(
        {"eol": session}, workers=2, on_page=lambda *_: threads.add(threading.current_thread().name)
    )
    engine.run("use all@eol; select count(*) from glaccounts where description <> 'x'")
    assert 1 <= len(threads) <= 2 and all(t.startswith("exactsql-fetch") for t in threads), threads


def test_the_workers_option_is_checked_before_any_call(
    sqlite_env: dict, scaled: dict, control: httpx.Client
) -> None:
    import subprocess
    import sys

    logged_in(scaled)
    done = subprocess.run(
        [sys.executable, "-m", "exactsql", "query", "--workers", "0", "select 1 from dual"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0 and "--workers 0" in done.stderr and "Traceback" not in done.stderr
    done = subprocess.run(
        [sys.executable, "-m", "exactsql", "query", "--workers", "3", ALL],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    log = control.get("/_sandbox/requests", params={"limit": 100}).json()
    calls = [e["path"].split("/", 3)[-1] for e in log if e["path"].startswith("/api/v1/")]
    assert calls == ["current/Me", f"{scaled['divisions'][0]}/system/Divisions"]  # Me: the login's own
