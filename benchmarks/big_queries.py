"""Queries at scale: ``use all`` over many small divisions, and a million-row table in one division.

Each query runs as ``exactsql query … -o FILE`` in a process of its own (its own home and state store, so
the division list and ``current/Me`` are read fresh), against an ``exactsql sandbox`` server with its rate
limits lifted (calls are counted, not waited for). Printed per run: wall time, CPU seconds, peak RSS, the
rows, and the API calls from the sandbox's request log against the ideal.

1. ``--sizes`` sandboxes of small divisions (default 10, 100, 1000): ``use all`` and a GROUP BY over
   TransactionLines per division, with the default workers (8) beside ``--workers 1`` (one division at a
   time) as the baseline of the same run, after a first run (not counted) in which the sandbox makes the books. IDEAL: per division ceil(rows / 1,000) (at least 1), plus
   ``current/Me`` and the pages of ``system/Divisions``; "before data" counts the calls before the first
   one that reads a table. Peak RSS counts the pages of memory-mapped temporary files the process touched
   (the kernel's to evict); "own memory" is the peak of its private memory (RssAnon, sampled every 10 ms).
2. ``--large``: one division of 1,000,000 transaction lines; a GROUP BY over all its lines, and every
   column of every line written to a Parquet file. Each with the default page spool (at most 64 MB of Arrow
   pages in memory, the rest in a memory-mapped file) beside ``EXACTSQL_SPILL_BYTES`` lifted (every page
   held in memory, the baseline).

Usage: python benchmarks/big_queries.py [--sizes 10,100,1000] [--large] [--skip-small]
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
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from benchmarks.scale import api_log, before_first_data, overhead  # noqa: E402

GROUP_BY = (
    "use all; select Division, count(*) lines, sum(AmountDC) total from TransactionLines group by Division"
)
LARGE_GROUP_BY = (
    "select GLAccountCode, count(*) lines, sum(AmountDC) total from TransactionLines group by GLAccountCode"
)
LARGE_ALL = "select * from TransactionLines"
PAGE = 1000
HELD = str(10**13)  # EXACTSQL_SPILL_BYTES that never spills


def child(info_file: str, argv: list[str]) -> None:
    """Adds the sandbox's connection, logs in, runs ``exactsql query`` with ``argv``; prints one JSON line."""
    from tests.connections.helpers import make_connection
    from tests.replicate.helpers import UNLIMITED

    from exactsql.api.session import open_session
    from exactsql.cli import main

    info = json.loads(Path(info_file).read_text())
    make_connection(info, "eol", minutely_limit=UNLIMITED, daily_limit=UNLIMITED)
    session = open_session("eol")
    session.login()
    session.close()
    peak_anon = [0]
    done = threading.Event()

    def sample() -> None:  # the process's own memory (heap, not mapped files), every 10 ms
        while not done.wait(0.01):
            peak_anon[0] = max(peak_anon[0], anon_kb())

    threading.Thread(target=sample, daemon=True).start()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    sys.argv = ["exactsql", "query", *argv]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = int(exc.code or 0)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    done.set()
    out = {
        "wall": wall,
        "cpu": cpu,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "anon_mb": max(peak_anon[0], anon_kb()) / 1024,
        "exit": code,
    }
    print("RESULT " + json.dumps(out), flush=True)


def anon_kb() -> int:
    """RssAnon of this process (kB): its heap and other private memory, not the files it maps."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


def run(info: dict, tmp: Path, label: str, argv: list[str], env: dict[str, str] | None = None) -> dict:
    """``child`` in a process of its own (own home and store); its result."""
    from tests.connections.helpers import isolated_env

    who = "".join(ch if ch.isalnum() else "-" for ch in label)
    info_file = tmp / f"info-{who}.json"
    info_file.write_text(json.dumps(info))
    environment = {**isolated_env(tmp / f"home-{who}", f"sqlite:///{tmp / f'state-{who}.db'}"), **(env or {})}
    environment["PYTHONPATH"] = f"{ROOT / 'src'}{os.pathsep}{ROOT}"
    command = [sys.executable, str(Path(__file__).resolve()), "--child", str(info_file), "--", *argv]
    done = subprocess.run(
        command, env=environment, capture_output=True, text=True, cwd=ROOT, timeout=3 * 3600
    )
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[7:])
            if result["exit"] == 0:
                return result
    raise RuntimeError(f"{label} failed: {done.stdout[-2000:]} {done.stderr[-3000:]}")


def measured(control: httpx.Client, info: dict, tmp: Path, label: str, argv: list[str], **env: str) -> dict:
    """One run with the sandbox's count of its calls."""
    since = time.time()
    result = run(info, tmp, label, argv, env)
    entries = api_log(control, since)
    result |= {
        "calls": len(entries),
        "overhead": overhead(entries),
        "before_data": before_first_data(entries),
    }
    return result


def show(name: str, result: dict, rows: int, ideal: int) -> None:
    """One line of figures."""
    print(
        f"  {name:<28} {result['wall']:>6.1f} s wall, {result['cpu']:>5.1f} s CPU, peak RSS "
        f"{result['rss_mb']:>5,.0f} MB (own memory {result['anon_mb']:>4,.0f} MB), {rows:>9,} rows, calls {result['calls']:>6,} (ideal {ideal:,}, "
        f"{result['before_data']} before the first data call)"
    )


def small(sizes: list[int], tmp: Path) -> None:
    """Section 1."""
    import pyarrow.parquet as pq
    from tests.replicate.helpers import lift_limits

    from exactsql.sandbox.process import SandboxProcess

    for size in sizes:
        started = time.perf_counter()
        with (
            SandboxProcess("--divisions", str(size), "--size", "small") as server,
            httpx.Client(base_url=server.info["base_url"], timeout=600) as control,
        ):
            lift_limits(control)
            print(
                f"\n{size:,} small divisions (sandbox started in {time.perf_counter() - started:.1f} s): {GROUP_BY}"
            )
            warm = measured(
                control, server.info, tmp, f"s{size}warm", [GROUP_BY, "-o", str(tmp / "warm.parquet")]
            )
            print(f"  (the sandbox generated the books on a first read: {warm['wall']:.1f} s, not counted)")
            for workers in ("8", "1"):
                out = tmp / f"small-{size}-{workers}.parquet"
                name = f"--workers {workers}" + (" (default)" if workers == "8" else " (baseline)")
                result = measured(
                    control,
                    server.info,
                    tmp,
                    f"s{size}w{workers}",
                    [GROUP_BY, "-o", str(out), "--workers", workers],
                )
                table = pq.read_table(out)
                lines = table.column("lines").to_pylist()
                ideal = sum(max(1, math.ceil(n / PAGE)) for n in lines) + result["overhead"]
                show(name, result, sum(lines), ideal)
                if len(lines) != size:
                    print(f"  !! {len(lines)} divisions answered, {size} expected")


def large(tmp: Path) -> None:
    """Section 2."""
    import pyarrow.parquet as pq
    from tests.replicate.helpers import lift_limits

    from exactsql.sandbox.process import SandboxProcess

    started = time.perf_counter()
    with (
        SandboxProcess("--divisions", "1", "--size", "large") as server,
        httpx.Client(base_url=server.info["base_url"], timeout=600) as control,
    ):
        lift_limits(control)
        print(f"\none large division (sandbox started in {time.perf_counter() - started:.1f} s)")
        warm = measured(control, server.info, tmp, "warm", [LARGE_GROUP_BY, "-o", str(tmp / "warm.parquet")])
        print(f"  (the sandbox generated the books on a first read: {warm['wall']:.1f} s, not counted)")
        for sql, name in ((LARGE_GROUP_BY, "GROUP BY GLAccountCode"), (LARGE_ALL, "select * → Parquet")):
            print(f"  {name}: {sql}")
            for spill, label in (("", "spool (default, 64 MB)"), (HELD, "every page held (baseline)")):
                out = tmp / f"large-{len(label)}-{len(sql)}.parquet"
                env = {"EXACTSQL_SPILL_BYTES": spill} if spill else {}
                result = measured(
                    control, server.info, tmp, f"l{len(sql)}{bool(spill)}", [sql, "-o", str(out)], **env
                )
                if "lines" in pq.read_schema(out).names:
                    rows = sum(pq.read_table(out, columns=["lines"]).column("lines").to_pylist())
                else:
                    rows = pq.read_metadata(out).num_rows
                show(label, result, rows, math.ceil(rows / PAGE) + result["overhead"])
                out.unlink()


def main() -> int:
    """Runs the benchmark."""
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[4:])
        return 0
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000", help="sandboxes of this many small divisions")
    parser.add_argument("--large", action="store_true", help="also one division of 1,000,000 lines")
    parser.add_argument("--skip-small", action="store_true", help="only the large division")
    args = parser.parse_args()
    print(
        f"{os.cpu_count()} cores; load average at the start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    with tempfile.TemporaryDirectory(prefix="exactsql-bigq-") as folder:
        tmp = Path(folder)
        if not args.skip_small:
            small([int(n) for n in args.sizes.split(",") if n.strip()], tmp)
        if args.large:
            large(tmp)
    print(f"\nload average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
