"""The Invantive-compatible dialect: parsing scripts (sqlglot's Oracle dialect plus ``table@alias``,
``[bracketed]`` names, ``use`` and Invantive's script statements) and the rewrite of Oracle's functions into
DuckDB SQL (``exactsql.sql.functions``)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar, cast

import sqlglot
from sqlglot import exp
from sqlglot.dialects.oracle import Oracle
from sqlglot.errors import ParseError, TokenError
from sqlglot.parsers.oracle import OracleParser
from sqlglot.tokens import Token, TokenType

from exactsql.errors import ExactSQLError

DEFAULT_ALIAS = "eol"
CONNECTION_META = "connection_alias"
RAW_FUNCTIONS = (
    "TO_CHAR", "TO_NUMBER", "TRUNC", "ADD_MONTHS", "MONTHS_BETWEEN", "LAST_DAY",
    "NEXT_DAY", "INSTR", "LPAD", "RPAD", "INITCAP", "SUBSTR", "REPLACE", "REGEXP_SUBSTR", "MOD", "GREATEST",
    "LEAST", "NEWID",
)  # fmt: skip
"""Functions parsed as written (``exp.Anonymous``) for ``exactsql.sql.functions`` to give Oracle's semantics."""


def _as_written(name: str) -> Callable[[list[exp.Expression]], exp.Expression]:
    return lambda args: exp.Anonymous(this=name, expressions=args)


class _Parser(OracleParser):
    FUNCTIONS: ClassVar[dict] = {
        **OracleParser.FUNCTIONS,
        **{name: _as_written(name) for name in RAW_FUNCTIONS},
    }
    FUNCTION_PARSERS: ClassVar[dict] = {
        k: v for k, v in OracleParser.FUNCTION_PARSERS.items() if k not in RAW_FUNCTIONS
    }


class Invantive(Oracle):
    """Oracle's dialect, with the functions of RAW_FUNCTIONS left as written."""

    Parser = _Parser


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
_USE = re.compile(r"^use\s+(?P<rest>.+?)\s*$", re.IGNORECASE | re.DOTALL)
_USE_ITEM = re.compile(r"^(?P<code>all|\d+)\s*(?:@\s*(?P<alias>\w+))?$", re.IGNORECASE)
_HEAD = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/)*", re.DOTALL)
_LOCAL = re.compile(r"^[ \t]*local\b[^\n]*", re.IGNORECASE | re.MULTILINE)
_SIMPLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$#]*$")


def _tokens(sql: str) -> list[Token]:
    try:
        return Invantive.Tokenizer().tokenize(sql)
    except TokenError as exc:
        raise SQLError(f"Cannot read the SQL: {exc}.") from None


def head(text: str) -> str:
    """``text`` without the comments and blank lines before its first word."""
    return text[_HEAD.match(text).end() :]  # type: ignore[union-attr]


def _parts(sql: str) -> list[tuple[int, str]]:
    """The statements of a script with their offsets, split on semicolons outside strings and comments."""
    parts: list[tuple[int, str]] = []
    start = 0
    for token in _tokens(sql):
        if token.token_type == TokenType.SEMICOLON:
            parts.append((start, sql[start : token.start]))
            start = token.end + 1
    parts.append((start, sql[start:]))
    return [(offset, text) for offset, text in parts if head(text).strip()]


def split_statements(sql: str) -> list[str]:
    """The statements of a script, split on semicolons outside strings and comments."""
    return [text.strip() for _, text in _parts(sql)]


def _locals(sql: str) -> tuple[str, list[tuple[int, str]]]:
    """``sql`` with Invantive's ``local`` lines blanked out, and those lines with their offsets.

    A ``local`` statement is one line at the start of a statement (it ends with the line)."""
    found: list[tuple[int, str]] = []
    blanked = sql
    for match in _LOCAL.finditer(sql):
        before = re.sub(r"--[^\n]*|/\*.*?\*/", "", blanked[: match.start()], flags=re.DOTALL)
        if before[before.rfind(";") + 1 :].strip():
            continue  # inside a statement
        found.append((match.start(), match.group(0).strip().rstrip(";").strip()))
        blanked = blanked[: match.start()] + " " * len(match.group(0)) + blanked[match.end() :]
    return blanked, found


def _line(sql: str, offset: int) -> int:
    return sql.count("\n", 0, offset) + 1


def shown(text: str) -> str:
    """A statement as messages name it: its first line, cut at 70 characters."""
    first = head(text).strip().splitlines()[0].strip()
    return first if len(first) <= 70 else first[:67] + "…"


def _unbracket(sql: str) -> str:
    """``[name]`` (T-SQL's quoting, which Invantive accepts) as ``name``, or ``"name"`` when it has spaces."""
    try:
        tokens = Invantive.Tokenizer().tokenize(sql)
    except TokenError:
        return sql
    out, last = [], 0
    for i, token in enumerate(tokens[:-1]):
        if token.token_type != TokenType.L_BRACKET:
            continue
        closing = next((t for t in tokens[i + 1 :] if t.token_type == TokenType.R_BRACKET), None)
        if closing is None:
            break
        inner = sql[token.end + 1 : closing.start]
        if not inner.strip() or re.search(r'[\[\]"\n]', inner) or re.fullmatch(r"[\d\s,.\-+]*", inner):
            continue
        out.append(sql[last : token.start])
        out.append(inner.strip() if _SIMPLE_NAME.match(inner.strip()) else f'"{inner}"')
        last = closing.end + 1
    out.append(sql[last:])
    return "".join(out)


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
    """A ``use`` statement (comments before it allowed), or None when ``text`` is not one."""
    match = _USE.match(head(text))
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
        tree = sqlglot.parse_one(_unbracket(text), read=Invantive)
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


def parse_script(sql: str, script: bool = False) -> list[Statement]:
    """All statements of a script: queries as sqlglot trees, ``use`` statements as UseStatement.

    With ``script``, Invantive's script statements too (see ``exactsql.sql.script``): ``create table`` and
    ``insert into`` of in-memory tables, ``drop table``, and ``set``/``local`` statements, which are skipped
    with a message. Without it they are an error; a procedural block (``begin … end``, ``declare …``) is
    always one, before any statement runs."""
    from exactsql.sql import dml
    from exactsql.sql import script as scripts

    blanked, locals_ = _locals(sql) if script else (sql, [])
    split = [(o + len(t) - len(head(t)), t, False) for o, t in _parts(blanked)]
    statements: list[Statement] = []
    for offset, text, is_local in sorted([(o, t, True) for o, t in locals_] + split):
        line = _line(sql, offset)
        kind = "local" if is_local else head(text).split(None, 1)[0].lower()
        transaction = re.match(r"begin\s+(transaction|work|tran)\b", head(text), re.IGNORECASE)
        shown_block = {"begin": "begin … end", "declare": "declare … begin … end"}.get(kind)
        if shown_block is not None and not transaction:
            raise SQLError(
                f"`{shown_block}` is a procedural block: exactsql does not run procedural blocks. Nothing was run",
                "Write the block's statements as separate SQL statements.",
                line,
                1,
            )
        if transaction or (kind in dml.KINDS and (kind != "insert" or dml.writes_to_exact(text))):
            if not script:
                raise SQLError(
                    f"`{shown(text)}` (line {line}) cannot run here: only queries and `use` can.",
                    "Run it with `exactsql query` or from Python (DB-API).",
                )
            statements.append(dml.parse("begin" if transaction else kind, text, line))
            continue
        if kind in scripts.REFUSED:
            raise SQLError(f"`{shown(text)}` (line {line}) is not supported.", scripts.SUPPORTED)
        if kind in scripts.KINDS:
            if not script:
                raise SQLError(
                    f"`{shown(text)}` (line {line}) cannot run here: only queries and `use` can.",
                    "Run it with `exactsql query` or from Python (DB-API).",
                )
            statements.append(scripts.parse(kind, text, line))
            continue
        use = parse_use(text)
        statements.append(use if use is not None else parse_statement(text))
    if not statements:
        raise SQLError("There is no statement to run.")
    return statements


def connection_alias(table: exp.Table) -> str:
    """The connection alias of a table reference (``eol`` when none was written)."""
    return str(table.meta.get(CONNECTION_META, DEFAULT_ALIAS))


# -- DuckDB rewrite ------------------------------------------------------------------------------------


def now_literals(timezone: str = "Europe/Amsterdam") -> tuple[exp.Expression, exp.Expression]:
    """``sysdate`` (the wall clock of ``timezone``, Amsterdam by default) and ``sysdateutc`` as literals."""
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
    tree: exp.Expression, sysdate: exp.Expression, sysdateutc: exp.Expression, fold: bool = True
) -> exp.Expression:
    """A copy of ``tree`` with the clock as literals, Oracle's functions and arithmetic as DuckDB macros and,
    with ``fold``, every constant expression as its value (so that the planner can push it to Exact)."""
    from exactsql.sql import functions

    rewritten = functions.translate(tree.copy(), sysdate, sysdateutc)
    return functions.fold(rewritten) if fold else rewritten


def to_duckdb(tree: exp.Expression) -> str:
    """DuckDB SQL for a (rewritten) tree."""
    return tree.sql(dialect="duckdb")
