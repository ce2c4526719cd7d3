"""The app's client secret and the connection's Exact user, kept in the state store (the secret encrypted)."""

from __future__ import annotations

from exactsql.config import Connection
from exactsql.errors import ConfigError
from exactsql.secretbox import SecretBox
from exactsql.state import StateStore


def _secret_key(connection: Connection) -> str:
    return f"secret:{connection.base_url}|{connection.client_id.lower()}"


def _user_key(connection: Connection) -> str:
    return f"user:{connection.base_url}|{connection.client_id.lower()}|{connection.name}"


def save_client_secret(store: StateStore, box: SecretBox, connection: Connection, secret: str) -> None:
    """Stores the client secret, encrypted."""
    store.update(_secret_key(connection), lambda _: (box.encrypt(secret.encode()), None))


def load_client_secret(store: StateStore, box: SecretBox, connection: Connection) -> str:
    """The client secret; ConfigError when none was stored for this app."""
    raw = store.get(_secret_key(connection))
    if raw is None:
        raise ConfigError(
            f"No client secret is stored for connection {connection.name!r} in this state store.",
            f"Run `exactsql connection add {connection.name} --client-id … --redirect-uri …` (it asks for the secret).",
        )
    return box.decrypt(raw).decode()


def save_user(store: StateStore, connection: Connection, user_id: str) -> None:
    """Records which Exact user the connection logged in as (other machines find the chain by it)."""
    store.update(_user_key(connection), lambda _: (user_id.encode(), None))


def load_user(store: StateStore, connection: Connection) -> str | None:
    """The connection's Exact user: from the config, else from the store."""
    if connection.user_id:
        return connection.user_id
    raw = store.get(_user_key(connection))
    return raw.decode() if raw else None


def forget(store: StateStore, connection: Connection) -> None:
    """Removes the secret and the user record of a connection."""
    store.update(_secret_key(connection), lambda _: (None, None))
    store.update(_user_key(connection), lambda _: (None, None))
