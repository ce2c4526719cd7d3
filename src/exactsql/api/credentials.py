"""The connection's client secret and Exact user, kept in the state store (the secret encrypted), and the
check that this machine's key is the one the store's secrets were encrypted with."""

from __future__ import annotations

from exactsql.config import Connection
from exactsql.errors import ConfigError
from exactsql.secretbox import KEY_ENV, SecretBox
from exactsql.state import StateStore

KEY_CHECK = "key-check"
_KEY_CHECK_PLAIN = b"exactsql key check v1"


def _secret_key(connection: Connection) -> str:
    return f"secret:{connection.base_url}|{connection.client_id.lower()}|{connection.name}"


def _app_secret_key(connection: Connection) -> str:
    """Where earlier versions kept one secret per app (base URL + client ID), shared by its connections."""
    return f"secret:{connection.base_url}|{connection.client_id.lower()}"


def _user_key(connection: Connection) -> str:
    return f"user:{connection.base_url}|{connection.client_id.lower()}|{connection.name}"


def _wrong_key(box: SecretBox) -> ConfigError:
    return ConfigError(
        f"This machine's key ({box.source}) is not the key the secrets in this state store were encrypted "
        "with; nothing was changed.",
        f"Machines that share a state store must share the key: set {KEY_ENV} to the value the other "
        "machines use.",
    )


def check_key(store: StateStore, box: SecretBox, connection: Connection | None = None) -> None:
    """ConfigError when ``box`` cannot read the store's key check value (or, in a store that has none yet,
    the connection's stored secret); a store without either gets this key's check value."""
    raw = store.get(KEY_CHECK)
    if raw is not None:
        try:
            if box.decrypt(raw) == _KEY_CHECK_PLAIN:
                return
        except ConfigError:
            pass
        raise _wrong_key(box)
    if connection is not None:
        for key in (_secret_key(connection), _app_secret_key(connection)):
            stored = store.get(key)
            if stored is not None:
                try:
                    box.decrypt(stored)
                except ConfigError:
                    raise _wrong_key(box) from None
                break
    value = box.encrypt(_KEY_CHECK_PLAIN)
    existing = store.update(KEY_CHECK, lambda old: (old or value, old))
    if existing is not None:  # another machine set it first: check against that one
        check_key(store, box)


def save_client_secret(store: StateStore, box: SecretBox, connection: Connection, secret: str) -> None:
    """Stores the connection's client secret, encrypted (after checking that the key fits the store)."""
    check_key(store, box, connection)
    store.update(_secret_key(connection), lambda _: (box.encrypt(secret.encode()), None))


def load_client_secret(store: StateStore, box: SecretBox, connection: Connection) -> str:
    """The client secret; ConfigError when none was stored for this connection."""
    raw = store.get(_secret_key(connection)) or store.get(_app_secret_key(connection))
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


def forget(store: StateStore, connection: Connection, app_shared: bool = False) -> None:
    """Removes the secret and the user record of a connection (``app_shared``: another connection uses the
    same app, so a secret stored per app by an earlier version stays)."""
    keys = [_secret_key(connection), _user_key(connection)]
    if not app_shared:
        keys.append(_app_secret_key(connection))
    for key in keys:
        store.update(key, lambda _: (None, None))
