"""API calls per query against the ideal: the figure that matters where a division allows 60 calls a minute.

Starts ``exactsql sandbox --divisions 3 --size medium`` (≈ 100,000 transaction lines per division), lifts
its rate limits (and the connection's) so that the benchmark is not slowed by minute windows, logs in
through the sandbox's own login page, runs ``use all@eol`` and then, per query:

* the API calls used, from the sandbox's ``/_sandbox/stats`` (the truth) and from the engine's fetch log;
* the IDEAL: per table and division, ceil(rows needed / page size of the best endpoint that can deliver
  them) (1,000 for bulk/sync, 60 for regular), counted from the sandbox's snapshots (the truth). The table
  a query starts from costs at least one call per division (an empty answer is a page too); a table read
  by the keys another one gave may cost 0 where no key is needed. The ideal is a lower bound: it ignores
  that a key filter fits only so many keys in one URL;
* the difference, the rows returned, the wall time, and for wide reads (1,000-row pages) whether each
  table stays within the target "ideal + 1 per division" (the +1 pays for the empty page that ends a
  sync read whose last page was full).

Every query runs three times: in a new engine (run 1), in another new engine with a cache max-age (run 2:
must cost the same, no hidden caching), and again in that engine (run 3: must cost 0). The calls to learn
the divisions (``use all``) and ``current/Me`` are overhead of a new engine, shown apart.

Usage: python benchmarks/query_calls.py [--size medium] [--divisions 3]
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run by path: tests.* (helpers) live next to benchmarks/
    sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from tests.connections.helpers import isolated_env, make_connection  # noqa: E402

from exactsql.api.session import Session, open_session  # noqa: E402
from exactsql.catalog import Table, load_catalog  # noqa: E402
from exactsql.endpoints import split_api_path  # noqa: E402
from exactsql.sandbox.process import SandboxProcess  # noqa: E402
from exactsql.sql.engine import Engine, IORecord, StatementResult  # noqa: E402

UNLIMITED = 1_000_000
CACHE_MAX_AGE = 600.0
TL = "financialtransaction/TransactionLines"
INVOICES = "salesinvoice/SalesInvoices"
ACCOUNTS = "crm/Accounts"
USER_ROLES = "users/UserRoles"
USERS = "users/Users"
SEED_QUERY = (Path(__file__).resolve().parent.parent / "examples" / "seed.sql").read_text().strip()


class Truth:
    """The sandbox's snapshots (``/_sandbox/snapshot/{division}/{service}/{entity}``), fetched once each."""

    def __init__(self, control: httpx.Client, divisions: list[int]) -> None:
        self.control = control
        self.divisions = divisions
        self._rows: dict[tuple[int, str], list[dict]] = {}

    def rows(self, division: int, entity: str) -> list[dict]:
        """Every live row of ``entity`` (``crm/Accounts``) in ``division``."""
        key = (division, entity)
        if key not in self._rows:
            response = self.control.get(f"/_sandbox/snapshot/{division}/{entity}")
            response.raise_for_status()
            self._rows[key] = response.json()["rows"]
        return self._rows[key]


@dataclass
class Need:
    """The rows one query needs from one table in one division, and the fewest pages that carry them."""

    table: str
    division: int
    rows: int
    page_size: int
    starts: bool  # the query starts from this table: at least one call even when no row is needed
    wide: bool = False  # a read of (nearly) every row, on 1,000-row pages: the "ideal + 1" target applies

    @property
    def calls(self) -> int:
        pages = math.ceil(self.rows / self.page_size)
        return max(1, pages) if self.starts else pages


@dataclass
class Truthful:
    """What the truth says of one query: the rows it needs per table and division, the rows it returns."""

    needs: list[Need]
    rows: int


@dataclass
class Query:
    """A benchmark query and how to count, from the truth, the rows it needs and returns."""

    name: str
    sql: str
    truth: Callable[[Truth], Truthful]


def best_page(table: Table, filtered_on: set[str]) -> int:
    """The page size of the best endpoint that can deliver rows of ``table`` filtered on those columns.

    A read without a filter can take any endpoint without a mandatory filter; a filtered read needs an
    endpoint that filters on those columns (sync filters on Timestamp only).
    """
    sizes = []
    for path in table.paths:
        if "GET" not in path.methods:
            continue
        if filtered_on:
            if path.kind == "sync" or not all(path.can_filter(c) for c in filtered_on):
                continue
            if path.mandatory_filter and not filtered_on & set(path.mandatory_filter):
                continue
        elif path.mandatory_filter:
            continue
        sizes.append(path.page_size)
    return max(sizes)


def cet_ms(value: str | None) -> int | None:
    """``/Date(ms)/`` as its number of milliseconds (CET/CEST wall clock), None for null."""
    return None if value is None else int(value[6:].split(")")[0].split("+")[0])


def now_cet_ms() -> int:
    """``sysdate`` as the engine sees it: Amsterdam wall clock, as milliseconds of a naive timestamp."""
    local = dt.datetime.now(ZoneInfo("Europe/Amsterdam")).replace(tzinfo=None)
    return int((local - dt.datetime(1970, 1, 1)).total_seconds() * 1000)


def build_queries(truth: Truth) -> list[Query]:
    """The four queries; the selective lookup takes a real invoice number from the truth."""
    catalog = load_catalog()
    divisions = truth.divisions

    def full(name: str, division: int, rows: int, starts: bool = True) -> Need:
        return Need(name, division, rows, best_page(catalog.table(name), set()), starts, wide=True)

    def group_by(t: Truth) -> Truthful:
        groups = {(r["GLAccountCode"], r["FinancialYear"]) for d in divisions for r in t.rows(d, TL)}
        return Truthful([full(TL, d, len(t.rows(d, TL))) for d in divisions], len(groups))

    invoice = truth.rows(divisions[-1], INVOICES)
    number = int(invoice[len(invoice) // 2]["InvoiceNumber"])

    def lookup(t: Truth) -> Truthful:
        page = best_page(catalog.table(INVOICES), {"InvoiceNumber"})
        found = [sum(r["InvoiceNumber"] == number for r in t.rows(d, INVOICES)) for d in divisions]
        return Truthful(
            [Need(INVOICES, d, n, page, True) for d, n in zip(divisions, found, strict=True)], sum(found)
        )

    def seed(t: Truth) -> Truthful:
        now = now_cet_ms()
        out, names = [], set()
        for d in divisions:
            roles = [
                r
                for r in t.rows(d, USER_ROLES)
                if r["Role"] == 274 and (r["EndDate"] is None or (cet_ms(r["EndDate"]) or 0) >= now)
            ]
            ids = {r["UserID"] for r in roles}
            users = [u for u in t.rows(d, USERS) if u["UserID"] in ids]
            names.update(u["FullName"] for u in users)
            out.append(Need(USER_ROLES, d, len(roles), best_page(catalog.table(USER_ROLES), {"Role"}), True))
            out.append(Need(USERS, d, len(users), best_page(catalog.table(USERS), {"UserID"}), False))
        return Truthful(out, len(names))

    def join(t: Truth) -> Truthful:
        out, joined = [], 0
        # the accounts by the keys the invoices gave, or all of them: 1,000 a page either way
        page = max(best_page(catalog.table(ACCOUNTS), {"ID"}), best_page(catalog.table(ACCOUNTS), set()))
        for d in divisions:
            invoices = t.rows(d, INVOICES)
            ids = {a["ID"] for a in t.rows(d, ACCOUNTS)}
            referenced = {r["InvoiceTo"] for r in invoices} & ids
            joined += sum(r["InvoiceTo"] in ids for r in invoices)
            out.append(full(INVOICES, d, len(invoices)))
            out.append(Need(ACCOUNTS, d, len(referenced), page, False, wide=True))
        return Truthful(out, joined)

    return [
        Query(
            "a group by",
            "select tle.glaccountcode, tle.financialyear, sum(tle.amountdc) amount, count(*) lines\n"
            "from transactionlines@eol tle\ngroup by tle.glaccountcode, tle.financialyear",
            group_by,
        ),
        Query(
            "b lookup",
            f"select sin.invoicenumber, sin.invoicetoname, sin.amountdc\n"
            f"from salesinvoices@eol sin\nwhere sin.invoicenumber = {number}",
            lookup,
        ),
        Query("c seed", SEED_QUERY, seed),
        Query(
            "d join",
            "select sin.invoicenumber, acc.name, sin.amountdc\n"
            "from salesinvoices@eol sin\njoin accounts@eol acc\n"
            "on acc.id = sin.invoiceto\nand acc.division = sin.division",
            join,
        ),
    ]


# -- running -----------------------------------------------------------------------------------------


def api_calls(control: httpx.Client) -> int:
    """The sandbox's count of every ``/api/v1/`` call so far."""
    return int(control.get("/_sandbox/stats").json()["api_calls"])


def logged_calls(control: httpx.Client, calls: int) -> dict[tuple[str, int | None], int]:
    """Calls per (table, division) of the last ``calls`` API requests in the sandbox's request log."""
    entries = control.get("/_sandbox/requests", params={"limit": calls + 20}).json()
    api = [e for e in entries if e["path"].startswith("/api/v1/")][-calls:] if calls else []
    out: dict[tuple[str, int | None], int] = {}
    for entry in api:
        key = (table_of(split_api_path(entry["path"]).base), entry["division"])
        out[key] = out.get(key, 0) + 1
    return out


@dataclass
class Run:
    """One run of one statement."""

    calls: int  # sandbox stats delta
    engine_calls: int  # sum of the engine's fetch log
    rows: int
    seconds: float
    ios: list[IORecord]
    logged: dict[tuple[str, int | None], int]  # the sandbox's request log, per table and division


def new_engine(
    session: Session, control: httpx.Client, cache_max_age: float | None
) -> tuple[Engine, int, int]:
    """An engine on ``use all@eol``; returns it with the calls of current/Me and of ``use all``."""
    engine = Engine({"eol": session}, cache_max_age=cache_max_age)
    before = api_calls(control)
    engine.scope()  # current/Me: the current division
    me = api_calls(control) - before
    before = api_calls(control)
    engine.run("use all@eol")
    use = api_calls(control) - before
    return engine, me, use


def run_once(engine: Engine, control: httpx.Client, sql: str) -> Run:
    """Runs ``sql`` and counts its calls (the stats delta and the engine's fetch log)."""
    before = api_calls(control)
    logged = len(engine.ios)
    started = time.perf_counter()
    results: list[StatementResult] = engine.run(sql)
    seconds = time.perf_counter() - started
    calls = api_calls(control) - before
    ios = engine.ios[logged:]
    table = results[-1].table
    rows = table.num_rows if table is not None else 0
    return Run(calls, sum(io.calls for io in ios), rows, seconds, ios, logged_calls(control, calls))


def table_of(endpoint: str) -> str:
    """The catalog table (``crm/Accounts``) an endpoint (``sync/CRM/Accounts``) reads."""
    found = load_catalog().find_endpoint(endpoint)
    return found[0].full_name if found else endpoint


def per_table(ios: list[IORecord]) -> dict[tuple[str, int | None], int]:
    """Calls per (table, division) of a run's fetch log."""
    out: dict[tuple[str, int | None], int] = {}
    for io in ios:
        key = (table_of(io.endpoint), io.division)
        out[key] = out.get(key, 0) + io.calls
    return out


def main() -> int:
    """Runs the benchmark and prints its figures."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size", default="medium", choices=["small", "medium", "large"])
    parser.add_argument("--divisions", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="exactsql-bench-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        env = isolated_env(home, f"sqlite:///{Path(tmp) / 'state.db'}")
        for name in ("EXACTSQL_HOME", "EXACTSQL_STATE", "EXACTSQL_KEYRING", "EXACTSQL_SECRET_KEY"):
            os.environ[name] = env[name]
        started = time.perf_counter()
        with SandboxProcess("--divisions", str(args.divisions), "--size", args.size) as server:
            info = server.info
            print(
                f"sandbox --divisions {args.divisions} --size {args.size} started in "
                f"{time.perf_counter() - started:.1f} s; divisions {info['divisions']}"
            )
            with httpx.Client(base_url=info["base_url"], timeout=300) as control:
                return bench(info, control)


def bench(info: dict, control: httpx.Client) -> int:
    """Everything after the sandbox has started."""
    control.post(
        "/_sandbox/settings", json={"minutely_limit": UNLIMITED, "daily_limit": UNLIMITED}
    ).raise_for_status()
    print(
        f"rate limits lifted to {UNLIMITED:,} a minute and a day per division, in the sandbox and the "
        "connection, so that minute windows do not slow the benchmark (calls are counted, not waited for)"
    )
    make_connection(info, "eol", minutely_limit=UNLIMITED, daily_limit=UNLIMITED)
    session = open_session("eol")
    try:
        return bench_session(session, control)
    finally:
        session.close()


def bench_session(session: Session, control: httpx.Client) -> int:
    """Everything after the connection was made: login, engines, queries, figures."""
    before = control.get("/_sandbox/stats").json()
    session.login()
    after = control.get("/_sandbox/stats").json()
    print(
        f"login (the sandbox's login page, then the token endpoint and current/Me): "
        f"{after['api_calls'] - before['api_calls']} API call(s), "
        f"{after['token_calls'] - before['token_calls']} token call(s)"
    )

    engine, me, use = new_engine(session, control, None)
    divisions = sorted(engine.scope().of("eol"))
    print(f"overhead of a new engine: current/Me {me} call(s), `use all@eol` {use} call(s) -> {divisions}")
    print()

    started = time.perf_counter()
    truth = Truth(control, divisions)
    queries = build_queries(truth)
    expected = {q.name: q.truth(truth) for q in queries}
    print(f"truth counted from the sandbox's snapshots in {time.perf_counter() - started:.1f} s")
    print()

    failures: list[str] = []
    overheads = {(me, use)}
    header = (
        f"{'query':<11} {'calls':>6} {'engine':>6} {'ideal':>6} {'diff':>5} {'rows':>7} {'wall s':>7}  "
        f"{'run 2 (new engine)':>18}  {'run 3 (cache)':>13}  target"
    )
    print(header)
    print("-" * len(header))
    details: list[str] = []
    for query in queries:
        if query is queries[0]:
            first_engine = engine
        else:
            first_engine, *cost = new_engine(session, control, None)
            overheads.add(tuple(cost))
        first = run_once(first_engine, control, query.sql)
        cached_engine, *cost = new_engine(session, control, CACHE_MAX_AGE)
        overheads.add(tuple(cost))
        second = run_once(cached_engine, control, query.sql)
        third = run_once(cached_engine, control, query.sql)

        query_needs = expected[query.name].needs
        if first.rows != expected[query.name].rows:
            failures.append(
                f"{query.name}: {first.rows} rows returned, the truth says {expected[query.name].rows}"
            )
        ideal = sum(n.calls for n in query_needs)
        used = per_table(first.ios)
        wide = [n for n in query_needs if n.wide]
        over = [n for n in wide if used.get((n.table, n.division), 0) > n.calls + 1]
        if wide:
            target = "ok: within ideal + 1 per division" if not over else "MISSED: above ideal + 1"
        else:
            target = f"n/a (selective; {'at' if first.calls <= ideal else 'above'} ideal)"
        print(
            f"{query.name:<11} {first.calls:>6} {first.engine_calls:>6} {ideal:>6} {first.calls - ideal:>+5} "
            f"{first.rows:>7,} {first.seconds:>7.2f}  {second.calls:>8} calls "
            f"{'same' if second.calls == first.calls else 'DIFF':<4}  {third.calls:>7} calls  {target}"
        )
        details.append(f"{query.name}: {' '.join(query.sql.split())}")
        for table in dict.fromkeys(n.table for n in query_needs):
            parts = [n for n in query_needs if n.table == table]
            used_calls = [used.get((table, n.division), 0) for n in parts]
            rows = [n.rows for n in parts]
            endpoints = sorted({io.endpoint for io in first.ios if table_of(io.endpoint) == table})
            details.append(
                f"    {table:<38} used {sum(used_calls):>4} {used_calls}  ideal {sum(n.calls for n in parts):>4} "
                f"{[n.calls for n in parts]}  rows needed {rows} at {parts[0].page_size}/page"
                f"  via {', '.join(endpoints) or '-'}"
            )
        if first.calls != first.engine_calls:
            failures.append(
                f"{query.name}: sandbox counted {first.calls} calls, the engine {first.engine_calls}"
            )
        if first.logged != {k: v for k, v in used.items() if v}:
            failures.append(f"{query.name}: the sandbox's request log {first.logged} != engine.ios {used}")
        if second.calls != first.calls:
            failures.append(f"{query.name}: a new engine used {second.calls} calls, not {first.calls}")
        if third.calls != 0:
            failures.append(f"{query.name}: with cache_max_age the repeat used {third.calls} calls, not 0")
        if second.rows != first.rows or third.rows != first.rows:
            failures.append(
                f"{query.name}: rows differ between runs ({first.rows}, {second.rows}, {third.rows})"
            )
        failures.extend(
            f"{query.name}: {n.table} in {n.division} used {used.get((n.table, n.division), 0)} calls, "
            f"target {n.calls + 1}"
            for n in over
        )
    print()
    print("calls: sandbox /_sandbox/stats delta (the truth); engine: sum of engine.ios; run 2: the same")
    print(
        "statement in a new engine with a cache max-age (must equal run 1); run 3: again in that engine (0)"
    )
    print()
    for line in details:
        print(line)
    shown = ", ".join(f"current/Me {m} + use all {u}" for m, u in sorted(overheads))
    print(f"overhead of each of the {2 * len(queries)} engines, not counted above: {shown} call(s)")
    if len(overheads) != 1:
        failures.append(f"the overhead of a new engine varies: {shown}")
    stats = control.get("/_sandbox/stats").json()
    print(
        f"sandbox totals: {stats['api_calls']} API calls (by status {stats['by_status']}), "
        f"{stats['token_calls']} token call(s), {stats['rate_limited']} rate-limited"
    )
    if stats["rate_limited"] or set(stats["by_status"]) - {"200"}:
        failures.append("the sandbox answered something other than 200")
    print()
    if failures:
        print("NOT MET:")
        for failure in failures:
            print(f"  {failure}")
    else:
        print(
            "all met: calls in engine.ios = the sandbox's stats and request log; runs repeat at the same cost;"
        )
        print("the cache serves repeats for 0 calls; every wide read within ideal + 1 per division; the rows")
        print("returned are the rows the truth gives")
    return 0


if __name__ == "__main__":
    sys.exit(main())
