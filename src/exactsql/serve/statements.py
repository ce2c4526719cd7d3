"""What a client's statement is: a session command (SET, SHOW, BEGIN …), a catalog query, a query of
Exact Online's tables, or something a network service refuses; and ``$n`` parameters bound as literals.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

from exactsql.errors import ExactSQLError


class Refused(ExactSQLError):
    """A statement the server does not run: it would reach beyond exactsql's tables, or change something."""

    sqlstate = "42501"


class Unsupported(ExactSQLError):
    """A statement kind the server does not offer."""

    sqlstate = "0A000"


#: Leading keywords of the statements answered in the session itself.
SESSION_COMMANDS = {
    "begin": "BEGIN",
    "start": "START TRANSACTION",
    "commit": "COMMIT",
    "end": "COMMIT",
    "rollback": "ROLLBACK",
    "abort": "ROLLBACK",
    "savepoint": "SAVEPOINT",
    "release": "RELEASE",
    "set": "SET",
    "reset": "RESET",
    "show": "SHOW",
    "discard": "DISCARD ALL",
    "deallocate": "DEALLOCATE",
    "listen": "LISTEN",
    "unlisten": "UNLISTEN",
    "close": "CLOSE CURSOR",
}
QUERY_KEYWORDS = {"select", "with", "values", "table", "("}
#: Functions that read or list files, reach the network or run SQL text, in DuckDB or PostgreSQL.
_DENIED_FUNCTION = re.compile(
    r"^(read_\w+|\w+_scan|scan_\w+|parquet_\w+|sniff_csv|glob|query|query_table|query_table_or_view|getenv|"
    r"duckdb_\w+|pragma_\w+|which_secret|load_aws_credentials|icu_\w+|iceberg_\w+|delta_\w+|"
    r"pg_read_file|pg_read_binary_file|pg_ls_dir|pg_stat_file|lo_import|lo_export|dblink\w*|"
    r"current_setting_duckdb|enable_\w+|install_extension|load_extension|http_\w+|system)$",
    re.IGNORECASE,
)
_TABLE_FUNCTIONS = {
    "generate_series",
    "exploding_generate_series",
    "unnest",
    "generate_subscripts",
    "range",
    "pg_get_keywords",
}
_WORD = re.compile(r"[A-Za-z_]+|\(")


@dataclass
class Statement:
    """One statement of a client: its text, kind and, for queries, where it runs."""

    text: str
    kind: str  # "empty", "session", "catalog" or "engine"
    keyword: str = ""
    tree: exp.Expr | None = None


def first_keyword(sql: str) -> str:
    """The statement's first word (lower case), after comments and whitespace."""
    stripped = strip_comments(sql).lstrip()
    found = _WORD.match(stripped)
    return found.group(0).lower() if found else ""


def strip_comments(sql: str) -> str:
    """``sql`` without its leading ``--`` and ``/* */`` comments."""
    text = sql.lstrip()
    while text.startswith(("--", "/*")):
        if text.startswith("--"):
            end = text.find("\n")
            text = "" if end < 0 else text[end + 1 :].lstrip()
        else:
            end = text.find("*/")
            text = "" if end < 0 else text[end + 2 :].lstrip()
    return text


def classify(sql: str) -> Statement:
    """Where a statement goes; Refused or Unsupported when it goes nowhere."""
    keyword = first_keyword(sql)
    if not keyword or not strip_comments(sql).strip().rstrip(";").strip():
        return Statement(sql, "empty")
    if keyword in SESSION_COMMANDS:
        return Statement(sql, "session", keyword)
    if keyword == "use":
        return Statement(sql, "engine", keyword)
    if keyword not in QUERY_KEYWORDS:
        what = keyword.upper()
        if keyword in ("copy", "attach", "detach", "install", "load", "pragma", "export", "import", "call"):
            raise Refused(
                f"{what} is not allowed: exactsql serve reads Exact Online's tables only.",
                "Query the tables with SELECT; export results with your client.",
            )
        raise Unsupported(
            f"{what} is not supported: exactsql serve answers queries (SELECT) only.",
            "The data is read-only; use SELECT.",
        )
    tree = _parse(sql)
    if tree is not None:
        check_query(tree)
        if _reads_catalog(tree):
            return Statement(sql, "catalog", keyword, tree)
    return Statement(sql, "engine", keyword, tree)


def _parse(sql: str) -> exp.Expr | None:
    """The statement read as PostgreSQL; None when only exactsql's own dialect reads it (``table@eol``)."""
    try:
        return sqlglot.parse_one(sql, read="postgres")
    except sqlglot.errors.SqlglotError:
        pass
    try:
        from exactsql.sql.dialect import parse_statement

        return parse_statement(sql)
    except ExactSQLError:
        return None


def check_query(tree: exp.Expr) -> None:
    """Refuses a query that names a table function, a file or a function that reaches outside."""
    for node in tree.walk():
        if isinstance(node, exp.Table):
            if _function_name(node.this) in _TABLE_FUNCTIONS:
                continue
            if not isinstance(node.this, exp.Identifier):
                raise Refused(
                    f"{node.this.sql('postgres')[:60]} cannot be read here: only exactsql's tables can.",
                    "`select * from systemtables` lists them.",
                )
            if "/" in node.name or "\\" in node.name or node.name.lower().endswith((".csv", ".parquet")):
                raise Refused(f"{node.name!r} is not a table.", "`select * from systemtables` lists them.")
        elif isinstance(node, (exp.Func, exp.Anonymous)):
            name = _function_name(node)
            if _DENIED_FUNCTION.match(name):
                raise Refused(
                    f"Function {str(name).lower()} is not allowed: it reaches beyond exactsql's tables.",
                )
        elif isinstance(node, (exp.Copy, exp.Attach, exp.Install, exp.Pragma, exp.Command, exp.Into)):
            raise Refused(f"{node.key.upper()} is not allowed here.")


def _function_name(node: exp.Expr) -> str:
    if isinstance(node, exp.Anonymous):
        return str(node.name).lower()
    if isinstance(node, exp.Func):
        return node.sql_name().lower()
    if isinstance(node, exp.Dot):
        return _function_name(node.expression)
    return ""


def _reads_catalog(tree: exp.Expr) -> bool:
    """Whether a query is answered by the catalog: it names pg_catalog or information_schema, or no table."""
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    tables = [t for t in tree.find_all(exp.Table) if t.name.lower() not in ctes or t.db]
    if not tables:
        return True
    from exactsql.serve.catalog import is_catalog_table

    return any(is_catalog_table(t.db, t.name) for t in tables)


# -- parameters -------------------------------------------------------------------------------------------

_SCAN = re.compile(
    r"""(?P<skip>'(?:[^']|'')*'|"(?:[^"]|"")*"|--[^\n]*|/\*.*?\*/|(?P<tag>\$[A-Za-z_]*\$).*?(?P=tag))"""
    r"""|(?P<param>\$(?P<n>\d+))""",
    re.DOTALL,
)


def count_parameters(sql: str) -> int:
    """The highest ``$n`` a statement names."""
    found = [int(m.group("n")) for m in _SCAN.finditer(sql) if m.group("param")]
    return max(found, default=0)


def bind(sql: str, values: list[object]) -> str:
    """``sql`` with each ``$n`` replaced by its value as an SQL literal (strings quoted, quotes doubled)."""
    if not values:
        return sql

    def literal(match: re.Match[str]) -> str:
        if not match.group("param"):
            return match.group(0)
        index = int(match.group("n")) - 1
        if index >= len(values):
            raise ExactSQLError(f"There is no value for parameter ${index + 1}.")
        return render_literal(values[index])

    return _SCAN.sub(literal, sql)


def render_literal(value: object) -> str:
    """An SQL literal for a parameter value."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else f"'{value}'"
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP '{value.replace(tzinfo=None).isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE '{value.isoformat()}'"
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value)
    if "\x00" in text:
        raise ExactSQLError("A parameter holds a NUL character, which SQL text cannot carry.")
    return "'" + text.replace("'", "''") + "'"


# -- SET and SHOW -----------------------------------------------------------------------------------------

_SET = re.compile(
    r"^set\s+(?:(?:session|local)\s+)?(?P<name>[\w.]+|time\s+zone)\s*(?:to|=)?\s*(?P<value>.*?)\s*;?\s*$",
    re.IGNORECASE | re.DOTALL,
)
_SHOW = re.compile(r"^show\s+(?P<name>[\w.]+|time\s+zone|transaction\s+isolation\s+level)\s*;?\s*$", re.I)


def parse_set(sql: str) -> tuple[str, str] | None:
    """``SET name TO value`` as (name, value without quotes); None for SET forms without a setting."""
    found = _SET.match(strip_comments(sql).strip())
    if not found:
        return None
    name = re.sub(r"\s+", "_", found.group("name").lower())
    if name in ("transaction", "session_characteristics", "constraints"):
        return None
    value = found.group("value").strip()
    if len(value) >= 2 and value[0] == value[-1] == "'":
        value = value[1:-1].replace("''", "'")
    elif value.lower() == "default":
        value = ""
    return ("timezone" if name == "time_zone" else name), value


def parse_show(sql: str) -> str | None:
    """The setting ``SHOW`` asks for (``all`` for all)."""
    found = _SHOW.match(strip_comments(sql).strip())
    if not found:
        return None
    name = re.sub(r"\s+", "_", found.group("name").lower())
    return {"time_zone": "timezone", "transaction_isolation_level": "transaction_isolation"}.get(name, name)
