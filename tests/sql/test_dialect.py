"""Parsing Invantive scripts: statements, ``use`` after comments, bracketed names, script statements."""

from __future__ import annotations

import pytest
from sqlglot import exp

from exactsql.sql.dialect import (
    SQLError,
    UseStatement,
    connection_alias,
    parse_script,
    parse_statement,
)
from exactsql.sql.script import CreateTable, DropTable, InsertInto, Skipped, view


def test_use_after_comments_and_blank_lines() -> None:
    statements = parse_script(
        "-- the divisions of Drenthe\n\n/* chosen by name */\n\n  use select code from systemdivisions@eol "
        "where name like '%Drenthe%';\n\n-- then\nselect 1 from dual"
    )
    assert isinstance(statements[0], UseStatement) and statements[0].query is not None
    assert isinstance(statements[1], exp.Select)


def test_use_lists_after_a_comment() -> None:
    (use,) = parse_script("/* all of them */ use all@eol")
    assert isinstance(use, UseStatement) and use.all_divisions


def test_bracketed_identifiers() -> None:
    tree = parse_statement("select [Code], [My Column] from [GLAccounts]@eol where [Code] like '[x]%' -- [y]")
    assert [s.alias_or_name for s in tree.selects] == ["Code", "My Column"]
    (table,) = tree.find_all(exp.Table)
    assert (table.name, connection_alias(table)) == ("GLAccounts", "eol")
    assert tree.find(exp.Like).expression.this == "[x]%"  # type: ignore[union-attr]


def test_set_and_local_are_skipped_with_a_message_naming_them() -> None:
    statements = parse_script(
        "local on error continue\n"
        "local remark it's a comment with 'quotes; and a semicolon\n"
        "use all@eol;\n"
        "set use-http-memory-cache@eol false;\n"
        "select 1 from dual",
        script=True,
    )
    first, second, use, third, query = (view(s) or s for s in statements)
    assert isinstance(use, UseStatement) and isinstance(query, exp.Select)
    assert isinstance(first, Skipped) and "`local on error continue` (line 1)" in first.message
    assert isinstance(second, Skipped) and second.line == 2 and "local remark it's" in second.message
    assert isinstance(third, Skipped) and "`set use-http-memory-cache@eol false` (line 4)" in third.message


@pytest.mark.parametrize(
    ("sql", "named"),
    [
        ("select 1 from dual;\nbegin\n  insert into x@inmemorystorage select 1 from dual;\nend;", "begin"),
        (
            "declare\n  l_n number;\nbegin\n  l_n := 1;\n  if l_n = 1 then null; end if;\nend;\nselect 1 from dual",
            "declare",
        ),
    ],
)
def test_procedural_blocks_are_refused_naming_the_block(sql: str, named: str) -> None:
    with pytest.raises(SQLError) as info:
        parse_script(sql, script=True)
    message = str(info.value)
    assert f"`{named}" in message and "procedural" in message and "Nothing was run" in message
    assert info.value.line == (2 if named == "begin" else 1)


def test_create_insert_and_drop_of_inmemorystorage_tables() -> None:
    create, replace, insert, columns, values, drop = (
        view(s)
        for s in parse_script(
            "create table Totals@InMemoryStorage as select code from glaccounts;\n"
            "create or replace table totals@inmemorystorage as select code from glaccounts;\n"
            "insert into totals@inmemorystorage select code from glaccounts where code like '8%';\n"
            "insert into totals@inmemorystorage (code) select '9999' from dual;\n"
            "insert into totals@inmemorystorage values ('1'), ('2');\n"
            "drop table if exists totals@inmemorystorage",
            script=True,
        )
    )
    assert isinstance(create, CreateTable) and (create.name, create.storage, create.replace) == (
        "Totals",
        "inmemorystorage",
        False,
    )
    assert isinstance(create.query, exp.Select)
    assert isinstance(replace, CreateTable) and replace.replace
    assert isinstance(insert, InsertInto) and insert.columns is None and insert.name == "totals"
    assert isinstance(columns, InsertInto) and columns.columns == ["code"]
    assert isinstance(values, InsertInto) and isinstance(values.query, exp.Select)
    assert isinstance(drop, DropTable) and drop.if_exists


def test_a_created_table_needs_a_query() -> None:
    with pytest.raises(SQLError, match="needs a query"):
        parse_script("create table t@inmemorystorage (a int)", script=True)


def test_script_statements_elsewhere_are_a_clear_error() -> None:
    with pytest.raises(SQLError, match="create table"):
        parse_script("create table t@inmemorystorage as select 1 from dual")
    with pytest.raises(SQLError, match="set"):
        parse_script("set use-http-memory-cache@eol false")


@pytest.mark.parametrize(
    "sql",
    [
        "create view v@inmemorystorage as select 1 from dual",
        "truncate table glaccounts@eol",
    ],
)
def test_statements_that_change_exact_are_refused_by_name(sql: str) -> None:
    with pytest.raises(SQLError) as info:
        parse_script(f"select 1 from dual;\n{sql}", script=True)
    assert f"`{sql}` (line 2) is not supported" in str(info.value)


def test_database_settings_are_refused_not_skipped() -> None:
    with pytest.raises(SQLError, match="takes no settings from SQL"):
        parse_script("set enable_external_access = true", script=True)
    with pytest.raises(SQLError, match="takes no settings from SQL"):
        parse_script("set search_path to main", script=True)
    (skipped,) = parse_script("set requests-parallel-max@eol 4", script=True)
    assert isinstance(view(skipped), Skipped)
