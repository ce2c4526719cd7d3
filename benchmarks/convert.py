"""JSON pages → typed Arrow on one core: rows/s of ``page_to_arrow`` for 1,000-row sync TransactionLines pages.

Fetches ``--pages`` pages of ``sync/Financial/TransactionLines`` from an in-process sandbox (one division,
``--size medium``) twice: with every column (``$select=*``) and with a typical 12-column select. Then it
times ``page_to_arrow`` alone (best and median of ``--repeats`` passes over all pages; dates parsed, numbers typed),
on one core: ``OMP_NUM_THREADS=1`` and pyarrow's CPU and I/O pools at one thread. Calibration: the same
pages through ``orjson.loads`` alone, and through ``rows_to_arrow`` (Arrow from Python lists, the
tolerant path) on the parsed rows; where ``page_to_arrow``'s time goes: pyarrow's JSON parse alone (the
same reader and schema, no typing after it); and the fastest other JSON→Arrow reader at hand, DuckDB's
``read_json`` (yyjson) on the page's ``results`` array, one thread. Targets: ≥ 200,000 TransactionLines rows/s
with every column, and no slower than 580,000 rows/s with 12 columns.

Usage: python benchmarks/convert.py [--pages 30] [--repeats 7] [--size medium]
"""

from __future__ import annotations

import os

os.environ["OMP_NUM_THREADS"] = "1"  # before numpy and pyarrow start their pools

import argparse
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import duckdb
import httpx
import orjson
import pyarrow as pa
import pyarrow.json as pajson

from exactsql.api.client import next_link
from exactsql.api.convert import page_to_arrow, read_schema, rows_to_arrow
from exactsql.catalog import Column, load_catalog
from exactsql.sandbox.core import Sandbox
from exactsql.sandbox.process import control_plane_tokens
from exactsql.sandbox.transport import SandboxTransport

TARGET = 200_000
TARGET_FEW = 580_000
BASE = "http://sandbox"
ENDPOINT = "sync/Financial/TransactionLines"
FEW_COLUMNS = (
    "Timestamp,ID,Date,FinancialYear,FinancialPeriod,GLAccountCode,AccountCode,AmountDC,AmountVATFC,"
    "Description,EntryNumber,JournalCode"
)


def fetch_pages(http: httpx.Client, token: str, division: int, select: str, pages: int) -> list[bytes]:
    """The bodies of the first ``pages`` pages, following ``__next``."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    url: str | None = f"/api/v1/{division}/{ENDPOINT}"
    params: dict[str, str] | None = {"$select": select}
    bodies: list[bytes] = []
    while url and len(bodies) < pages:
        response = http.get(url, params=params, headers=headers)
        response.raise_for_status()
        bodies.append(response.content)
        url, params = next_link(response.content), None
    return bodies


def best_of(repeats: int, work: Callable[[], int]) -> tuple[float, float, int]:
    """The fastest and the median of ``repeats`` runs of ``work`` (which returns rows): (best s, median s, rows)."""
    times, rows = [], 0
    for _ in range(repeats):
        started = time.perf_counter()
        rows = work()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times), rows


def measure(label: str, bodies: list[bytes], columns: Sequence[Column], repeats: int) -> float:
    """Prints rows/s of page_to_arrow and of the calibrations; returns page_to_arrow's rows/s."""
    size = sum(len(b) for b in bodies)
    parsed = [orjson.loads(b)["d"]["results"] for b in bodies]
    tables = [page_to_arrow(b, columns) for b in bodies]  # warm, and check what it makes
    assert all(t.num_rows == len(p) for t, p in zip(tables, parsed, strict=True))
    dates = [c.name for c in columns if c.edm == "Edm.DateTime"]
    assert all(tables[0].schema.field(n).type == pa.timestamp("ms") for n in dates)
    same = all(t.equals(rows_to_arrow(p, columns)) for t, p in zip(tables, parsed, strict=True))
    assert same, "page_to_arrow and rows_to_arrow disagree"

    fast, fast_median, rows = best_of(
        repeats, lambda: sum(page_to_arrow(b, columns).num_rows for b in bodies)
    )
    loads, loads_median, _ = best_of(
        repeats, lambda: sum(len(orjson.loads(b)["d"]["results"]) for b in bodies)
    )
    lists, lists_median, _ = best_of(repeats, lambda: sum(rows_to_arrow(p, columns).num_rows for p in parsed))
    parse, parse_median, _ = best_of(repeats, lambda: sum(parse_only(b, columns) for b in bodies))
    duck, duck_median = duckdb_read_json(bodies, columns, repeats)
    print(
        f"{label}: {len(bodies)} pages, {rows:,} rows, {len(columns)} columns ({len(dates)} dates), "
        f"{size / len(bodies) / 1e3:,.0f} kB a page; rows/s of the best pass (median pass); every page's "
        "table equals rows_to_arrow's (dates as timestamp[ms])"
    )

    def line(name: str, best: float, median: float, note: str) -> None:
        print(f"  {name:<36} {rows / best:>10,.0f} rows/s ({rows / median:>9,.0f})  {note}")

    line("page_to_arrow", fast, fast_median, f"{size / fast / 1e6:.1f} MB/s")
    line("calibration: orjson.loads", loads, loads_median, f"{size / loads / 1e6:.1f} MB/s")
    line("calibration: rows_to_arrow", lists, lists_median, "Arrow from Python lists (parsed rows)")
    line(
        "calibration: loads + rows_to_arrow",
        loads + lists,
        loads_median + lists_median,
        "the tolerant Python path, whole",
    )
    line(
        "profile: pyarrow JSON parse alone",
        parse,
        parse_median,
        f"{parse / fast:.0%} of page_to_arrow's time",
    )
    line("alternative: DuckDB read_json", duck, duck_median, "the results array, one thread, to Arrow")
    return rows / fast


def parse_only(body: bytes, columns: Sequence[Column]) -> int:
    """pyarrow's JSON reader on one page with page_to_arrow's schema, nothing after it; returns its rows."""
    options = pajson.ParseOptions(explicit_schema=read_schema(columns), unexpected_field_behavior="ignore")
    whole = pajson.ReadOptions(block_size=len(body) + 1, use_threads=False)
    table = pajson.read_json(io.BytesIO(body), parse_options=options, read_options=whole)
    return len(table.column("d").combine_chunks().field("results").flatten())


def duckdb_read_json(bodies: list[bytes], columns: Sequence[Column], repeats: int) -> tuple[float, float]:
    """DuckDB's read_json (format array, explicit columns, one thread) over each page's results array, from
    files in a temporary directory (written before the clock starts): (best s, median s) of a pass."""
    kinds = {"Edm.Double": "DOUBLE", "Edm.Decimal": "DOUBLE", "Edm.Int16": "SMALLINT", "Edm.Int32": "INTEGER"}
    kinds |= {"Edm.Boolean": "BOOLEAN", "Edm.Byte": "SMALLINT"}
    spec = ", ".join(f"'{c.name}': '{kinds.get(c.edm, 'VARCHAR')}'" for c in columns)
    con = duckdb.connect()
    con.execute("SET threads = 1")
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for i, body in enumerate(bodies):
            start, end = body.index(b'"results":') + len(b'"results":'), body.rindex(b"]") + 1
            files.append(Path(folder, f"{i}.json"))
            files[-1].write_bytes(body[start:end])

        def one_pass() -> int:
            rows = 0
            for file in files:
                sql = f"SELECT * FROM read_json('{file}', format = 'array', columns = {{{spec}}})"
                rows += con.sql(sql).to_arrow_table().num_rows
            return rows

        best, median, _ = best_of(repeats, one_pass)
    con.close()
    return best, median


def main() -> int:
    """Runs the benchmark and prints its figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--pages", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--size", default="medium", choices=["small", "medium", "large"])
    args = parser.parse_args()

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    print(f"load average (1, 5, 15 min) at the start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(
        f"one core: OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, pyarrow cpu_count={pa.cpu_count()}, "
        f"io_thread_count={pa.io_thread_count()}; pyarrow {pa.__version__}, orjson {orjson.__version__}"
    )
    started = time.perf_counter()
    sb = Sandbox(divisions=1, size=args.size)
    sb.settings.update({"minutely_limit": 10**9, "daily_limit": 10**9})
    path = load_catalog().table("financialtransaction/TransactionLines").path("sync")
    assert path is not None
    every = list(path.columns)
    few = [c for c in (path.column(n) for n in FEW_COLUMNS.split(",")) if c is not None]
    with httpx.Client(transport=SandboxTransport(sb), base_url=BASE, timeout=120) as http:
        token = control_plane_tokens(http, sb.info(BASE))["access_token"]
        division = sb.world.division_codes[0]
        wide = fetch_pages(http, token, division, "*", args.pages)
        narrow = fetch_pages(http, token, division, FEW_COLUMNS, args.pages)
    print(
        f"fetched {len(wide)} + {len(narrow)} pages of {ENDPOINT} from an in-process sandbox "
        f"(--size {args.size}, rate limits lifted) in {time.perf_counter() - started:.1f} s; "
        f"timing page_to_arrow only, best of {args.repeats}"
    )
    print()
    rate_all = measure("$select=*", wide, every, args.repeats)
    print()
    rate_few = measure(f"$select={len(few)} columns", narrow, few, args.repeats)
    print()
    print(f"load average (1, 5, 15 min) at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    verdict = "met" if rate_all >= TARGET else "NOT met"
    verdict_few = "met" if rate_few >= TARGET_FEW else "NOT met"
    print(
        f"targets on one core: all columns ≥ {TARGET:,} TransactionLines rows/s: {rate_all:,.0f} ({verdict}); "
        f"12 columns ≥ {TARGET_FEW:,}: {rate_few:,.0f} ({verdict_few})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
