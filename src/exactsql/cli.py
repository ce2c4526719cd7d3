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
    rich_markup_mode=None,  # plain help: no type labels on flags
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console()
err = Console(stderr=True)
#: SQL may start with ``--`` (a comment): an unknown "option" is taken as the SQL argument.
SQL_COMMAND = {"ignore_unknown_options": True}


def _show_version(value: bool) -> None:
    if value:
        from exactsql import __version__

        console.print(f"exactsql {__version__}", highlight=False)
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option("--version", help="Show the version and exit.", is_eager=True, callback=_show_version),
    ] = False,
) -> None:
    """SQL over Exact Online, within its API limits by construction; with a faithful local sandbox."""


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

    app.command(context_settings=SQL_COMMAND)(cli_sql.query)
    app.command(context_settings=SQL_COMMAND)(cli_sql.explain)
    from exactsql import cli_replicate

    app.command()(cli_replicate.replicate)
    app.add_typer(__import__("exactsql.cli_serve").cli_serve.serve_app, name="serve")


@app.command()
def sandbox(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to listen on (0 picks a free one).")
    ] = 8642,
    divisions: Annotated[int, typer.Option(min=1, max=5000, help="Number of divisions (companies).")] = 3,
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
    from exactsql.config import redirect_uri_problem
    from exactsql.errors import ConfigError, FileError
    from exactsql.sandbox.core import DEFAULT_REDIRECT_URI, Sandbox
    from exactsql.sandbox.server import base_url_of, bind, check_info_path, serve, write_info

    for uri in redirect_uri or []:
        problem = redirect_uri_problem(uri)
        if problem:
            raise ConfigError(
                f"--redirect-uri {uri!r} {problem}.",
                "Give it as the client will, e.g. http://127.0.0.1:8765/callback.",
            )
    if info_file is not None:
        check_info_path(info_file)
    try:
        sock = bind(host, port)
    except OSError as exc:
        raise ConfigError(
            f"Cannot listen on {host}:{port}: {exc.strerror or exc}.",
            "Pick another --port (--port 0 for a free one), or a --host address of this machine.",
        ) from None
    uris = tuple(redirect_uri) if redirect_uri else (DEFAULT_REDIRECT_URI,)
    sb = Sandbox(divisions=divisions, size=size.value, seed=seed, time_scale=time_scale, redirect_uris=uris)
    url = base_url_of(sock)
    info = sb.info(url)
    if info_file is not None:
        try:
            write_info(info_file, info)
        except OSError as exc:
            sock.close()
            raise FileError.from_os_error(exc, "write --info-file", info_file) from None
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


#: Set (to anything) to see the traceback of an internal error.
DEBUG_ENV = "EXACTSQL_DEBUG"


def harden_process() -> None:
    """No core dumps (they would hold tokens and secrets); a file-size limit fails a write, not the process."""
    import resource
    import signal

    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if hasattr(signal, "SIGXFSZ"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


class _LogFormat(logging.Formatter):
    """Log lines without passwords; an exception as one line (its traceback only with ``EXACTSQL_DEBUG``)."""

    def __init__(self, debug: bool) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")
        self.debug = debug

    def format(self, record: logging.LogRecord) -> str:
        from exactsql.state.protocol import redact_url

        if record.exc_info and not self.debug:
            exc = record.exc_info[1]
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
            record.msg, record.args = f"{record.getMessage()}: {type(exc).__name__}: {exc}", None
        return redact_url(super().format(record))


def _fail(message: str, hint: str = "", code: int = 1) -> SystemExit:
    """Prints ``message`` (and ``hint``) without any password, sees that standard output is done, and
    returns the exit to raise."""
    from rich.markup import escape

    from exactsql.state.protocol import redact_url

    _settle_stdout()
    err.print(f"[red]Error:[/] {escape(redact_url(message))}", soft_wrap=True)
    if hint:
        err.print(escape(redact_url(hint)), soft_wrap=True)
    return SystemExit(code)


def _settle_stdout() -> None:
    """Flushes standard output; when that fails (a full disk, a closed pipe), points it at /dev/null so that
    the interpreter's own flush at exit does not fail again."""
    import os
    import sys

    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)


def main() -> None:
    """Entry point of the console script: expected failures end in a clear message and exit 1, not a traceback.

    Expected: exactsql's own errors (what went wrong and what to do next), a lock not acquired, a server
    that cannot be reached, a file or disk that fails. Anything else is a bug: one line that says so and how
    to see the traceback (``EXACTSQL_DEBUG=1``).
    """
    import os

    import httpx

    from exactsql.errors import ExactSQLError, advice, os_error_hint
    from exactsql.state import LockTimeout

    harden_process()
    handler = logging.StreamHandler()
    handler.setFormatter(_LogFormat(debug=bool(os.environ.get(DEBUG_ENV))))
    logging.basicConfig(level=logging.WARNING, handlers=[handler])
    try:
        app()
    except ExactSQLError as exc:
        raise _fail(exc.message, exc.hint or advice(exc)) from None
    except LockTimeout as exc:
        raise _fail(
            str(exc), "Another process holds it: try again, or find the process that hangs."
        ) from None
    except httpx.TransportError as exc:
        where = exc.request.url.copy_with(query=None, fragment=None) if _has_request(exc) else "the server"
        raise _fail(
            f"Cannot reach {where}: {exc or type(exc).__name__}.",
            "Check the connection's base URL (`exactsql connection list`) and the network, then try again.",
        ) from None
    except OSError as exc:
        where = f" ({exc.filename})" if exc.filename else ""
        raise _fail(f"{exc.strerror or exc}{where}.", os_error_hint(exc)) from None
    except KeyboardInterrupt:
        raise _fail("Interrupted.", code=130) from None
    except Exception as exc:
        if os.environ.get(DEBUG_ENV):
            raise
        raise _fail(
            f"internal error: {type(exc).__name__}: {exc}",
            f"This is a bug in exactsql: please report it with the command you ran and its output with "
            f"{DEBUG_ENV}=1 (the traceback), leaving out any secret.",
            code=70,
        ) from None


def _has_request(exc: Exception) -> bool:
    try:
        exc.request  # type: ignore[attr-defined]  # noqa: B018 - raises when the error has no request
    except RuntimeError:
        return False
    return True


if __name__ == "__main__":
    main()
