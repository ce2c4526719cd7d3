"""``exactsql serve``: Exact Online (or a replica) as a PostgreSQL database; ``exactsql serve user …``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from exactsql.errors import ConfigError

console = Console()
err = Console(stderr=True)

serve_app = typer.Typer(
    help="Serve Exact Online (or a replica) over the PostgreSQL protocol, for Excel, Power BI and SQL tools.",
    no_args_is_help=False,
)
user_app = typer.Typer(
    help="The users who may log in to `exactsql serve` (SCRAM-SHA-256).", no_args_is_help=True
)
serve_app.add_typer(user_app, name="user")


@serve_app.callback(invoke_without_command=True)
def serve(
    ctx: typer.Context,
    connection: Annotated[
        str | None,
        typer.Option("--connection", "-c", help="The connection to serve (default: the only one)."),
    ] = None,
    replica: Annotated[
        str | None,
        typer.Option(help="Serve a replica (sqlite:///…, duckdb:///…, postgresql://…): no API calls."),
    ] = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on (0.0.0.0 for every interface).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to listen on (0 picks a free one).")
    ] = 5433,
    database: Annotated[str, typer.Option(help="The database name clients connect to.")] = "exactsql",
    tls_cert: Annotated[Path | None, typer.Option(help="TLS certificate (PEM); with --tls-key.")] = None,
    tls_key: Annotated[Path | None, typer.Option(help="TLS private key (PEM).")] = None,
    statement_timeout: Annotated[
        float, typer.Option(min=0, help="Cancel a statement after this many seconds (0: never).")
    ] = 300.0,
    max_calls: Annotated[
        int | None, typer.Option(min=0, help="API calls the whole server may make a day.")
    ] = None,
    session_max_calls: Annotated[
        int | None, typer.Option(min=0, help="API calls one client session may make.")
    ] = None,
    cache_max_age: Annotated[
        float,
        typer.Option(min=0, help="Serve a fetch again to any session while younger than this (seconds)."),
    ] = 60.0,
) -> None:
    """Run the server (Ctrl+C stops it)."""
    if ctx.invoked_subcommand is not None:
        return
    import asyncio

    from exactsql.serve.server import ServeOptions, run

    options = ServeOptions(
        connection=connection, replica=replica, host=host, port=port, database=database,
        tls_cert=tls_cert, tls_key=tls_key, statement_timeout=statement_timeout, max_calls=max_calls,
        session_max_calls=session_max_calls, cache_max_age=cache_max_age,
    )  # fmt: skip

    def say(line: str) -> None:
        console.print(line, soft_wrap=True, markup=False, highlight=False)
        sys.stdout.flush()

    try:
        asyncio.run(run(options, say))
    except KeyboardInterrupt:
        err.print("[dim]stopped[/]")


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="The user name clients log in with.")],
    password_env: Annotated[
        str | None, typer.Option(help="Read the password from this environment variable instead of asking.")
    ] = None,
) -> None:
    """Add a user (or set a user's password); only a SCRAM verifier of the password is kept."""
    from exactsql.serve.users import Users

    if password_env is not None:
        password = os.environ.get(password_env)
        if password is None:
            raise ConfigError(
                f"The environment variable {password_env} is not set.", "Set it, or leave out --password-env."
            )
    elif sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        password = sys.stdin.readline().rstrip("\n")
    users = Users()
    users.add(name, password)
    console.print(f"User {name} can log in to `exactsql serve` ({users.path}).")


@user_app.command("remove")
def user_remove(name: Annotated[str, typer.Argument(help="The user to remove.")]) -> None:
    """Remove a user."""
    from exactsql.serve.users import Users

    if not Users().remove(name):
        raise ConfigError(f"There is no user {name!r}.", "`exactsql serve user list` shows the users.")
    console.print(f"User {name} removed.")


@user_app.command("list")
def user_list() -> None:
    """List the users."""
    from exactsql.serve.users import Users

    for name in Users().names():
        console.print(name)
