"""How much of each division's minute window a query over many divisions uses, at Exact's real limits.

A real sandbox server (``exactsql sandbox``: ``--divisions`` medium divisions, sped up by ``--time-scale``, so
that a minute window lasts 60/scale seconds) and a connection with Exact's limits (60 calls a minute, 5,000
a day per division). One process runs ``use all`` and a query that reads transaction lines in every
division; the sandbox's bulk pages are set to 250 rows so that each division takes several windows. From the
sandbox's request log, per division and sandbox minute: the calls admitted. A window counts when the
division was read before and after it (its first and last window are partial); its share is calls / limit.
Printed: every division's share, their mean and minimum, the share of all divisions' windows together over
the query's full windows (a division not being read then counts as unused), and the 429s (none allowed).

Usage: python benchmarks/window_share.py [--divisions 8] [--size medium] [--time-scale 5] [--workers N]
       [--store sqlite|postgresql|redis]

``window_share_table()`` returns the printed lines for other benchmarks.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from tests.connections.helpers import isolated_env, make_connection  # noqa: E402

from benchmarks.cluster_harness import Stores, using_env  # noqa: E402
from exactsql.sandbox.process import SandboxProcess  # noqa: E402

QUERY = "use all; select division, count(*) from transactionlines where amountdc <> 0 group by division"
PAGE_ROWS = 250


def measure(
    divisions: int = 8,
    size: str = "medium",
    time_scale: float = 5,
    workers: int | None = None,
    store: str = "sqlite",
) -> dict:
    """Runs the query once; per division the share of each full minute window it used, and the 429s."""
    with tempfile.TemporaryDirectory(prefix="window-share-") as tmp:
        stores = Stores(Path(tmp))
        sandbox = SandboxProcess(
            "--divisions", str(divisions), "--size", size, "--time-scale", f"{time_scale:g}"
        )
        try:
            url = stores.url(store)
            sandbox.start()
            info = sandbox.info
            with httpx.Client(base_url=info["base_url"], timeout=60) as control:
                control.post("/_sandbox/settings", json={"bulk_page_size": PAGE_ROWS}).raise_for_status()
                env = isolated_env(Path(tmp) / "home", url)
                with using_env(env):
                    from exactsql.api.session import open_session
                    from exactsql.sql.engine import Engine

                    make_connection(info, "eol")
                    session = open_session("eol")
                    session.login()
                    engine = (
                        Engine({"eol": session})
                        if workers is None
                        else Engine({"eol": session}, workers=workers)
                    )
                    started = time.perf_counter()
                    result = engine.run(QUERY)[-1]
                    seconds = time.perf_counter() - started
                    engine.close()
                    session.close()
                clock = control.get("/_sandbox/clock").json()
                real_at = time.time()
                log = control.get("/_sandbox/requests", params={"limit": 20000}).json()
        finally:
            sandbox.stop()
            stores.close()
    assert result.table is not None
    return _shares(log, clock, real_at, seconds, result.table.num_rows)


def _shares(log: list[dict], clock: dict, real_at: float, seconds: float, rows: int) -> dict:
    scale = float(clock["scale"])

    def minute(real: float) -> int:
        return math.floor((clock["now"] + (real - real_at) * scale) / 60)

    calls: dict[int, Counter[int]] = defaultdict(Counter)
    refused = Counter[int]()
    for entry in log:
        division = entry.get("division")
        if division is None or not entry["path"].startswith("/api/"):
            continue
        if entry["status"] == 429:
            refused[division] += 1
            continue
        calls[division][minute(entry["time"])] += 1
    every = set().union(*calls.values()) if calls else set()
    inner = range(min(every) + 1, max(every)) if every else range(0)
    combined = (
        sum(c[m] for c in calls.values() for m in inner) / (60 * len(calls) * len(inner)) if inner else None
    )
    shares = {}
    for division, per_minute in sorted(calls.items()):
        first, last = min(per_minute), max(per_minute)
        full = [per_minute[m] for m in range(first + 1, last)]
        shares[division] = (
            sum(full) / (60 * len(full)) if full else None,
            len(full),
            sum(per_minute.values()),
        )
    return {
        "shares": shares,
        "combined": combined,
        "windows": len(inner),
        "refused": dict(refused),
        "seconds": seconds,
        "rows": rows,
        "scale": scale,
    }


def table(result: dict, label: str = "") -> str:
    """The per-division shares and their summary as lines of text."""
    lines = [f"{label}division    full windows   calls   share of each full window"]
    for division, (share, windows, total) in result["shares"].items():
        shown = f"{100 * share:5.1f}%" if share is not None else "  (none full)"
        lines.append(f"{label}{division:<12}{windows:>12}{total:>8}   {shown}")
    known = [s for s, _, _ in result["shares"].values() if s is not None]
    if result["combined"] is not None:
        lines.append(
            f"{label}all divisions together: {100 * result['combined']:.1f}% of their minute windows over the "
            f"{result['windows']} full windows of the query"
        )
    if known:
        lines.append(
            f"{label}mean {100 * sum(known) / len(known):.1f}%, lowest {100 * min(known):.1f}%, "
            f"429s: {sum(result['refused'].values())}, {result['seconds']:.1f} s at time scale "
            f"{result['scale']:g} (a window lasts {60 / result['scale']:g} s)"
        )
    return "\n".join(lines)


def window_share_table(**options: object) -> str:
    """The table this benchmark prints (for ``benchmarks/scale.py``)."""
    return table(measure(**options))  # type: ignore[arg-type]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--divisions", type=int, default=8)
    parser.add_argument("--size", default="medium")
    parser.add_argument("--time-scale", type=float, default=5)
    parser.add_argument("--workers", type=int, default=None, help="the engine's (default: the connection's)")
    parser.add_argument("--store", default="sqlite", choices=("sqlite", "postgresql", "redis"))
    args = parser.parse_args(argv)
    print(f"window share: {QUERY!r}, {args.divisions} {args.size} divisions, {args.store} store")
    print(
        window_share_table(
            divisions=args.divisions,
            size=args.size,
            time_scale=args.time_scale,
            workers=args.workers,
            store=args.store,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
