"""``exactsql query`` and ``exactsql explain``."""

from __future__ import annotations

import math
import sys
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from exactsql.config import SANDBOX_NAME, Config
from exactsql.errors import ConfigError, FileError

console = Console()
err = Console(stderr=True)

SqlArgument = Annotated[
    str, typer.Argument(metavar="SQL", help="The SQL, '@file.sql' to read a file, or '-' for standard input.")
]
ConnectionOption = Annotated[
    str | None,
    typer.Option(
        "--connection",
        "-c",
        metavar="NAME",
        help="The connection for alias 'eol' (default: eol, the only one, or the sandbox).",
    ),
]
AliasOption = Annotated[
    list[str] | None,
    typer.Option(
        "--alias", metavar="ALIAS=CONNECTION", help="More connections, for table@ALIAS (repeatable)."
    ),
]


def _sql_text(sql: str) -> str:
    """The SQL of the argument: itself, a file (``@file.sql``) or standard input (``-``); never empty."""
    if sql == "-":
        try:
            text, origin = sys.stdin.buffer.read().decode("utf-8"), "standard input"
        except UnicodeDecodeError:
            raise ConfigError("Standard input is not UTF-8 text.", "Give the SQL as UTF-8.") from None
    elif sql.startswith("@"):
        path = Path(sql[1:])
        origin = str(path)
        if not sql[1:].strip() or "\x00" in sql:
            raise ConfigError("@ names no file.", "Give @FILE of an existing SQL file, e.g. @report.sql.")
        if path.is_dir():
            raise ConfigError(f"{path} is a directory.", "Give @FILE of a SQL file, not a directory.")
        if not path.exists():
            raise ConfigError(
                f"There is no file {path}.", "Give the SQL itself, @FILE of an existing file, or -."
            )
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{path} is not UTF-8 text.", "Save the SQL file as UTF-8.") from None
        except OSError as exc:
            raise FileError.from_os_error(exc, "read the SQL file", path) from None
    else:
        text, origin = sql, "the argument"
        if sql.startswith("--") and not any(ch.isspace() for ch in sql):
            raise ConfigError(f"No such option: {sql}.", "`exactsql query -h` lists the options.")
    if not text.strip(" \t\r\n;"):
        raise ConfigError(
            f"There is no SQL in {origin}.", 'e.g. exactsql query "select code from glaccounts".'
        )
    return text


def _params(items: list[str] | None) -> dict[str, str]:
    """``--param NAME=VALUE`` options as a mapping (values are text; SQL casts them where it compares)."""
    params: dict[str, str] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        name = name.strip().lstrip(":")
        if not sep or not name or not name.replace("_", "a").isalnum():
            raise ConfigError(
                f"--param {item!r} is not NAME=VALUE.", "e.g. --param code=1000 for :code in the SQL."
            )
        params[name.lower()] = value
    return params


WorkersOption = Annotated[
    int | None,
    typer.Option(
        metavar="N", help="Divisions read at once by a query over several (default: the connection's, 8)."
    ),
]
DivisionsMaxAgeOption = Annotated[
    float | None,
    typer.Option(
        metavar="SECONDS",
        help="Use the kept division list and current/Me while younger than this (default: the connection's "
        "divisions_max_age, 3600); 0 reads them again.",
    ),
]


def _check_lists(workers: int | None, divisions_max_age: float | None) -> None:
    from exactsql.config import MAX_WORKERS

    if workers is not None and not 1 <= workers <= MAX_WORKERS:
        raise ConfigError(f"--workers {workers} is out of range.", f"Give 1 to {MAX_WORKERS}.")
    if divisions_max_age is not None and not (math.isfinite(divisions_max_age) and divisions_max_age >= 0):
        raise ConfigError(
            f"--divisions-max-age {divisions_max_age} is not a number of seconds.", "Give 0 or more."
        )


def _check_numbers(max_calls: int | None, cache_max_age: float | None) -> None:
    if max_calls is not None and max_calls < 0:
        raise ConfigError(f"--max-calls {max_calls} is negative.", "Give 0 or more API calls.")
    if cache_max_age is not None and not (math.isfinite(cache_max_age) and cache_max_age >= 0):
        raise ConfigError(f"--cache-max-age {cache_max_age} is not a number of seconds.", "Give 0 or more.")


def default_connection(config: Config) -> str:
    if "eol" in config.connections:
        return "eol"
    if len(config.connections) == 1:
        return next(iter(config.connections))
    if not config.connections:
        err.print("[dim]No connection is configured: running on the built-in sandbox.[/]")
        return SANDBOX_NAME
    names = ", ".join(sorted(config.connections))
    raise ConfigError("Several connections are configured.", f"Choose one with -c: {names}.")


class FetchProgress:
    """A transient progress line per endpoint on a terminal (with ``detail``, per endpoint and division):
    pages against the estimate, rows, and how many divisions were read from."""

    def __init__(self, detail: bool = False) -> None:
        self.detail = detail
        self._divisions: dict[str, set[int | None]] = {}
        self.bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("pages  {task.fields[rows]:>9} rows"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=not err.is_terminal,
        )
        self._tasks: dict[tuple[str, int | None], TaskID] = {}
        self._counts: dict[TaskID, list[int]] = {}  # pages, rows
        self._lock = threading.Lock()

    def page(self, endpoint: str, division: int | None, rows: int, expected: int | None) -> None:
        """One more page of ``endpoint`` in ``division``."""
        with self._lock:
            seen = self._divisions.setdefault(endpoint, set())
            seen.add(division)
            where = division if self.detail else None
            task = self._tasks.get((endpoint, where))
            if task is None:
                label = endpoint if division is None or not self.detail else f"{endpoint} [dim]{division}[/]"
                task = self.bar.add_task(label, total=expected, rows="0")
                self._tasks[(endpoint, where)] = task
                self._counts[task] = [0, 0]
            counts = self._counts[task]
            counts[0] += 1
            counts[1] += rows
            if not self.detail and len(seen) > 1:
                expected = expected * len(seen) if expected else None
                self.bar.update(task, description=f"{endpoint} [dim]{len(seen)} divisions[/]")
            total = max(expected, counts[0]) if expected else None
            self.bar.update(task, completed=counts[0], total=total, rows=f"{counts[1]:,}")


def _engine(  # type: ignore[no-untyped-def]
    connection: str | None,
    aliases: list[str] | None,
    cache_max_age: float | None,
    progress: FetchProgress | None = None,
    file_access: bool = False,
    workers: int | None = None,
    divisions_max_age: float | None = None,
):
    from exactsql.connect import attach_replicas, open_session
    from exactsql.sql.engine import Engine

    config = Config.load()
    names = {"eol": connection or default_connection(config)}
    for item in aliases or []:
        alias, sep, name = item.partition("=")
        if not sep or not alias or not name:
            raise ConfigError(
                f"--alias {item!r} is not ALIAS=CONNECTION.", "e.g. --alias other=eol2 for other.accounts."
            )
        names[alias.lower()] = name
    sessions = {alias: open_session(name, config) for alias, name in names.items()}

    def show_wait(seconds: float, what: str) -> None:
        err.print(f"[dim]waiting {seconds:.1f} s for {what}…[/]")

    on_page = progress.page if progress is not None else None
    engine = Engine(
        sessions,
        cache_max_age=cache_max_age,
        on_wait=show_wait,
        on_page=on_page,
        file_access=file_access,
        workers=workers,
        divisions_max_age=divisions_max_age,
    )
    attach_replicas(engine, config)
    return engine


ParamOption = Annotated[
    list[str] | None,
    typer.Option("--param", "-p", metavar="NAME=VALUE", help="A value for :NAME in the SQL (repeatable)."),
]
FileAccessOption = Annotated[
    bool,
    typer.Option("--file-access", help="Let the SQL read local files and URLs (DuckDB's read_csv …)."),
]
SendValidRowsOption = Annotated[
    bool,
    typer.Option(
        "--send-valid-rows",
        help="Writes: send the valid rows of a batch that has invalid ones (by default it sends nothing).",
    ),
]


def query(
    sql: SqlArgument,
    connection: ConnectionOption = None,
    alias: AliasOption = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            metavar="FORMAT",
            help="table, csv, json, parquet or xlsx (default: -o's extension).",
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write to this file (.csv, .json, …)."),
    ] = None,
    param: ParamOption = None,
    max_calls: Annotated[
        int | None,
        typer.Option(metavar="N", help="Stop before API call N+1 (current/Me and the division list count)."),
    ] = None,
    cache_max_age: Annotated[
        float | None, typer.Option(metavar="SECONDS", help="Serve repeated fetches younger than this.")
    ] = None,
    replica: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            help="Answer from a replica (sqlite:///…, duckdb:///…, postgresql://…): no API calls.",
        ),
    ] = None,
    file_access: FileAccessOption = False,
    send_valid_rows: SendValidRowsOption = False,
    workers: WorkersOption = None,
    divisions_max_age: DivisionsMaxAgeOption = None,
    progress_detail: Annotated[
        bool, typer.Option("--progress-detail", help="A progress line per division (not one per table).")
    ] = False,
) -> None:
    """Run SQL on Exact Online (several statements: the last one's result is written)."""
    from exactsql.sql import output as out

    fmt = out.format_for(output, fmt)
    if fmt in ("parquet", "xlsx") and output is None:
        raise ConfigError(f"--format {fmt} writes a file.", "Give it with -o FILE.")
    out.check_output(output, fmt)
    _check_numbers(max_calls, cache_max_age)
    _check_lists(workers, divisions_max_age)
    params = _params(param)
    text = _sql_text(sql)
    if replica is not None:
        from exactsql.dbapi import ReplicaRunner

        runner = ReplicaRunner(replica, file_access)
        try:
            answers = runner.run(text, None, params or None)
        finally:
            runner.close()
        if answers[-1].table is not None:
            out.write(answers[-1].table, fmt, output, console)
        err.print("[dim]answered from the replica: 0 API calls[/]")
        return
    progress = FetchProgress(progress_detail)
    engine = _engine(connection, alias, cache_max_age, progress, file_access, workers, divisions_max_age)
    started = time.perf_counter()
    engine.writes.send_valid_rows = send_valid_rows
    with progress.bar:
        results = engine.run(text, max_calls, params, strict_params=True)
    for result in results[:-1]:
        if result.message:
            err.print(f"[dim]{escape(result.message)}[/]")
    last = results[-1]
    if last.table is None:
        console.print(escape(last.message))
        return
    out.write(last.table, fmt, output, console)
    calls = sum(c.calls for c in engine.clients.values())
    err.print(f"[dim]{calls} API call(s), {time.perf_counter() - started:.2f} s[/]")


_WHY = {"current/Me": "who the user is, the current division", "system/Divisions": "the divisions of use"}


def explain(
    sql: SqlArgument,
    connection: ConnectionOption = None,
    alias: AliasOption = None,
    param: ParamOption = None,
    file_access: FileAccessOption = False,
    divisions_max_age: DivisionsMaxAgeOption = None,
) -> None:
    """Show every API call the SQL will make: per table reference the endpoint, $filter, $select,
    divisions and estimated calls; the calls to learn the user and the divisions; and the DuckDB SQL."""
    from exactsql.sql.dialect import UseStatement, to_duckdb

    text = _sql_text(sql)
    _check_lists(None, divisions_max_age)
    engine = _engine(connection, alias, None, file_access=file_access, divisions_max_age=divisions_max_age)
    total, open_ended = 0, False
    for item in engine.explain(text, _params(param) or None):
        for io in item.setup:
            why = _WHY.get(io.endpoint, f"for {io.relation}")
            if io.endpoint == "system/Divisions" and isinstance(item.statement, UseStatement):
                why = "the divisions of use all" if item.statement.all_divisions else "the codes of use"
            console.print(f"[bold]{escape(io.endpoint)}[/]  {io.calls} call{'s' * (io.calls != 1)} ({why})")
            total += io.calls
        label = "use" if isinstance(item.statement, UseStatement) else "statement"
        if item.message:  # what use chose, what a script or write statement does (writes: their calls)
            console.print(f"[bold]{label}[/]: {escape(item.message)}", soft_wrap=True)
        if item.plan is None:
            continue
        for spec in item.plan.fetches:
            console.print(f"[bold]{escape(spec.ref.display)}[/]  as {spec.name}")
            if spec.path is None:
                if spec.ref.dictionary == "SystemDivisions":
                    kept = engine.sessions[spec.ref.alias].kept("divisions", engine.divisions_max_age)
                    console.print(
                        "  0 calls (the kept division list)" if kept else "  1 call (system/Divisions)"
                    )
                    total += 0 if kept else 1
                else:
                    console.print("  answered locally, no API call")
                continue
            divisions = spec.divisions or []
            remaining = _day_remaining(engine, spec.ref.alias, divisions)
            calls = spec.estimated_calls
            total += spec.least_calls
            open_ended = open_ended or calls is None
            share = (
                f" ({100 * calls / remaining:.2f}% of today's remaining {remaining:,})"
                if calls is not None and remaining
                else ""
            )
            rows = [
                ("endpoint", f"{spec.path.endpoint}  ({spec.path.kind}, {spec.path.page_size} rows a page)"),
                ("$filter", spec.filter or "(none)"),
                ("$select", ", ".join(spec.select)),
                ("divisions", ", ".join(map(str, divisions)) if divisions else "(not partitioned)"),
                (
                    "est. calls",
                    (f"at least {spec.least_calls} (no row count seen yet)" if calls is None else str(calls))
                    + share,
                ),
            ]
            rows += [("note", note) for note in spec.notes]
            for label, value in rows:
                console.print(f"  {label:<10} {escape(value)}", soft_wrap=True)
        console.print("[bold]DuckDB[/]: " + escape(to_duckdb(item.plan.tree)), soft_wrap=True)
    console.print(f"[bold]estimated calls[/]: {'at least ' if open_ended else ''}{total}")


def _day_remaining(engine, alias: str, divisions: list[int]) -> int:  # type: ignore[no-untyped-def]
    session = engine.sessions[alias]
    total = 0
    for division in divisions or [0]:
        state = session.rates.state(division)
        state.day.roll(session.clock.now())
        total += state.day.limit - state.day.used
    return total
