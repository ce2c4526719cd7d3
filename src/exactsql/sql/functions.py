"""Oracle and Invantive functions and arithmetic in DuckDB, with Oracle's semantics.

``translate`` rewrites a parsed statement: ``sysdate`` and the other spellings of now become the
connection's local (Amsterdam) clock, ``date ± n`` and ``date - date`` count days, ``||`` skips NULLs as
Oracle's does, and Oracle's functions become DuckDB macros (``install`` creates them on a connection; typed
overloads choose by argument type, so ``trunc`` serves dates and numbers alike). ``fold`` then evaluates
every constant expression once and puts the value in its place, so that the planner sees literals it can
send to Exact (``InvoiceDate >= add_months(trunc(sysdate), -12)``).
"""

from __future__ import annotations

import datetime as dt
import decimal
import math
import threading
from collections.abc import Callable

import duckdb
from sqlglot import exp

from exactsql.sql import formats
from exactsql.sql.dialect import RAW_FUNCTIONS, SQLError
from exactsql.sql.formats import fn

_MACROS = r"""
ora_days(n) AS to_microseconds(CAST(round(n * 86400000000) AS BIGINT));
ora_add(a TIMESTAMP, b DOUBLE) AS a + ora_days(b), (a DOUBLE, b TIMESTAMP) AS b + ora_days(a),
  (a DATE, b BIGINT) AS a + CAST(b AS INTEGER), (a BIGINT, b DATE) AS b + CAST(a AS INTEGER),
  (a DATE, b DOUBLE) AS CAST(a AS TIMESTAMP) + ora_days(b), (a DOUBLE, b DATE) AS CAST(b AS TIMESTAMP) + ora_days(a),
  (a, b) AS a + b;
ora_sub(a TIMESTAMP, b DOUBLE) AS a - ora_days(b), (a DATE, b BIGINT) AS a - CAST(b AS INTEGER),
  (a DATE, b DOUBLE) AS CAST(a AS TIMESTAMP) - ora_days(b), (a DATE, b DATE) AS a - b,
  (a TIMESTAMP, b TIMESTAMP) AS (epoch_us(a) - epoch_us(b)) / 86400000000.0, (a, b) AS a - b;
ora_trunc_ts(a, f) AS CASE
  WHEN f IS NULL THEN NULL
  WHEN upper(f) IN ('DD', 'DDD', 'J') THEN date_trunc('day', a)
  WHEN upper(f) IN ('MM', 'MON', 'MONTH', 'RM') THEN date_trunc('month', a)
  WHEN upper(f) IN ('YYYY', 'YYY', 'YY', 'Y', 'YEAR', 'SYYYY', 'SYEAR', 'RRRR', 'RR') THEN date_trunc('year', a)
  WHEN upper(f) IN ('IYYY', 'IYY', 'IY', 'I') THEN CAST(date_trunc('week', make_date(isoyear(a), 1, 4)) AS TIMESTAMP)
  WHEN upper(f) = 'Q' THEN date_trunc('quarter', a)
  WHEN upper(f) IN ('IW', 'DAY', 'DY', 'D') THEN date_trunc('week', a)
  WHEN upper(f) = 'WW' THEN date_trunc('year', a) + to_days(CAST(floor((dayofyear(a) - 1) / 7) * 7 AS INTEGER))
  WHEN upper(f) = 'W' THEN date_trunc('month', a) + to_days(CAST(floor((day(a) - 1) / 7) * 7 AS INTEGER))
  WHEN upper(f) IN ('HH', 'HH12', 'HH24') THEN date_trunc('hour', a)
  WHEN upper(f) = 'MI' THEN date_trunc('minute', a)
  WHEN upper(f) IN ('CC', 'SCC') THEN make_timestamp(CAST(floor((year(a) - 1) / 100) * 100 + 1 AS BIGINT), 1, 1, 0, 0, 0)
  ELSE error('trunc: unknown date format ''' || f || '''') END;
ora_trunc(a TIMESTAMP) AS date_trunc('day', a), (a DATE) AS a, (a) AS trunc(a),
  (a TIMESTAMP, f VARCHAR) AS ora_trunc_ts(a, f), (a DATE, f VARCHAR) AS CAST(ora_trunc_ts(CAST(a AS TIMESTAMP), f) AS DATE),
  (a, n) AS trunc(a, n);
ora_add_months_ts(d, n) AS CASE
  WHEN last_day(CAST(d AS DATE)) = CAST(d AS DATE)
  THEN CAST(last_day(CAST(d + to_months(CAST(trunc(n) AS INTEGER)) AS DATE)) AS TIMESTAMP) + (d - date_trunc('day', d))
  ELSE d + to_months(CAST(trunc(n) AS INTEGER)) END;
ora_add_months(d TIMESTAMP, n DOUBLE) AS ora_add_months_ts(d, n),
  (d DATE, n DOUBLE) AS CAST(ora_add_months_ts(CAST(d AS TIMESTAMP), n) AS DATE);
ora_months_between(a TIMESTAMP, b TIMESTAMP) AS CASE
  WHEN day(a) = day(b) OR (CAST(a AS DATE) = last_day(CAST(a AS DATE)) AND CAST(b AS DATE) = last_day(CAST(b AS DATE)))
  THEN CAST((year(a) - year(b)) * 12 + month(a) - month(b) AS DOUBLE)
  ELSE (year(a) - year(b)) * 12 + month(a) - month(b)
    + (day(a) - day(b) + (epoch(a - date_trunc('day', a)) - epoch(b - date_trunc('day', b))) / 86400.0) / 31.0 END;
ora_last_day(d TIMESTAMP) AS CAST(last_day(CAST(d AS DATE)) AS TIMESTAMP) + (d - date_trunc('day', d)),
  (d DATE) AS last_day(d);
ora_weekday(n) AS CASE
  WHEN n IS NULL THEN NULL
  WHEN upper(left(trim(n), 2)) IN ('MO', 'MA') THEN 1 WHEN upper(left(trim(n), 2)) IN ('TU', 'DI') THEN 2
  WHEN upper(left(trim(n), 2)) IN ('WE', 'WO') THEN 3 WHEN upper(left(trim(n), 2)) IN ('TH', 'DO') THEN 4
  WHEN upper(left(trim(n), 2)) IN ('FR', 'VR') THEN 5 WHEN upper(left(trim(n), 2)) IN ('SA', 'ZA') THEN 6
  WHEN upper(left(trim(n), 2)) IN ('SU', 'ZO') THEN 7
  ELSE error('next_day: unknown day ''' || n || '''') END;
ora_next_day(d TIMESTAMP, n VARCHAR) AS d + to_days(CAST((ora_weekday(n) - isodow(d) + 6) % 7 + 1 AS INTEGER)),
  (d DATE, n VARCHAR) AS d + CAST((ora_weekday(n) - isodow(d) + 6) % 7 + 1 AS INTEGER);
ora_instr_at(s, sub, pos, occ) AS CASE
  WHEN s IS NULL OR sub IS NULL OR pos IS NULL OR occ IS NULL THEN NULL
  WHEN pos = 0 THEN 0
  WHEN occ < 1 THEN error('instr: the occurrence must be 1 or more')
  ELSE coalesce(list_extract(CASE WHEN pos > 0
    THEN [i FOR i IN range(pos, length(s) + 1) IF substr(s, i, length(sub)) = sub]
    ELSE list_reverse([i FOR i IN range(1, length(s) + pos + 2) IF substr(s, i, length(sub)) = sub]) END, occ), 0) END;
ora_instr(s, sub) AS strpos(CAST(s AS VARCHAR), CAST(sub AS VARCHAR)),
  (s, sub, pos) AS ora_instr_at(CAST(s AS VARCHAR), CAST(sub AS VARCHAR), CAST(trunc(pos) AS BIGINT), 1),
  (s, sub, pos, occ) AS ora_instr_at(CAST(s AS VARCHAR), CAST(sub AS VARCHAR), CAST(trunc(pos) AS BIGINT), CAST(trunc(occ) AS BIGINT));
ora_lpad(s, n) AS lpad(CAST(s AS VARCHAR), CAST(trunc(n) AS INTEGER), ' '),
  (s, n, p) AS lpad(CAST(s AS VARCHAR), CAST(trunc(n) AS INTEGER), CAST(p AS VARCHAR));
ora_rpad(s, n) AS rpad(CAST(s AS VARCHAR), CAST(trunc(n) AS INTEGER), ' '),
  (s, n, p) AS rpad(CAST(s AS VARCHAR), CAST(trunc(n) AS INTEGER), CAST(p AS VARCHAR));
ora_initcap(s) AS CASE WHEN s IS NULL THEN NULL ELSE array_to_string([
  CASE WHEN i = 1 OR NOT regexp_matches(substr(CAST(s AS VARCHAR), i - 1, 1), '[\p{L}\p{N}]')
  THEN upper(substr(CAST(s AS VARCHAR), i, 1)) ELSE lower(substr(CAST(s AS VARCHAR), i, 1)) END
  FOR i IN range(1, length(CAST(s AS VARCHAR)) + 1)], '') END;
ora_substr(s, p) AS substring(CAST(s AS VARCHAR), CASE WHEN trunc(p) = 0 THEN 1 ELSE CAST(trunc(p) AS BIGINT) END),
  (s, p, n) AS CASE WHEN n < 1 THEN NULL
  ELSE substring(CAST(s AS VARCHAR), CASE WHEN trunc(p) = 0 THEN 1 ELSE CAST(trunc(p) AS BIGINT) END, CAST(trunc(n) AS BIGINT)) END;
ora_replace(s, f) AS CASE WHEN f IS NULL OR CAST(f AS VARCHAR) = '' THEN CAST(s AS VARCHAR)
  ELSE replace(CAST(s AS VARCHAR), CAST(f AS VARCHAR), '') END,
  (s, f, r) AS CASE WHEN f IS NULL OR CAST(f AS VARCHAR) = '' THEN CAST(s AS VARCHAR)
  ELSE replace(CAST(s AS VARCHAR), CAST(f AS VARCHAR), coalesce(CAST(r AS VARCHAR), '')) END;
ora_regexp_substr(s, p) AS nullif(regexp_extract(CAST(s AS VARCHAR), p), ''),
  (s, p, pos) AS nullif(regexp_extract(substring(CAST(s AS VARCHAR), CAST(pos AS BIGINT)), p), ''),
  (s, p, pos, occ) AS nullif(list_extract(regexp_extract_all(substring(CAST(s AS VARCHAR), CAST(pos AS BIGINT)), p), CAST(occ AS BIGINT)), '');
ora_mod(a, b) AS CASE WHEN b = 0 THEN a ELSE a % b END;
ora_to_number(s VARCHAR) AS CAST(trim(s) AS DOUBLE), (s) AS CAST(s AS DOUBLE),
  (s, f) AS CAST(replace(trim(CAST(s AS VARCHAR)), ',', '') AS DOUBLE);
ora_to_char(a TIMESTAMP) AS strftime(a, '%Y-%m-%d %H:%M:%S'), (a DATE) AS strftime(a, '%Y-%m-%d'), (a VARCHAR) AS a,
  (a DOUBLE) AS CASE WHEN a = trunc(a) AND abs(a) < 1e15 THEN CAST(CAST(a AS BIGINT) AS VARCHAR) ELSE CAST(a AS VARCHAR) END,
  (a) AS CAST(a AS VARCHAR);
ora_num_int(ip, nzero, nfrac, grp) AS CASE
  WHEN ip = '0' AND nzero = 0 AND nfrac > 0 THEN ''
  WHEN grp = 1 THEN format('{:,}', CAST(ip AS HUGEINT))
  WHEN length(ip) < nzero THEN lpad(ip, nzero, '0') ELSE ip END;
ora_num_frac(fp, nfrac, nkeep, fm) AS CASE
  WHEN fm = 1 THEN left(left(fp || repeat('0', nfrac), nfrac), greatest(nkeep, length(rtrim(left(fp || repeat('0', nfrac), nfrac), '0'))))
  ELSE left(fp || repeat('0', nfrac), nfrac) END;
ora_num_pad(text, fm, width) AS CASE WHEN fm = 1 THEN text ELSE lpad(text, width, ' ') END;
ora_num_layout(digits, negative, nint, nzero, nfrac, nkeep, grp, fm, point, width) AS CASE
  WHEN digits IS NULL THEN NULL
  WHEN length(split_part(digits, '.', 1)) > nint AND split_part(digits, '.', 1) <> '0' THEN repeat('#', width)
  ELSE ora_num_pad(CASE WHEN negative THEN '-' ELSE '' END || ora_num_int(split_part(digits, '.', 1), nzero, nfrac, grp)
    || CASE WHEN point = 1 THEN '.' || ora_num_frac(split_part(digits, '.', 2), nfrac, nkeep, fm) ELSE '' END,
    fm, width) END;
ora_num_text(x, nint, nzero, nfrac, nkeep, grp, fm, point, width) AS ora_num_layout(
  CAST(abs(round(CAST(x AS DECIMAL(38, 10)), nfrac)) AS VARCHAR), round(CAST(x AS DECIMAL(38, 10)), nfrac) < 0,
  nint, nzero, nfrac, nkeep, grp, fm, point, width);
"""


def install(con: duckdb.DuckDBPyConnection) -> None:
    """Creates the macros the rewritten statements call (``ora_add``, ``ora_trunc``, …) on ``con``."""
    con.execute("".join(f"CREATE OR REPLACE MACRO {m.strip()};\n" for m in _MACROS.split(";\n") if m.strip()))


# -- the rewrite -----------------------------------------------------------------------------------------

_NOW = {"GETDATE", "NOW", "SYSDATETIME", "SYSDATE", "SYSTIMESTAMP", "LOCALTIMESTAMP"}
_UTC = {"SYSDATEUTC", "GETUTCDATE", "SYSUTCDATETIME", "UTC_TIMESTAMP"}
_TODAY = {"TODAY", "CURRENT_DATE"}
_CLOCK_COLUMNS = {"SYSDATE", "SYSDATEUTC", "SYSDATETIME", "SYSUTCDATETIME"}  # written without parentheses
_NONDETERMINISTIC = {"RANDOM", "RAND", "UUID", "GEN_RANDOM_UUID", "NEWID", "SETSEED", "NEXTVAL", "CURRVAL"}


def _text_literal(node: exp.Expression | None, what: str) -> str:
    if isinstance(node, exp.Literal) and node.is_string:
        return str(node.this)
    raise SQLError(f"{what} needs its format as a text literal, e.g. 'YYYY-MM-DD'.")


def _to_char(args: list[exp.Expression]) -> exp.Expression:
    if len(args) == 1:
        return fn("ora_to_char", args[0])
    fmt = _text_literal(args[1], "to_char")
    if formats.is_number_format(fmt):
        return formats.number_to_char(args[0], fmt)
    return formats.date_to_char(args[0], fmt)


def _to_date(node: exp.StrToDate | exp.StrToTime) -> exp.Expression:
    """``to_date``/``to_timestamp`` (parsed by sqlglot, the format converted): a timestamp, as in Oracle."""
    fmt = node.args.get("format")
    text = exp.cast(node.this, exp.DataType.build("varchar"))
    if fmt is None:
        return exp.cast(text, exp.DataType.build("timestamp"))
    if (
        isinstance(fmt, exp.Literal)
        and fmt.this == "%Y-%m-%d %H:%M:%S.%f"
        and isinstance(node, exp.StrToTime)
    ):
        return exp.cast(node.this, exp.DataType.build("timestamp"))  # Oracle's timestamp '…'
    pattern = exp.Literal.string(formats.strptime_format(_text_literal(fmt, "to_date")))
    return exp.cast(fn("strptime", text, pattern), exp.DataType.build("timestamp"))


def _null_if_any_null(call: exp.Expression, args: list[exp.Expression]) -> exp.Expression:
    """``call`` of ``args``, or NULL when one of them is NULL (Oracle's greatest and least)."""
    condition = exp.or_(*(exp.Is(this=a.copy(), expression=exp.Null()) for a in args))
    return exp.Case(ifs=[exp.If(this=condition, true=exp.Null())], default=call)


def _greatest(args: list[exp.Expression]) -> exp.Expression:
    return _null_if_any_null(exp.Greatest(this=args[0], expressions=args[1:]), args)


def _least(args: list[exp.Expression]) -> exp.Expression:
    return _null_if_any_null(exp.Least(this=args[0], expressions=args[1:]), args)


_FUNCTIONS: dict[str, tuple[Callable[[list[exp.Expression]], exp.Expression], int, int]] = {
    "TO_CHAR": (_to_char, 1, 2),
    "TO_TIMESTAMP": (lambda a: _to_date(exp.StrToTime(this=a[0])), 1, 1),
    "TO_NUMBER": (lambda a: fn("ora_to_number", *a), 1, 2),
    "TRUNC": (lambda a: fn("ora_trunc", *a), 1, 2),
    "ADD_MONTHS": (lambda a: fn("ora_add_months", *a), 2, 2),
    "MONTHS_BETWEEN": (lambda a: fn("ora_months_between", *a), 2, 2),
    "LAST_DAY": (lambda a: fn("ora_last_day", *a), 1, 1),
    "NEXT_DAY": (lambda a: fn("ora_next_day", *a), 2, 2),
    "INSTR": (lambda a: fn("ora_instr", *a), 2, 4),
    "LPAD": (lambda a: fn("ora_lpad", *a), 2, 3),
    "RPAD": (lambda a: fn("ora_rpad", *a), 2, 3),
    "INITCAP": (lambda a: fn("ora_initcap", *a), 1, 1),
    "SUBSTR": (lambda a: fn("ora_substr", *a), 2, 3),
    "REPLACE": (lambda a: fn("ora_replace", *a), 2, 3),
    "REGEXP_SUBSTR": (lambda a: fn("ora_regexp_substr", *a), 2, 4),
    "MOD": (lambda a: fn("ora_mod", *a), 2, 2),
    "GREATEST": (_greatest, 1, 255),
    "LEAST": (_least, 1, 255),
    "NEWID": (lambda a: fn("uuid"), 0, 0),
}
assert set(RAW_FUNCTIONS) | {"TO_TIMESTAMP"} == set(_FUNCTIONS), "the dialect keeps these as written"


def _numeric(node: exp.Expression) -> bool:
    """Whether ``node`` is a number for sure (a number literal, a count or sum, arithmetic of those)."""
    if isinstance(node, exp.Paren | exp.Neg):
        return _numeric(node.this)
    if isinstance(node, exp.Literal):
        return not node.is_string
    if isinstance(node, exp.Count | exp.Sum | exp.Avg | exp.Length):
        return True
    if isinstance(node, exp.Add | exp.Sub | exp.Mul | exp.Div):
        return _numeric(node.this) and _numeric(node.expression)
    return False


def _date_arithmetic(node: exp.Add | exp.Sub) -> bool:
    """Whether ``a ± b`` may be date arithmetic (neither side is text, not both are numbers): DuckDB's own
    operator stays where it is right, and where its error can point at the spot (``code + 'x'``)."""
    sides = (node.this, node.expression)
    if any(isinstance(s, exp.Literal) and s.is_string for s in sides):
        return False
    return not all(_numeric(s) for s in sides)


def _clock(node: exp.Expression, sysdate: exp.Expression, utc: exp.Expression) -> exp.Expression | None:
    """The literal for a spelling of now (``sysdate``, ``getdate()``, ``current_date`` …), or None."""
    name = ""
    if isinstance(node, exp.Column) and not node.table and node.name.upper() in _CLOCK_COLUMNS:
        name = node.name.upper()
    elif isinstance(node, exp.Anonymous) and not node.expressions:
        name = str(node.this).upper()
    elif isinstance(node, exp.CurrentTimestamp | exp.Systimestamp | exp.Localtimestamp):
        name = "SYSDATE"
    elif isinstance(node, exp.UtcTimestamp):
        name = "SYSDATEUTC"
    elif isinstance(node, exp.CurrentDate):
        name = "CURRENT_DATE"
    elif isinstance(node, exp.UtcDate):
        return exp.cast(utc.copy(), exp.DataType.build("date"))
    if name in _NOW:
        return sysdate.copy()
    if name in _UTC:
        return utc.copy()
    if name in _TODAY:
        return exp.cast(sysdate.copy(), exp.DataType.build("date"))
    return None


def _rewrite(node: exp.Expression, sysdate: exp.Expression, utc: exp.Expression) -> exp.Expression:
    clock = _clock(node, sysdate, utc)
    if clock is not None:
        return clock
    if isinstance(node, exp.Anonymous) and str(node.this).upper() in _FUNCTIONS:
        name = str(node.this).upper()
        build, low, high = _FUNCTIONS[name]
        if not low <= len(node.expressions) <= high:
            takes = str(low) if low == high else f"{low} to {high}"
            raise SQLError(f"{name.lower()} takes {takes} argument(s), not {len(node.expressions)}.")
        return build(list(node.expressions))
    if isinstance(node, exp.Add | exp.Sub) and _date_arithmetic(node):
        return fn("ora_add" if isinstance(node, exp.Add) else "ora_sub", node.this, node.expression)
    if isinstance(node, exp.DPipe):
        return fn("concat", node.this, node.expression)
    if isinstance(node, exp.GroupConcat) and node.args.get("separator") is None:
        node.set("separator", exp.Literal.string(""))  # Oracle's listagg has no separator by default
    if isinstance(node, exp.StrToDate | exp.StrToTime):
        return _to_date(node)
    return node


def _post_order(node: exp.Expression, visit: Callable[[exp.Expression], exp.Expression]) -> exp.Expression:
    """Rewrites children before their parent; what ``visit`` builds is not visited again."""
    for key, value in list(node.args.items()):
        if isinstance(value, exp.Expression):
            node.set(key, _post_order(value, visit))
        elif isinstance(value, list):
            node.set(key, [_post_order(v, visit) if isinstance(v, exp.Expression) else v for v in value])
    return visit(node)


def translate(tree: exp.Expression, sysdate: exp.Expression, sysdateutc: exp.Expression) -> exp.Expression:
    """``tree`` (changed in place) with the clock as literals and Oracle's functions as DuckDB macros.

    A select item without an alias whose expression changes keeps the name it was written with."""
    written = _unaliased(tree)
    tree = _post_order(tree, lambda node: _rewrite(node, sysdate, sysdateutc))
    _keep_names(tree, written)
    return tree


def _unaliased(tree: exp.Expression) -> dict[int, list[str | None]]:
    names: dict[int, list[str | None]] = {}
    for select in tree.find_all(exp.Select):
        names[id(select)] = [
            None
            if isinstance(p, exp.Alias | exp.Column | exp.Star | exp.Literal)
            else p.sql(dialect="oracle")
            for p in select.expressions
        ]
    return names


def _keep_names(tree: exp.Expression, written: dict[int, list[str | None]]) -> None:
    for select in tree.find_all(exp.Select):
        for i, name in enumerate(written.get(id(select), [])):
            if name is not None and i < len(select.expressions):
                projection = select.expressions[i]
                if projection.sql(dialect="oracle") != name:
                    select.expressions[i].replace(exp.alias_(projection.copy(), name, quoted=True))


# -- constant folding ------------------------------------------------------------------------------------

_NOT_CONSTANT = (
    exp.Column, exp.Star, exp.Query, exp.Subquery, exp.Table, exp.AggFunc, exp.Window, exp.Placeholder,
    exp.Parameter, exp.Rand, exp.Uuid,
)  # fmt: skip
_local = threading.local()


def _constant(node: exp.Expression) -> bool:
    for inner in node.walk():
        if isinstance(inner, _NOT_CONSTANT):
            return False
        if isinstance(inner, exp.Anonymous) and str(inner.this).upper() in _NONDETERMINISTIC:
            return False
    return True


def _trivial(node: exp.Expression) -> bool:
    """A literal as the planner reads it already (``5``, ``-5``, ``'x'``, ``CAST('…' AS DATE)``)."""
    if isinstance(node, exp.Literal | exp.Null | exp.Boolean | exp.DataType | exp.Var):
        return True
    if isinstance(node, exp.Paren | exp.Neg):
        return _trivial(node.this)
    if isinstance(node, exp.Cast):
        return _trivial(node.this)
    return isinstance(node, exp.Interval)


def _candidates(node: exp.Expression, found: list[exp.Expression]) -> None:
    if (
        isinstance(node, exp.Condition)
        and not isinstance(node.parent, exp.Ordered | exp.Group)
        and not _trivial(node)
        and _constant(node)
    ):
        found.append(node)
        return
    for child in node.iter_expressions():
        _candidates(child, found)


def _connection() -> duckdb.DuckDBPyConnection:
    con = getattr(_local, "con", None)
    if con is None:  # no file or network access, as for statements
        con = duckdb.connect(config={"enable_external_access": False})
        install(con)
        con.execute("SET lock_configuration = true")
        _local.con = con
    return con


def _value_literal(value: object, duck_type: str) -> exp.Expression | None:
    """The literal for a value DuckDB computed, or None when it has no literal the planner reads."""
    if value is None:
        if duck_type == '"NULL"':
            return exp.Null()
        return exp.cast(exp.Null(), exp.DataType.build(duck_type, dialect="duckdb"))
    if isinstance(value, bool):
        return exp.Boolean(this=value)
    if isinstance(value, int):
        return exp.Literal.number(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        return exp.cast(exp.Literal.number(repr(value)), exp.DataType.build("double"))
    if isinstance(value, decimal.Decimal):
        return exp.Literal.number(str(value)) if value.is_finite() else None
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            return None
        return exp.cast(exp.Literal.string(value.isoformat(sep=" ")), exp.DataType.build("timestamp"))
    if isinstance(value, dt.date):
        return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.build("date"))
    return None


def _evaluate(nodes: list[exp.Expression]) -> list[tuple[object, str] | None]:
    """The values (and DuckDB types) of constant expressions; None for one that fails."""
    con = _connection()
    sql = "SELECT " + ", ".join(f"({n.sql(dialect='duckdb')}) AS c{i}" for i, n in enumerate(nodes))
    try:
        cursor = con.execute(sql)
        row = cursor.fetchone()
        assert row is not None
        return [(value, str(d[1])) for value, d in zip(row, cursor.description, strict=True)]
    except duckdb.Error:
        if len(nodes) == 1:
            return [None]
    return [v for n in nodes for v in _evaluate([n])]


def fold(tree: exp.Expression) -> exp.Expression:
    """``tree`` (changed in place) with each constant expression replaced by its value as a literal.

    A constant that fails to evaluate is left as written, to fail (or not) where it runs; a constant sort
    or grouping key is left alone (``order by 1 + 0`` is not ``order by 1``)."""
    found: list[exp.Expression] = []
    _candidates(tree, found)
    if not found:
        return tree
    for node, result in zip(found, _evaluate(found), strict=True):
        literal = _value_literal(*result) if result is not None else None
        if literal is None:
            continue
        if node is tree:
            return literal
        node.replace(literal)
    return tree
