"""The Invantive-compatible dialect: parsing (sqlglot's Oracle dialect plus ``table@alias`` and ``use``)
and the rewrite of Oracle-style functions into DuckDB SQL."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import cast

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError
from sqlglot.tokens import Tokenizer, TokenType

from exactsql.errors import ExactSQLError

DEFAULT_ALIAS = "eol"
CONNECTION_META = "connection_alias"


class SQLError(ExactSQLError):
    """A statement that cannot run as written; ``line``/``column`` point at the spot when known."""

    def __init__(
        self, message: str, hint: str = "", line: int | None = None, column: int | None = None
    ) -> None:
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(f"{message}{where}", hint)
        self.line = line
        self.column = column


@dataclass
class UseStatement:
    """``use …``: the divisions for later statements.

    Attributes:
        all_divisions: ``use all@eol``.
        codes: ``use 123, 456@eol``.
        query: ``use select code, 'eol' from systemdivisions@eol where …``: a query yielding codes.
    """

    alias: str = DEFAULT_ALIAS
    all_divisions: bool = False
    codes: list[int] = field(default_factory=list)
    query: exp.Expression | None = None


Statement = exp.Expression | UseStatement

_TOKEN_REPR = re.compile(r"<Token token_type: [^,]+, text: ([^,]*), line: [^>]*>")
_MISSING = re.compile(r"Required keyword: '(\w+)' missing for <class '[\w.]*?(\w+)'>")
_USE = re.compile(r"^\s*use\s+(?P<rest>.+?)\s*$", re.IGNORECASE | re.DOTALL)
_USE_ITEM = re.compile(r"^(?P<code>all|\d+)\s*(?:@\s*(?P<alias>\w+))?$", re.IGNORECASE)


def split_statements(sql: str) -> list[str]:
    """The statements of a script, split on semicolons outside strings and comments."""
    try:
        tokens = Tokenizer().tokenize(sql)
    except TokenError as exc:
        raise SQLError(f"Cannot read the SQL: {exc}.") from None
    parts: list[str] = []
    start = 0
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            parts.append(sql[start : token.start])
            start = token.end + 1
    parts.append(sql[start:])
    return [p for p in (part.strip() for part in parts) if p and not _only_comments(p)]


def _only_comments(text: str) -> bool:
    stripped = re.sub(r"--[^\n]*|/\*.*?\*/", "", text, flags=re.DOTALL)
    return not stripped.strip()


def _split_alias(table: exp.Table) -> None:
    name = table.name
    position = dict(table.this.meta) if isinstance(table.this, exp.Identifier) else {}
    if "@" in name:
        base, _, alias = name.partition("@")
        table.set("this", exp.to_identifier(base))
        table.meta[CONNECTION_META] = alias.lower()
    if "line" in position:  # where the name starts, for errors that point at it
        table.meta["line"] = position["line"]
        table.meta["col"] = position["col"] - len(name) + 1


def parse_use(text: str) -> UseStatement | None:
    """A ``use`` statement, or None when ``text`` is not one."""
    match = _USE.match(text)
    if not match:
        return None
    rest = match.group("rest")
    if rest.lower().startswith(("select", "with")):
        query = parse_statement(rest)
        if not isinstance(query, exp.Query):
            raise SQLError("`use select …` needs a query that returns division codes.")
        return UseStatement(query=query)
    use = UseStatement()
    aliases: set[str] = set()
    for item in (i.strip() for i in rest.split(",")):
        m = _USE_ITEM.match(item)
        if not m:
            raise SQLError(
                f"`use {rest}` is not understood at {item!r}.",
                "Write `use all@eol`, `use 123, 456@eol` or `use select code, 'eol' from systemdivisions@eol where …`.",
            )
        if m.group("alias"):
            aliases.add(m.group("alias").lower())
        if m.group("code").lower() == "all":
            use.all_divisions = True
        else:
            use.codes.append(int(m.group("code")))
    if len(aliases) > 1:
        raise SQLError("A `use` statement can name one connection alias only.")
    use.alias = aliases.pop() if aliases else DEFAULT_ALIAS
    return use


def parse_statement(text: str) -> exp.Expression:
    """One SQL statement as a sqlglot tree, with ``table@alias`` split into table and connection alias."""
    try:
        tree = sqlglot.parse_one(text, read="oracle")
    except ParseError as exc:
        first = exc.errors[0] if exc.errors else {}
        description = _MISSING.sub(
            lambda m: f"{m.group(2).upper()} is incomplete", str(first.get("description") or exc)
        )
        description = _TOKEN_REPR.sub(lambda m: repr(m.group(1)), description.split(". Line")[0])
        raise SQLError(
            f"Syntax error: {description}.",
            "Check the statement near that spot.",
            first.get("line"),
            first.get("col"),
        ) from None
    except TokenError as exc:
        raise SQLError(f"Cannot read the SQL: {exc}.") from None
    if tree is None:
        raise SQLError("The statement is empty.")
    for table in tree.find_all(exp.Table):
        _split_alias(table)
    return cast("exp.Expression", tree)


def parse_script(sql: str) -> list[Statement]:
    """All statements of a script: queries as sqlglot trees, ``use`` statements as UseStatement."""
    statements: list[Statement] = []
    for text in split_statements(sql):
        use = parse_use(text)
        statements.append(use if use is not None else parse_statement(text))
    if not statements:
        raise SQLError("There is no statement to run.")
    return statements


def connection_alias(table: exp.Table) -> str:
    """The connection alias of a table reference (``eol`` when none was written)."""
    return str(table.meta.get(CONNECTION_META, DEFAULT_ALIAS))


# -- DuckDB rewrite ------------------------------------------------------------------------------------

_TO_CHAR_FORMATS = [
    ("YYYY", "%Y"), ("MONTH", "%B"), ("MON", "%b"), ("MM", "%m"), ("DDD", "%j"), ("DD", "%d"), ("DY", "%a"),
    ("HH24", "%H"), ("HH12", "%I"), ("HH", "%I"), ("MI", "%M"), ("SS", "%S"), ("YY", "%y"), ("AM", "%p"), ("PM", "%p"),
]  # fmt: skip


_TRUNC_UNITS = {
    "DD": "day", "DDD": "day", "J": "day", "DAY": "day", "MM": "month", "MON": "month", "MONTH": "month",
    "RM": "month", "YYYY": "year", "YYY": "year", "YY": "year", "Y": "year", "YEAR": "year", "SYYYY": "year",
    "Q": "quarter", "HH": "hour", "HH12": "hour", "HH24": "hour", "MI": "minute", "IW": "week", "WW": "week",
}  # fmt: skip


def oracle_format_to_strftime(fmt: str) -> str:
    """An Oracle date format (``YYYY-MM-DD HH24:MI``) as a strftime format."""
    out, i = [], 0
    upper = fmt.upper()
    while i < len(fmt):
        for oracle, strf in _TO_CHAR_FORMATS:
            if upper.startswith(oracle, i):
                out.append(strf)
                i += len(oracle)
                break
        else:
            out.append(fmt[i].replace("%", "%%"))
            i += 1
    return "".join(out)


def now_literals(timezone: str = "Europe/Amsterdam") -> tuple[exp.Expression, exp.Expression]:
    """``sysdate`` (local time of the connection) and ``sysdateutc`` as timestamp literals."""
    from zoneinfo import ZoneInfo

    utc = dt.datetime.now(dt.UTC).replace(microsecond=0)
    local = utc.astimezone(ZoneInfo(timezone)).replace(tzinfo=None)
    return (
        exp.cast(exp.Literal.string(local.isoformat(sep=" ")), exp.DataType.build("timestamp")),
        exp.cast(
            exp.Literal.string(utc.replace(tzinfo=None).isoformat(sep=" ")), exp.DataType.build("timestamp")
        ),
    )


def rewrite_functions(
    tree: exp.Expression, sysdate: exp.Expression, sysdateutc: exp.Expression
) -> exp.Expression:
    """Replaces sysdate/sysdateutc by literals and Oracle-only functions by their DuckDB forms."""

    def fix(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.DateTrunc) and isinstance(node.args.get("unit"), exp.Literal):
            unit = _TRUNC_UNITS.get(node.args["unit"].this.upper())
            if unit is not None:  # Oracle's trunc(d, 'MM') units, as DuckDB's date_trunc('month', d)
                trunc = exp.Anonymous(
                    this="date_trunc", expressions=[exp.Literal.string(unit), node.this.copy()]
                )
                return exp.cast(trunc, exp.DataType.build("timestamp"))
        if isinstance(node, exp.StrToTime) and isinstance(node.this, exp.Literal):
            fmt = node.args.get("format")
            if isinstance(fmt, exp.Literal) and fmt.this == "%Y-%m-%d %H:%M:%S.%f":  # Oracle's timestamp '…'
                return exp.cast(node.this.copy(), exp.DataType.build("timestamp"))
        if isinstance(node, exp.StrToDate):  # Oracle's to_date keeps the time of day
            return exp.cast(
                exp.StrToTime(this=node.this.copy(), format=node.args.get("format")),
                exp.DataType.build("timestamp"),
            )
        if isinstance(node, exp.CurrentTimestamp) and node.args.get("sysdate"):
            return sysdate.copy()
        if isinstance(node, exp.Column) and not node.table and node.name.lower() in ("sysdate", "sysdateutc"):
            return (sysdate if node.name.lower() == "sysdate" else sysdateutc).copy()
        if isinstance(node, exp.ToChar) and node.args.get("format") is not None:
            fmt = node.args["format"]
            if isinstance(fmt, exp.Literal):
                return exp.Anonymous(
                    this="strftime",
                    expressions=[node.this, exp.Literal.string(oracle_format_to_strftime(fmt.this))],
                )
        if (
            isinstance(node, exp.Anonymous)
            and str(node.this).lower() == "trunc"
            and len(node.expressions) == 1
        ):
            return exp.Anonymous(this="exact_trunc", expressions=node.expressions)
        if type(node).__name__ == "Trunc" and node.args.get("decimals") is None:
            return exp.Anonymous(this="exact_trunc", expressions=[node.this])
        return node

    return tree.transform(fix)


def to_duckdb(tree: exp.Expression) -> str:
    """DuckDB SQL for a (rewritten) tree."""
    return tree.sql(dialect="duckdb")
