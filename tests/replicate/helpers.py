"""Truth and copy for the replication tests: the sandbox's snapshots against the rows of a replica, the
sandbox's request log per table and division, mutations spread over the tables, subprocess runs."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import httpx
import pyarrow as pa

from exactsql.api.convert import rows_to_arrow
from exactsql.catalog import load_catalog
from exactsql.endpoints import split_api_path
from exactsql.replicate.plan import DEFAULT_TABLES, TablePlan, plan_tables
from exactsql.replicate.targets import open_target

UNLIMITED = 1_000_000
ROOT = Path(__file__).resolve().parents[2]

#: Per division: (entity, inserts, updates, deletes). Over 3 divisions ≈ 1,000 inserts, 500 updates and 200
#: deletes (deleting a transaction line deletes its whole entry, so more rows go).
MUTATIONS: list[tuple[str, int, int, int]] = [
    ("financialtransaction/TransactionLines", 163, 50, 25),
    ("crm/Accounts", 60, 30, 10),
    ("crm/Contacts", 40, 25, 10),
    ("logistics/Items", 30, 15, 5),
    ("financial/GLAccounts", 10, 10, 3),
    ("financial/GLClassifications", 0, 5, 1),
    ("salesinvoice/SalesInvoices", 20, 10, 5),
    ("project/Projects", 10, 5, 3),
    ("cashflow/Receivables", 0, 2, 1),
    ("salesinvoice/SalesInvoiceLines", 0, 10, 3),
    ("users/UserRoles", 0, 5, 0),
]


def truth_rows(control: httpx.Client, division: int, plan: TablePlan) -> pa.Table:
    """The sandbox's rows of a table in a division (as the API returns them), typed like the replica."""
    response = control.get(f"/_sandbox/snapshot/{division}/{plan.name}")
    response.raise_for_status()
    return rows_to_arrow(response.json()["rows"], plan.spec.columns)


def copy_rows(url: str, division: int, plan: TablePlan) -> pa.Table:
    """The replica's rows of a table in a division."""
    target = open_target(url)
    conn = target.connect()
    try:
        return conn.read(plan.spec.name, plan.spec.columns, [division])
    finally:
        conn.close()
        target.close()


def _normalised(table: pa.Table, key: str) -> list[dict]:
    rows = table.sort_by([(key, "ascending")]).to_pylist()
    for row in rows:
        for name, value in row.items():
            if isinstance(value, float) and math.isnan(value):
                row[name] = None
    return rows


def differences(
    url: str, control: httpx.Client, divisions: Iterable[int], plans: list[TablePlan]
) -> list[str]:
    """Every (table, division) whose copy differs from the truth, comparing every row and every column."""
    out = []
    for plan in plans:
        for division in divisions:
            truth = _normalised(truth_rows(control, division, plan), plan.spec.key)
            copy = _normalised(copy_rows(url, division, plan), plan.spec.key)
            if truth == copy:
                continue
            keys_t = {r[plan.spec.key] for r in truth}
            keys_c = {r[plan.spec.key] for r in copy}
            detail = f"{len(truth)} rows in the truth, {len(copy)} in the copy"
            if keys_t != keys_c:
                detail += f"; missing {len(keys_t - keys_c)}, extra {len(keys_c - keys_t)}"
            else:
                for t, c in zip(truth, copy, strict=True):
                    if t != c:
                        cols = [k for k in t if t[k] != c.get(k)]
                        detail += f"; first difference at {t[plan.spec.key]} in {cols[:5]}: "
                        detail += f"{[t[k] for k in cols[:3]]} != {[c.get(k) for k in cols[:3]]}"
                        break
            out.append(f"{plan.name} in {division}: {detail}")
    return out


def all_plans() -> list[TablePlan]:
    """The plans of the default tables."""
    return plan_tables(list(DEFAULT_TABLES))


def api_calls(control: httpx.Client) -> int:
    """The sandbox's count of API calls so far."""
    return int(control.get("/_sandbox/stats").json()["api_calls"])


def logged_calls(control: httpx.Client, calls: int) -> dict[tuple[str, int | None], int]:
    """Calls per (catalog table, division) among the last ``calls`` API requests of the sandbox's log."""
    entries = control.get("/_sandbox/requests", params={"limit": calls + 50}).json()
    api = [e for e in entries if e["path"].startswith("/api/v1/")][-calls:] if calls else []
    catalog = load_catalog()
    out: dict[tuple[str, int | None], int] = {}
    for entry in api:
        found = catalog.find_endpoint(split_api_path(entry["path"]).base)
        name = found[0].full_name if found else entry["path"]
        key = (name, entry["division"])
        out[key] = out.get(key, 0) + 1
    return out


def lift_limits(control: httpx.Client) -> None:
    """No minute or day windows in the sandbox (the tests count calls; they need not wait for windows)."""
    control.post(
        "/_sandbox/settings", json={"minutely_limit": UNLIMITED, "daily_limit": UNLIMITED}
    ).raise_for_status()


def mutate_books(control: httpx.Client, divisions: Iterable[int], scale: float = 1.0) -> dict[str, int]:
    """Inserts, updates and deletes spread over the tables (``MUTATIONS`` × ``scale``); returns the totals."""
    totals = {"inserted": 0, "updated": 0, "deleted": 0}
    for division in divisions:
        for entity, inserts, updates, deletes in MUTATIONS:
            body = {
                "division": division,
                "entity": entity,
                "inserts": round(inserts * scale),
                "updates": round(updates * scale),
                "deletes": round(deletes * scale),
            }
            response = control.post("/_sandbox/mutate", json=body)
            response.raise_for_status()
            for k in totals:
                totals[k] += response.json()[k]
    return totals


def page_size(plan: TablePlan, bulk: int) -> int:
    """Rows a page of the plan's endpoint carries (``bulk``: the sandbox's sync/bulk page setting)."""
    return bulk if plan.path.kind in ("sync", "bulk") else 60


def kill_while_working(
    child: subprocess.Popen, control: httpx.Client, delay: float, timeout: float = 60, mark: str = "/sync/"
) -> bool:
    """SIGKILLs ``child`` ``delay`` seconds after its first API call whose path holds ``mark`` (seen in the
    sandbox's request log), so that the kill lands in its work rather than in its start-up; False if it
    had ended before."""
    started = time.time()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and child.poll() is None:
        last = control.get("/_sandbox/requests", params={"limit": 1}).json()
        if last and last[-1]["time"] >= started and mark in last[-1]["path"]:
            break
        time.sleep(0.02)
    time.sleep(delay)
    alive = child.poll() is None
    child.kill()
    child.wait()
    return alive


def cli(
    url: str, *extra: str, env: dict[str, str] | None = None, log: Path | None = None
) -> subprocess.Popen:
    """``python -m exactsql.cli_replicate --to url -c eol -d all -q …`` as a child process."""
    command = [
        sys.executable,
        "-m",
        "exactsql.cli_replicate",
        "--to",
        url,
        "-c",
        "eol",
        "-d",
        "all",
        "-q",
        *extra,
    ]
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
    return subprocess.Popen(command, env={**os.environ, **(env or {})}, cwd=ROOT, stdout=out, stderr=out)
