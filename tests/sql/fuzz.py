"""Fuzzing ``exactsql query`` and ``exactsql explain``: generated bad (and some good) inputs, each run through
the real command line (in this process, on the built-in sandbox) and judged.

Every input must end in a clear message and a non-zero exit, or in success where the input is valid
(lists, structs, intervals and 38-digit decimals written to every format); never a traceback, never an
"internal error"; and an input rejected before any fetch costs no API call (``current/Me`` included).
Used by ``tests/sql/test_fuzz.py`` (a few hundred inputs) and ``benchmarks/fuzz.py`` (thousands).
"""

from __future__ import annotations

import io
import random
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from tests.sql.inprocess import api_calls, builtin_sandbox

__all__ = ["Input", "Outcome", "builtin_sandbox", "inputs", "judge", "run"]

SEED_SQL = (Path(__file__).resolve().parents[2] / "examples" / "seed.sql").read_text().strip()
BASE = [
    "select code, description from glaccounts where code = '1000'",
    SEED_SQL,
    "select a.code, b.description from glaccounts a join glaccounts b on a.id = b.id where a.code like '10%'",
    "with x as (select code from glaccounts where code in ('1000', '1100')) select * from x order by code",
    "select count(*) n, max(code) m from glaccounts where code between '1000' and '1999'",
    "select 1 + 1 two, sysdate now from dual",
    "select code from glaccounts where code = :code",
    "select nvl(description, 'none') d from glaccounts where code = '1000' union all select 'x' from dual",
]
VALUES = [
    "list_value(1, 2)",
    "list_value(list_value(1, 2), list_value(3))",
    "{'a': 1, 'b': list_value(1.5, null)}",
    "row(1, 'a')",
    "interval '1' day",
    "interval '14' month",
    "current_date - interval '1' month",
    "cast(12345678901234567890123456789012345678 as decimal(38,0))",
    "cast(-0.00000000000000000000000000000000000001 as decimal(38,38))",
    "cast(170141183460469231731687303715884105727 as hugeint)",
    "cast(18446744073709551615 as ubigint)",
    "cast('abc' as blob)",
    "cast('101' as bit)",
    "uuid()",
    "cast('10:00:01.5' as time)",
    "cast('2024-01-01 10:00+01' as timestamptz)",
    "cast('infinity' as double)",
    "cast('nan' as double)",
    "null",
    "'=1+1'",
    "'http://example.com/x'",
    "'line one' || chr(10) || 'line two'",
    "'a' || chr(0) || 'b'",
    "chr(27) || '[31mred'",
    "'[bold]not markup[/bold]'",
    "repeat('x', 40000)",
    "'🙂 ́ ‮'",
]
FORMATS = ["table", "csv", "json", "parquet", "xlsx"]
EXTENSIONS = {"table": "txt", "csv": "csv", "json": "json", "parquet": "parquet", "xlsx": "xlsx"}


@dataclass(frozen=True)
class Input:
    """One command line. ``{tmp}`` in an argument is a scratch directory holding ``files`` (None: a
    directory). ``local``: when it fails, it must have cost no API call. ``ok``: must succeed (True), must
    fail (False), or either (None)."""

    id: str
    args: tuple[str, ...]
    stdin: bytes = b""
    files: dict[str, bytes | None] = field(default_factory=dict)
    local: bool = True
    ok: bool | None = None


@dataclass
class Outcome:
    """What the command did."""

    code: int
    stdout: str
    stderr: str
    calls: int


def _query(sql: str, *more: str, ok: bool | None = None, local: bool = True, name: str = "") -> list[Input]:
    """The input for ``query`` and for ``explain`` (explain makes calls to plan valid SQL: not local)."""
    return [
        Input(f"query {name}", ("query", sql, *more), local=local, ok=ok),
        Input(f"explain {name}", ("explain", sql), local=local if ok is not True else False, ok=ok),
    ]


def _truncations(rng: random.Random, n: int) -> list[Input]:
    out = []
    for i in range(n):
        sql = rng.choice(BASE)
        cut = rng.randrange(0, len(sql))
        out.append(Input(f"truncated {i}", ("query", sql[:cut] or ";"), local=False))
    return out


def _shuffles(rng: random.Random, n: int) -> list[Input]:
    out = []
    for i in range(n):
        words = rng.choice(BASE).split()
        rng.shuffle(words)
        out.append(Input(f"shuffled {i}", ("query", " ".join(words)), local=False))
    return out


def _breakages(rng: random.Random, n: int) -> list[Input]:
    """Unterminated strings, identifiers and comments; unicode surrogates, NUL, odd characters."""
    inserts = [
        "'",
        '"',
        "/*",
        "[",
        "(",
        ")",
        "\ud800",
        "\udcff",
        "\x00",
        "\u202e",
        "\ufeff",
        ";",
        "--",
        "@",
        ":",
        "?",
    ]
    out = []
    for i in range(n):
        sql = rng.choice(BASE)
        at = rng.randrange(0, len(sql) + 1)
        piece = rng.choice(inserts)
        out.append(Input(f"broken {i} {piece!r}", ("query", sql[:at] + piece + sql[at:]), local=False))
    return out


def _deep() -> list[Input]:
    """Deep nesting and long chains."""
    ors = " or ".join(f"code = '{i}'" for i in range(1000))
    ands = " and ".join(f"code <> '{i}'" for i in range(1000))
    ins = ", ".join(f"'{i}'" for i in range(1000))
    cases = {
        "500-deep parentheses": "select " + "(" * 500 + "1" + ")" * 500 + " from dual",
        "500-deep parentheses in where": "select code from glaccounts where "
        + "(" * 500
        + "code = '1'"
        + ")" * 500,
        "200-deep subqueries": "select * from " + "(select * from " * 200 + "dual" + ") x" * 200,
        "1000-term or chain": f"select code from glaccounts where {ors}",
        "1000-term and chain": f"select code from glaccounts where code = '1000' and {ands}",
        "1000-term in list": f"select code from glaccounts where code in ({ins})",
        "1000-term sum": "select " + " + ".join("1" for _ in range(1000)) + " from dual",
        "300-deep case": "select " + "case when 1 = 1 then " * 300 + "1" + " end" * 300 + " from dual",
        "2000 columns": "select " + ", ".join(f"{i} c{i}" for i in range(2000)) + " from dual",
        "1 MB of whitespace": "select 1 from dual" + " " * 1_000_000,
        "1 MB string": "select '" + "x" * 1_000_000 + "' from dual",
    }
    return [inp for name, sql in cases.items() for inp in _query(sql, name=name, local=False)]


def _values() -> list[Input]:
    """Every kind of value to every format (valid: they must succeed)."""
    out = []
    for value in VALUES:
        for fmt in FORMATS:
            target = ("-o", f"{{tmp}}/out.{EXTENSIONS[fmt]}") if fmt in ("parquet", "xlsx") else ()
            too_long = fmt == "xlsx" and "repeat" in value  # a cell holds 32,767 characters: a clear refusal
            out.append(
                Input(
                    f"value {value[:30]} as {fmt}",
                    ("query", f"select {value} v from dual", "-f", fmt, *target),
                    ok=None if too_long else True,
                )
            )
    every = ", ".join(f"{v} c{i}" for i, v in enumerate(VALUES) if "repeat" not in v)
    for fmt in FORMATS:
        out.append(
            Input(
                f"every value as {fmt} file",
                ("query", f"select {every} from dual", "-o", f"{{tmp}}/all.{EXTENSIONS[fmt]}"),
                ok=True,
            )
        )
    out.append(
        Input("same-named columns as json", ("query", "select 1 a, 2 a from dual", "-f", "json"), ok=True)
    )
    out.append(
        Input(
            "a long value to xlsx",
            ("query", "select repeat('x', 40000) v from dual", "-o", "{tmp}/long.xlsx"),
        )
    )
    return out


def _paths() -> list[Input]:
    """Output files that cannot be written; SQL files that cannot be read."""
    sql = "select code from glaccounts where code = '1000'"
    files: dict[str, bytes | None] = {
        "dir": None,
        "file.csv": b"x",
        "empty.sql": b"",
        "comments.sql": b"-- nothing\n/* at all */\n;;",
        "binary.sql": bytes(range(256)),
        "latin1.sql": "select 'é' from dual".encode("latin-1"),
        "nul.sql": b"select 1\x00 from dual",
        "bom.sql": "\ufeffselect 1 one from dual".encode(),
        "ok.sql": b"select 1 one from dual",
    }
    outs = [
        "/proc/nope/x.csv", "/nonexistent/dir/x.csv", "{tmp}/dir", "{tmp}/x.docx", "{tmp}/report", "",
        "{tmp}/file.csv/x.csv", "/proc/version", "/sys/x.csv", "/dev/full", "{tmp}/dir/",
        "{tmp}/x.csv\x00.json",
    ]  # fmt: skip
    # /dev/full takes the file and fails at the write, after the fetch: not rejectable before it
    cases = [Input(f"-o {o!r}", ("query", sql, "-o", o), files=files, local=o != "/dev/full") for o in outs]
    cases += [
        Input(f"-o {o!r} -f xlsx", ("query", sql, "-f", "xlsx", "-o", o), files=files, local=o != "/dev/full")
        for o in outs
    ]
    cases += [
        Input(f"-o {o!r} -f table", ("query", sql, "-f", "table", "-o", o), files=files) for o in outs[:4]
    ]
    sources = ["@{tmp}/dir", "@{tmp}/missing.sql", "@", "@ ", "@{tmp}/empty.sql", "@{tmp}/comments.sql",
               "@{tmp}/binary.sql", "@{tmp}/latin1.sql", "@{tmp}/nul.sql", "@/proc/self/mem", "@/dev/null"]  # fmt: skip
    for source in sources:
        cases += [Input(f"query {source}", ("query", source), files=files)]
        cases += [Input(f"explain {source}", ("explain", source), files=files)]
    cases.append(Input("@ a BOM file", ("query", "@{tmp}/bom.sql"), files=files))
    cases.append(Input("@ a good file", ("query", "@{tmp}/ok.sql"), files=files, ok=True))
    cases.append(Input("stdin not UTF-8", ("query", "-"), stdin=b"\xff\xfe select"))
    cases.append(Input("stdin empty", ("query", "-"), stdin=b""))
    cases.append(Input("stdin NUL", ("query", "-"), stdin=b"select 1\x00"))
    return cases


def _dashes() -> list[Input]:
    """SQL text that starts with ``--`` or ``-``."""
    texts = ["-- a comment\nselect 1 one from dual", "--select 1 from dual", "--", "-- only a comment", "-",
             "-1 + 2", "--\nselect 1 one from dual", "-- x\n"]  # fmt: skip
    return [inp for t in texts for inp in _query(t, name=repr(t), ok=None)]


def _options() -> list[Input]:
    sql = "select 1 one from dual"
    bad = [
        ("--max-calls", "-1"), ("--max-calls", "abc"), ("--max-calls", "1e99"), ("--max-calls", "99999999999999999999999"),
        ("--cache-max-age", "nan"), ("--cache-max-age", "-1"), ("--cache-max-age", "inf"), ("-f", "docx"), ("-f", ""),
        ("--param", "x"), ("--param", "=1"), ("--param", "a b=1"), ("--param", "\ud800=1"), ("--alias", "x"),
        ("--alias", "=y"), ("--replica", "nope"), ("--replica", "sqlite:///{tmp}/missing.db"),
        ("--replica", "duckdb:///{tmp}/dir"), ("--replica", "postgresql://[::1"), ("-c", "nope"), ("-c", ""),
        ("-f", "parquet"), ("-f", "xlsx"), ("--formt", "json"), ("-o",),
    ]  # fmt: skip
    return [Input(f"options {' '.join(b)!r}", ("query", sql, *b), files={"dir": None}) for b in bad]


def _rejected() -> list[Input]:
    """Statements a user gets wrong, each refused before any call."""
    statements = [
        "select nope from glaccounts", "select * from glaccountz", "select code + 'x' from glaccounts",
        "select code from glaccounts where code = :missing", "select code from glaccounts where code = ?",
        "delete from glaccounts", "update glaccounts set code = 1", "insert into glaccounts values (1)",
        "drop table glaccounts", "create table x as select 1 from dual", "select * from read_text('/etc/passwd')",
        "select * from read_csv('/etc/passwd')", "select * from duckdb_settings()", "copy (select 1) to '/tmp/x'",
        "attach '/tmp/x.db'", "install httpfs", "load httpfs", "set enable_external_access = true",
        "pragma database_list", "select * from query('select 1')", "select current_setting('threads') from dual",
        "use select description from glaccounts@eol", "use 1, 2, x", "use all@nope", "select * from x@nope",
        "select code from glaccounts; select nope from glaccounts", "select", "select from where", ";;;", "   ",
        "select * from 'file.csv'", "select * from information_schema.tables", "select 1 from dual where",
    ]  # fmt: skip
    return [inp for s in statements for inp in _query(s, name=repr(s))]


def _garbage(rng: random.Random, n: int) -> list[Input]:
    out = []
    for i in range(n):
        raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 80)))
        text = raw.decode("utf-8", "surrogateescape")
        out.append(Input(f"garbage {i}", ("query", text)))
    return out


def inputs(count: int, seed: int = 1) -> list[Input]:
    """At least the fixed inputs (a few hundred), then random ones up to ``count``."""
    rng = random.Random(seed)
    fixed = _deep() + _values() + _paths() + _dashes() + _options() + _rejected()
    fixed += _query(BASE[0], name="a valid query", ok=True, local=False)
    spare = max(0, count - len(fixed))
    share = [spare // 4, spare // 4, spare // 4, spare - 3 * (spare // 4)]
    return (
        fixed
        + _truncations(rng, share[0])
        + _shuffles(rng, share[1])
        + _breakages(rng, share[2])
        + _garbage(rng, share[3])
    )


# -- running ------------------------------------------------------------------------------------------


def _stream(data: bytes = b"", errors: str = "strict") -> io.TextIOWrapper:
    """A text stream over bytes, as Python's own: standard error writes what it cannot encode escaped."""
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors=errors, write_through=True)


def run(case: Input) -> Outcome:
    """Runs ``exactsql ARGS`` in this process (inside ``builtin_sandbox``), in a fresh scratch directory."""
    from exactsql.cli import main

    with tempfile.TemporaryDirectory(prefix="exactsql-fuzz-") as tmp:
        for name, data in case.files.items():
            path = Path(tmp) / name
            if data is None:
                path.mkdir()
            else:
                path.write_bytes(data)
        args = [a.replace("{tmp}", tmp) for a in case.args]
        before = api_calls()
        stdout, stderr = _stream(), _stream(errors="backslashreplace")
        saved = sys.argv, sys.stdin, sys.stdout, sys.stderr
        sys.argv, sys.stdin, sys.stdout, sys.stderr = ["exactsql", *args], _stream(case.stdin), stdout, stderr
        code = 0
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:  # a crash of the harness' own making is still a finding
            code = -1
            stderr.write(f"Traceback (escaped the command): {type(exc).__name__}: {exc}")
        finally:
            sys.argv, sys.stdin, sys.stdout, sys.stderr = saved
        return Outcome(code, _text(stdout), _text(stderr), api_calls() - before)


def _text(stream: io.TextIOWrapper) -> str:
    stream.flush()
    buffer = stream.buffer
    assert isinstance(buffer, io.BytesIO)
    return buffer.getvalue().decode("utf-8", "replace")


def judge(case: Input, outcome: Outcome) -> str | None:
    """What is wrong with ``outcome`` for ``case``, or None."""
    output = outcome.stdout + outcome.stderr
    if "Traceback" in output:
        return "a traceback"
    if outcome.code == 70 or "internal error" in outcome.stderr:
        return "an internal error: " + outcome.stderr.strip()[:300]
    if outcome.code not in (0, 1, 2, 130):
        return f"exit {outcome.code}"
    if case.ok is True and outcome.code != 0:
        return "failed: " + outcome.stderr.strip()[:300]
    if case.ok is False and outcome.code == 0:
        return "succeeded"
    if outcome.code != 0:
        if "Error" not in outcome.stderr:
            return "no clear message: " + outcome.stderr.strip()[:300]
        if case.local and outcome.calls:
            return f"{outcome.calls} API call(s) for an input refused before any fetch"
    return None
