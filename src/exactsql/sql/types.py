"""How fetched rows look in DuckDB: Exact's semantics for GUIDs and amounts, and a locked-down connection.

The rows of each fetch are registered as Arrow (``name__rows``) under a view ``name`` that gives each
catalog column the meaning it has in Exact Online:

* ``Edm.Guid`` columns compare case-insensitively (``COLLATE NOCASE``): ``'FBE9D8D6-…'`` equals Exact's
  ``fbe9d8d6-…`` in ``=``, ``<>``, ``IN``, joins, grouping; the values stay as Exact sends them.
* Money is exact: an ``Edm.Double`` (or ``Edm.Decimal``) column whose name holds ``Amount`` or ends in
  ``DC`` or ``FC`` is ``DECIMAL(18,4)`` (four decimals: every currency's minor unit, SQL Server's money),
  so a balanced journal sums to 0, not -1.93e-12. Quantities, rates and percentages stay doubles.

The DuckDB connections that run statements have no file or network access (``read_csv``, ``COPY``,
``ATTACH``, ``INSTALL``/``LOAD`` …) and their configuration is locked, unless file access is asked for.
"""

from __future__ import annotations

import re

import duckdb
import pyarrow as pa

from exactsql.api.convert import schema_for
from exactsql.catalog import Column
from exactsql.sql import dictionary

MONEY_TYPE = "DECIMAL(18,4)"
MONEY_ARROW = pa.decimal128(18, 4)
_MONEY_NAME = re.compile(r"Amount|(?:DC|FC)$")
_FLOATS = ("Edm.Double", "Edm.Single", "Edm.Decimal")
ROWS_SUFFIX = "__rows"


def is_money(column: Column) -> bool:
    """Whether ``column`` holds an amount of money (see the module docstring)."""
    return column.edm in _FLOATS and _MONEY_NAME.search(column.name) is not None


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def column_sql(column: Column) -> str:
    """The expression of ``column`` in a fetch's view."""
    name = _quoted(column.name)
    if column.edm == "Edm.Guid":
        return f"{name} COLLATE NOCASE AS {name}"
    if is_money(column):
        return f"CAST({name} AS {MONEY_TYPE}) AS {name}"
    return name


def empty(columns: list[Column]) -> pa.Table:
    """No rows of ``columns``, already of the types the view gives them (money as decimals): what a
    statement's result columns are checked against before any fetch."""
    schema = schema_for(columns)
    money = {c.name for c in columns if is_money(c)}
    fields = [pa.field(f.name, MONEY_ARROW) if f.name in money else f for f in schema]
    return pa.schema(fields).empty_table()


def register(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table, columns: list[Column]) -> None:
    """Registers ``table`` (the rows of ``columns``) as the relation ``name``, typed as Exact means it."""
    con.register(name + ROWS_SUFFIX, table)
    by_name = {c.name: c for c in columns}
    select = ", ".join(column_sql(by_name.get(n) or Column(n, "")) for n in table.column_names)
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW {_quoted(name)} AS SELECT {select or '*'} FROM {_quoted(name + ROWS_SUFFIX)}"
    )


def unregister(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Forgets the relation ``name`` made by ``register``."""
    con.execute(f"DROP VIEW IF EXISTS {_quoted(name)}")
    con.unregister(name + ROWS_SUFFIX)


def connect(file_access: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection for statements: the dialect's macros, and without ``file_access`` no file or
    network access and a locked configuration."""
    con = duckdb.connect(config={} if file_access else {"enable_external_access": False})
    dictionary.install_macros(con)
    if not file_access:
        lock(con)
    return con


def lock(con: duckdb.DuckDBPyConnection) -> None:
    """Turns file and network access off for good on ``con`` (after its own set-up, e.g. an ATTACH)."""
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")
