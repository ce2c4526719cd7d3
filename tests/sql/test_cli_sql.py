"""The command line as people expect it: formats from ``-o``, wide results on a terminal, one default
connection for every command, ``--version``, ``-h``, help without type noise, a missing replica."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from rich.console import Console

import exactsql
from exactsql.errors import ConfigError
from exactsql.sql import output
from tests.connections.helpers import make_connection

SQL = "select code, description from glaccounts where code in ('1000', '1100') order by code"


@pytest.mark.parametrize(
    ("name", "check"),
    [
        ("r.xlsx", lambda p: p.read_bytes()[:2] == b"PK"),
        ("r.parquet", lambda p: pq.read_table(p).num_rows == 2),
        ("r.csv", lambda p: p.read_text().splitlines()[0] == '"Code","Description"'),
        ("r.json", lambda p: len(json.loads(p.read_text())) == 2),
        ("R.JSON", lambda p: len(json.loads(p.read_text())) == 2),
    ],
)
def test_the_format_follows_the_extension(logged_in_cli, tmp_path: Path, name: str, check) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / name
    done = logged_in_cli("query", SQL, "-o", str(target))
    assert done.returncode == 0, done.stderr
    assert check(target)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("-o", "{tmp}/r.docx"), ".docx"),
        (("-o", "{tmp}/report"), "extension"),
        (("-o", "{tmp}/r.csv", "-f", "json"), "--format json"),
    ],
)
def test_an_unknown_extension_is_an_error(logged_in_cli, tmp_path: Path, args, expected: str) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    out.mkdir()
    done = logged_in_cli("query", SQL, *(a.replace("{tmp}", str(out)) for a in args))
    assert done.returncode != 0 and expected in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert list(out.iterdir()) == []


def test_a_table_to_a_file_goes_to_the_file(logged_in_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "r.txt"
    done = logged_in_cli("query", SQL, "-f", "table", "-o", str(target))
    assert done.returncode == 0, done.stderr
    assert "Kas" in target.read_text() and "Kas" not in done.stdout


def _wide() -> pa.Table:
    return pa.table({f"Column{i:02d}": [f"value {i}", None] for i in range(40)})


def test_a_wide_result_is_shown_as_records() -> None:
    sink = io.StringIO()
    output.write(_wide(), "table", None, Console(file=sink, width=100))
    text = sink.getvalue()
    assert max(len(line) for line in text.splitlines()) <= 100
    assert "Column00" in text and "Column39" in text and "value 39" in text  # every column, readable
    assert "record 1" in text.lower() and "record 2" in text.lower()


def test_a_narrow_result_stays_a_table() -> None:
    sink = io.StringIO()
    output.write(
        pa.table({"Code": ["1000"], "Description": ["Kas"]}), "table", None, Console(file=sink, width=100)
    )
    assert "record" not in sink.getvalue().lower() and "Kas" in sink.getvalue()


def test_select_star_on_a_terminal_is_readable(logged_in_cli) -> None:  # type: ignore[no-untyped-def]
    done = logged_in_cli("query", "select * from glaccounts where code = '1000'", env={"COLUMNS": "100"})
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= 100
    assert any(line.split()[:2] == ["Code", "1000"] for line in lines if line.strip())


def test_version_and_short_help(cli) -> None:  # type: ignore[no-untyped-def]
    version = cli("--version")
    assert version.returncode == 0 and version.stdout.strip() == f"exactsql {exactsql.__version__}"
    for args in (("-h",), ("query", "-h"), ("explain", "-h"), ("status", "-h"), ("connection", "-h")):
        done = cli(*args, env={"COLUMNS": "120"})
        assert done.returncode == 0, done.stderr
        assert "Usage:" in done.stdout
        assert "<bool>" not in done.stdout, done.stdout
        assert "Traceback" not in done.stdout + done.stderr


def test_one_default_connection_for_every_command(cli, server: dict) -> None:  # type: ignore[no-untyped-def]
    make_connection(server, "books")  # the only configured connection: every command's default
    for args in (("keepalive",), ("api", "current/Me")):
        done = cli(*args)
        assert done.returncode == 1 and "'books' has not logged in" in done.stderr, (args, done.stderr)
    status = cli("status", "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["connection"] == "books"
    assert cli("login", "books").returncode == 0
    me = cli("api", "current/Me")
    assert me.returncode == 0, me.stderr
    assert json.loads(me.stdout)["d"]["results"][0]["CurrentDivision"] in server["divisions"]
    query = cli("query", "select code from glaccounts where code = '1000'", "-f", "json")
    assert query.returncode == 0 and "built-in sandbox" not in query.stderr, query.stderr


def test_a_missing_replica_is_an_error(cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "out"
    out.mkdir()
    for url in (f"sqlite:///{out / 'nope.db'}", f"duckdb:///{out / 'nope.duckdb'}"):
        done = cli("query", "--replica", url, "select code from glaccounts")
        assert done.returncode == 1 and "no replica" in done.stderr.lower(), done.stderr
    assert list(out.iterdir()) == []


def test_output_checks_come_before_the_query() -> None:
    with pytest.raises(ConfigError, match="extension"):
        output.format_for(Path("report.docx"), None)
    assert output.format_for(Path("report.XLSX"), None) == "xlsx"
    assert output.format_for(None, None) == "table"
    assert output.format_for(Path("out.txt"), "csv") == "csv"
