"""Many processes, one token chain and one rate/error budget: short runs of benchmarks/cluster_tokens.py.

Each test starts a real sandbox server (sped up by a time scale) and real worker processes
(benchmarks/cluster_worker.py) that share a state store; the sandbox's control plane says what Exact would
have seen. The benchmark runs the long versions (6 simulated hours, 100 kill trials).
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from benchmarks.cluster_tokens import (
    POINTS,
    error_scenario,
    kill_scenario,
    outage_scenario,
    rate_scenario,
    token_scenario,
)

from exactsql.api.budget import RateBudget, RateState, Window
from exactsql.api.error_budget import ErrorBudget
from exactsql.errors import ErrorBudgetError
from exactsql.state.memory import MemoryStore

#: 600 / 60 = a token lives 10 s and may be refreshed in its last 0.5 s; a minute window lasts 1 s.
TIME_SCALE = 60


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'state' / 'state.db'}"


def test_sixteen_processes_share_one_chain(store_url: str, tmp_path: Path) -> None:
    """16 processes × half a simulated hour: one refresh per token life, no errors Exact would count."""
    r = token_scenario(store_url, tmp_path / "run", processes=16, hours=0.5, time_scale=TIME_SCALE)
    assert r["crashed"] == 0, r
    assert r["token_bound"] == 4
    assert 3 <= r["token_calls"] <= r["token_bound"], r  # the login, then one refresh per 10 simulated min
    assert sum(r["refreshes_by_process"]) == r["token_calls"] - 1, r
    assert r["old_refresh_token"] == 0, r
    assert r["too_early"] == 0, r
    assert r["token_errors_other"] == 0, r
    assert r["expired_401"] == 0, r
    assert r["rate_limited_429"] == 0, r
    assert r["error_budget_blocks"] == 0, r
    assert r["worker_errors"] == {}, r
    assert r["chain_broken"] is None, r
    assert r["calls_ok"] > 1000, r  # they did call, continuously: the division's minute windows were full


def test_kill_at_the_refresh_failpoints(tmp_path: Path) -> None:
    """SIGKILL while holding the refresh lock, or after the new pair is stored: the others refresh and carry
    on. SIGKILL between Exact's
    answer and the store write: the new pair dies with the process (no client can save it); the others
    see 'Old refresh token used' once, mark the chain broken and stop, and a new login restores them."""
    series = kill_scenario(
        sqlite_url(tmp_path), tmp_path / "run", trials=12, processes=4, time_scale=150, seed=7
    )
    trials = series.trials
    assert len(trials) == 12
    assert {t.point for t in trials} == set(POINTS)
    for t in trials:
        if t.point in ("refresh_lock_held", "token_stored"):
            assert t.outcome == "survived", t
            assert t.old_refresh_token == 0, t
        else:
            assert t.landed, t
            assert t.outcome == "broken", t
            assert t.old_refresh_token == 1, t  # one process learns it; the rest read the broken mark
        assert t.too_early == 0, t
        assert t.expired_401 == 0, t
    assert series.relogins == series.count("token_response_received")
    assert set(series.survivor_errors) <= {"ChainBrokenError"}, series.survivor_errors


@pytest.mark.parametrize("backend", ["postgresql", "redis"])
def test_a_store_killed_at_the_token_answer_loses_nothing(backend: str, tmp_path: Path) -> None:
    """The store dies the moment Exact has rotated the chain and comes back 4 s later: the new pair was kept
    (memory, rescue file) and stored, every process calls again, none hangs."""
    r = outage_scenario(backend, tmp_path / "run", processes=3, downs=(4,), time_scale=TIME_SCALE)
    assert [t["outcome"] for t in r["trials"]] == ["survived"], r
    assert r["chain_broken"] is None, r
    assert r["old_refresh_token"] == 0, r
    assert r["killed_at_stop"] == 0, r
    assert r["trials"][0]["recovered"] < 15, r


def test_four_processes_fill_the_minute_windows(tmp_path: Path) -> None:
    """4 processes as fast as they can on one division for 5 simulated minutes: full windows, never over."""
    r = rate_scenario(sqlite_url(tmp_path), tmp_path / "run", processes=4, minutes=5, time_scale=TIME_SCALE)
    assert r["crashed"] == 0, r
    assert r["windows"] == 5, r
    assert r["max_in_window_headers"] <= r["limit"], r
    assert r["max_in_window_log"] <= r["limit"], r
    assert r["rate_limited_429"] == 0, r
    assert r["utilisation"] >= 0.95, r
    assert r["worker_errors"] == {}, r


def test_leases_of_four_processes_never_overrun_a_raised_limit(tmp_path: Path) -> None:
    """A limit of 200 a minute: each process counts 20 calls of a window at once (a lease), and together
    they still never pass the limit, nor get a 429."""
    r = rate_scenario(
        sqlite_url(tmp_path), tmp_path / "run", processes=4, minutes=4, time_scale=TIME_SCALE, limit=200
    )
    assert r["crashed"] == 0, r
    assert r["limit"] == 200, r
    assert r["max_in_window_headers"] <= 200 and r["max_in_window_log"] <= 200, r
    assert r["rate_limited_429"] == 0, r
    assert r["worker_errors"] == {}, r


def test_an_endpoint_answering_400_stops_at_the_reserve(tmp_path: Path) -> None:
    """8 processes on a GET that answers 400: exactly the reserve is spent, Exact never blocks the key."""
    r = error_scenario(sqlite_url(tmp_path), tmp_path / "run", processes=8, seconds=3)
    assert r["crashed"] == 0, r
    assert r["errors_sent"] == r["reserve"] == 8, r
    assert r["error_budget_blocks"] == 0, r
    assert r["refused_by_exactsql"] > 0, r
    assert set(r["worker_errors"]) == {"ApiError:400", "ErrorBudgetError"}, r


# --- the budget rules these runs rely on: one process, no servers ------------------------------------------

GL = "financial/glaccounts"


class FixedClock:
    def __init__(self, now: float) -> None:
        self.t = now

    def now(self) -> float:
        return self.t


def rates_at(now: float, minute: Window | None = None) -> tuple[RateBudget, FixedClock]:
    store, clock = MemoryStore(), FixedClock(now)
    rates = RateBudget(store, "app", 60, 5000, clock)  # type: ignore[arg-type]
    if minute is not None:
        state = RateState(minute, Window(limit=5000)).dump()
        store.update(rates._key(1), lambda _: (state, None))
    return rates, clock


def test_a_window_learns_its_length_across_a_roll() -> None:
    """Processes roll a window before the next answer comes: its length is learned all the same, so the
    guard at its ends is 3% of it, not half a second (a whole window at time scale 120)."""
    w = Window(limit=60)
    w.reconcile(60, 59, 100.0)
    w.roll(100.6)
    w.used += 1
    w.reconcile(60, 59, 101.0)
    assert w.length == pytest.approx(1.0)
    assert w.guard() == pytest.approx(0.03)


def test_a_late_answer_from_the_ended_window_keeps_the_new_count() -> None:
    w = Window(used=60, limit=60, reset=100.0, length=1.0)
    w.roll(100.05)
    w.used = 7  # admitted in the new window, still in flight
    w.reconcile(60, 0, 100.0)  # an answer from the full window that ended
    assert (w.used, w.reset) == (7, None)


def test_a_call_that_lands_in_the_next_window_is_counted_there() -> None:
    w = Window(used=10, limit=60, reset=101.0, ended=100.0, length=1.0)
    w.reconcile(60, 50, 101.0, admitted=100.0)  # counted in the window ending at 100 here, at 101 by Exact
    assert w.used == 11


@pytest.mark.parametrize(
    ("now", "used", "waits"),
    [(100.5, 60, True), (100.5, 10, False), (100.975, 10, True), (101.02, 10, True), (101.04, 10, False)],
)
def test_no_call_close_to_a_reset(now: float, used: int, waits: bool) -> None:
    """A window in use closes 3% of its length before its reset and the next opens 3% after it (this clock
    may run a little ahead of Exact's); a full window waits until then too."""
    rates, clock = rates_at(now, Window(used=used, limit=60, reset=101.0, length=1.0))
    done = threading.Event()
    threading.Thread(target=lambda: (rates.acquire(1), done.set()), daemon=True).start()
    assert done.wait(0.2) is not waits
    clock.t = 101.05
    assert done.wait(2)


def test_a_429_from_a_window_already_rolled_past_leaves_the_new_one() -> None:
    rates, _ = rates_at(101.05, Window(used=60, limit=60, reset=101.0, length=1.0))
    assert rates.acquire(1) == pytest.approx(102.0)  # rolled: counted in the window ending at 102
    before = rates.state(1)
    assert rates.exhausted(1, {"X-RateLimit-Minutely-Reset": "101000"}) > 0  # wait a moment, then again
    assert rates.state(1) == before  # neither the count nor the reset moved back


def test_calls_in_flight_hold_the_rest_of_the_error_reserve() -> None:
    """Errors plus calls in flight never exceed the reserve: however many processes call an endpoint that
    fails, Exact never counts more than the reserve."""
    errors = ErrorBudget(MemoryStore(), "app", "user", 10, 8, FixedClock(time.time()))  # type: ignore[arg-type]
    tickets = [errors.admit(1, GL) for _ in range(8)]
    admitted: list[str] = []
    waiter = threading.Thread(target=lambda: admitted.append(errors.admit(1, GL)), daemon=True)
    waiter.start()
    waiter.join(0.1)
    assert waiter.is_alive()  # 8 in flight: every one of them may fail
    errors.settle(tickets[0], 400, 1, GL)
    waiter.join(0.1)
    assert waiter.is_alive()  # 1 error + 7 in flight
    errors.settle(tickets[1], 200, 1, GL)
    waiter.join(2)
    assert admitted  # 1 error + 6 in flight: room for one more
    for ticket in [*tickets[2:], admitted[0]]:
        errors.settle(ticket, 400, 1, GL)
    assert errors.used(1, GL) == 8
    with pytest.raises(ErrorBudgetError):
        errors.admit(1, GL)
