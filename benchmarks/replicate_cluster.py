"""Replication on several machines: processes that share one state store and one replica split the divisions
and keep Exact's limits together.

Starts a throw-away PostgreSQL server (the state store and the replica) and an ``exactsql sandbox`` of
``--divisions`` small divisions at Exact's real limits (60 calls a minute, 5,000 a day per division), sped up
by ``--time-scale`` (a minute window lasts 60/scale s), with ``--page``-row sync and bulk pages so that each
division needs several windows. Each "machine" is a process with a home of its own (its own config and
connection; the same secret key and state store); one of them logs in, the others use the chain it stored.

Runs, each into a new replica database: ``--machines`` processes started together, each
``replicate --divisions all --parallel P``; and one process alone (the baseline, same run). Printed for each:
wall time; per process the (table, division) items and rows it wrote; API calls against the baseline's (the
same items read once, whoever reads them); the sandbox's 429s; the most calls any division made in one minute
window (Exact's limit: 60); the share of each division's full minute windows that was used; and whether each
replica holds every row of every table and division as the sandbox does (no row missing, none twice).

Usage: python benchmarks/replicate_cluster.py [--machines 4] [--divisions 16] [--time-scale 10] [--page 10]
       [--parallel 4]
"""

from __future__ import annotations

import argparse
import json
import math
import os
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

KEY = "benchmark-cluster-key"


def child(info_file: str, target: str, parallel: int, login: bool) -> None:
    """One machine: its connection in its own home, a login when asked, then the replication; one JSON line."""
    from tests.connections.helpers import make_connection

    from exactsql.api.session import open_session
    from exactsql.replicate import replicate

    info = json.loads(Path(info_file).read_text())
    make_connection(info, "eol")  # Exact's limits: 60 a minute, 5,000 a day per division
    session = open_session("eol")
    if login:
        session.login()
        print("RESULT {}", flush=True)
        return
    started = time.perf_counter()
    report = replicate(session, target, divisions="all", parallel=parallel)
    out = {
        "wall": time.perf_counter() - started,
        "rows": report.rows,
        "items": len(report.outcomes),
        "status": report.by_status(),
        "divisions": len({o.division for o in report.outcomes}),
    }
    session.close()
    print("RESULT " + json.dumps(out), flush=True)


def spawn(tmp: Path, name: str, state: str, info_file: Path, target: str, parallel: int, login: bool = False):  # type: ignore[no-untyped-def]
    """A machine's process (not waited for)."""
    env = {
        **os.environ,
        "EXACTSQL_HOME": str(tmp / f"home-{name}"),
        "EXACTSQL_STATE": state,
        "EXACTSQL_KEYRING": "0",
        "EXACTSQL_SECRET_KEY": KEY,
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
    }
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        str(info_file),
        target,
        str(parallel),
    ]
    return subprocess.Popen(
        [*command, *(["--login"] if login else [])],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def result_of(proc) -> dict:  # type: ignore[no-untyped-def]
    """The JSON line a machine printed."""
    out, err = proc.communicate(timeout=3 * 3600)
    for line in out.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    raise RuntimeError(f"a machine failed: {err[-3000:]}")


def run(machines: int, parallel: int, tmp: Path, pg, info: dict, control: httpx.Client, label: str) -> dict:  # type: ignore[no-untyped-def]
    """``machines`` processes into a new replica; their results and the sandbox's log of the run."""
    from tests.replicate.conftest import fresh_postgres

    state = fresh_postgres(pg.url)
    target = fresh_postgres(pg.url)
    info_file = tmp / f"info-{label}.json"
    info_file.write_text(json.dumps(info))
    result_of(spawn(tmp, f"{label}-login", state, info_file, target, parallel, login=True))
    since = time.time()
    started = time.perf_counter()
    procs = [spawn(tmp, f"{label}-{i}", state, info_file, target, parallel) for i in range(machines)]
    results = [result_of(p) for p in procs]
    wall = time.perf_counter() - started
    entries = [
        e
        for e in control.get("/_sandbox/requests", params={"limit": 2_000_000}).json()
        if e["path"].startswith("/api/v1/") and e["time"] >= since
    ]
    return {
        "results": results,
        "wall": wall,
        "entries": entries,
        "target": target,
    }


def show(label: str, run_: dict, baseline_calls: int | None) -> None:
    """The figures of one run."""
    entries = run_["entries"]
    per_division: dict[int, Counter[int]] = defaultdict(Counter)
    refused = sum(1 for e in entries if e["status"] == 429)
    for e in entries:
        if e["status"] != 429 and e.get("division") is not None:
            per_division[e["division"]][math.floor(e["clock"] / 60)] += 1  # the window that admitted it
    most = max((max(m.values()) for m in per_division.values()), default=0)
    shares = []
    for minutes in per_division.values():
        first, last = min(minutes), max(minutes)
        full = [minutes[m] for m in range(first + 1, last)]
        if full:
            shares.append(sum(full) / (60 * len(full)))
    calls = len(entries)
    versus = f" (alone: {baseline_calls:,}, {calls / baseline_calls:.2f}×)" if baseline_calls else ""
    print(
        f"  {label}: {run_['wall']:.1f} s wall, {calls:,} API calls{versus}, 429s {refused}, most calls of a division in one minute window {most} (limit 60)"
    )
    for i, r in enumerate(run_["results"]):
        print(
            f"    process {i}: {r['items']:>4} items in {r['divisions']:>3} divisions, {r['rows']:>7,} rows, {r['wall']:.1f} s; {r['status']}"
        )
    if shares:
        print(
            f"    share of each division's full minute windows: mean {sum(shares) / len(shares):.1%}, lowest {min(shares):.1%} ({len(shares)} divisions with a full window)"
        )


def main() -> int:
    """Runs the benchmark."""
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        child(sys.argv[2], sys.argv[3], int(sys.argv[4]), "--login" in sys.argv[5:])
        return 0
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--machines", type=int, default=4)
    parser.add_argument("--divisions", type=int, default=16)
    parser.add_argument("--time-scale", type=float, default=10.0)
    parser.add_argument("--page", type=int, default=10, help="rows of a sync or bulk page")
    parser.add_argument("--parallel", type=int, default=4, help="threads of each process")
    args = parser.parse_args()

    from tests.replicate.helpers import all_plans, differences
    from tests.servers import start_postgres

    from exactsql.sandbox.process import SandboxProcess

    print(
        f"{os.cpu_count()} cores; load average at the start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}"
    )
    pg = start_postgres()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="exactsql-cluster-") as folder,
            SandboxProcess(
                "--divisions", str(args.divisions), "--size", "small", "--time-scale", f"{args.time_scale:g}"
            ) as server,
            httpx.Client(base_url=server.info["base_url"], timeout=600) as control,
        ):
            tmp = Path(folder)
            control.post("/_sandbox/settings", json={"bulk_page_size": args.page}).raise_for_status()
            print(
                f"{args.divisions} small divisions, {args.page}-row sync and bulk pages, time scale {args.time_scale:g} "
                f"(a minute window lasts {60 / args.time_scale:g} s), Exact's limits; state store and replica on "
                f"PostgreSQL; --parallel {args.parallel} per process"
            )
            alone = run(1, args.parallel, tmp, pg, server.info, control, "alone")
            cluster = run(args.machines, args.parallel, tmp, pg, server.info, control, "cluster")
            show("one process (baseline)", alone, None)
            show(f"{args.machines} machines", cluster, len(alone["entries"]))
            for label, done in (("alone", alone), ("cluster", cluster)):
                wrong = differences(done["target"], control, server.info["divisions"], all_plans())
                verdict = (
                    "every row of every table and division as in the sandbox" if not wrong else wrong[:5]
                )
                print(f"  replica of the run {label}: {verdict}")
    finally:
        pg.stop()
    print(f"load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
