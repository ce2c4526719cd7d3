"""A cluster of processes sharing one Exact Online token chain and one rate/error budget through a state store.

Scenarios, each against a real sandbox server (``exactsql sandbox``, one division, sped up by a time scale)
and a fresh state store of each backend (SQLite file; PostgreSQL and Redis servers started here):

* tokens: ``--processes`` worker processes call the API continuously for ``--hours`` simulated hours. The
  sandbox counts token-endpoint calls (bound: one per 10 simulated minutes plus the login), "Old refresh
  token used", too-early refreshes, 401s for expired access tokens and 429s.
* kill: ``--kill-trials`` times, one process is SIGKILLed at one of three spots of a refresh, in turn
  (failpoints of :mod:`exactsql.failpoints`): holding the refresh lock before the token call
  (``refresh_lock_held``), just after the token endpoint answered and the new pair was stored, lock still
  held (``token_stored``), and between Exact's answer and the store write (``token_response_received``). A
  trial survives when the others go on calling with a newer token and the chain is not broken. A kill in the
  last spot lands after Exact rotated the chain and before anyone else can know the new refresh token: it
  dies with the process, which no client can prevent. Those trials show what happens then (one "Old refresh
  token used", the chain marked broken, every process told to log in again); the tokens scenario measures
  how long that window is open, hence how often a kill at a random moment would land in it.
* rate: ``--rate-processes`` processes read one division as fast as they can for ``--rate-minutes``
  simulated minutes; per sandbox minute window: calls admitted (never above the limit), utilisation, 429s.
* outage: the state store (PostgreSQL or Redis) is SIGKILLed at the moment the token endpoint has answered a
  refresh (failpoint ``token_response_received``, paused), stays down for 3 to 55 s and is started again
  with its data: the new pair must survive (kept in memory and in a rescue file until the store is back) and
  no process may hang.
* errors: processes call an endpoint that answers 400; exactsql stops at its reserve (8 of Exact's 10 per
  hour), so the sandbox never blocks the key.

Usage: python benchmarks/cluster_tokens.py [--backends sqlite,postgresql,redis] [--processes 16] [--hours 6]
       [--time-scale 60] [--kill-trials 150] [--kill-time-scale 150] [--rate-processes 4] [--rate-minutes 5]

Time scales must divide 600 (the sandbox reports whole seconds of token lifetime). At 60 a token lives 10 s
and the broker refreshes it 0.25 s before it expires; a minute window lasts 1 s, and the rate budget keeps
3% of it (30 ms) clear at each end. On 2 cores shared by 16 workers, a store server and the sandbox, the
time from a rate admission to the request's arrival must stay below that, which 60 gives and 120 (15 ms)
did not always. The kill trials count no 429s or 401s, so they run at 150 (a token lives 4 s). The error
scenario runs at 1: the sandbox's hour is then the client's UTC hour, as with Exact. The functions are
importable: tests/connections/test_cluster.py runs short versions of the same scenarios.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import random
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run by path: tests.* (helpers, servers) live next to benchmarks/
    sys.path.insert(0, str(ROOT))

from benchmarks.cluster_harness import (  # noqa: E402
    BACKENDS,
    Cluster,
    Stores,
    WorkerProcess,
    check_time_scale,
    crashed,
    error_samples,
    merge_errors,
    wait_for,
)
from exactsql.failpoints import POINTS as FAILPOINTS  # noqa: E402

#: The failpoints of a token refresh, where the kill trials strike (the workers never reach the others, such
#: as a write's).
POINTS = tuple(p for p in FAILPOINTS if p.startswith(("refresh_", "token_")))

GL_ACCOUNT = {"$filter": "Code eq '1000'", "$select": "Code"}
MINUTE = 60
#: Sixteen processes that never rest would spend a division's 5,000 calls a (simulated) day in 83 simulated
#: minutes; the long scenarios measure tokens and minute windows, so the sandbox and the connection get a
#: daily limit that lasts.
DAILY_CALLS = 1_000_000
#: The kill trials also lift the token-call limit: the client counts token calls per real UTC day, which at
#: a time scale of 120 holds 120 simulated days of refreshes, and every broken trial costs a new login.
UNLIMITED_TOKEN_CALLS = 1_000_000
#: And the token endpoint's error reserve: every kill that lands between Exact's answer and the store write
#: costs one "Old refresh token used" (a 401 that Exact counts), and the client counts them per real UTC hour
#: (never shorter than Exact's), which at a time scale of 150 holds 150 of the sandbox's hours.
KILL_ERROR_LIMIT, KILL_ERROR_RESERVE = 1_000_000, 999_999


# ------------------------------------------------------------------------------------------------------
# tokens: many processes, one chain, for hours
# ------------------------------------------------------------------------------------------------------


def token_bound(hours: float) -> int:
    """Token-endpoint calls allowed for ``hours`` simulated hours: one per 10 simulated minutes, plus the login."""
    return int(hours * 6) + 1


def token_scenario(
    store_url: str, workdir: Path, processes: int = 16, hours: float = 6.0, time_scale: float = 60
) -> dict:
    """``processes`` workers call continuously for ``hours`` simulated hours, counted from the login."""
    check_time_scale(time_scale)
    real = hours * 3600 / time_scale
    with Cluster(
        store_url, workdir, time_scale, {"daily_limit": DAILY_CALLS}, daily_limit=DAILY_CALLS
    ) as cluster:
        workers = cluster.start_workers(processes, "mix")
        cluster.wait_ready(workers)
        chain = cluster.login()
        start = time.time()
        until = chain.received_at + real  # the chain's life from the login is the measured period
        Cluster.go(workers, start, until)
        summaries = Cluster.finish(workers, timeout=until - time.time() + 60)
        stats = cluster.stats()
        final = cluster.chain()
    windows = [w for s in summaries for w in s.get("token_windows", [])]
    ok = sum(s.get("ok", 0) for s in summaries)
    return {
        "processes": processes,
        "hours": hours,
        "time_scale": time_scale,
        "real_seconds": round(real, 1),
        "token_calls": stats["token_calls"],
        "token_bound": token_bound(hours),
        "old_refresh_token": stats["token_errors"]["old_refresh_token"],
        "too_early": stats["token_errors"]["too_early"],
        "token_errors_other": stats["token_errors"]["other"] + stats["token_errors"]["limit_exceeded"],
        "expired_401": stats["expired_token_401"],
        "rate_limited_429": stats["rate_limited"],
        "error_budget_blocks": stats["error_budget_blocks"],
        "api_calls": stats["api_calls"],
        "by_status": stats["by_status"],
        "calls_ok": ok,
        "calls_per_second": round(ok / real, 1),
        "worker_errors": merge_errors(summaries),
        "worker_error_samples": error_samples(summaries),
        "crashed": len(crashed(summaries)),
        "refreshes_by_process": sorted((s.get("refreshes", 0) for s in summaries), reverse=True),
        "chain_version": final.version if final else None,
        "chain_broken": final.broken if final else "missing",
        "window_ms_mean": round(1000 * statistics.fmean(windows), 2) if windows else None,
        "window_ms_max": round(1000 * max(windows), 2) if windows else None,
        # The chance that a kill -9 of a random worker at a random moment lands between a token response
        # and its store write: time spent in such windows over all process-time.
        "window_exposure": sum(windows) / (processes * real) if windows else 0.0,
        # Every process runs on this machine, so the true offset to the store's clock is 0: this is the
        # error of each process's measurement of it (StoreClock, once, when the session opens).
        "clock_error_ms_max": round(1000 * max(abs(s.get("clock_skew") or 0) for s in summaries), 2),
    }


# ------------------------------------------------------------------------------------------------------
# kill: SIGKILL at the failpoints, the others carry on
# ------------------------------------------------------------------------------------------------------


@dataclass
class KillTrial:
    point: str
    outcome: str  # survived, broken, missed (the failpoint was not reached), stalled
    seconds: float
    landed: bool = False  # killed after the sandbox rotated the chain (200), before the store write
    old_refresh_token: int = 0
    expired_401: int = 0
    too_early: int = 0
    detail: str = ""


@dataclass
class KillSeries:
    trials: list[KillTrial] = field(default_factory=list)
    survivor_errors: dict[str, int] = field(default_factory=dict)
    survivor_error_samples: dict[str, str] = field(default_factory=dict)
    relogins: int = 0

    def count(self, point: str | None = None, outcome: str | None = None) -> int:
        return sum(
            1
            for t in self.trials
            if (point is None or t.point == point) and (outcome is None or t.outcome == outcome)
        )

    def as_dict(self) -> dict:
        out: dict[str, Any] = {"trials": len(self.trials), "relogins": self.relogins}
        for point in POINTS:
            out[point] = {
                o: self.count(point, o)
                for o in ("survived", "broken", "missed", "stalled")
                if self.count(point, o)
            }
            out[point]["total"] = self.count(point)
        out["survived"] = self.count(outcome="survived")
        landed = [t for t in self.trials if t.landed]
        out["landed"] = len(landed)
        out["landed_broken"] = sum(1 for t in landed if t.outcome == "broken")
        out["old_refresh_token"] = sum(t.old_refresh_token for t in self.trials)
        out["expired_401"] = sum(t.expired_401 for t in self.trials)
        out["too_early"] = sum(t.too_early for t in self.trials)
        out["survivor_errors"] = self.survivor_errors
        return out


def _survivors_calling_after(survivors: list[WorkerProcess], moment: float) -> bool:
    return all(w.read_status().get("last_ok", 0) > moment for w in survivors)


def armed_worker(cluster: Cluster, point: str, n: int) -> tuple[WorkerProcess, Path]:
    """A worker that stops at failpoint ``point`` (started, waiting for :meth:`Cluster.go`), and its marker."""
    marker = cluster.workdir / f"marker-{n}"
    (victim,) = cluster.start_workers(1, "spin", failpoints={point: marker}, one_by_one=False)
    return victim, marker


def kill_trial(
    cluster: Cluster, survivors: list[WorkerProcess], point: str, victim: WorkerProcess, marker: Path
) -> KillTrial:
    """One trial: ``victim``, armed at ``point``, joins and reaches it and is SIGKILLed; do the others carry on?"""
    life = cluster.lifetime
    started = time.monotonic()
    Cluster.go([victim], time.time(), None)
    reached = wait_for(lambda: marker.exists() and marker.read_text().strip() != "", 6 * life + 20)
    if not reached:
        Cluster.stop([victim])
        return KillTrial(point, "missed", time.monotonic() - started, detail="failpoint not reached")
    pid = int(marker.read_text())
    assert pid == victim.pid, (pid, victim.pid)
    before_stats, before = cluster.stats(), cluster.chain()
    tokens = [e for e in cluster.requests(200) if e["path"].rstrip("/") == "/api/oauth2/token"]
    landed = point == "token_response_received" and bool(tokens) and tokens[-1]["status"] == 200
    os.kill(pid, signal.SIGKILL)
    victim.proc.wait()
    killed_at = time.time()
    # The old access token expires at before.expires_at: a survivor that calls after that uses a newer one.
    moment = max(killed_at, before.expires_at) + 0.05

    def settled() -> bool:
        chain = cluster.chain()
        if chain is None or chain.broken:
            return True
        return chain.version > before.version and _survivors_calling_after(survivors, moment)

    # Redis frees a dead holder's lock within its lease (2 s); the others within milliseconds.
    ok = wait_for(settled, 4 * life + 20, step=0.05)
    after_stats, after = cluster.stats(), cluster.chain()
    outcome = "broken" if after is None or after.broken else "survived" if ok else "stalled"
    return KillTrial(
        point,
        outcome,
        time.monotonic() - started,
        landed,
        after_stats["token_errors"]["old_refresh_token"] - before_stats["token_errors"]["old_refresh_token"],
        after_stats["expired_token_401"] - before_stats["expired_token_401"],
        after_stats["token_errors"]["too_early"] - before_stats["token_errors"]["too_early"],
        detail="" if after is None else (after.broken or ""),
    )


def kill_scenario(
    store_url: str,
    workdir: Path,
    trials: int = 100,
    processes: int = 4,
    time_scale: float = 150,
    seed: int | None = None,
    points: tuple[str, ...] = POINTS,
    progress: Any = None,
) -> KillSeries:
    """``trials`` kills, the failpoints in turn (shuffled by ``seed``), among ``processes`` processes."""
    check_time_scale(time_scale)
    rng = random.Random(seed)
    plan = [points[i % len(points)] for i in range(trials)]
    rng.shuffle(plan)
    series = KillSeries()
    settings = {"token_calls_per_day": UNLIMITED_TOKEN_CALLS, "daily_limit": DAILY_CALLS}
    with Cluster(
        store_url,
        workdir,
        time_scale,
        settings,
        token_calls_per_day=UNLIMITED_TOKEN_CALLS,
        error_limit=KILL_ERROR_LIMIT,
        error_reserve=KILL_ERROR_RESERVE,
        daily_limit=DAILY_CALLS,
    ) as cluster:
        cluster.login()
        survivors = cluster.start_workers(processes - 1, "mix")
        cluster.wait_ready(survivors)
        Cluster.go(survivors, time.time(), None)
        if not wait_for(lambda: _survivors_calling_after(survivors, 0), 60):
            raise RuntimeError(f"the workers do not call: {[w.summary() for w in survivors]}")
        armed = armed_worker(cluster, plan[0], 0) if plan else None
        for n, point in enumerate(plan):
            assert armed is not None
            victim, marker = armed
            # The next victim opens its session while this trial runs (it waits for its go file).
            armed = armed_worker(cluster, plan[n + 1], n + 1) if n + 1 < len(plan) else None
            trial = kill_trial(cluster, survivors, point, victim, marker)
            series.trials.append(trial)
            if progress is not None:
                progress(n, trial)
            if trial.outcome == "broken":
                cluster.login()  # what an operator does: sign in again; the survivors pick the new chain up
                series.relogins += 1
                since = time.time()
                wait_for(
                    lambda since=since: _survivors_calling_after(survivors, since), 4 * cluster.lifetime + 20
                )
            for w in survivors:
                if w.proc.poll() is not None:
                    raise RuntimeError(f"a surviving worker died: {w.summary()}")
        summaries = Cluster.stop(survivors)
    series.survivor_errors = merge_errors(summaries)
    series.survivor_error_samples = error_samples(summaries)
    return series


# ------------------------------------------------------------------------------------------------------
# outage: the state store killed mid-refresh and brought back
# ------------------------------------------------------------------------------------------------------


@dataclass
class OutageTrial:
    down: float  # seconds the store was down
    outcome: str  # survived, broken, stalled, missed
    recovered: float  # seconds from the restart until every worker called successfully again
    old_refresh_token: int = 0


def _quietly(read: Any) -> Any:
    """``read()``, or None while the store is still coming back."""
    try:
        return read()
    except Exception:
        return None


def outage_scenario(
    backend: str,
    workdir: Path,
    processes: int = 8,
    downs: tuple[float, ...] = (3, 15, 30, 55),
    time_scale: float = 60,
) -> dict:
    """``processes`` workers call continuously; at each of ``len(downs)`` refreshes, the moment the token
    endpoint has answered (the failpoint ``token_response_received``, paused), the state store is killed
    (SIGKILL), stays down for the given seconds and is started again with its data. The chain must survive
    every outage (the new pair is kept in memory and in a rescue file until the store is back) and no process
    may hang."""
    from tests.servers import start_postgres, start_redis

    check_time_scale(time_scale)
    workdir.mkdir(parents=True, exist_ok=True)
    server = start_postgres() if backend == "postgresql" else start_redis(persistent=True)
    trials: list[OutageTrial] = []
    try:
        marker = workdir / "paused-at-token-answer"
        settings = {"daily_limit": DAILY_CALLS}
        with Cluster(server.url, workdir, time_scale, settings, daily_limit=DAILY_CALLS) as cluster:
            workers = cluster.start_workers(
                processes, "mix", failpoints={"token_response_received": marker}, pause=True
            )
            cluster.wait_ready(workers)
            cluster.login()
            Cluster.go(workers, time.time(), None)
            for down in downs:
                reached = wait_for(lambda: marker.exists() and marker.read_text().strip() != "", 60)
                if not reached:
                    trials.append(OutageTrial(down, "missed", 0.0))
                    continue
                before_stats, before = cluster.stats(), cluster.chain()
                server.kill()
                marker.unlink()  # the paused process goes on: its store write meets the outage
                time.sleep(down)
                server.restart()
                back = time.time()

                def settled(before: Any = before, back: float = back) -> bool:
                    if marker.exists() and marker.read_text().strip():
                        marker.unlink()  # a refresh while recovering (the pair expired meanwhile) goes on
                    chain = _quietly(cluster.chain)
                    if chain is not None and chain.broken:
                        return True
                    return (
                        chain is not None
                        and chain.version > before.version
                        and _survivors_calling_after(workers, back)
                    )

                ok = wait_for(settled, 120, step=0.1)
                after = _quietly(cluster.chain)
                outcome = "broken" if after is not None and after.broken else "survived" if ok else "stalled"
                stats = cluster.stats()
                trials.append(
                    OutageTrial(
                        down,
                        outcome,
                        round(time.time() - back, 1),
                        stats["token_errors"]["old_refresh_token"]
                        - before_stats["token_errors"]["old_refresh_token"],
                    )
                )
                for w in workers:
                    if w.proc.poll() is not None:
                        raise RuntimeError(f"a worker died: {w.summary()}")
            hung_before = sum(1 for w in workers if w.proc.poll() is None)
            stopped = time.monotonic()
            summaries = Cluster.stop(workers)
            stop_seconds = time.monotonic() - stopped
            final, stats = cluster.chain(), cluster.stats()
    finally:
        server.stop()
    return {
        "backend": backend,
        "processes": processes,
        "time_scale": time_scale,
        "trials": [t.__dict__ for t in trials],
        "survived": sum(1 for t in trials if t.outcome == "survived"),
        "chain_broken": final.broken if final else "missing",
        "old_refresh_token": stats["token_errors"]["old_refresh_token"],
        "token_calls": stats["token_calls"],
        "running_before_stop": hung_before,
        "stop_seconds": round(stop_seconds, 1),
        "killed_at_stop": sum(1 for s in summaries if "crashed" in s),
        "worker_errors": merge_errors(summaries),
        "worker_error_samples": error_samples(summaries),
    }


def _print_outage(r: dict) -> None:
    ok = r["survived"] == len(r["trials"]) and not r["chain_broken"] and r["killed_at_stop"] == 0
    print(
        f"  outage  {r['processes']} processes; the store killed at the token answer and restarted "
        f"{len(r['trials'])} times (time scale {r['time_scale']:g}): {'PASS' if ok else 'FAIL'}"
    )
    for t in r["trials"]:
        print(
            f"    down {t['down']:>4g} s: {t['outcome']}, every process calling again {t['recovered']} s "
            f"after the restart; 'Old refresh token used' {t['old_refresh_token']}"
        )
    print(
        f"    chain broken: {r['chain_broken'] or 'no'}; token-endpoint calls {r['token_calls']}; "
        f"workers stopped on SIGTERM in {r['stop_seconds']} s, none hung ({r['killed_at_stop']} killed)"
    )
    print(f"    worker exceptions during the outages {r['worker_errors'] or 'none'}")
    for kind, message in r["worker_error_samples"].items():
        print(f"      {kind}: {message}")


# ------------------------------------------------------------------------------------------------------
# rate: a few processes, one division, as fast as they can
# ------------------------------------------------------------------------------------------------------


def rate_scenario(
    store_url: str,
    workdir: Path,
    processes: int = 4,
    minutes: float = 5,
    time_scale: float = 60,
    limit: int | None = None,
) -> dict:
    """``processes`` workers read one division as fast as they can for ``minutes`` simulated minutes
    (``limit``: a raised minute limit of the app, in the sandbox and the connection)."""
    check_time_scale(time_scale)
    window = MINUTE / time_scale
    real = minutes * window
    raised: dict = {} if limit is None else {"minutely_limit": limit}
    with Cluster(store_url, workdir, time_scale, sandbox_settings=raised, **raised) as cluster:
        workers = cluster.start_workers(processes, "division")
        cluster.wait_ready(workers)
        cluster.login()
        # One call learns where the sandbox's windows lie (and teaches the shared budget): start at a reset.
        response = cluster.session.client().request(
            "GET", "financial/GLAccounts", GL_ACCOUNT, cluster.division
        )
        start = int(response.headers["X-RateLimit-Minutely-Reset"]) / 1000
        until = start + real
        Cluster.go(workers, start, until)
        summaries = Cluster.finish(workers, timeout=until - time.time() + 60)
        stats = cluster.stats()
        log = cluster.requests()
        limit = int(cluster.session.connection.minutely_limit)
        division = cluster.division
    # The sandbox's windows: every reset header is a boundary (real epoch ms, rounded up); the others are
    # whole windows away from it.
    resets = sorted({int(r) for s in summaries for r in s.get("windows", {})})
    if not resets:
        raise RuntimeError(f"no rate headers seen: {summaries}")
    origin = resets[0] / 1000

    def index(t: float) -> int:
        return math.floor((t - origin) / window + 1e-9)

    calls = [e for e in log if e.get("division") == division and e["path"].startswith("/api/v1/")]
    admitted = Counter(index(e["time"]) for e in calls if e["status"] != 429)
    # From the response headers: per window (its reset), the calls the sandbox had counted in it.
    by_header: Counter[int] = Counter()
    for s in summaries:
        for reset, (n, _) in s.get("windows", {}).items():
            by_header[index(int(reset) / 1000 - window / 2)] += n
    full = list(range(index(start + window / 2), index(until - window / 2) + 1))
    used = sum(by_header[i] for i in full)
    return {
        "processes": processes,
        "minutes": minutes,
        "time_scale": time_scale,
        "limit": limit,
        "windows": len(full),
        "max_in_window_log": max((admitted[i] for i in full), default=0),
        "max_in_window_headers": max((by_header[i] for i in full), default=0),
        "per_window_headers": [by_header[i] for i in full],
        "per_window_log": [admitted[i] for i in full],
        "utilisation": used / (limit * len(full)) if full else 0.0,
        "rate_limited_429": stats["rate_limited"],
        "calls_ok": sum(s.get("ok", 0) for s in summaries),
        "worker_errors": merge_errors(summaries),
        "worker_error_samples": error_samples(summaries),
        "crashed": len(crashed(summaries)),
    }


# ------------------------------------------------------------------------------------------------------
# errors: an endpoint that keeps answering 400
# ------------------------------------------------------------------------------------------------------


def error_scenario(
    store_url: str, workdir: Path, processes: int = 4, seconds: float = 5.0, time_scale: float = 1
) -> dict:
    """``processes`` workers call a GET that answers 400 for ``seconds``; at time scale 1 the sandbox's hour
    is the client's (the UTC clock hour), so the two budgets count the same errors."""
    to_hour = 3600 - time.time() % 3600
    if to_hour < seconds + 10:  # do not straddle an hour: both sides would start counting afresh
        time.sleep(to_hour + 0.5)
    with Cluster(store_url, workdir, time_scale) as cluster:
        workers = cluster.start_workers(processes, "errors")
        cluster.wait_ready(workers)
        cluster.login()
        start = time.time()
        Cluster.go(workers, start, start + seconds)
        summaries = Cluster.finish(workers, timeout=seconds + 60)
        stats = cluster.stats()
        reserve = int(cluster.session.connection.error_reserve)
        limit = int(cluster.session.connection.error_limit)
    errors = merge_errors(summaries)
    return {
        "processes": processes,
        "seconds": seconds,
        "errors_sent": int(stats["by_status"].get("400", 0)),
        "reserve": reserve,
        "limit": limit,
        "refused_by_exactsql": errors.get("ErrorBudgetError", 0),
        "error_budget_blocks": stats["error_budget_blocks"],
        "worker_errors": errors,
        "crashed": len(crashed(summaries)),
    }


# ------------------------------------------------------------------------------------------------------
# the benchmark
# ------------------------------------------------------------------------------------------------------


def _print_tokens(r: dict) -> None:
    ok = (
        r["token_calls"] <= r["token_bound"]
        and r["old_refresh_token"] == r["too_early"] == r["expired_401"] == r["rate_limited_429"] == 0
    )
    print(
        f"  tokens  {r['processes']} processes × {r['hours']:g} simulated h (time scale {r['time_scale']:g}, "
        f"{r['real_seconds']:g} s real): {'PASS' if ok else 'FAIL'}"
    )
    print(f"    token-endpoint calls        {r['token_calls']} (bound {r['token_bound']}, one chain)")
    print(
        f"    old refresh token used      {r['old_refresh_token']}    too early {r['too_early']}    "
        f"other token errors {r['token_errors_other']}"
    )
    print(
        f"    401 expired token           {r['expired_401']}    429 {r['rate_limited_429']}    "
        f"error-budget blocks {r['error_budget_blocks']}"
    )
    print(
        f"    API calls                   {r['calls_ok']} ok ({r['calls_per_second']}/s), {r['api_calls']} reached "
        f"the sandbox; by status {r['by_status']}"
    )
    print(f"    worker exceptions           {r['worker_errors'] or 'none'}    crashed workers {r['crashed']}")
    for kind, message in r["worker_error_samples"].items():
        print(f"      {kind}: {message}")
    print(
        f"    refreshes by process        {r['refreshes_by_process']}; chain version {r['chain_version']}, "
        f"broken: {r['chain_broken'] or 'no'}"
    )
    print(
        f"    response→store window       mean {r['window_ms_mean']} ms, max {r['window_ms_max']} ms; a kill -9 at "
        f"a random moment lands in it with p = {r['window_exposure']:.2e}"
    )
    print(f"    store-clock error           at most {r['clock_error_ms_max']} ms (one machine: should be 0)")


def _print_kill(series: KillSeries, time_scale: float, processes: int) -> None:
    d = series.as_dict()
    held, stored, answered = d["refresh_lock_held"], d["token_stored"], d["token_response_received"]
    safe = held["total"] + stored["total"]
    safe_survived = held.get("survived", 0) + stored.get("survived", 0)
    ok = safe_survived == safe and d["landed"] == answered["total"]
    print(
        f"  kill -9 {d['trials']} trials among {processes} processes (time scale {time_scale:g}): "
        f"{safe_survived}/{safe} survived at the lock and after the answer was stored: {'PASS' if ok else 'FAIL'}"
    )
    for label, spot in (("holding the refresh lock", held), ("after the answer, stored", stored)):
        print(
            f"    {label:<36}{spot.get('survived', 0)}/{spot['total']} survived"
            + "".join(f", {k} {v}" for k, v in spot.items() if k not in ("survived", "total"))
        )
    landed, broke = d["landed"], d["landed_broken"]
    print(
        f"    {'after the answer, before the store':<36}{answered.get('survived', 0)}/{answered['total']} "
        f"survived; {landed} kills landed in the response→store window, {broke} of them broke the chain "
        f"({100 * broke / max(1, landed):.0f}%)"
        + "".join(f", {k} {v}" for k, v in answered.items() if k not in ("survived", "broken", "total"))
    )
    print(
        f"    'Old refresh token used' {d['old_refresh_token']} (one per break: the others read the broken mark); "
        f"new logins {d['relogins']}; 401 expired token {d['expired_401']}; too early {d['too_early']}"
    )
    print(f"    survivor exceptions {d['survivor_errors'] or 'none'}")
    for kind, message in series.survivor_error_samples.items():
        if not kind.startswith("ChainBrokenError"):  # expected after a break; others are shown in full
            print(f"      {kind}: {message}")
    seconds = [t.seconds for t in series.trials]
    if seconds:
        print(f"    seconds per trial: mean {statistics.fmean(seconds):.1f}, max {max(seconds):.1f}")


def _print_rate(r: dict) -> None:
    ok = (
        r["max_in_window_log"] <= r["limit"]
        and r["max_in_window_headers"] <= r["limit"]
        and r["rate_limited_429"] == 0
        and r["utilisation"] >= 0.95
    )
    print(
        f"  rate    {r['processes']} processes × {r['minutes']:g} simulated minutes on one division "
        f"(time scale {r['time_scale']:g}): {'PASS' if ok else 'FAIL'}"
    )
    print(
        f"    max calls in a minute window {r['max_in_window_log']} (request log), {r['max_in_window_headers']} "
        f"(reset headers); limit {r['limit']}; 429s {r['rate_limited_429']}"
    )
    print(
        f"    utilisation {100 * r['utilisation']:.1f}% over {r['windows']} full windows; per window "
        f"{r['per_window_headers']}; exceptions {r['worker_errors'] or 'none'}"
    )


def _print_errors(r: dict) -> None:
    ok = r["errors_sent"] <= r["reserve"] and r["error_budget_blocks"] == 0
    print(
        f"  errors  {r['processes']} processes × {r['seconds']:g} s on an endpoint answering 400: "
        f"{'PASS' if ok else 'FAIL'}"
    )
    print(
        f"    400s sent to the sandbox {r['errors_sent']} (reserve {r['reserve']}, Exact blocks after "
        f"{r['limit']}); calls refused by exactsql {r['refused_by_exactsql']}; sandbox blocks "
        f"{r['error_budget_blocks']}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--processes", type=int, default=16)
    parser.add_argument("--hours", type=float, default=6.0)
    parser.add_argument("--time-scale", type=float, default=60, help="must divide 600")
    parser.add_argument("--kill-trials", type=int, default=150, help="spread over the 3 spots")
    parser.add_argument("--kill-time-scale", type=float, default=150)
    parser.add_argument("--kill-processes", type=int, default=4)
    parser.add_argument("--kill-backends", default=None, help="default: --backends")
    parser.add_argument("--rate-processes", type=int, default=4)
    parser.add_argument("--rate-minutes", type=float, default=5)
    parser.add_argument("--rate-time-scale", type=float, default=60)
    parser.add_argument("--error-processes", type=int, default=16)
    parser.add_argument("--error-seconds", type=float, default=5)
    parser.add_argument(
        "--scenarios",
        default="tokens,kill,rate,errors,outage",
        help="any of tokens,kill,rate,errors,outage",
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    backends = [b for b in args.backends.split(",") if b]
    kill_backends = [b for b in (args.kill_backends or args.backends).split(",") if b]
    scenarios = set(args.scenarios.split(","))
    for scale in (args.time_scale, args.kill_time_scale, args.rate_time_scale):
        check_time_scale(scale)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up the servers as on Ctrl+C
    print(
        f"exactsql cluster benchmark — {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    )
    with tempfile.TemporaryDirectory(prefix="exactsql-cluster-") as tmp:
        workdir = Path(tmp)
        stores = Stores(workdir)
        try:
            for backend in backends:
                print(f"\n== {backend} ==", flush=True)
                if "tokens" in scenarios:
                    r = token_scenario(
                        stores.url(backend),
                        workdir / f"{backend}-tokens",
                        args.processes,
                        args.hours,
                        args.time_scale,
                    )
                    _print_tokens(r)
                if "kill" in scenarios and backend in kill_backends and args.kill_trials > 0:
                    started = time.monotonic()
                    series = kill_scenario(
                        stores.url(backend),
                        workdir / f"{backend}-kill",
                        args.kill_trials,
                        args.kill_processes,
                        args.kill_time_scale,
                        args.seed,
                    )
                    _print_kill(series, args.kill_time_scale, args.kill_processes)
                    print(f"    ({time.monotonic() - started:.0f} s)")
                if "rate" in scenarios:
                    _print_rate(
                        rate_scenario(
                            stores.url(backend),
                            workdir / f"{backend}-rate",
                            args.rate_processes,
                            args.rate_minutes,
                            args.rate_time_scale,
                        )
                    )
                if "outage" in scenarios and backend in ("postgresql", "redis"):
                    _print_outage(outage_scenario(backend, workdir / f"{backend}-outage"))
                if "errors" in scenarios:
                    _print_errors(
                        error_scenario(
                            stores.url(backend),
                            workdir / f"{backend}-errors",
                            args.error_processes,
                            args.error_seconds,
                        )
                    )
                sys.stdout.flush()
        finally:
            stores.close()


if __name__ == "__main__":
    main()
