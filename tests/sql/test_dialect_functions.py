"""Oracle and Invantive functions against their Oracle semantics (fixtures/functions/*.sql), folded before
planning and evaluated row by row; constant folding and what the planner sees after it."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import duckdb
import pytest
from sqlglot import exp

from exactsql.catalog import load_catalog
from exactsql.sql import dictionary
from exactsql.sql.dialect import SQLError, now_literals, parse_statement, rewrite_functions, to_duckdb
from exactsql.sql.names import NameResolver
from exactsql.sql.plan import DivisionScope
from exactsql.sql.planner import plan_statement

FIXTURES = Path(__file__).parent / "fixtures" / "functions"
DEFAULT_CLOCK = ("2024-01-31 23:30:00", "2024-01-31 22:30:00")


@dataclass
class Case:
    source: str
    line: int
    sql: str
    expected: str
    clock: tuple[str, str]

    @property
    def id(self) -> str:
        return f"{self.source}:{self.line}: {self.sql}"


def load_cases() -> list[Case]:
    cases = []
    for path in sorted(FIXTURES.glob("*.sql")):
        clock = DEFAULT_CLOCK
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.startswith("-- sysdate: "):
                local, _, utc = line[len("-- sysdate: ") :].partition(" / ")
                clock = (local.strip(), utc.strip())
            elif line.strip() and not line.startswith("--"):
                sql, _, expected = line.rpartition(" -> ")
                cases.append(Case(path.stem, number, sql.strip(), expected.strip(), clock))
    return cases


CASES = load_cases()


def _literal(text: str) -> exp.Expression:
    return exp.cast(exp.Literal.string(text), exp.DataType.build("timestamp"))


CON = duckdb.connect()
dictionary.install_macros(CON)


def evaluate(sql: str, clock: tuple[str, str], fold: bool) -> object:
    """The value of an Invantive expression, through the dialect's rewrite and DuckDB."""
    tree = rewrite_functions(
        parse_statement(f"select {sql} as v"), _literal(clock[0]), _literal(clock[1]), fold=fold
    )
    return CON.execute(to_duckdb(tree)).fetchone()[0]  # type: ignore[index]


def same(actual: object, expected: object) -> bool:
    if actual is None or expected is None:
        return actual is None and expected is None
    if isinstance(expected, dt.date) or isinstance(actual, dt.date):
        return type(actual) is type(expected) and actual == expected
    if isinstance(expected, int | float | decimal.Decimal) and isinstance(
        actual, int | float | decimal.Decimal
    ):
        return math.isclose(float(actual), float(expected), rel_tol=1e-12, abs_tol=1e-12)
    return actual == expected


def test_fixtures_cover_the_functions() -> None:
    used = " ".join(c.sql.lower() for c in CASES)
    for name in (
        "add_months", "months_between", "last_day", "next_day", "trunc", "to_char", "to_date", "to_number",
        "nvl2", "decode", "instr", "lpad", "rpad", "initcap", "listagg", "substr", "replace", "greatest",
        "least", "regexp_substr", "mod", "sysdateutc", "current_date", "getdate",
    ):  # fmt: skip
        assert name in used, name
    for name in (
        "add_months", "months_between", "last_day", "next_day", "trunc", "to_char", "to_date", "to_number",
        "nvl2", "decode", "instr", "lpad", "rpad", "initcap", "listagg", "substr", "replace", "greatest",
        "least", "regexp_substr", "mod",
    ):  # fmt: skip
        assert any(name in c.sql.lower() and "null" in c.sql.lower() for c in CASES), f"{name} with a NULL"


@pytest.mark.parametrize("fold", [True, False], ids=["folded", "row-by-row"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_function_fixture(case: Case, fold: bool) -> None:
    if case.expected.startswith("error: "):
        with pytest.raises((SQLError, duckdb.Error)) as info:
            evaluate(case.sql, case.clock, fold)
        assert case.expected[len("error: ") :].lower() in str(info.value).lower()
        return
    expected = CON.execute(f"select {case.expected}").fetchone()[0]  # type: ignore[index]
    actual = evaluate(case.sql, case.clock, fold)
    assert same(actual, expected), f"{case.sql}: {actual!r} != {expected!r}"


def test_sqlglot_prints_no_warnings_for_oracle_functions(caplog: pytest.LogCaptureFixture) -> None:
    sql = "select to_number('1'), to_char(sysdate, 'Q'), instr('abc', 'b', 1, 2), to_char(1.5, '9.9') as v"
    s, u = now_literals()
    with caplog.at_level("WARNING"):
        to_duckdb(rewrite_functions(parse_statement(sql), s, u))
    assert not caplog.records


def test_sysdate_is_the_amsterdam_wall_clock() -> None:
    before = dt.datetime.now(ZoneInfo("Europe/Amsterdam")).replace(tzinfo=None, microsecond=0)
    sysdate, sysdateutc = now_literals()
    after = dt.datetime.now(ZoneInfo("Europe/Amsterdam")).replace(tzinfo=None)
    local = dt.datetime.fromisoformat(sysdate.this.this)  # type: ignore[union-attr]
    utc = dt.datetime.fromisoformat(sysdateutc.this.this)  # type: ignore[union-attr]
    assert before <= local <= after
    offset = ZoneInfo("Europe/Amsterdam").utcoffset(local)
    assert local - utc == offset


# -- constant folding: the planner sees literals ---------------------------------------------------------

RESOLVER = NameResolver(load_catalog())
SCOPE = DivisionScope({"eol": [100]})


def _rewritten(sql: str) -> exp.Expression:
    return rewrite_functions(parse_statement(sql), _literal(DEFAULT_CLOCK[0]), _literal(DEFAULT_CLOCK[1]))


@pytest.mark.parametrize(
    ("where", "pushed"),
    [
        ("invoicedate >= add_months(trunc(sysdate), -12)", "InvoiceDate ge datetime'2023-01-31T00:00:00'"),
        ("invoicedate >= trunc(sysdate, 'YYYY')", "InvoiceDate ge datetime'2024-01-01T00:00:00'"),
        ("invoicedate < sysdate - 30", "InvoiceDate lt datetime'2024-01-01T23:30:00'"),
        ("invoicedate between last_day(add_months(sysdate, -2)) + 1 and sysdate",
         "InvoiceDate ge datetime'2023-12-01T23:30:00' and InvoiceDate le datetime'2024-01-31T23:30:00'"),
        ("invoicenumber = to_number('1' || '2')", "InvoiceNumber eq 12"),
        ("invoiceto = 'ab' || 'cd'", None),  # a GUID column: no valid literal, stays local
        ("description = lower('AB') || 'c'", "Description eq 'abc'"),
    ],
)  # fmt: skip
def test_constant_expressions_are_pushed_as_literals(where: str, pushed: str | None) -> None:
    plan = plan_statement(
        _rewritten(f"select invoiceid from salesinvoices where {where}"), RESOLVER, SCOPE, None
    )
    (fetch,) = plan.fetches
    assert fetch.filter == pushed


def test_folding_leaves_columns_aggregates_and_random_alone() -> None:
    tree = _rewritten(
        "select trunc(invoicedate), count(*) + 1, random() + 1, newid(), sysdate + 1 from salesinvoices "
        "where amountdc > 10 * 2 order by 1 + 0"
    )
    sql = to_duckdb(tree)
    assert "CAST('2024-02-01 23:30:00' AS TIMESTAMP)" in sql  # sysdate + 1
    assert "amountdc > 20" in sql
    assert "RANDOM()" in sql and "UUID()" in sql and "COUNT(*)" in sql
    assert "ORDER BY 1 + 0" in sql  # a constant sort key is not a position


def test_a_constant_that_fails_is_left_to_fail_where_it_runs() -> None:
    tree = _rewritten(
        "select amountdc + to_number('x') as v, case when 1 = 0 then to_number('y') end as w from dual"
    )
    sql = to_duckdb(tree)
    assert "'x'" in sql  # left as written: it fails when the statement runs
    assert "'y'" not in sql and "CAST(NULL AS DOUBLE) AS w" in sql  # never evaluated: folded to NULL
