"""What a statement may reach: Exact's tables, the replica and the statement's own results, nothing else.

DuckDB's table functions read files, URLs and its own settings (``read_csv``, ``read_text``, ``glob``,
``duckdb_settings()``, ``query('…')`` …). Only those that make rows from their arguments are allowed
(``range``, ``generate_series``, ``unnest``), unless the user turns file access on. This is checked on the
parsed statement, before any API call; the DuckDB connections are locked down as well (``types.connect``).
"""

from __future__ import annotations

from sqlglot import exp

from exactsql.sql.dialect import SQLError

TABLE_FUNCTIONS = frozenset({"range", "generate_series", "unnest", "generate_subscripts"})
_DENIED = frozenset(
    {"current_setting", "getenv", "sql_auto_complete", "which_secret", "query", "query_table"}
)
_DENIED_PREFIXES = ("duckdb_", "pragma_", "read_", "parquet_", "sniff_", "iceberg_", "delta_")
HINT = (
    "Statements read Exact Online's tables (and a replica's); --file-access lets them read local files too."
)


def function_name(node: exp.Expr) -> str:
    """The lower-case name of a function call node."""
    if isinstance(node, exp.Anonymous):
        return str(node.this).lower()
    return node.sql_name().lower() if isinstance(node, exp.Func) else ""


def check(tree: exp.Expr, file_access: bool = False) -> None:
    """SQLError when ``tree`` calls a table function beyond the allowed ones, or a function that reads
    DuckDB's settings or the environment; nothing is checked with ``file_access``."""
    if file_access:
        return
    for node in tree.find_all(exp.Table):
        if isinstance(node.this, exp.Func):
            name = function_name(node.this)
            if name not in TABLE_FUNCTIONS:
                raise SQLError(f"The table function {name}() is not available.", HINT)
    for func in tree.find_all(exp.Func):
        name = function_name(func)
        if name in _DENIED or name.startswith(_DENIED_PREFIXES):
            raise SQLError(f"The function {name}() is not available.", HINT)
