"""Replication against the ideal: API calls, rows/s and wall time of a first load and of an increment, and
kill -9 trials under injected faults.

1. Starts ``exactsql sandbox --divisions 3 --size medium`` (≈ 100,000 transaction lines per division) and
   lifts its rate limits (and the connection's), so that minute windows do not slow the benchmark: calls
   are counted, not waited for (``--real-limits`` keeps Exact's 60 a minute: the load then takes minutes).
2. Per target (SQLite, DuckDB, and PostgreSQL on a throw-away server when its binaries are installed or
   ``--postgres URL`` is given): a first load of the default tables in every division, then
   ``/_sandbox/mutate`` of ≈ 1,000 inserts, 500 updates and 200 deletes spread over the tables, then an
   incremental run. For each: the API calls (the sandbox's count), the IDEAL, the rows, rows/s, wall time,
   and whether the copy equals the sandbox's snapshot row for row.
   IDEAL, per (table, division): ceil(rows / page size) for a first load and for a full reload (1,000 a
   page for sync and bulk, 60 for regular endpoints), ceil(changes / 1,000) for an increment (changes:
   the rows whose Timestamp passed the cursor), at least 1 each (an empty answer is a call too); per
   division the pages of ``sync/Deleted``. TARGET: within the ideal + 1 per (table, division).
3. ``--kill-trials`` (default 20) on a second, small sandbox (100-row pages, so that a run has many
   commits to cut) answering 5% of the API calls with 500, 503 or a time-out: changes, a run killed with
   SIGKILL at a random moment, a run to the end; the copy must equal the truth after every trial. Each
   trial says where the kill landed (while writing which items, per the run history).

Usage: python benchmarks/replicate.py [--size medium] [--divisions 3] [--targets sqlite,duckdb,postgresql]
       [--kill-trials 20] [--kill-target sqlite] [--real-limits] [--postgres URL]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run by path: tests.* (helpers) live next to benchmarks/
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from tests.connections.helpers import isolated_env, make_connection  # noqa: E402
from tests.replicate.helpers import (  # noqa: E402
    UNLIMITED,
    all_plans,
    cli,
    differences,
    kill_while_working,
    lift_limits,
    logged_calls,
    mutate_books,
    truth_rows,
)

from exactsql.api.session import Session, open_session  # noqa: E402
from exactsql.replicate import replicate  # noqa: E402
from exactsql.replicate.plan import DELETED, SYNC, TablePlan  # noqa: E402
from exactsql.replicate.runner import RunReport, resolve_divisions  # noqa: E402
from exactsql.replicate.targets import open_target  # noqa: E402
from exactsql.sandbox.process import SandboxProcess  # noqa: E402


def page_of(plan: TablePlan) -> int:
    """Rows a page of the plan's endpoint carries."""
    return 1000 if plan.path.kind in ("sync", "bulk") else 60


def api_calls(control: httpx.Client) -> int:
    """The sandbox's count of API calls (from the request counters; no faults are armed here)."""
    return int(control.get("/_sandbox/stats").json()["api_calls"])


def row_counts(
    control: httpx.Client, plans: list[TablePlan], divisions: list[int]
) -> dict[tuple[str, int], list]:
    """Per (table, division) the Timestamps of the truth's rows (or just their number for tables without)."""
    out: dict[tuple[str, int], list] = {}
    for plan in plans:
        for division in divisions:
            truth = truth_rows(control, division, plan)
            out[(plan.name, division)] = (
                truth.column("Timestamp").to_pylist() if plan.strategy == SYNC else [None] * truth.num_rows
            )
    return out


def deleted_records(control: httpx.Client, division: int) -> int:
    """Records of ``sync/Deleted`` in a division."""
    return len(control.get(f"/_sandbox/snapshot/{division}/sync/Deleted").json()["rows"])


def show(
    title: str,
    report: RunReport,
    calls: int,
    ideal: dict[tuple[str, int], int],
    used: dict[tuple[str, int | None], int],
    wall: float,
    equal: bool | None,
) -> list[str]:
    """Prints one run's line and its per-table detail; returns the items above the target."""
    total_ideal = sum(ideal.values())
    over = [f"{k[0]} {k[1]}: {used.get(k, 0)} > {v} + 1" for k, v in ideal.items() if used.get(k, 0) > v + 1]
    rows = report.rows
    verdict = "ok: within ideal + 1 per item" if not over else f"MISSED on {len(over)} item(s)"
    check = "" if equal is None else ("  copy = truth" if equal else "  COPY DIFFERS")
    print(
        f"  {title:<12} calls {calls:>6,}  ideal {total_ideal:>6,}  diff {calls - total_ideal:>+4}  "
        f"rows {rows:>9,}  {rows / max(wall, 1e-9):>9,.0f} rows/s  wall {wall:>7.2f} s  {verdict}{check}"
    )
    tables = sorted({k[0] for k in ideal})
    for table in tables:
        keys = sorted(k for k in ideal if k[0] == table)
        print(f"      {table:<40} used {[used.get(k, 0) for k in keys]}  ideal {[ideal[k] for k in keys]}")
    return over


def problems(report: RunReport) -> list[str]:
    """The first few items that did not end well, with their messages."""
    return [f"{o.table} {o.division}: {o.status} {o.message}" for o in report.outcomes if o.status != "ok"][
        :3
    ]


def measured_run(
    label: str,
    name: str,
    url: str,
    session: Session,
    control: httpx.Client,
    divisions: list[int],
    plans: list[TablePlan],
    ideal: dict[tuple[str, int], int],
    verify: bool,
) -> list[str]:
    """One replication run, its calls against ``ideal`` and the copy against the truth; what missed."""
    before = api_calls(control)
    started = time.perf_counter()
    report = replicate(session, url, divisions=divisions, parallel=len(divisions))
    wall = time.perf_counter() - started
    calls = api_calls(control) - before
    equal = (differences(url, control, divisions, plans) == []) if verify else None
    used = logged_calls(control, calls)
    failures = [f"{name} {label}: {o}" for o in show(label, report, calls, ideal, used, wall, equal)]
    if not report.ok or equal is False:
        failures.append(f"{name} {label}: {report.by_status()}, equal={equal}, {problems(report)}")
    return failures


def bench_target(
    name: str, url: str, session: Session, control: httpx.Client, divisions: list[int], verify: bool
) -> list[str]:
    """A first load, changes, an increment; prints the figures; returns what missed its target."""
    plans = all_plans()
    print(f"\n[{name}] {url}")
    failures: list[str] = []

    truth = row_counts(control, plans, divisions)
    ideal = {
        (p.name, d): max(1, math.ceil(len(truth[(p.name, d)]) / page_of(p))) for p in plans for d in divisions
    }
    ideal.update({(DELETED, d): max(1, math.ceil(deleted_records(control, d) / 1000)) for d in divisions})
    failures += measured_run("first load", name, url, session, control, divisions, plans, ideal, verify)

    reached = {k: max((t for t in v if t is not None), default=0) for k, v in truth.items()}
    deleted_before = {d: deleted_records(control, d) for d in divisions}
    totals = mutate_books(control, divisions)
    print(
        f"  mutate: {totals['inserted']:,} inserts, {totals['updated']:,} updates, {totals['deleted']:,} deletes"
    )
    after = row_counts(control, plans, divisions)
    ideal = {}
    for plan in plans:
        for division in divisions:
            stamps = after[(plan.name, division)]
            if plan.strategy == SYNC:
                changes = sum(1 for t in stamps if t > reached[(plan.name, division)])
                ideal[(plan.name, division)] = max(1, math.ceil(changes / 1000))
            else:
                ideal[(plan.name, division)] = max(1, math.ceil(len(stamps) / page_of(plan)))
    for division in divisions:
        new = deleted_records(control, division) - deleted_before[division]
        ideal[(DELETED, division)] = max(1, math.ceil(new / 1000))
    failures += measured_run("increment", name, url, session, control, divisions, plans, ideal, verify)
    return failures


def kill_trials(url: str, info: dict, control: httpx.Client, trials: int, seed: int) -> list[str]:
    """``trials`` × (changes, a run killed at a random moment, a run to the end), under 5% injected faults."""
    divisions = list(info["divisions"])
    plans = all_plans()
    for kind, ratio in (("500", 0.0125), ("503", 0.0125), ("timeout", 0.025)):
        control.post(
            "/_sandbox/faults", json={"kind": kind, "ratio": ratio, "path_prefix": "/api/v1/", "seconds": 0.5}
        ).raise_for_status()
    control.post("/_sandbox/settings", json={"bulk_page_size": 100}).raise_for_status()  # more pages to cut
    rng = random.Random(seed)
    log = Path(tempfile.mkdtemp(prefix="exactsql-kill-")) / "cli.log"
    failures: list[str] = []
    started = time.perf_counter()
    landed = 0
    span = 4.0
    for trial in range(trials):
        if trial:
            mutate_books(control, divisions, scale=rng.uniform(0.05, 0.5))
        child = cli(url, log=log)
        at = rng.uniform(0.0, 1.1 * span)  # after its first API call, somewhere in a run as long as the last
        alive = kill_while_working(child, control, at)
        cut = in_progress(url)
        if cut:
            where = f"while writing {', '.join(cut[:2])}{' …' if len(cut) > 2 else ''}"
            landed += 1
        else:
            where = "between two items" if alive else "after the run had ended"
        child = cli(url, log=log)
        began = time.perf_counter()
        code = child.wait(timeout=600)
        span = max(0.5, time.perf_counter() - began - 1.0)  # the work, without the start-up
        diff = differences(url, control, divisions, plans)
        ok = code == 0 and not diff
        print(
            f"  trial {trial + 1:>2}: killed {at:4.2f} s after its first call, {where}; run again: exit {code}, "
            f"{'copy = truth' if ok else 'COPY DIFFERS: ' + '; '.join(diff[:3])}"
        )
        if not ok:
            failures.append(f"kill trial {trial + 1}: exit {code}, {diff[:3]}")
    control.delete("/_sandbox/faults")
    print(
        f"  {trials} trials in {time.perf_counter() - started:.1f} s, {landed} killed while a (table, division) "
        f"was being written; log: {log}"
    )
    return failures


def in_progress(url: str) -> list[str]:
    """The (table, division) items a killed run was writing: started in the run history, never ended."""
    target = open_target(url)
    conn = target.connect()
    try:
        conn.ensure_meta()
        return [f"{r['table_name']} {r['division']}" for r in conn.runs() if r["status"] == "running"]
    finally:
        conn.close()
        target.close()


def target_urls(names: list[str], tmp: Path, postgres: str | None, stack: list) -> dict[str, str]:
    """The replica URL of each target (PostgreSQL: a database on ``postgres`` or on a throw-away server)."""
    urls: dict[str, str] = {}
    for name in names:
        if name == "sqlite":
            urls[name] = f"sqlite:///{tmp / 'replica.db'}"
        elif name == "duckdb":
            urls[name] = f"duckdb:///{tmp / 'replica.duckdb'}"
        elif name == "postgresql":
            base = postgres
            if base is None:
                try:
                    from tests.servers import start_postgres

                    server = start_postgres()
                except RuntimeError as exc:
                    print(f"(PostgreSQL skipped: {exc})")
                    continue
                stack.append(server)
                base = server.url
            from tests.replicate.conftest import fresh_postgres

            urls[name] = fresh_postgres(base)
    return urls


def bench_targets(args: argparse.Namespace, urls: dict[str, str]) -> list[str]:
    """Starts the sandbox of ``--size`` and benchmarks each target on it; returns what missed its target."""
    failures: list[str] = []
    started = time.perf_counter()
    with SandboxProcess("--divisions", str(args.divisions), "--size", args.size) as server:
        info = server.info
        print(
            f"sandbox --divisions {args.divisions} --size {args.size} started in "
            f"{time.perf_counter() - started:.1f} s; divisions {info['divisions']}"
        )
        limits = {} if args.real_limits else {"minutely_limit": UNLIMITED, "daily_limit": UNLIMITED}
        make_connection(info, "eol", **limits)
        with httpx.Client(base_url=info["base_url"], timeout=600) as control:
            if not args.real_limits:
                lift_limits(control)
                print(
                    "rate limits lifted in the sandbox and the connection: calls are counted, not waited for"
                )
            session = open_session("eol")
            try:
                session.login()
                divisions = resolve_divisions(session, "all")
                for i, (name, url) in enumerate(urls.items()):
                    if i:  # the next target starts from the same books (a reset also ends the login)
                        control.post("/_sandbox/reset").raise_for_status()
                        session.login()
                    if not args.real_limits:
                        lift_limits(control)
                    failures += bench_target(name, url, session, control, divisions, not args.no_verify)
            finally:
                session.close()
    return failures


def main() -> int:
    """Runs the benchmark and prints its figures; exit status 1 when a target was missed."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", default="medium", choices=["small", "medium", "large"])
    parser.add_argument("--divisions", type=int, default=3)
    parser.add_argument("--targets", default="sqlite,duckdb,postgresql", help="comma-separated, or none")
    parser.add_argument("--kill-trials", type=int, default=20)
    parser.add_argument("--kill-target", default="sqlite", choices=["sqlite", "duckdb", "postgresql"])
    parser.add_argument("--kill-size", default="small", choices=["small", "medium"])
    parser.add_argument("--real-limits", action="store_true", help="keep Exact's 60 calls a minute")
    parser.add_argument("--no-verify", action="store_true", help="skip the row-for-row comparison")
    parser.add_argument("--postgres", help="a PostgreSQL URL to create the replica databases on")
    args = parser.parse_args()

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # clean up the servers as on Ctrl+C
    tmp = Path(tempfile.mkdtemp(prefix="exactsql-bench-replicate-"))
    servers: list = []
    failures: list[str] = []
    try:
        home = tmp / "home"
        env = isolated_env(home, f"sqlite:///{tmp / 'state.db'}")
        for name in ("EXACTSQL_HOME", "EXACTSQL_STATE", "EXACTSQL_KEYRING", "EXACTSQL_SECRET_KEY"):
            os.environ[name] = env[name]
        names = [n.strip() for n in args.targets.split(",") if n.strip() and n.strip() != "none"]
        urls = target_urls(names, tmp, args.postgres, servers)
        if urls:
            failures += bench_targets(args, urls)
        if args.kill_trials:
            kill_url = target_urls([args.kill_target], tmp / "kill", args.postgres, servers).get(
                args.kill_target
            )
            (tmp / "kill").mkdir(exist_ok=True)
            if kill_url:
                with SandboxProcess("--divisions", str(args.divisions), "--size", args.kill_size) as server:
                    info = server.info
                    make_connection(info, "eol", minutely_limit=UNLIMITED, daily_limit=UNLIMITED)
                    session = open_session("eol")
                    session.login()
                    session.close()
                    with httpx.Client(base_url=info["base_url"], timeout=600) as control:
                        lift_limits(control)
                        print(
                            f"\n[kill -9] {args.kill_trials} trials on {args.kill_target}, sandbox size "
                            f"{args.kill_size}, 5% of API answers 500/503/time-out"
                        )
                        failures += kill_trials(kill_url, info, control, args.kill_trials, seed=11)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    print()
    if failures:
        print("MISSED:")
        for failure in failures:
            print(f"  {failure}")
        return 1
    print("every target met: calls within the ideal + 1 per (table, division), copies equal to the truth")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
