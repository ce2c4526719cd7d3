"""``exactsql serve`` against DuckDB reading the same replica itself: streaming, latency, concurrency.

1. Writes a DuckDB replica with one table of ``--rows`` (default 1,000,000) transaction lines (eight
   columns: division, ID, date, GL account, description, amount, quantity, a flag).
2. Starts ``exactsql serve --replica duckdb:///…`` (no API calls) with a throw-away user.
3. Measures, side by side:
   - streaming: ``select *`` of the whole table into Python rows, with psycopg through the server (text
     and binary results) and with DuckDB's own ``fetchall()`` on the file (and its Arrow read, for
     reference); rows per second. TARGET: psycopg within 3× of DuckDB's ``fetchall()``.
   - latency: the median of 50 runs of a small query (ten rows by division and date).
   - concurrency: 16 clients at once, each running a grouped query 5 times; queries per second.

Usage: python benchmarks/serve.py [--rows 1000000] [--clients 16]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import psycopg

from exactsql.serve.process import ServeProcess

TABLE = "financialtransaction_transactionlines"
USER, PASSWORD = "bench", "benchmark-password"
STREAM = "select * from transactionlines"
SMALL = "select id, amountdc from transactionlines where division = 7 and date = DATE '2024-03-01' limit 10"
GROUPED = "select division, count(*) n, sum(amountdc) total from transactionlines group by division"


def make_replica(path: Path, rows: int) -> None:
    """A DuckDB replica with ``rows`` transaction lines."""
    with duckdb.connect(str(path)) as con:
        con.execute(
            f'CREATE TABLE {TABLE} AS SELECT (i % 16)::INTEGER AS "Division", uuid()::VARCHAR AS "ID", '
            f"(DATE '2022-01-01' + (i % 1000)::INTEGER)::TIMESTAMP AS \"Date\", "
            f"lpad(((i * 7) % 9000 + 1000)::VARCHAR, 4, '0') AS \"GLAccountCode\", "
            f'\'Regel \' || i::VARCHAR AS "Description", round((i % 100000) / 7.0, 2)::DOUBLE AS "AmountDC", '
            f'(i % 13)::DOUBLE AS "Quantity", (i % 3 = 0) AS "Reversal" FROM range({rows}) t(i)'
        )


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="exactsql-serve-bench-") as tmp:
        home = Path(tmp) / "home"
        env = {**os.environ, "EXACTSQL_HOME": str(home), "EXACTSQL_KEYRING": "0"}
        subprocess.run(
            [sys.executable, "-m", "exactsql", "serve", "user", "add", USER],
            input=PASSWORD + "\n", text=True, env=env, check=True, capture_output=True,
        )  # fmt: skip
        replica = Path(tmp) / "books.duckdb"
        seconds, _ = timed(lambda: make_replica(replica, args.rows))
        print(f"replica: {args.rows:,} transaction lines written in {seconds:.1f} s")
        with ServeProcess("--replica", f"duckdb:///{replica}", "--statement-timeout", "0", env=env) as server:
            dsn = server.dsn(USER, PASSWORD)
            report(dsn, replica, args.rows, args.clients)


def report(dsn: str, replica: Path, rows: int, clients: int) -> None:
    """Runs the measurements and prints them side by side."""
    direct = duckdb.connect(str(replica), read_only=True)
    view = f"CREATE TEMP VIEW transactionlines AS SELECT * FROM {TABLE}"
    direct.execute(view)

    def duck_rows() -> int:
        return len(direct.execute(STREAM).fetchall())

    def duck_arrow() -> int:
        return direct.sql(STREAM).to_arrow_table().num_rows

    def pg_rows(binary: bool) -> Callable[[], int]:
        def run() -> int:
            with psycopg.connect(dsn) as conn:
                return len(conn.cursor(binary=binary).execute(STREAM).fetchall())

        return run

    duck_rows()  # warm the file cache
    results = {}
    for name, fn in (
        ("DuckDB fetchall()", duck_rows),
        ("DuckDB Arrow", duck_arrow),
        ("psycopg via serve (text)", pg_rows(False)),
        ("psycopg via serve (binary)", pg_rows(True)),
    ):
        seconds, count = timed(fn)
        assert count == rows, (name, count)
        results[name] = seconds
    print(f"\nstreaming {rows:,} rows x 8 columns")
    print(f"  {'reader':<28}{'seconds':>10}{'rows/s':>14}{'vs DuckDB fetchall':>22}")
    for name, seconds in results.items():
        ratio = seconds / results["DuckDB fetchall()"]
        print(f"  {name:<28}{seconds:>10.2f}{rows / seconds:>14,.0f}{ratio:>21.2f}x")

    with psycopg.connect(dsn) as conn:
        conn.execute(SMALL).fetchall()
        served = [timed(lambda: conn.execute(SMALL).fetchall())[0] for _ in range(50)]
    own = [timed(lambda: direct.execute(SMALL).fetchall())[0] for _ in range(50)]
    print(f"\nsmall query ({SMALL!r}), median of 50")
    print(f"  {'DuckDB':<28}{statistics.median(own) * 1000:>10.2f} ms")
    print(f"  {'psycopg via serve':<28}{statistics.median(served) * 1000:>10.2f} ms")

    per_client = 5

    def served_client(_: int) -> int:
        with psycopg.connect(dsn) as conn:
            return sum(len(conn.execute(GROUPED).fetchall()) for _ in range(per_client))

    def duck_client(_: int) -> int:
        cursor = direct.cursor()
        cursor.execute(view)
        return sum(len(cursor.execute(GROUPED).fetchall()) for _ in range(per_client))

    print(f"\n{clients} concurrent clients, {per_client} grouped queries each ({GROUPED!r})")
    for name, fn in (("DuckDB (a cursor each)", duck_client), ("psycopg via serve", served_client)):
        with ThreadPoolExecutor(clients) as pool:
            seconds, counts = timed(lambda fn=fn: list(pool.map(fn, range(clients))))
        assert all(c == 16 * per_client for c in counts), counts  # type: ignore[union-attr]
        queries = clients * per_client
        print(f"  {name:<28}{seconds:>10.2f} s{queries / seconds:>12.1f} queries/s")


if __name__ == "__main__":
    main()
