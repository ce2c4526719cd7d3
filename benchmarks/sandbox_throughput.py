"""Pages per second the sandbox serves over HTTP: 1,000-row sync pages and 60-row regular pages.

Starts ``exactsql sandbox --size large`` (1,000,000 transaction lines in one division), lifts its rate
limits (the sandbox must never be the bottleneck of a client benchmark), and follows ``__next`` links from
client processes with lean keep-alive connections, as a replicator would. It prints the rate for one
client and for several concurrent clients. Targets: ≥ 100 sync pages/s, ≥ 500 regular pages/s.

Usage: python benchmarks/sandbox_throughput.py [--size large] [--clients 2] [--sync-pages 300] [--regular-pages 3000]
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import time
from urllib.parse import urlencode, urlsplit

import httpx
import orjson

from exactsql.sandbox.process import SandboxProcess, control_plane_tokens

FEW_COLUMNS = "Timestamp,ID,Date,FinancialYear,FinancialPeriod,GLAccountCode,AccountCode,AmountDC,AmountVATFC,Description,EntryNumber,JournalCode"


def login(info: dict) -> str:
    """Lifts the rate limits, logs in through the control plane and returns the access token."""
    with httpx.Client(base_url=info["base_url"], timeout=60) as client:
        client.post("/_sandbox/settings", json={"minutely_limit": 10**9, "daily_limit": 10**9})
        return str(control_plane_tokens(client, info)["access_token"])


def follow(
    base_url: str, token: str, path: str, params: dict[str, str], pages: int
) -> tuple[float, int, int]:
    """Follows ``__next`` for ``pages`` pages (starting over at the end); returns (seconds, pages, rows)."""
    netloc = urlsplit(base_url).netloc
    conn = http.client.HTTPConnection(netloc, timeout=120)
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    first = f"{path}?{urlencode(params)}"
    url, rows, started = first, 0, time.perf_counter()
    for _ in range(pages):
        conn.request("GET", url, headers=headers)
        response = conn.getresponse()
        body = response.read()
        if response.status != 200:
            raise SystemExit(f"{response.status}: {body[:200]!r}")
        d = orjson.loads(body)["d"]
        rows += len(d["results"])
        nxt = d.get("__next")
        url = nxt[len(base_url) :] if nxt else first
    return time.perf_counter() - started, pages, rows


def _worker(args: tuple) -> tuple[float, int, int]:
    return follow(*args)


def measure(
    label: str, info: dict, token: str, path: str, params: dict[str, str], pages: int, clients: int
) -> None:
    """Prints pages/s for one client and for ``clients`` concurrent clients."""
    follow(info["base_url"], token, path, params, 3)  # warm the columns
    secs, done, rows = follow(info["base_url"], token, path, params, pages)
    print(f"{label}, 1 client:  {done / secs:7.1f} pages/s  ({rows / secs:>9,.0f} rows/s)")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(clients) as pool:
        started = time.perf_counter()
        results = pool.map(_worker, [(info["base_url"], token, path, params, pages)] * clients)
        wall = time.perf_counter() - started
    done = sum(r[1] for r in results)
    rows = sum(r[2] for r in results)
    print(f"{label}, {clients} clients: {done / wall:7.1f} pages/s  ({rows / wall:>9,.0f} rows/s)")


def main() -> None:
    """Runs the benchmark and prints its figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", default="large", choices=["small", "medium", "large"])
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--sync-pages", type=int, default=300)
    parser.add_argument("--regular-pages", type=int, default=3000)
    args = parser.parse_args()
    started = time.perf_counter()
    with SandboxProcess("--divisions", "1", "--size", args.size) as server:
        info = server.info
        print(f"sandbox --size {args.size} started in {time.perf_counter() - started:.1f} s")
        token = login(info)
        division = info["divisions"][0]
        sync = f"/api/v1/{division}/sync/Financial/TransactionLines"
        measure(
            "sync TransactionLines, 1,000-row pages, 12 columns",
            info,
            token,
            sync,
            {"$select": FEW_COLUMNS},
            args.sync_pages,
            args.clients,
        )
        measure(
            "sync TransactionLines, 1,000-row pages, 74 columns",
            info,
            token,
            sync,
            {"$select": "*"},
            args.sync_pages // 2,
            args.clients,
        )
        regular = f"/api/v1/{division}/financialtransaction/TransactionLines"
        params = {"$select": FEW_COLUMNS.replace("Timestamp,", ""), "$filter": "ID ne null"}
        measure(
            "regular TransactionLines, 60-row pages, 11 columns",
            info,
            token,
            regular,
            params,
            args.regular_pages,
            args.clients,
        )


if __name__ == "__main__":
    main()
