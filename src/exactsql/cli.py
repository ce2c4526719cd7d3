"""The ``exactsql`` command line."""

from __future__ import annotations

import contextlib
import logging
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

app = typer.Typer(
    name="exactsql",
    help="SQL over Exact Online, within its API limits by construction; with a faithful local sandbox.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)


class Size(StrEnum):
    """Sandbox data sizes."""

    small = "small"
    medium = "medium"
    large = "large"


def _register() -> None:
    from exactsql import cli_connections as cc

    app.add_typer(cc.connection_app, name="connection")
    app.command()(cc.login)
    app.command()(cc.keepalive)
    app.command()(cc.api)
    app.command()(cc.status)
    from exactsql import cli_sql

    app.command()(cli_sql.query)
    app.command()(cli_sql.explain)
    from exactsql import cli_replicate

    app.command()(cli_replicate.replicate)


@app.command()
def sandbox(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0 picks a free one).")] = 8642,
    divisions: Annotated[int, typer.Option(min=1, max=500, help="Number of divisions (companies).")] = 3,
    size: Annotated[
        Size, typer.Option(help="≈ 1,000 / 100,000 / 1,000,000 transaction lines per division.")
    ] = Size.small,
    seed: Annotated[int, typer.Option(help="Seed of the generated books and credentials.")] = 1,
    time_scale: Annotated[
        float,
        typer.Option(min=0.001, help="Divides every duration: 60 makes a token live 10 s, a 'minute' 1 s."),
    ] = 1.0,
    info_file: Annotated[
        Path | None,
        typer.Option(help="Write base_url, client_id/secret, redirect_uri, users, divisions as JSON."),
    ] = None,
    redirect_uri: Annotated[
        list[str] | None, typer.Option(help="A redirect URI registered for the app (repeatable).")
    ] = None,
) -> None:
    """Run a local Exact Online (the sandbox) as an HTTP server."""
    from exactsql.sandbox.core import DEFAULT_REDIRECT_URI, Sandbox
    from exactsql.sandbox.server import base_url_of, bind, serve, write_info

    try:
        sock = bind(host, port)
    except OSError as exc:
        err.print(
            f"[red]Cannot listen on {host}:{port}: {exc.strerror}.[/] Pick another --port, or --port 0 for a free one."
        )
        raise typer.Exit(2) from None
    uris = tuple(redirect_uri) if redirect_uri else (DEFAULT_REDIRECT_URI,)
    sb = Sandbox(divisions=divisions, size=size.value, seed=seed, time_scale=time_scale, redirect_uris=uris)
    url = base_url_of(sock)
    info = sb.info(url)
    if info_file is not None:
        write_info(info_file, info)
    console.print(
        f"[bold green]Exact Online sandbox[/] on {url}  ({divisions} divisions, size {size.value}, seed {seed}, time scale {time_scale:g})"
    )
    console.print(f"  divisions: {', '.join(str(d) for d in info['divisions'])}")
    console.print(f"  client id: {info['client_id']}   redirect URI: {info['redirect_uri']}")
    console.print(
        f"  login page: {url}/api/oauth2/auth?client_id={info['client_id']}&redirect_uri={info['redirect_uri']}&response_type=code"
    )
    console.print(f"  control plane: {url}/_sandbox/stats" + (f"   info: {info_file}" if info_file else ""))
    console.print("  Press Ctrl+C to stop.")
    with contextlib.suppress(KeyboardInterrupt):
        serve(sb, sock)


@app.command()
def demo(
    divisions: Annotated[int, typer.Option(min=1, max=50, help="Number of sandbox divisions.")] = 3,
) -> None:
    """Start a sandbox, log in as its app and make a first call: who am I, which divisions, some GL accounts."""
    from exactsql.sandbox.demo import run_demo

    run_demo(console, divisions)


_register()


def main() -> None:
    """Entry point of the console script: user mistakes end in a clear message, not a traceback."""
    from exactsql.errors import ExactSQLError
    from exactsql.state import LockTimeout

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except ExactSQLError as exc:
        err.print(f"[red]Error:[/] {exc.message}")
        if exc.hint:
            err.print(exc.hint)
        raise SystemExit(1) from None
    except LockTimeout as exc:
        err.print(f"[red]Error:[/] {exc}")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
