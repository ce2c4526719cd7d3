"""Replication at scale: many small divisions and one large one, per target, against the ideal and a baseline.

1. Sandboxes of ``--sizes`` small divisions (default 10, 100, 1000 — the sandbox serves up to 5,000 — ≈ 1,650 rows each over the default
   tables) with the rate limits lifted in the sandbox and the connection (calls are counted, not waited
   for), and ``--large`` one large division (1,000,000 transaction lines). Per target (DuckDB,
   PostgreSQL on a throw-away server, SQLite), in a process of its own: a first load of every division
   (``replicate --divisions all``), then a run that finds no change. Printed for each: wall time, API calls
   against the ideal, calls before the first data call, CPU seconds, peak RSS, rows/s; for the run without
   change its calls (ideal: one per item) and CPU seconds.
   IDEAL of a first load: per (table, division) ceil(rows / page) (1,000 for sync and bulk, 60 regular), at
   least 1, plus Me and the pages of system/Divisions. Of a run without change: one call per item, plus Me
   and the division pages.
2. ``--baseline TREE`` (a checkout of an earlier commit, e.g. ``git worktree add --detach /tmp/base HEAD``):
   the same runs with that tree's code, in the same sandbox, for the sizes in ``--baseline-sizes``.
3. At Exact's real limits (60 calls a minute and 5,000 a day per division) on ``--window-divisions``
   divisions of ``--window-size`` (medium) with the sandbox sped up by ``--time-scale`` (a minute window lasts
   60/scale s) and ``--window-page``-row (60) bulk pages: per division the share of each full minute window
   the replication used (target ≥ 95%), the share of the whole run's windows (below that when divisions wait
   for a thread: more divisions than ``--parallel``), and the 429s (target 0); ``--baseline-window``: the
   baseline tree's run too.
4. The per-call cost of the API client's machinery (``benchmarks/call_cost.py``), when that module is there.

Usage: python benchmarks/scale.py [--sizes 10,100,1000] [--targets duckdb,postgresql,sqlite] [--large]
       [--baseline /tmp/base] [--baseline-sizes 10,100] [--window-divisions 8] [--time-scale 5] [--parallel 16]
       [--window-size medium] [--window-page 60] [--baseline-window]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

PAGE = {"sync": 1000, "bulk": 1000}
OVERHEAD_PATHS = ("/current/Me", "/system/Divisions")


# -- one measured replication, in a process of its own (for its CPU time and peak RSS) ---------------------


def child(url: str, parallel: int, label: str, info_file: str, limited: bool) -> None:
    """Replicates every division into ``url`` (code of whichever tree is on the path, with a connection to
    the sandbox of ``info_file`` made by that code); prints one JSON line."""
    from tests.connections.helpers import make_connection
    from tests.replicate.helpers import UNLIMITED

    from exactsql.api.session import open_session
    from exactsql.replicate import replicate

    info = json.loads(Path(info_file).read_text())
    limits = {} if limited else {"minutely_limit": UNLIMITED, "daily_limit": UNLIMITED}
    make_connection(info, "eol", **limits)
    session = open_session("eol")
    session.login()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    report = replicate(session, url, divisions="all", parallel=parallel)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    session.close()
    pages = {}
    from exactsql.replicate.plan import DELETED, plan_tables

    for plan in plan_tables():
        pages[plan.name] = PAGE.get(plan.path.kind, 60)
    pages[DELETED] = 1000
    ideal = sum(max(1, math.ceil(o.rows / pages.get(o.table, 60))) for o in report.outcomes)
    out = {
        "label": label,
        "wall": wall,
        "cpu": cpu,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rows": report.rows,
        "items": len(report.outcomes),
        "ideal_items": ideal,
        "status": report.by_status(),
        "divisions": len(report.divisions),
    }
    print("RESULT " + json.dumps(out), flush=True)


def measured(
    tree: Path, url: str, parallel: int, label: str, info: dict, tmp: Path, limited: bool = False
) -> dict:
    """Runs ``child`` with the code of ``tree`` (its own home and state store); its result."""
    from tests.connections.helpers import isolated_env

    who = "".join(ch if ch.isalnum() else "-" for ch in label)
    info_file = tmp / f"info-{who}.json"
    info_file.write_text(json.dumps(info))
    env = isolated_env(tmp / f"home-{who}", f"sqlite:///{tmp / f'state-{who}.db'}")
    command = [
        sys.executable, str(Path(__file__).resolve()), "--child", url, "--parallel", str(parallel),
        "--label", label, "--info", str(info_file), *(["--limited"] if limited else []),
    ]  # fmt: skip
    done = subprocess.run(
        command,
        env={**env, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{tree}"},
        capture_output=True,
        text=True,
        cwd=tree,
        timeout=6 * 3600,
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"{label} failed: {done.stderr[-3000:]}")


# -- the sandbox's request log ----------------------------------------------------------------------------


def api_log(control: httpx.Client, since: float) -> list[dict]:
    """The API requests the sandbox logged since ``since`` (epoch seconds)."""
    entries = control.get("/_sandbox/requests", params={"limit": 2_000_000}).json()
    return [e for e in entries if e["path"].startswith("/api/v1/") and e["time"] >= since]


def before_first_data(entries: list[dict]) -> int:
    """Calls before the first one that reads a table (Me, the division list)."""
    for i, entry in enumerate(entries):
        if not any(p in entry["path"] for p in OVERHEAD_PATHS):
            return i
    return len(entries)


def overhead(entries: list[dict]) -> int:
    """The calls for Me and the division list."""
    return sum(1 for e in entries if any(p in e["path"] for p in OVERHEAD_PATHS))


# -- the runs ---------------------------------------------------------------------------------------------


def process_cpu(pid: int | None) -> float:
    """The CPU seconds process ``pid`` has used (0 when unknown)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_pair(
    tree: Path,
    url: str,
    parallel: int,
    control: httpx.Client,
    info: dict,
    tmp: Path,
    who: str,
    sandbox_pid: int | None = None,
) -> dict[str, dict]:
    """A first load and a run that finds no change; the results with the sandbox's call counts and CPU."""
    out: dict[str, dict] = {}
    for phase in ("first", "again"):
        since = time.time()
        sandbox_cpu = process_cpu(sandbox_pid)
        result = measured(tree, url, parallel, f"{who} {phase}", info, tmp)
        result["sandbox_cpu"] = process_cpu(sandbox_pid) - sandbox_cpu
        entries = api_log(control, since)
        result["calls"] = len(entries)
        result["overhead"] = overhead(entries)
        result["before_data"] = before_first_data(entries)
        result["ideal"] = (result["items"] if phase == "again" else result["ideal_items"]) + result[
            "overhead"
        ]
        out[phase] = result
    return out


def show(name: str, size: str, pair: dict[str, dict]) -> None:
    """The lines of one (tree, target, sandbox)."""
    first, again = pair["first"], pair["again"]
    print(
        f"  {name:<22} first load: {first['wall']:>7.1f} s wall, {first['cpu']:>7.1f} s CPU, "
        f"{first['rows'] / max(first['wall'], 1e-9):>8,.0f} rows/s ({first['rows']:,} rows), calls "
        f"{first['calls']:,} (ideal {first['ideal']:,}, {first['before_data']} before the first data call), "
        f"peak RSS {first['rss_mb']:,.0f} MB, sandbox {first.get('sandbox_cpu', 0):.1f} s CPU; {first['status']}"
    )
    print(
        f"  {'':<22} no change:  {again['wall']:>7.1f} s wall, {again['cpu']:>7.1f} s CPU, calls "
        f"{again['calls']:,} (ideal {again['ideal']:,}: one per item), rows written {again['rows']:,}, "
        f"peak RSS {again['rss_mb']:,.0f} MB, sandbox {again.get('sandbox_cpu', 0):.1f} s CPU; {again['status']}"
    )


def target_url(name: str, tmp: Path, postgres: str | None) -> str | None:
    """A new, empty replica of the target ``name``."""
    if name == "duckdb":
        return f"duckdb:///{tmp / f'r{time.monotonic_ns()}.duckdb'}"
    if name == "sqlite":
        return f"sqlite:///{tmp / f'r{time.monotonic_ns()}.db'}"
    if postgres is None:
        return None
    from tests.replicate.conftest import fresh_postgres

    return fresh_postgres(postgres)


def sandbox_runs(args: argparse.Namespace, tmp: Path, postgres: str | None) -> None:
    """Section 1 and 2: the sandboxes of small divisions and the large one."""
    from tests.replicate.helpers import lift_limits

    from exactsql.sandbox.process import SandboxProcess

    sandboxes = [(int(n), "small") for n in args.sizes.split(",") if n.strip()]
    if args.large:
        sandboxes.append((1, "large"))
    baseline_sizes = {int(n) for n in args.baseline_sizes.split(",") if n.strip()}
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    for count, size in sandboxes:
        started = time.perf_counter()
        with SandboxProcess("--divisions", str(count), "--size", size) as server:
            info = server.info
            with httpx.Client(base_url=info["base_url"], timeout=600) as control:
                lift_limits(control)
                print(
                    f"\n== {count:,} {size} division(s) (sandbox up in {time.perf_counter() - started:.1f} s; "
                    f"limits lifted, --parallel {args.parallel}) =="
                )
                for target in targets:
                    trees = [("now", ROOT)]
                    if args.baseline and (
                        count in baseline_sizes or (size == "large" and args.baseline_large)
                    ):
                        trees.append(("baseline", Path(args.baseline)))
                    for who, tree in trees:
                        url = target_url(target, tmp, postgres)
                        if url is None:
                            print(f"  {target}: skipped (no PostgreSQL server)")
                            continue
                        pid = server.proc.pid if server.proc is not None else None
                        pair = run_pair(
                            tree, url, args.parallel, control, info, tmp, f"{target}-{who}-{count}", pid
                        )
                        show(f"{target} ({who})", size, pair)


# -- at Exact's real limits ------------------------------------------------------------------------------


def window_shares(
    divisions: int,
    time_scale: float,
    parallel: int,
    tmp: Path,
    size: str = "medium",
    page: int = 60,
    tree: Path = ROOT,
    who: str = "now",
) -> None:
    """Section 3: per division the share of each full minute window a replication used, and the 429s."""
    from exactsql.sandbox.process import SandboxProcess

    with SandboxProcess(
        "--divisions", str(divisions), "--size", size, "--time-scale", f"{time_scale:g}"
    ) as server:
        info = server.info
        with httpx.Client(base_url=info["base_url"], timeout=600) as control:
            control.post("/_sandbox/settings", json={"bulk_page_size": page}).raise_for_status()
            url = f"duckdb:///{tmp / f'window-{who}.duckdb'}"
            since = time.time()
            # Exact's limits in the connection: 60 a minute, 5,000 a day per division
            result = measured(tree, url, parallel, f"window-{who}", info, tmp, limited=True)
            clock = control.get("/_sandbox/clock").json()
            real_at = time.time()
            entries = api_log(control, since)
    scale = float(clock["scale"])
    per_division: dict[int, Counter[int]] = defaultdict(Counter)
    refused = 0
    for entry in entries:
        if entry["status"] == 429:
            refused += 1
        elif entry.get("division") is not None:
            at = clock["now"] + (entry["time"] - real_at) * scale
            per_division[entry["division"]][math.floor(at / 60)] += 1
    print(
        f"\n== real limits ({who}): {divisions} {size} divisions, {page}-row bulk pages, time scale {time_scale:g} "
        f"(a minute window lasts {60 / time_scale:g} s), --parallel {parallel} =="
    )
    print(
        f"  replication: {result['wall']:.1f} s, {result['rows']:,} rows, {len(entries):,} calls, 429s: {refused}; "
        f"{result['status']}"
    )
    shares = []
    for division, minutes in sorted(per_division.items()):
        first, last = min(minutes), max(minutes)
        full = [minutes[m] for m in range(first + 1, last)]  # the first and last windows are partial
        if full:
            share = sum(full) / (60 * len(full))
            shares.append(share)
            print(
                f"  division {division}: {len(full)} full windows, {sum(minutes.values())} calls, {share:.1%}"
            )
    if shares:
        print(
            f"  share of each division's full minute windows: mean {sum(shares) / len(shares):.1%}, "
            f"lowest {min(shares):.1%} (target ≥ 95%), 429s {refused} (target 0)"
        )
    if per_division:
        # over the whole run: divisions that wait for a thread (not for their window) leave windows unused
        first = min(min(m) for m in per_division.values())
        last = max(max(m) for m in per_division.values())
        run = range(first + 1, last)
        if run:
            used = sum(minutes[m] for minutes in per_division.values() for m in run)
            print(
                f"  share of the run's full minute windows ({len(run)} windows × {len(per_division)} "
                f"divisions × 60 calls): {used / (60 * len(run) * len(per_division)):.1%}"
            )


def call_costs() -> None:
    """Section 4: the per-call cost table of ``benchmarks/call_cost.py`` when it is there."""
    print("\n== per-call machinery cost ==")
    try:
        from benchmarks.call_cost import call_cost_table
    except ImportError as exc:
        print(f"  NOT MEASURED HERE: benchmarks/call_cost.py cannot be imported ({exc}).")
        return
    print("  (benchmarks/call_cost.py's call_cost_table, 300 calls × 2 rounds per cell)")
    print(call_cost_table(calls=300, rounds=2))


def main() -> int:
    """Runs the sections asked for and prints their figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--label", default="", help=argparse.SUPPRESS)
    parser.add_argument("--info", help=argparse.SUPPRESS)
    parser.add_argument("--limited", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--sizes", default="10,100,1000", help="sandboxes of this many small divisions (≤ 5,000)"
    )
    parser.add_argument("--targets", default="duckdb,postgresql,sqlite")
    parser.add_argument("--large", action="store_true", help="also one large division (1,000,000 lines)")
    parser.add_argument("--baseline", help="a checkout of the code to compare with")
    parser.add_argument("--baseline-sizes", default="10,100")
    parser.add_argument(
        "--baseline-large", action="store_true", help="the baseline on the large division too"
    )
    parser.add_argument("--window-divisions", type=int, default=8, help="0: no real-limits section")
    parser.add_argument("--time-scale", type=float, default=5)
    parser.add_argument("--window-size", default="medium", choices=("small", "medium", "large"))
    parser.add_argument("--window-page", type=int, default=60, help="rows of a sync/bulk page there")
    parser.add_argument(
        "--baseline-window", action="store_true", help="the real-limits section with the baseline too"
    )
    parser.add_argument("--parallel", type=int, default=16)
    parser.add_argument("--no-call-cost", action="store_true")
    parser.add_argument(
        "--postgres", help="a PostgreSQL server URL for the replicas (default: a throw-away one)"
    )
    args = parser.parse_args()
    if args.child:
        child(args.child, args.parallel, args.label, args.info, args.limited)
        return 0

    print(
        f"load average at the start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}; {os.cpu_count()} cores"
    )
    servers = []
    with tempfile.TemporaryDirectory(prefix="exactsql-bench-scale-") as name:
        tmp = Path(name)
        postgres = args.postgres
        try:
            if postgres is None and "postgresql" in args.targets:
                try:
                    from tests.servers import start_postgres

                    server = start_postgres()
                    servers.append(server)
                    postgres = server.url
                except RuntimeError as exc:
                    print(f"(PostgreSQL skipped: {exc})")
            if args.sizes or args.large:
                sandbox_runs(args, tmp, postgres)
            if args.window_divisions:
                trees = [("now", ROOT)]
                if args.baseline and args.baseline_window:
                    trees.append(("baseline", Path(args.baseline)))
                for who, tree in trees:
                    window_shares(
                        args.window_divisions, args.time_scale, args.parallel, tmp, args.window_size,
                        args.window_page, tree, who,
                    )  # fmt: skip
            if not args.no_call_cost:
                call_costs()
        finally:
            for server in servers:
                server.stop()
    print(f"\nload average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
