"""Pages per second the sandbox serves over HTTP: 1,000-row sync pages and 60-row regular pages.

Starts ``exactsql sandbox --size large`` (1,000,000 transaction lines in one division), lifts its rate
limits (the sandbox must never be the bottleneck of a client benchmark), and follows ``__next`` links
from a separate client process as a replicator would. Targets: ≥ 100 sync pages/s, ≥ 500 regular pages/s.

Usage: python benchmarks/sandbox_throughput.py [--size large] [--sync-pages 300] [--regular-pages 2000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

FEW_COLUMNS = "Timestamp,ID,Date,FinancialYear,FinancialPeriod,GLAccountCode,AccountCode,AmountDC,AmountVATFC,Description,EntryNumber,JournalCode"


def start(size: str) -> tuple[subprocess.Popen, dict]:
    """Starts a sandbox server and returns it with its info."""
    info_file = Path(tempfile.mkdtemp()) / "info.json"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exactsql",
            "sandbox",
            "--port",
            "0",
            "--divisions",
            "1",
            "--size",
            size,
            "--info-file",
            str(info_file),
        ],
        stdout=subprocess.DEVNULL,
    )
    while not info_file.exists():
        if proc.poll() is not None:
            raise SystemExit("the sandbox did not start")
        time.sleep(0.05)
    return proc, json.loads(info_file.read_text())


def login(http: httpx.Client, info: dict) -> dict[str, str]:
    """Logs in through the control plane and returns the auth headers."""
    http.post("/_sandbox/settings", json={"minutely_limit": 10**9, "daily_limit": 10**9})
    code = http.post("/_sandbox/authorize", json={"client_id": info["client_id"]}).json()["code"]
    body = http.post(
        "/api/oauth2/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": info["redirect_uri"],
            "client_id": info["client_id"],
            "client_secret": info["client_secret"],
        },
    ).json()
    return {"Authorization": f"Bearer {body['access_token']}", "Accept": "application/json"}


def follow(
    http: httpx.Client, headers: dict[str, str], url: str, params: dict[str, str] | None, pages: int
) -> tuple[float, int, int]:
    """Follows ``__next`` for up to ``pages`` pages; returns (seconds, pages, rows)."""
    import orjson

    started = time.perf_counter()
    rows = done = 0
    next_url: str | None = url
    while next_url and done < pages:
        response = http.get(next_url, params=params if done == 0 else None, headers=headers)
        response.raise_for_status()
        d = orjson.loads(response.content)["d"]
        rows += len(d["results"])
        done += 1
        next_url = d.get("__next")
    return time.perf_counter() - started, done, rows


def main() -> None:
    """Runs the benchmark and prints its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="large", choices=["small", "medium", "large"])
    parser.add_argument("--sync-pages", type=int, default=300)
    parser.add_argument("--regular-pages", type=int, default=2000)
    args = parser.parse_args()
    proc, info = start(args.size)
    try:
        division = info["divisions"][0]
        with httpx.Client(base_url=info["base_url"], timeout=120) as http:
            headers = login(http, info)
            sync_url = f"/api/v1/{division}/sync/Financial/TransactionLines"
            t0 = time.perf_counter()
            follow(http, headers, sync_url, {"$select": FEW_COLUMNS}, 1)
            warm = time.perf_counter() - t0
            print(f"sandbox --size {args.size}: first sync page (cold) {warm:.2f} s")
            for label, select in (("12 columns", FEW_COLUMNS), ("all 74 columns", "*")):
                follow(http, headers, sync_url, {"$select": select}, 2)  # warm the columns
                secs, pages, rows = follow(
                    http,
                    headers,
                    sync_url,
                    {"$select": select, "$filter": "Timestamp gt 1L"},
                    args.sync_pages,
                )
                print(
                    f"sync TransactionLines, 1,000-row pages, {label:>14}: {pages / secs:7.1f} pages/s  ({rows / secs:,.0f} rows/s, {pages} pages)"
                )
            regular_url = f"/api/v1/{division}/financialtransaction/TransactionLines"
            params = {"$select": FEW_COLUMNS.replace("Timestamp,", ""), "$filter": "ID ne null"}
            follow(http, headers, regular_url, params, 3)
            secs, pages, rows = follow(http, headers, regular_url, params, args.regular_pages)
            print(
                f"regular TransactionLines, 60-row pages,      11 columns: {pages / secs:7.1f} pages/s  ({rows / secs:,.0f} rows/s, {pages} pages)"
            )
            me_secs = time.perf_counter()
            for _ in range(500):
                http.get("/api/v1/current/Me", headers=headers).raise_for_status()
            print(f"current/Me: {500 / (time.perf_counter() - me_secs):7.1f} calls/s")
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
