"""Every endpoint of the catalog answers on a sandbox server, through the API and through exactsql's SQL
engine, and the books reach the sandbox clock's today."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import httpx
import pytest

from exactsql.api.session import open_session
from exactsql.catalog import AccessPath, load_catalog
from exactsql.sql.dialect import SQLError
from exactsql.sql.engine import Engine
from tests.connections.helpers import make_connection
from tests.sandbox.helpers import reset_control, sandbox_server
from tests.sandbox_client import SandboxClient

UNLIMITED = {"minutely_limit": 1_000_000, "daily_limit": 1_000_000}
_LITERALS = {
    "Edm.Guid": "{} ne guid'00000000-0000-0000-0000-000000000000'",
    "Edm.String": "{} ne 'zzz'",
    "Edm.DateTime": "{} ge datetime'1900-01-01T00:00:00'",
    "Edm.Boolean": "{} eq true or {} eq false",
}


@pytest.fixture(scope="module")
def server() -> Iterator[dict]:
    with sandbox_server(3) as info:
        yield info


@pytest.fixture()
def control(server: dict) -> Iterator[httpx.Client]:
    with reset_control(server, UNLIMITED) as http:
        yield http


@pytest.fixture()
def engine(sqlite_env: dict, server: dict, control: httpx.Client) -> Engine:
    make_connection(server, "eol")
    session = open_session("eol")
    session.login()
    return Engine({"eol": session})


def _statuses(control: httpx.Client) -> dict[str, int]:
    return dict(control.get("/_sandbox/stats").json()["by_status"])


def _params(path: AccessPath) -> dict[str, str]:
    """The query a client needs for one row of ``path``: a $select, and the filter Exact demands."""
    names = [c.name for c in path.columns if c.edm.startswith("Edm.")]
    params = {"$select": ",".join(names[:12]), "$top": "1"}
    mandatory = list(path.mandatory_filter or ())
    for name in sorted(
        mandatory, key=lambda n: (n not in (path.key, "ID", "Code", "Created"), mandatory.index(n))
    ):
        column = path.column(name)
        if column is not None and path.can_filter(name) and name != "Division":
            template = _LITERALS.get(column.edm, "{} ge 0")
            params["$filter"] = template.format(name, name)
            break
    return params


def test_every_endpoint_answers_get(server: dict, control: httpx.Client) -> None:
    eol = SandboxClient(control, server)
    division = eol.divisions[0]
    paths = [p for t in load_catalog().tables for p in t.paths if "GET" in p.methods]
    assert len(paths) > 400
    empty = []
    for path in paths:
        where = f"{division}/{path.endpoint}" if path.division_in_url else path.endpoint
        response = eol.get(where, _params(path))
        assert response.status_code == 200, (path.endpoint, response.text[:300])
        d = response.json()["d"]
        rows = d if isinstance(d, list) else d["results"]  # $top=1 within a page: a bare array
        if not rows:
            empty.append(path.endpoint)
    assert empty == ["sync/Deleted"]
    assert set(_statuses(control)) == {"200"}


def test_every_table_reads_through_sql(engine: Engine, control: httpx.Client) -> None:
    catalog = load_catalog()
    names = engine.run("select schema, name from systemtables")[-1].table.to_pylist()  # type: ignore[union-attr]
    assert len(names) == len(catalog.tables)
    refused = []
    for row in names:
        table = catalog.table(f"{row['Schema']}/{row['Name']}")
        try:
            result = engine.run(f"select * from ExactOnlineREST.{table.schema}.{table.name} limit 1")[-1]
        except SQLError:
            refused.append(table.full_name)
            continue
        assert result.table is not None
        assert result.table.num_rows == 1 or table.full_name == "sync/Deleted", table.full_name
    # Only the endpoints that answer no GET at all are refused, locally, without a call.
    assert refused == [t.full_name for t in catalog.tables if not any("GET" in p.methods for p in t.paths)]
    assert set(_statuses(control)) == {"200"}


def test_the_last_twelve_months_of_transaction_lines(engine: Engine, control: httpx.Client) -> None:
    now = control.get("/_sandbox/clock").json()["now"]
    today = dt.datetime.fromtimestamp(now, ZoneInfo("Europe/Amsterdam")).date()
    first = dt.date(today.year - (today.month <= 11), (today.month - 12) % 12 + 1, 1)  # 11 months back
    engine.run("use all@eol")
    report = engine.run(
        "select division, extract(year from Date) y, extract(month from Date) m, count(*) n, sum(AmountDC) s "
        f"from TransactionLines where Date >= date '{first.isoformat()}' group by 1, 2, 3"
    )[-1].table
    assert report is not None
    months = {}
    for row in report.to_pylist():
        months.setdefault(row["Division"], set()).add((row["y"], row["m"]))
        assert abs(row["s"]) < 0.005  # whole entries fall within one month
    wanted = {((first.month + k - 1) // 12 + first.year, (first.month + k - 1) % 12 + 1) for k in range(12)}
    assert len(months) == 3
    assert all(m == wanted for m in months.values()), months


def test_changes_to_any_entity_come_back_through_sync_and_deleted(
    server: dict, control: httpx.Client
) -> None:
    eol = SandboxClient(control, server)
    division = eol.divisions[0]
    entity, path = "salesorder/SalesOrders", f"{division}/sync/SalesOrder/SalesOrderHeaders"
    before, _ = eol.follow(path, {"$select": "Timestamp,OrderID"})
    cursor = max(r["Timestamp"] for r in before)
    body = {"division": division, "entity": entity, "inserts": 3, "updates": 2, "deletes": 1}
    assert eol.control("POST", "mutate", json=body)["inserted"] == 3
    changed, _ = eol.follow(path, {"$select": "Timestamp,OrderID", "$filter": f"Timestamp gt {cursor}L"})
    assert 2 <= len(changed) <= 5  # inserted and updated rows (updates may hit new ones), not deleted ones
    assert all(r["Timestamp"] > cursor for r in changed)
    deleted, _ = eol.follow(f"{division}/sync/Deleted", {"$select": "EntityKey,EntityType"})
    assert [r["EntityType"] for r in deleted] == [32]
    snapshot = eol.control("GET", f"snapshot/{division}/{entity}")
    assert snapshot["count"] == len(before) + 3 - 1
    assert deleted[0]["EntityKey"] not in {r["OrderID"] for r in snapshot["rows"]}


def _compound(name: str) -> bool:
    return not isinstance(load_catalog().table(name).key, str | None)


@pytest.mark.parametrize("compound", [False, True])
def test_a_snapshot_of_every_entity(server: dict, control: httpx.Client, compound: bool) -> None:
    """Every entity, those with compound keys (RevenueList: Period, Year) too."""
    division = server["divisions"][0]
    names = [t.full_name for t in load_catalog().tables if t.partitioned and t.full_name != "sync/Deleted"]
    names = [n for n in names if _compound(n) == compound and not n.startswith("system/")]
    assert names
    for name in names:
        response = control.get(f"/_sandbox/snapshot/{division}/{name}")
        assert response.status_code == 200, (name, response.text[:200])
        assert response.json()["count"] > 0, name


@pytest.mark.parametrize(
    ("endpoint", "key"),
    [
        ("financial/ReportingBalance", "ID"),  # an integer key
        ("read/financial/JournalStatusList", None),  # a key of three columns: paged by a hidden one
        ("sync/Cashflow/PaymentTerms", "ID"),  # keyed by Timestamp
        ("salesorder/SalesOrderLines", "ID"),  # mandatory filter
    ],
)
def test_pages_of_generic_entities_follow_each_other(
    server: dict, control: httpx.Client, endpoint: str, key: str | None
) -> None:
    eol = SandboxClient(control, server)
    division = eol.divisions[0]
    control.post("/_sandbox/settings", json={"bulk_page_size": 25}).raise_for_status()
    found = load_catalog().find_endpoint(endpoint)
    assert found is not None
    table, path = found
    params = _params(path)
    del params["$top"]
    columns = params["$select"].split(",") + ([key] if key else [])
    params["$select"] = ",".join(dict.fromkeys(columns))
    rows, pages = eol.follow(f"{division}/{endpoint}", params)
    assert pages  # more than one page
    assert len({tuple(r[c] for c in columns) for r in rows}) == len(rows)
    if key is not None:
        truth = eol.control("GET", f"snapshot/{division}/{table.full_name}")["rows"]
        assert sorted(r[key] for r in rows) == sorted(r[key] for r in truth)
