"""Opening a connection's session for the commands and the DB-API, the built-in in-process sandbox included."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

import httpx
from cryptography.fernet import Fernet

from exactsql.api import credentials
from exactsql.api.clock import StoreClock
from exactsql.api.session import Session
from exactsql.api.session import open_session as open_api_session
from exactsql.config import Config, Connection
from exactsql.errors import ConfigError
from exactsql.secretbox import SecretBox

if TYPE_CHECKING:
    from exactsql.sql.engine import Engine

#: The base URL the in-process sandbox answers on (never resolved: the transport is the sandbox itself).
IN_PROCESS_BASE_URL = "http://sandbox.invalid"
_builtin: dict[str, Session] = {}
_builtin_lock = threading.Lock()


def _builtin_session(connection: Connection, config: Config) -> Session:
    """The built-in ``sandbox`` connection: a sandbox, store and key that live as long as this process."""
    from exactsql.sandbox.core import Sandbox
    from exactsql.sandbox.transport import SandboxTransport
    from exactsql.state.memory import MemoryStore

    with _builtin_lock:
        if "session" not in _builtin:
            sandbox = Sandbox(divisions=3)
            http = httpx.Client(transport=SandboxTransport(sandbox), base_url=IN_PROCESS_BASE_URL, timeout=60)
            store = MemoryStore()
            box = SecretBox(Fernet.generate_key(), "this process")
            session = Session(connection, config, store, box, http, IN_PROCESS_BASE_URL, StoreClock(store))
            credentials.save_client_secret(store, box, connection, sandbox.default_app.client_secret)
            _builtin["session"] = session
        return _builtin["session"]


def open_session(name: str = "sandbox", config: Config | None = None) -> Session:
    """The session of connection ``name`` (``sandbox``: the built-in in-process sandbox)."""
    config = config or Config.load()
    connection = config.connection(name)
    if connection.in_process_sandbox:
        return _builtin_session(connection, config)
    return open_api_session(name, config)


def attach_replicas(engine: Engine, config: Config) -> None:
    """Lets ``engine``'s scripts keep tables in the replicas the config names: ``create table NAME@ALIAS``."""
    from exactsql.replicate.saved_tables import ReplicaTables
    from exactsql.sql.memory import ALIAS as IN_MEMORY

    for alias, url in config.replicas.items():
        if alias in engine.sessions:
            raise ConfigError(
                f"The replica alias {alias!r} in {config.path} is also the alias of a connection here.",
                "Rename the replica in [replicas], or give the connection another alias (--alias).",
            )
        if alias == IN_MEMORY:
            raise ConfigError(
                f"The replica alias {alias!r} in {config.path} is the name of exactsql's in-memory tables.",
                "Rename the replica in [replicas].",
            )
        engine.keep_tables_in(alias, ReplicaTables(alias, url))
