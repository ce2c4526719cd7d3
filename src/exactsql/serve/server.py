"""Starting ``exactsql serve``: the users, the catalog, the live session or the replica, TLS, the listener."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import signal
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from exactsql.errors import ConfigError
from exactsql.serve.backend import Shared
from exactsql.serve.catalog import Introspection, tables_of
from exactsql.serve.session import DEFAULT_SETTINGS, ServerLimits
from exactsql.serve.users import Users
from exactsql.serve.wire import Server, ServerConfig


@dataclass
class ServeOptions:
    """The command's options."""

    connection: str | None = None
    replica: str | None = None
    host: str = "127.0.0.1"
    port: int = 5433
    database: str = "exactsql"
    tls_cert: Path | None = None
    tls_key: Path | None = None
    statement_timeout: float = 300.0
    max_calls: int | None = None
    session_max_calls: int | None = None
    cache_max_age: float = 60.0


def tls_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    """The server's TLS context, or None without a certificate."""
    if cert is None and key is None:
        return None
    if cert is None or key is None:
        raise ConfigError("TLS needs both --tls-cert and --tls-key.")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"Cannot load the TLS certificate {cert} and key {key}: {exc}.") from None
    return context


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def build(options: ServeOptions) -> tuple[Server, str]:
    """The server for ``options`` and a line that says what it serves."""
    users = Users()
    if not users.names():
        raise ConfigError(
            "No user may log in to the server yet.", "Add one first: exactsql serve user add NAME."
        )
    shared: Shared | None = None
    if options.replica is not None:
        from exactsql.replicate.query import ReplicaEngine

        ReplicaEngine(options.replica).close()  # fails now, not at the first client, when it cannot open
        source = f"replica {options.replica} (no API calls)"
    else:
        from exactsql.cli_sql import default_connection
        from exactsql.config import Config
        from exactsql.connect import open_session

        config = Config.load()
        name = options.connection or default_connection(config)
        shared = Shared({"eol": open_session(name, config)}, options.cache_max_age, options.max_calls)
        source = f"Exact Online connection {name}"
    from exactsql.catalog import load_catalog

    introspection = Introspection(tables_of(load_catalog()), options.database, DEFAULT_SETTINGS)
    for name in users.names():
        introspection.add_user(name)
    limits = ServerLimits(options.statement_timeout, options.session_max_calls)
    tls = tls_context(options.tls_cert, options.tls_key)
    served = ServerConfig(options.database, limits, shared, options.replica, tls)
    return Server(served, users, introspection), source


async def run(options: ServeOptions, say: Callable[[str], object]) -> None:
    """Serves until interrupted; ``say`` prints the lines a person sees."""
    server, source = build(options)
    try:
        host, port = await server.start(options.host, options.port)
    except OSError as exc:
        raise ConfigError(
            f"Cannot listen on {options.host}:{options.port}: {exc.strerror or exc}.",
            "Pick another --port (--port 0 for a free one), or a --host address of this machine.",
        ) from None
    tls = "TLS" if options.tls_cert else "no TLS"
    say(f"exactsql serve listening on {host}:{port} ({source}; database {options.database}; {tls})")
    say(f'  connect: psql "host={host} port={port} dbname={options.database} user=NAME"')
    if not _loopback(host) and not options.tls_cert:
        say("  warning: listening beyond this machine without TLS; give --tls-cert and --tls-key")
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, task.cancel if task else (lambda: None))
    try:
        await server.serve_forever()
    except asyncio.CancelledError:
        pass
    finally:
        server.close()
