"""Many processes, one token chain and one rate/error budget: short runs of benchmarks/cluster_tokens.py.

Each test starts a real sandbox server (sped up by a time scale) and real worker processes
(benchmarks/cluster_worker.py) that share a state store; the sandbox's control plane says what Exact would
have seen. The benchmark runs the long versions (6 simulated hours, 100 kill trials).
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.cluster_tokens import (
    POINTS,
    error_scenario,
    kill_scenario,
    rate_scenario,
    token_scenario,
)

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
    """SIGKILL while holding the refresh lock: the others refresh and carry on. SIGKILL between Exact's
    answer and the store write: the new pair dies with the process (no client can save it); the others
    see 'Old refresh token used' once, mark the chain broken and stop, and a new login restores them."""
    series = kill_scenario(sqlite_url(tmp_path), tmp_path / "run", trials=10, processes=4, time_scale=120, seed=7)
    trials = series.trials
    assert len(trials) == 10
    assert {t.point for t in trials} == set(POINTS)
    for t in trials:
        if t.point == "refresh_lock_held":
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


def test_an_endpoint_answering_400_stops_at_the_reserve(tmp_path: Path) -> None:
    """8 processes on a GET that answers 400: exactly the reserve is spent, Exact never blocks the key."""
    r = error_scenario(sqlite_url(tmp_path), tmp_path / "run", processes=8, seconds=3)
    assert r["crashed"] == 0, r
    assert r["errors_sent"] == r["reserve"] == 8, r
    assert r["error_budget_blocks"] == 0, r
    assert r["refused_by_exactsql"] > 0, r
    assert set(r["worker_errors"]) == {"ApiError:400", "ErrorBudgetError"}, r
