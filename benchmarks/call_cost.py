"""What one API call's machinery costs: a bare httpx loop against exactsql's client, per state store.

Each backend gets a real sandbox server (``exactsql sandbox``, one division, rate limits lifted so that no
window is ever full) and a fresh state store (SQLite file; PostgreSQL and Redis servers started by
``benchmarks/cluster_harness.Stores``). The same call (``system/Divisions?$select=Code&$top=1`` of the
division) is made by a bare ``httpx.Client`` with the connection's token and by ``ExactClient.request``
(token broker, rate admission, error budget, state-store round trips), single-threaded and with threads,
in alternating rounds so that both see the same load. Printed: the median ms per call and calls/s of each,
and their ratio.

Usage: python benchmarks/call_cost.py [--backends sqlite,postgresql,redis] [--threads 1,4] [--calls 600]
       [--rounds 3] [--profile BACKEND]

``call_cost_table()`` returns the same table for other benchmarks (``benchmarks/scale.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import pstats
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from benchmarks.cluster_harness import BACKENDS, Cluster, Stores  # noqa: E402
from exactsql.api.client import ExactClient  # noqa: E402

UNLIMITED = 10**9
PATH = "system/Divisions"
PARAMS = {"$select": "Code", "$top": "1"}


@dataclass
class Cost:
    """One measurement: ``who`` (bare or a backend) with ``threads`` threads."""

    who: str
    threads: int
    ms_per_call: float  # median latency of one call
    calls_per_s: float  # throughput of all threads together


def _run(call: Callable[[], None], threads: int, calls: int) -> tuple[list[float], float]:
    """``calls`` calls spread over ``threads`` threads: every call's latency and the wall time."""
    latencies: list[float] = []
    lock = threading.Lock()
    per_thread = max(1, calls // threads)

    def loop() -> None:
        mine = []
        for _ in range(per_thread):
            started = time.perf_counter()
            call()
            mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return latencies, time.perf_counter() - started


def _cost(who: str, threads: int, runs: list[tuple[list[float], float]]) -> Cost:
    latencies = [x for lat, _ in runs for x in lat]
    rates = [len(lat) / wall for lat, wall in runs]
    return Cost(who, threads, 1000 * statistics.median(latencies), statistics.median(rates))


@contextlib.contextmanager
def _client(backend: str, workdir: Path, stores: Stores) -> Iterator[tuple[ExactClient, int]]:
    """A logged-in client of a sandbox server with its limits lifted, on a fresh store of ``backend``."""
    settings = {"minutely_limit": UNLIMITED, "daily_limit": UNLIMITED}
    with Cluster(
        stores.url(backend),
        workdir / backend,
        time_scale=1,
        sandbox_settings=settings,
        minutely_limit=UNLIMITED,
        daily_limit=UNLIMITED,
    ) as cluster:
        cluster.login()
        yield cluster.session.client(), cluster.division


def measure_backend(
    backend: str, workdir: Path, stores: Stores, threads: tuple[int, ...], calls: int, rounds: int
) -> list[Cost]:
    """Bare httpx and exactsql on one backend, each thread count, in alternating rounds."""
    with _client(backend, workdir, stores) as (client, division), httpx.Client(timeout=60) as bare_http:
        target = client.url(PATH, division)
        headers = {"Authorization": f"Bearer {client.broker.access_token()}", "Accept": "application/json"}

        def bare() -> None:
            bare_http.get(target, params=PARAMS, headers=headers).raise_for_status()

        def exact() -> None:
            client.request("GET", PATH, PARAMS, division)

        for warm in (bare, exact):  # connections opened, caches filled
            _run(warm, 1, 30)
        out = []
        for n in threads:
            runs: dict[str, list] = {"bare": [], backend: []}
            for _ in range(rounds):
                runs["bare"].append(_run(bare, n, calls))
                runs[backend].append(_run(exact, n, calls))
            out += [_cost("bare httpx", n, runs["bare"]), _cost(backend, n, runs[backend])]
        return out


def profile_backend(backend: str, calls: int = 600) -> str:
    """cProfile's top entries of ``calls`` exactsql calls on ``backend`` (single-threaded)."""
    profiler = cProfile.Profile()
    with tempfile.TemporaryDirectory(prefix="call-cost-") as tmp:
        stores = Stores(Path(tmp))
        try:
            with _client(backend, Path(tmp), stores) as (client, division):
                for _ in range(30):
                    client.request("GET", PATH, PARAMS, division)
                profiler.enable()
                for _ in range(calls):
                    client.request("GET", PATH, PARAMS, division)
                profiler.disable()
        finally:
            stores.close()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(25)
    return text.getvalue()


def measure(
    backends: tuple[str, ...] = BACKENDS,
    threads: tuple[int, ...] = (1, 4),
    calls: int = 600,
    rounds: int = 3,
) -> list[Cost]:
    """Every backend's costs beside the bare httpx loop measured with it."""
    out: list[Cost] = []
    with tempfile.TemporaryDirectory(prefix="call-cost-") as tmp:
        stores = Stores(Path(tmp))
        try:
            for backend in backends:
                out += measure_backend(backend, Path(tmp), stores, threads, calls, rounds)
        finally:
            stores.close()
    return out


def table(costs: list[Cost]) -> str:
    """The costs side by side: each backend's row beside the bare loop measured in the same rounds."""
    lines = [
        f"{'store':<12} {'threads':>7} {'bare ms/call':>12} {'ms/call':>8} {'ratio':>6} "
        f"{'bare calls/s':>12} {'calls/s':>8} {'ratio':>6}"
    ]
    for bare, mine in zip(costs[0::2], costs[1::2], strict=True):
        lines.append(
            f"{mine.who:<12} {mine.threads:>7} {bare.ms_per_call:>12.2f} {mine.ms_per_call:>8.2f} "
            f"{mine.ms_per_call / bare.ms_per_call:>5.2f}x {bare.calls_per_s:>12.0f} {mine.calls_per_s:>8.0f} "
            f"{bare.calls_per_s / mine.calls_per_s:>5.2f}x"
        )
    return "\n".join(lines)


def call_cost_table(
    backends: tuple[str, ...] = BACKENDS, threads: tuple[int, ...] = (1, 4), calls: int = 600, rounds: int = 3
) -> str:
    """The table this benchmark prints (for ``benchmarks/scale.py``)."""
    return table(measure(backends, threads, calls, rounds))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backends", default=",".join(BACKENDS))
    parser.add_argument("--threads", default="1,4")
    parser.add_argument("--calls", type=int, default=600, help="calls per round and thread count")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", metavar="BACKEND", help="print cProfile's top entries for BACKEND")
    args = parser.parse_args(argv)
    if args.profile:
        print(profile_backend(args.profile, args.calls))
        return 0
    backends = tuple(b for b in args.backends.split(",") if b)
    threads = tuple(int(t) for t in args.threads.split(","))
    print(f"call cost: {args.calls} calls x {args.rounds} rounds per figure; ratio = exactsql / bare (time)")
    print(call_cost_table(backends, threads, args.calls, args.rounds))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
