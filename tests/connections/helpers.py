"""Setting up a connection to a sandbox server in an isolated EXACTSQL_HOME, on a chosen state store."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from exactsql.api import credentials
from exactsql.config import Config, Connection
from exactsql.secretbox import load_secret_box
from exactsql.state import open_store

if TYPE_CHECKING:
    from exactsql.api.session import Session


def isolated_env(home: Path, state_url: str) -> dict[str, str]:
    """Environment variables for a process of this test: its own home and key, the shared store."""
    return {
        **os.environ,
        "EXACTSQL_HOME": str(home),
        "EXACTSQL_STATE": state_url,
        "EXACTSQL_KEYRING": "0",
        "EXACTSQL_SECRET_KEY": "test-cluster-key",
    }


def make_connection(info: dict, name: str = "eol", **overrides: object) -> Connection:
    """Adds connection ``name`` to the sandbox server of ``info`` (home and store from the environment)."""
    config = Config.load()
    connection = Connection(name, info["base_url"], info["client_id"], info["redirect_uri"], **overrides)  # type: ignore[arg-type]
    store = open_store(config.state_url())
    try:
        credentials.save_client_secret(
            store, load_secret_box(Path(os.environ["EXACTSQL_HOME"])), connection, info["client_secret"]
        )
    finally:
        store.close()
    config.connections[name] = connection
    config.save()
    return connection


def logged_in(info: dict, name: str = "eol", **limits: object) -> Session:
    """A session of a new connection ``name`` to the sandbox server of ``info``, logged in."""
    from exactsql.api.session import open_session

    make_connection(info, name, **limits)
    session = open_session(name)
    session.login()
    return session
