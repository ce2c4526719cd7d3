"""``exactsql replicate``: a local copy of the books in SQLite, DuckDB or PostgreSQL, kept exact incrementally."""

from __future__ import annotations

import math
import os
import re
import shlex
import signal
import threading
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table as RichTable

from exactsql.config import Config
from exactsql.config import home as config_home
from exactsql.endpoints import division_code
from exactsql.errors import ConfigError
from exactsql.replicate.targets import open_target, replica_failure
from exactsql.state.protocol import redact_url

console = Console()
err = Console(stderr=True)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


#: The shortest and the longest --watch interval.
MIN_INTERVAL, MAX_INTERVAL = 1.0, 366 * 86400.0


def parse_interval(text: str) -> float:
    """``30``, ``30s``, ``5m``, ``1h`` or ``1d`` as seconds: at least a second, at most a year."""
    match = re.fullmatch(r"\s*(\d{1,12}(?:\.\d{1,9})?)\s*([smhd]?)\s*", text.lower())
    if not match:
        raise ConfigError(
            f"--watch {text!r} is not an interval.", "Write e.g. 30s, 5m, 1h or a number of seconds."
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2) or "s"]
    if not MIN_INTERVAL <= seconds <= MAX_INTERVAL:
        raise ConfigError(
            f"--watch {text!r} is {'shorter than a second' if seconds < MIN_INTERVAL else 'longer than a year'}.",
            "Write e.g. 30s, 5m, 1h or 1d; without --watch, replicate runs once.",
        )
    return seconds


def parse_divisions(values: list[str] | None) -> list[int] | str | None:
    """``--divisions`` values: codes (comma-separated or repeated), or ``all``."""
    if not values:
        return None
    parts = [p.strip() for v in values for p in v.split(",") if p.strip()]
    if any(p.lower() == "all" for p in parts):
        if len(parts) > 1:
            raise ConfigError(
                "--divisions all cannot be combined with division codes.", "Give either all, or the codes."
            )
        return "all"
    codes = [division_code(p) for p in parts]
    if not codes or None in codes or 0 in codes:
        raise ConfigError(
            f"--divisions {', '.join(values)!r} is not a list of division codes or 'all'.",
            'Division codes are positive whole numbers (see `exactsql query "select code from systemdivisions"`).',
        )
    return sorted({c for c in codes if c is not None})


def check_not_own_file(to: str, config: Config) -> None:
    """ConfigError when the replica URL ``to`` names the state store's file or another file of exactsql's."""
    if _scheme(to) not in ("sqlite", "duckdb") or ":///" not in to:
        return
    target = _real(to.split(":///", 1)[1].split("?", 1)[0])
    state = config.state_url()
    own = {
        "the state store": state.split(":///", 1)[1].split("?", 1)[0]
        if state.startswith("sqlite:///")
        else ""
    }
    own.update({"the key file": str(config_home() / "secret.key"), "the config file": str(config.path)})
    for what, path in own.items():
        if path and target == _real(path):
            raise ConfigError(
                f"--to {redact_url(to)} is {what} of exactsql ({path}): replicating into it would destroy it.",
                "Give the replica a file of its own, e.g. --to sqlite:///books.db.",
            )


def check_watch(
    to: str,
    tables: list[str] | None,
    modified: list[str] | None,
    divisions: list[int] | str | None,
    interval: float,
    interval_text: str,
    daily_limit: int,
    max_share: float,
) -> None:
    """Prints the share of each division's daily calls ``--watch`` plans to use; ConfigError (before any API
    call) when it is more than ``max_share``."""
    from exactsql.replicate.plan import DEFAULT_TABLES, plan_tables
    from exactsql.replicate.watch import shortest_interval, watch_cost

    plans = plan_tables(list(tables or DEFAULT_TABLES), modified)
    rows, known_divisions = replica_sizes(to)
    count = len(divisions) if isinstance(divisions, list) else max(1, known_divisions)
    cost = watch_cost(plans, rows, interval, count, divisions == "all", daily_limit)
    if cost.share > max_share:
        shortest = shortest_interval(cost, max_share)
        raise ConfigError(
            cost.describe(interval_text) + f"; more than the {max_share:.0%} allowed.",
            f"Give a longer interval (--watch {_duration(shortest)} or more), fewer tables, or allow a larger "
            f"share with --max-daily-share (at most 1).",
        )
    err.print(f"[dim]{cost.describe(interval_text)}.[/]", soft_wrap=True)


def _duration(seconds: float) -> str:
    if seconds % 3600 == 0:
        return f"{seconds / 3600:.0f}h"
    if seconds >= 60:
        return f"{math.ceil(seconds / 60)}m"
    return f"{seconds:.0f}s"


def replica_sizes(to: str) -> tuple[dict[str, int | None], int]:
    """Per table the most rows one division of the replica holds (by its cursors), and how many divisions
    it holds; nothing when the replica is new."""
    from exactsql.replicate.targets import CURSORS

    target = open_target(to)
    try:
        conn = target.connect()
        try:
            if conn.column_types(CURSORS) is None:
                return {}, 0
            rows: dict[str, int | None] = {}
            divisions = set()
            for cursor in conn.cursors():
                divisions.add(cursor.division)
                if cursor.row_count is not None:
                    rows[cursor.table_name] = max(rows.get(cursor.table_name) or 0, cursor.row_count)
            return rows, len(divisions - {0})
        finally:
            conn.close()
    finally:
        target.close()


def _scheme(url: str) -> str:
    return url.split(":", 1)[0].lower() if ":" in url else ""


def _real(path: str) -> str:
    return os.path.realpath(os.path.expanduser(path))


def replicate(
    to: Annotated[
        str,
        typer.Option(
            "--to", help="The replica: sqlite:///file.db, duckdb:///file.duckdb or postgresql://user@host/db."
        ),
    ],
    connection: Annotated[
        str | None, typer.Option("--connection", "-c", help="The connection (default: the only one, or eol).")
    ] = None,
    tables: Annotated[
        list[str] | None,
        typer.Option(
            "--tables",
            "-t",
            help="Tables, e.g. crm/Accounts,TransactionLines (repeatable; default: the books).",
        ),
    ] = None,
    divisions: Annotated[
        list[str] | None,
        typer.Option(
            "--divisions",
            "-d",
            help="Division codes (comma-separated or repeated) or 'all' (default: current).",
        ),
    ] = None,
    watch: Annotated[
        str | None, typer.Option("--watch", help="Run again every INTERVAL (30s, 5m, 1h) until Ctrl+C.")
    ] = None,
    worker: Annotated[
        bool,
        typer.Option(
            "--worker", help="Share the work with other processes on a PostgreSQL replica (and state store)."
        ),
    ] = False,
    parallel: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="Threads working on divisions (a division waiting for its minute window holds none; up to 4 × this many divisions are in flight).",
        ),
    ] = 16,
    modified: Annotated[
        list[str] | None,
        typer.Option(
            "--modified",
            help="Read these tables without sync by Modified instead of reloading them ('all': every one that can).",
        ),
    ] = None,
    resync: Annotated[
        list[str] | None,
        typer.Option(
            "--resync",
            help="Read these tables again in full, from an empty copy in the divisions of the run "
            "('all': every table of the run); they are added to the run.",
        ),
    ] = None,
    max_daily_share: Annotated[
        float,
        typer.Option(
            "--max-daily-share",
            min=0.01,
            max=1.0,
            help="The share of each division's daily calls a --watch may plan to use (default 0.5).",
        ),
    ] = 0.5,
    commit_rows: Annotated[
        int,
        typer.Option(
            "--commit-rows", min=1, max=10_000_000, help="Rows committed together at most (default 25,000)."
        ),
    ] = 25_000,
    detail: Annotated[
        bool, typer.Option("--detail", help="A progress line per table and division, not only the summary.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> None:
    """Replicate tables into SQLite, DuckDB or PostgreSQL: a full load first, then only the changes and deletions."""
    from exactsql.cli_sql import default_connection
    from exactsql.connect import open_session
    from exactsql.replicate.progress import RichProgress
    from exactsql.replicate.runner import Progress, RunReport
    from exactsql.replicate.runner import replicate as run_once

    config = Config.load()
    name = connection or default_connection(config)
    codes = parse_divisions(divisions)
    interval = parse_interval(watch) if watch is not None else None
    check_not_own_file(to, config)
    open_target(to).close()  # a replica that cannot be opened is named before any API call
    if interval is not None and watch is not None:
        limit = config.connection(name).daily_limit
        check_watch(to, tables, modified, codes, interval, watch, limit, max_daily_share)
    session = open_session(name, config)
    os.umask(0o077)  # what the run creates (DuckDB's WAL, SQLite's journal, lock files) is owner-only
    stop = threading.Event()
    previous = signal.getsignal(signal.SIGTERM)
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    worst = 0
    try:
        while True:
            progress: Progress = Progress() if quiet else RichProgress(err, detail=detail)
            if isinstance(progress, RichProgress):
                with progress:
                    report: RunReport = run_once(
                        session, to, tables, codes, parallel, modified, progress, stop, worker,
                        resync=resync, commit_rows=commit_rows,
                    )  # fmt: skip
            else:
                report = run_once(
                    session, to, tables, codes, parallel, modified, progress, stop, worker,
                    resync=resync, commit_rows=commit_rows,
                )  # fmt: skip
            worst = worse(
                worst, _summary(report, ["exactsql", "replicate", "-c", name, "--to", redact_url(to)])
            )
            resync = None  # a --watch resyncs once, then keeps the tables up to date
            if interval is None or stop.is_set():
                break
            err.print(f"[dim]next run in {interval:,.0f} s (Ctrl+C to stop)[/]")
            if stop.wait(interval):
                break
    except KeyboardInterrupt:
        err.print("[yellow]Stopped.[/] What was committed stays; the next run goes on from there.")
        worst = worse(worst, 2)
    except Exception as exc:
        failure = replica_failure(exc, to)  # the disk, a lock, the server: not a bug
        if failure is None:
            raise
        raise failure from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        session.close()
    if worst:
        raise typer.Exit(worst)


#: Exit statuses from the least to the most urgent: all done, to be resumed, a copy short of rows, errors.
_URGENCY = (0, 2, 3, 1)


def worse(a: int, b: int) -> int:
    """The more urgent of two exit statuses."""
    return max(a, b, key=_URGENCY.index)


def _summary(report, command: list[str]) -> int:  # type: ignore[no-untyped-def]
    """Prints what a run did (``command``: how it was started, for the resync advice); returns 0 (all done),
    2 (to be resumed), 3 (a copy is short of rows: resync it) or 1 (errors)."""
    counts = report.by_status()
    parts = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    err.print(
        f"[bold]run {report.run_id}[/]: {len(report.outcomes)} table/division item(s) ({parts or 'none'}), "
        f"{report.rows:,} rows, {report.calls:,} API calls, {report.seconds:,.1f} s",
        soft_wrap=True,
    )
    problems = [o for o in report.outcomes if o.status != "ok"]
    if problems:
        table = RichTable("table", "division", "status", "message", show_header=True, header_style="bold")
        for o in problems:
            table.add_row(o.table, str(o.division), o.status, redact_url(o.message or "")[:200])
        err.print(table)
    for name, division, owner in report.held_elsewhere:
        err.print(f"[dim]{name} in division {division} is being replicated by {owner}[/]")
    for o in report.short:
        before, now = o.shortfall
        resync = [*command, "--divisions", str(o.division), "--tables", o.table, "--resync", o.table]
        if o.strategy == "modified":
            resync += ["--modified", o.table]
        err.print(
            f"[yellow]{o.table} in division {o.division} has {now:,} rows; its last run left {before:,}.[/] "
            "Rows were removed outside replication (deleted by hand, an older copy restored?) and later runs "
            "do not bring them back. Resync it:",
            soft_wrap=True,
        )
        err.print("  " + shlex.join(resync), markup=False, highlight=False, soft_wrap=True)
    if any(o.status in ("error", "error-budget", "fatal") for o in problems):
        return 1
    if report.short:
        return 3
    if problems:
        if any(o.status == "budget" for o in problems):
            err.print(
                "[yellow]A daily limit was reached:[/] the next run (on any machine) resumes where this one stopped."
            )
        return 2
    return 0


def main() -> None:
    """``python -m exactsql.cli_replicate …`` (until the command is registered in ``exactsql``)."""
    from exactsql.errors import ExactSQLError

    try:
        typer.run(replicate)
    except ExactSQLError as exc:
        err.print(f"[red]Error:[/] {exc.message}")
        if exc.hint:
            err.print(exc.hint)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
