"""Writes through SQL: calls, speed and duplicates of 1,000 sales invoices with 5 lines each.

Starts ``exactsql sandbox --divisions 1``, lifts its rate limits (and the connection's) so that calls are
counted, not waited for, logs in, and then:

1. posts N invoices (default 1,000) with 5 lines each through SQL — one ``insert … select … identified by``
   of the headers and one ``insert … select … attach to`` of the lines from CSV files, in a transaction —
   and counts the API calls from the sandbox's request log (the truth): the target is one POST per invoice
   plus the reference reads; prints invoices/s and rows/s, and what the real limit of 60 calls a minute per
   division implies;
2. beside it, the baseline: a naive loop of the same POSTs with a bare ``httpx`` client (the connection's
   token, no budgets, no checks, no idempotency records) against the same server;
3. arms the sandbox's ``lost_response`` fault on 5% of the invoice POSTs (Exact commits the write, the
   answer never arrives) and posts N new invoices through SQL: the snapshot must hold each exactly once
   (zero duplicates, zero missing); the baseline loop under the same fault, retrying a POST whose answer
   was lost as a naive client does, shows the duplicates that idempotency prevents.

Usage: python benchmarks/writes.py [--invoices 1000] [--lines 5] [--lost 0.05]
"""

from __future__ import annotations

import argparse
import collections
import csv
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
import orjson  # noqa: E402
from tests.connections.helpers import isolated_env, make_connection  # noqa: E402

from exactsql.api.session import Session, open_session  # noqa: E402
from exactsql.sandbox.process import SandboxProcess  # noqa: E402
from exactsql.sql.engine import Engine  # noqa: E402

UNLIMITED = 1_000_000
INVOICES = "salesinvoice/SalesInvoices"
REAL_RATE = 60  # calls a minute per division on Exact Online


def snapshot(control: httpx.Client, division: int, entity: str) -> list[dict]:
    """The sandbox's live rows of ``entity`` in ``division``."""
    response = control.get(f"/_sandbox/snapshot/{division}/{entity}")
    response.raise_for_status()
    return list(response.json()["rows"])


def api_requests(control: httpx.Client) -> list[dict]:
    """The sandbox's log of API requests (token calls left out)."""
    log = control.get("/_sandbox/requests", params={"limit": 200000}).json()
    return [r for r in log if r["path"].startswith("/api/v1/")]


def write_csv(tmp: Path, prefix: str, count: int, lines: int, refs: dict) -> tuple[Path, Path]:
    """Headers and lines of ``count`` invoices as CSV files (the source an integrator would have)."""
    headers, details = tmp / f"{prefix}-invoices.csv", tmp / f"{prefix}-lines.csv"
    with headers.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["YourRef", "OrderedBy", "Journal", "Description"])
        for n in range(count):
            account = refs["accounts"][n % len(refs["accounts"])]
            out.writerow([f"{prefix}-{n:05d}", account, "70", f"Benchmark invoice {n}"])
    with details.open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["InvoiceRef", "Item", "Quantity", "UnitPrice", "GLAccount"])
        for n in range(count):
            for k in range(lines):
                item = refs["items"][(n + k) % len(refs["items"])]
                out.writerow([f"{prefix}-{n:05d}", item, k + 1, 10 + k, refs["gl"]])
    return headers, details


def sql_for(headers: Path, details: Path) -> str:
    """The script an integrator writes: headers identified by their reference, lines attached to it."""
    return f"""
begin transaction;
insert into SalesInvoices (OrderedBy, Journal, YourRef, Description)
select OrderedBy, Journal, YourRef, Description from read_csv('{headers}', all_varchar = true)
identified by YourRef;
insert into SalesInvoiceLines (Item, Quantity, UnitPrice, GLAccount)
select Item, cast(Quantity as int), cast(UnitPrice as double), GLAccount
from read_csv('{details}', all_varchar = true)
attach to InvoiceRef;
commit
"""


def naive_bodies(headers: Path, details: Path) -> list[dict]:
    """The same invoices as JSON bodies, built by hand as a bare client would."""
    lines = collections.defaultdict(list)
    with details.open() as fh:
        for row in csv.DictReader(fh):
            lines[row["InvoiceRef"]].append(
                {
                    "Item": row["Item"],
                    "Quantity": float(row["Quantity"]),
                    "UnitPrice": float(row["UnitPrice"]),
                    "GLAccount": row["GLAccount"],
                }
            )
    with headers.open() as fh:
        return [
            {
                "OrderedBy": row["OrderedBy"],
                "Journal": row["Journal"],
                "YourRef": row["YourRef"],
                "Description": row["Description"],
                "SalesInvoiceLines": lines[row["YourRef"]],
            }
            for row in csv.DictReader(fh)
        ]


def naive_loop(session: Session, division: int, bodies: list[dict], retry_lost: bool) -> tuple[float, int]:
    """POSTs every body with a bare client; with ``retry_lost``, a POST whose answer is lost is sent again
    (as a naive client does). Returns the seconds and the POSTs sent."""
    url = f"{session.base_url}/api/v1/{division}/{INVOICES}"
    token = session.broker.access_token()
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json",
        "Content-Type": "application/json",
    }
    sent = 0
    started = time.perf_counter()
    with httpx.Client(timeout=30) as http:
        for body in bodies:
            payload = orjson.dumps(body)
            for _ in range(3):
                sent += 1
                try:
                    http.post(url, content=payload, headers=headers).raise_for_status()
                    break
                except httpx.TransportError:
                    if not retry_lost:
                        break
    return time.perf_counter() - started, sent


def sql_run(engine: Engine, script: str, control: httpx.Client) -> tuple[float, collections.Counter]:
    """Runs ``script``; the seconds and the API requests it made by method."""
    logged = len(api_requests(control))
    started = time.perf_counter()
    results = engine.run(script)
    seconds = time.perf_counter() - started
    # a lost answer is logged twice by the sandbox (the request's 201, then the dropped answer as 0)
    made = api_requests(control)[logged:]
    statuses = collections.Counter(r["status"] for r in results[-1].table.to_pylist())  # type: ignore[union-attr]
    print(f"    result rows by status: {dict(statuses)}")
    return seconds, collections.Counter(r["method"] for r in made)


def tally(control: httpx.Client, division: int, prefix: str, count: int) -> tuple[int, int]:
    """(duplicates, missing) of the invoices ``prefix-00000``… in the sandbox's books."""
    seen = collections.Counter(
        r["YourRef"]
        for r in snapshot(control, division, INVOICES)
        if str(r["YourRef"]).startswith(f"{prefix}-")
    )
    duplicates = sum(n - 1 for n in seen.values() if n > 1)
    missing = sum(1 for n in range(count) if seen[f"{prefix}-{n:05d}"] == 0)
    return duplicates, missing


def bench(info: dict, control: httpx.Client, args: argparse.Namespace, tmp: Path) -> None:
    """Everything after the sandbox has started."""
    control.post(
        "/_sandbox/settings", json={"minutely_limit": UNLIMITED, "daily_limit": UNLIMITED}
    ).raise_for_status()
    make_connection(info, "eol", minutely_limit=UNLIMITED, daily_limit=UNLIMITED)
    session = open_session("eol")
    session.login()
    division = int(info["divisions"][0])
    refs = {
        "accounts": [r["ID"] for r in snapshot(control, division, "crm/Accounts")[:40]],
        "items": [r["ID"] for r in snapshot(control, division, "logistics/Items")[:12]],
        "gl": snapshot(control, division, "financial/GLAccounts")[0]["ID"],
    }
    n, lines = args.invoices, args.lines
    rows = n * (1 + lines)
    print(
        f"sandbox: 1 division ({division}), rate limits lifted (calls counted, not waited for); "
        f"{n:,} invoices × {lines} lines = {rows:,} rows; references: {len(refs['accounts'])} accounts, "
        f"{len(refs['items'])} items, 1 GL account, journal 70"
    )

    engine = Engine({"eol": session}, file_access=True)
    engine.current_division("eol")  # the engine's first call, made before the measured runs

    print("\n1. no faults (the baseline runs before and after: the sandbox slows a little as its books grow)")

    def baseline(prefix: str, when: str) -> tuple[float, int]:
        bodies = naive_bodies(*write_csv(tmp, prefix, n, lines, refs))
        naive_s, naive_sent = naive_loop(session, division, bodies, retry_lost=False)
        print(
            f"    baseline loop ({when}): {naive_sent:,} API calls (POST only, no checks, no idempotency "
            f"records); {naive_s:.1f} s, {n / naive_s:,.1f} invoices/s, {rows / naive_s:,.0f} rows/s"
        )
        return naive_s, naive_sent

    baseline("N", "before")
    headers, details = write_csv(tmp, "B", n, lines, refs)
    seconds, methods = sql_run(engine, sql_for(headers, details), control)
    calls = sum(methods.values())
    print(
        f"    exactsql SQL : {calls:,} API calls ({methods['POST']:,} POST, {methods['GET']:,} GET reference reads)"
        f" — target {n:,} POST + the reference reads; {seconds:.1f} s, {n / seconds:,.1f} invoices/s, "
        f"{rows / seconds:,.0f} rows/s"
    )
    _, naive_sent = baseline("O", "after")
    minutes = calls / REAL_RATE
    print(
        f"    at Exact's {REAL_RATE} calls a minute per division: {calls:,} calls take {minutes:,.1f} min = "
        f"{n / (minutes * 60):.2f} invoices/s, {rows / (minutes * 60):.1f} rows/s (the baseline's "
        f"{naive_sent:,} calls: {naive_sent / REAL_RATE:,.1f} min)"
    )
    duplicates, missing = tally(control, division, "B", n)
    print(f"    books: {duplicates} duplicate(s), {missing} missing")

    print(f"\n2. {args.lost:.0%} of invoice POSTs lose their answer (committed, the client hears nothing)")
    prefix = f"/api/v1/{division}/salesinvoice"
    control.post(
        "/_sandbox/faults", json={"kind": "lost_response", "ratio": args.lost, "path_prefix": prefix}
    )
    headers, details = write_csv(tmp, "L", n, lines, refs)
    seconds, methods = sql_run(engine, sql_for(headers, details), control)
    calls = sum(methods.values())
    duplicates, missing = tally(control, division, "L", n)
    print(
        f"    exactsql SQL : {calls:,} API calls ({methods['POST']:,} POST, {methods['GET']:,} GET: reference "
        f"reads and look-ups after lost answers); {seconds:.1f} s, {rows / seconds:,.0f} rows/s; books: "
        f"{duplicates} duplicate(s), {missing} missing"
    )
    bodies = naive_bodies(*write_csv(tmp, "M", n, lines, refs))
    naive_s, naive_sent = naive_loop(session, division, bodies, retry_lost=True)
    duplicates, missing = tally(control, division, "M", n)
    print(
        f"    baseline loop (a lost answer is sent again): {naive_sent:,} POSTs; {naive_s:.1f} s; books: "
        f"{duplicates} duplicate(s), {missing} missing"
    )
    rerun_s, methods = sql_run(engine, sql_for(headers, details), control)
    duplicates, missing = tally(control, division, "L", n)
    print(
        f"    the same script run again: {sum(methods.values())} API call(s) ({dict(methods)}), {rerun_s:.1f} s; "
        f"books: {duplicates} duplicate(s), {missing} missing"
    )
    control.delete("/_sandbox/faults")
    session.close()


def main() -> int:
    """Runs the benchmark and prints its figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--invoices", type=int, default=1000)
    parser.add_argument("--lines", type=int, default=5)
    parser.add_argument("--lost", type=float, default=0.05)
    args = parser.parse_args()
    logging.getLogger("exactsql").setLevel(logging.ERROR)  # lost answers are counted below, not logged
    with tempfile.TemporaryDirectory(prefix="exactsql-bench-writes-") as tmpdir:
        tmp = Path(tmpdir)
        home = tmp / "home"
        home.mkdir()
        env = isolated_env(home, f"sqlite:///{tmp / 'state.db'}")
        for name in ("EXACTSQL_HOME", "EXACTSQL_STATE", "EXACTSQL_KEYRING", "EXACTSQL_SECRET_KEY"):
            os.environ[name] = env[name]
        with (
            SandboxProcess("--divisions", "1") as server,
            httpx.Client(base_url=server.info["base_url"], timeout=300) as control,
        ):
            bench(server.info, control, args, tmp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
