"""``exactsql connection …``, ``login``, ``keepalive``, ``api`` and ``status``."""

from __future__ import annotations

import os
import sys
import time
from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from exactsql.api import credentials
from exactsql.cli_sql import default_connection
from exactsql.config import SANDBOX_NAME, Config, Connection, base_url_for, redirect_uri_problem, secret_box
from exactsql.config import home as config_home
from exactsql.connect import open_session
from exactsql.endpoints import MAX_DIVISION
from exactsql.errors import ConfigError
from exactsql.sql.output import emit
from exactsql.state import open_store

console = Console()
err = Console(stderr=True)
connection_app = typer.Typer(
    help="Add, list and remove connections (registered Exact Online apps).", no_args_is_help=True
)


def _show_wait(seconds: float, what: str) -> None:
    err.print(f"[dim]waiting {seconds:.1f} s for {what}…[/]")


@connection_app.command("add")
def connection_add(
    name: Annotated[str, typer.Argument(help="A name for this connection, e.g. 'eol'.")],
    client_id: Annotated[str, typer.Option(help="The app's client ID from Exact's App Center.")],
    redirect_uri: Annotated[str, typer.Option(help="The app's redirect URI, exactly as registered.")],
    region: Annotated[str | None, typer.Option(help="nl, be, de, fr, es, uk or com (default nl).")] = None,
    base_url: Annotated[
        str | None, typer.Option(help="Another host, e.g. an `exactsql sandbox` server.")
    ] = None,
    client_secret_env: Annotated[
        str | None,
        typer.Option(help="Read the client secret from this environment variable instead of a prompt."),
    ] = None,
) -> None:
    """Add (or replace) a connection; the client secret is asked for, never taken as an argument."""
    if name == SANDBOX_NAME:
        raise ConfigError("The name 'sandbox' is the built-in in-process sandbox.", "Choose another name.")
    if not name.strip() or any(c.isspace() or not c.isprintable() for c in name):
        raise ConfigError(
            f"The connection name {name!r} is empty or has spaces.", "Choose a name such as eol."
        )
    if not client_id.strip():
        raise ConfigError("--client-id is empty.", "Copy the client ID from Exact Online's App Center.")
    problem = redirect_uri_problem(redirect_uri.strip())
    if problem:
        raise ConfigError(
            f"--redirect-uri {redirect_uri!r} {problem}.",
            "Give the redirect URI exactly as registered for the app in Exact Online's App Center.",
        )
    if region and base_url:
        raise ConfigError(
            "Give --region or --base-url, not both.",
            "--region for Exact Online, --base-url for another host.",
        )
    url = base_url_for(region, base_url)
    if client_secret_env:
        secret = os.environ.get(client_secret_env, "")
        if not secret:
            raise ConfigError(
                f"The environment variable {client_secret_env} is empty or not set.",
                f"Set {client_secret_env} to the app's client secret, or leave out --client-secret-env to be asked.",
            )
    elif sys.stdin.isatty():
        secret = typer.prompt("Client secret", hide_input=True)
    else:
        secret = sys.stdin.readline().strip()
    if not secret:
        raise ConfigError("No client secret was given.", "Use the prompt or --client-secret-env VAR.")
    config = Config.load()
    connection = Connection(name, url, client_id.strip(), redirect_uri.strip())
    store = open_store(config.state_url())
    try:
        credentials.save_client_secret(store, secret_box(config_home()), connection, secret)
    finally:
        store.close()
    config.connections[name] = connection
    config.save()
    console.print(f"Added connection [bold]{name}[/] → {url} (client ID {connection.client_id}).")
    console.print(f"Next: `exactsql login {name}`.")


@connection_app.command("list")
def connection_list() -> None:
    """List the connections."""
    config = Config.load()
    table = Table("name", "base URL", "client ID", "redirect URI", "user")
    connections = {SANDBOX_NAME: config.connection(SANDBOX_NAME), **config.connections}
    for name, c in connections.items():
        table.add_row(
            name,
            c.base_url + (" (in-process)" if c.in_process_sandbox else ""),
            c.client_id,
            c.redirect_uri,
            c.user_id or "",
        )
    console.print(table)


@connection_app.command("remove")
def connection_remove(name: Annotated[str, typer.Argument(help="The connection to remove.")]) -> None:
    """Remove a connection and its stored secret."""
    config = Config.load()
    connection = config.connection(name)
    if name not in config.connections:
        raise ConfigError(
            f"The built-in connection {name!r} cannot be removed.",
            "`exactsql connection list` shows the others.",
        )
    shared = any(
        other.base_url == connection.base_url and other.client_id.lower() == connection.client_id.lower()
        for other_name, other in config.connections.items()
        if other_name != name
    )
    store = open_store(config.state_url())
    try:
        credentials.forget(store, connection, app_shared=shared)
    finally:
        store.close()
    del config.connections[name]
    config.save()
    console.print(f"Removed connection [bold]{name}[/].")


def login(
    name: Annotated[str, typer.Argument(help="The connection to log in with.")],
    redirected_url: Annotated[
        str | None,
        typer.Option(help="The URL the browser was redirected to (for scripts and remote machines)."),
    ] = None,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Print the login URL instead of opening a browser.")
    ] = False,
    user: Annotated[str | None, typer.Option(help="Sandbox only: the user to sign in as.")] = None,
    print_url: Annotated[
        bool, typer.Option("--print-url", help="Print the login URL and stop; finish with --redirected-url.")
    ] = False,
) -> None:
    """Log in through Exact Online's authorization-code flow and store the token chain."""
    session = open_session(name)
    if print_url:
        console.print(session.login_url(), soft_wrap=True)
        err.print(f"Open it, sign in and allow; then run `exactsql login {name} --redirected-url URL`.")
        return

    def ask(url: str) -> str:
        console.print(f"Open this URL, sign in and allow access:\n\n  {url}\n")
        return str(typer.prompt("Paste the URL the browser was redirected to"))

    chain = session.login(redirected_url, browser=not no_browser, user=user, prompt=ask)
    config = session.config
    if name in config.connections:
        config.connections[name].user_id = chain.user_id
        config.save()
    console.print(
        f"Logged in to [bold]{name}[/] as user {chain.user_id}; the chain is stored in {session.status()['state_store']}."
    )


def keepalive(
    name: Annotated[
        str | None,
        typer.Argument(help="The connection to keep alive (default: eol, the only one, or the sandbox)."),
    ] = None,
) -> None:
    """Spend one budgeted refresh so the refresh token does not expire after 30 idle days."""
    chain = open_session(name or default_connection(Config.load())).keepalive()
    console.print(
        f"Refreshed; the refresh token is good for another {chain.lifetime * 3600 * 24 / 600 / 86400 * 30:.0f} days of idleness."
    )


def api(
    path: Annotated[str, typer.Argument(help="e.g. current/Me, crm/Accounts, or a full __next URL.")],
    connection: Annotated[
        str | None,
        typer.Option(
            "--connection", "-c", help="The connection to use (default: eol, the only one, or the sandbox)."
        ),
    ] = None,
    division: Annotated[
        int | None,
        typer.Option(
            "--division", "-d", min=1, max=MAX_DIVISION, help="Division (default: the current one)."
        ),
    ] = None,
    query: Annotated[
        list[str] | None, typer.Option("--query", "-q", help="An OData option, e.g. -q '$top=5'.")
    ] = None,
    all_pages: Annotated[
        bool, typer.Option("--all-pages", help="Follow __next and print every row.")
    ] = False,
) -> None:
    """Make one raw GET (or follow its pages) within every budget, and print the JSON."""
    if not path.strip(" /"):
        raise ConfigError("The path is empty.", "e.g. exactsql api current/Me, or crm/Accounts -q '$top=5'.")
    session = open_session(connection or default_connection(Config.load()))
    client = session.client(_show_wait)
    params = {}
    for item in query or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--query {item!r} is not KEY=VALUE.", "e.g. -q '$filter=Code eq 1000'.")
        params[key] = value
    needs_division = "/" in path and not path.lower().startswith(("current/", "system/users", "http"))
    if division is None and needs_division:
        division = int(session.me(client)["CurrentDivision"])
    started = time.perf_counter()
    if all_pages:
        rows = [row for page in client.pages(path, params, division) for row in page]
        emit(orjson.dumps(rows, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        body = client.get_json(path, params, division)
        emit(orjson.dumps(body, option=orjson.OPT_INDENT_2) + b"\n")
    err.print(f"[dim]{client.calls} call(s) in {time.perf_counter() - started:.2f} s[/]")


def status(
    name: Annotated[
        str | None, typer.Argument(help="The connection (default: eol, the only one, or the sandbox).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show the token chain, today's token calls, the rate windows and the error budgets in use."""
    name = name or default_connection(Config.load())
    info = open_session(name).status()
    if as_json:
        emit(orjson.dumps(info, option=orjson.OPT_INDENT_2) + b"\n")
        return
    console.print(
        f"[bold]{info['connection']}[/] → {info['base_url']}  app {info['client_id']}  user {info['user_id'] or '(not logged in)'}"
    )
    console.print(f"state store: {info['state_store']}")
    chain = info.get("chain")
    if chain is None:
        console.print(f"No token chain: run `exactsql login {name}`.")
        return
    if "corrupt" in chain:
        console.print(f"[red]token chain corrupt[/]: {chain['corrupt']}")
        return
    state = "[red]BROKEN: " + chain["broken"] + "[/]" if chain["broken"] else "[green]healthy[/]"
    console.print(f"token chain v{chain['version']}: {state}")
    console.print(
        f"  issued {chain['issued']}, expires {chain['expires']}, next refresh allowed {chain['next_refresh_allowed']}"
    )
    days = chain["refresh_token_idle_days_left"]
    warn = " [yellow](run `exactsql keepalive " + name + "` soon)[/]" if days < 5 else ""
    console.print(f"  refresh token: {days} idle days left{warn}")
    console.print(f"token calls today: {info['token_calls_today']} of {info['token_calls_limit']}")
    if info["divisions"]:
        table = Table("division", "minute left", "minute resets", "day left", "day resets")
        for division, w in info["divisions"].items():
            table.add_row(
                division,
                str(w["minute_remaining"]),
                str(w["minute_resets"] or "not known yet"),
                str(w["day_remaining"]),
                str(w["day_resets"] or "not known yet"),
            )
        console.print(table)
    for budget in info["error_budgets"]:
        console.print(
            f"error budget: {budget['endpoint']} in {budget['division']}: {budget['errors']} of {budget['reserve']} (Exact blocks at {budget['limit']})"
        )
    for block in info.get("blocked_by_exact", []):
        console.print(
            f"[red]blocked by Exact[/]: {block['endpoint']} in {block['division']} until {block['until']} "
            "(calls to it are refused here until then)"
        )
    hold = info.get("refresh_hold")
    if hold:
        console.print(f"[yellow]no token refresh until {hold['until']}[/]: {hold['reason']}")
