"""Dictionary tables answered without the API (but SystemDivisions): SystemTables, SystemTableColumns,
SystemDivisions, SessionIOs, SessionRowsChanged and RateLimits; the in-memory tables (``exactsql.sql.memory``) are read the same
way. And the DuckDB macros the dialect relies on (``exactsql.sql.functions``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb
import pyarrow as pa

from exactsql.api.convert import schema_for
from exactsql.catalog import Column
from exactsql.sql import memory

if TYPE_CHECKING:
    from exactsql.sql.engine import Engine

_COLUMNS: dict[str, list[Column]] = {
    "SystemTables": [
        Column("Catalog", "Edm.String"), Column("Schema", "Edm.String"), Column("Name", "Edm.String"),
        Column("FullName", "Edm.String"), Column("Partitioned", "Edm.Boolean"), Column("Key", "Edm.String"),
        Column("Paths", "Edm.String"),
    ],
    "SystemTableColumns": [
        Column("Schema", "Edm.String"), Column("TableName", "Edm.String"), Column("Name", "Edm.String"),
        Column("DataType", "Edm.String"), Column("Filterable", "Edm.Boolean"), Column("MandatoryFilter", "Edm.Boolean"),
    ],
    "SessionIOs": [
        Column("Statement", "Edm.Int32"), Column("Relation", "Edm.String"), Column("Endpoint", "Edm.String"),
        Column("Division", "Edm.Int32"), Column("Calls", "Edm.Int32"), Column("Rows", "Edm.Int64"),
        Column("Seconds", "Edm.Double"), Column("Cached", "Edm.Boolean"),
    ],
    "RateLimits": [
        Column("Alias", "Edm.String"), Column("Division", "Edm.Int32"), Column("MinuteRemaining", "Edm.Int32"),
        Column("DayRemaining", "Edm.Int32"), Column("TokenCallsToday", "Edm.Int32"),
    ],
    "SessionRowsChanged": [  # the writes of the engine's run(s): Invantive's SessionRowsChanged
        Column("Statement", "Edm.Int32"), Column("TableName", "Edm.String"), Column("Division", "Edm.Int32"),
        Column("Action", "Edm.String"), Column("Row", "Edm.String"), Column("ID", "Edm.String"),
        Column("Status", "Edm.String"), Column("Successful", "Edm.Boolean"), Column("ErrorMessage", "Edm.String"),
        Column("ExecutionDateUtc", "Edm.DateTime"),
    ],
}  # fmt: skip


DIVISION_NAMES = ("Name", "Label")
"""Columns SystemDivisions has beyond Exact's: the division's name (its description), as reports call it."""


def install_macros(con: duckdb.DuckDBPyConnection) -> None:
    """The functions the dialect rewrites to (``ora_trunc``, ``ora_add_months`` …)."""
    from exactsql.sql import functions

    functions.install(con)


def columns(name: str) -> list[Column]:
    """The columns of a dictionary table (or of an in-memory table, by its key)."""
    if name == "SystemDivisions":
        from exactsql.catalog import load_catalog

        path = load_catalog().table("system/Divisions").paths[0]
        return [c for c in path.columns if c.edm.startswith("Edm.")] + [
            Column(n, "Edm.String") for n in DIVISION_NAMES
        ]
    if memory.is_key(name):
        return memory.columns(name)
    return _COLUMNS[name]


def table(engine: Engine, name: str, alias: str) -> pa.Table:
    """The rows of a dictionary table now."""
    if name == "SystemDivisions":
        divisions = engine._fetch_divisions(alias)
        for column in DIVISION_NAMES:
            divisions = divisions.append_column(column, divisions.column("Description"))
        return divisions
    if memory.is_key(name):
        return memory.rows(name)
    rows: list[dict]
    if name == "SystemTables":
        rows = [
            {
                "Catalog": "ExactOnlineREST",
                "Schema": t.schema,
                "Name": t.name,
                "FullName": f"ExactOnlineREST.{t.schema}.{t.name}",
                "Partitioned": t.partitioned,
                "Key": ", ".join(t.key) if isinstance(t.key, list) else t.key,
                "Paths": ", ".join(p.endpoint for p in t.paths),
            }
            for t in engine.catalog.tables
        ]
    elif name == "SystemTableColumns":
        rows = []
        for t in engine.catalog.tables:
            path = t.path("regular") or t.paths[0]
            mandatory = set(path.mandatory_filter or ())
            for c in t.columns:
                rows.append(
                    {
                        "Schema": t.schema,
                        "TableName": t.name,
                        "Name": c.name,
                        "DataType": c.edm,
                        "Filterable": any(p.can_filter(c.name) for p in t.paths),
                        "MandatoryFilter": c.name in mandatory,
                    }
                )
    elif name == "SessionIOs":
        rows = [
            {
                "Statement": r.statement,
                "Relation": r.relation,
                "Endpoint": r.endpoint,
                "Division": r.division,
                "Calls": r.calls,
                "Rows": r.rows,
                "Seconds": r.seconds,
                "Cached": r.cached,
            }
            for r in engine.ios
        ]
    elif name == "SessionRowsChanged":
        rows = list(engine.writes.changes)
    elif name == "RateLimits":
        rows = []
        for a, session in engine.sessions.items():
            status = session.status()
            for division, w in (status.get("divisions") or {}).items():
                rows.append(
                    {
                        "Alias": a,
                        "Division": int(division),
                        "MinuteRemaining": w["minute_remaining"],
                        "DayRemaining": w["day_remaining"],
                        "TokenCallsToday": status.get("token_calls_today"),
                    }
                )
    else:
        raise KeyError(name)
    schema = schema_for(_COLUMNS[name])
    return pa.Table.from_pylist(rows, schema=schema)
