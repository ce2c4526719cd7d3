"""Encryption at rest for client secrets and tokens (Fernet), with the key from the keyring, a file or the environment."""

from __future__ import annotations

import base64
import hashlib
import logging
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from exactsql.errors import ConfigError

log = logging.getLogger(__name__)

KEY_ENV = "EXACTSQL_SECRET_KEY"
KEYRING_SERVICE = "exactsql"


class SecretBox:
    """Encrypts and decrypts small values with one key."""

    def __init__(self, key: bytes, source: str) -> None:
        self._fernet = Fernet(key)
        self.source = source

    def encrypt(self, data: bytes) -> bytes:
        """The encrypted form of ``data``."""
        return self._fernet.encrypt(data)

    def decrypt(self, token: bytes) -> bytes:
        """The plain form; ConfigError when the value was encrypted with another key."""
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise ConfigError(
                f"A secret in the state store cannot be decrypted with this machine's key ({self.source}).",
                f"Machines that share a state store must share the key: set {KEY_ENV} to the same value on each.",
            ) from None


def key_from_text(text: str) -> bytes:
    """A Fernet key from ``EXACTSQL_SECRET_KEY``: a Fernet key as is, anything else through scrypt."""
    try:
        if len(base64.urlsafe_b64decode(text.encode())) == 32:
            return text.encode()
    except (ValueError, TypeError):
        pass
    derived = hashlib.scrypt(text.encode(), salt=b"exactsql-state-key", n=2**14, r=8, p=1, dklen=32)
    return base64.urlsafe_b64encode(derived)


def _keyring_key(home: Path) -> bytes | None:
    if os.environ.get("EXACTSQL_KEYRING", "1") == "0":
        return None
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
        if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 0) <= 0:
            return None
        account = str(home.resolve())
        stored = keyring.get_password(KEYRING_SERVICE, account)
        if stored is None:
            stored = Fernet.generate_key().decode()
            keyring.set_password(KEYRING_SERVICE, account, stored)
        return stored.encode()
    except Exception as exc:  # any keyring trouble: fall back to the key file
        log.debug("keyring not usable: %s", exc)
        return None


def _file_key(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = Fernet.generate_key()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it first
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as fh:
        fh.write(key)
    return key


def load_secret_box(home: Path) -> SecretBox:
    """The box for this machine: ``EXACTSQL_SECRET_KEY``, else the OS keyring, else ``home/secret.key`` (0600)."""
    text = os.environ.get(KEY_ENV)
    if text:
        return SecretBox(key_from_text(text), KEY_ENV)
    key = _keyring_key(home)
    if key is not None:
        return SecretBox(key, "the OS keyring")
    path = home / "secret.key"
    return SecretBox(_file_key(path), str(path))
