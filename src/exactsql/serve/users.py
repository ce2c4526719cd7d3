"""The users who may log in to ``exactsql serve``: names and SCRAM-SHA-256 verifiers (never a password),
in ``serve-users.json`` in exactsql's directory, readable by its owner only.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from pathlib import Path

from scramp import ScramMechanism

from exactsql.errors import ConfigError, FileError

MECHANISM = "SCRAM-SHA-256"
ITERATIONS = 4096
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,63}$")
_scram = ScramMechanism(MECHANISM)


def users_file() -> Path:
    """Where the server's users are kept."""
    from exactsql.config import home

    return home() / "serve-users.json"


def verifier(password: str) -> str:
    """A PostgreSQL-style SCRAM verifier: ``SCRAM-SHA-256$iterations:salt$StoredKey:ServerKey``."""
    salt, stored, server, iterations = _scram.make_auth_info(password, iteration_count=ITERATIONS)
    b64 = base64.b64encode
    return f"{MECHANISM}${iterations}:{b64(salt).decode()}${b64(stored).decode()}:{b64(server).decode()}"


def auth_info(verifier_text: str) -> tuple[bytes, bytes, bytes, int]:
    """(salt, StoredKey, ServerKey, iterations) of a verifier."""
    mechanism, rest = verifier_text.split("$", 1)
    if mechanism != MECHANISM:
        raise ConfigError(f"Unknown password verifier {mechanism!r}.")
    head, keys = rest.split("$", 1)
    iterations, salt = head.split(":", 1)
    stored, server = keys.split(":", 1)
    b64 = base64.b64decode
    return b64(salt), b64(stored), b64(server), int(iterations)


class Users:
    """The server's users and their verifiers."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or users_file()
        self.verifiers: dict[str, str] = {}
        if self.path.exists():
            try:
                self.verifiers = dict(json.loads(self.path.read_text())["users"])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ConfigError(
                    f"Cannot read the server's users from {self.path}: {exc}.",
                    "Remove the file and add the users again with `exactsql serve user add NAME`.",
                ) from None

    def names(self) -> list[str]:
        """The user names, sorted."""
        return sorted(self.verifiers)

    def add(self, name: str, password: str) -> None:
        """Adds or replaces user ``name``, keeping only a verifier of ``password``."""
        if not _NAME.match(name):
            raise ConfigError(
                f"{name!r} is not a user name.", "Use letters, digits and _ . @ - (at most 63)."
            )
        if len(password) < 8:
            raise ConfigError("The password is too short.", "Give at least 8 characters.")
        self.verifiers[name] = verifier(password)
        self._save()

    def remove(self, name: str) -> bool:
        """Removes user ``name``; False when there was none."""
        if self.verifiers.pop(name, None) is None:
            return False
        self._save()
        return True

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w") as out:
                json.dump({"users": self.verifiers}, out, indent=1)
            os.replace(temporary, self.path)
        except OSError as exc:
            raise FileError.from_os_error(exc, "write the server's users to", self.path) from None


class ScramExchange:
    """The server's side of one SCRAM-SHA-256 login (RFC 5802/7677) for the user named at startup.

    PostgreSQL clients leave the SCRAM user name empty (the startup message names the user), which general
    SCRAM servers refuse, so the exchange is done here over the verifier. An unknown user goes through the
    same exchange against a throw-away verifier, so that the answer does not tell which users exist.
    """

    _decoy = auth_info(verifier(os.urandom(16).hex()))

    def __init__(self, users: Users, user: str) -> None:
        known = users.verifiers.get(user)
        self.known = known is not None
        self.salt, self.stored_key, self.server_key, self.iterations = (
            auth_info(known) if known is not None else self._decoy
        )
        self._header = ""
        self._bare = ""
        self._server_first = ""
        self._nonce = ""

    def first(self, client_first: bytes) -> bytes:
        """The server-first message for the client's first message (ValueError when malformed)."""
        text = client_first.decode()
        flag, authzid, bare = text.split(",", 2)
        if flag not in ("n", "y") or authzid:
            raise ValueError("channel binding and authorization identities are not offered")
        attributes = dict(item.split("=", 1) for item in bare.split(",") if "=" in item)
        client_nonce = attributes.get("r", "")
        if not client_nonce:
            raise ValueError("no client nonce")
        self._header, self._bare = f"{flag},{authzid},", bare
        self._nonce = client_nonce + base64.b64encode(os.urandom(18)).decode()
        salt = base64.b64encode(self.salt).decode()
        self._server_first = f"r={self._nonce},s={salt},i={self.iterations}"
        return self._server_first.encode()

    def final(self, client_final: bytes) -> bytes | None:
        """The server-final message, or None when the proof is wrong (or the user unknown)."""
        text = client_final.decode()
        without_proof, sep, proof_b64 = text.rpartition(",p=")
        attributes = dict(item.split("=", 1) for item in without_proof.split(",") if "=" in item)
        binding = base64.b64encode(self._header.encode()).decode()
        if not sep or attributes.get("r") != self._nonce or attributes.get("c") != binding:
            return None
        try:
            proof = base64.b64decode(proof_b64, validate=True)
        except ValueError:
            return None
        auth_message = f"{self._bare},{self._server_first},{without_proof}".encode()
        signature = hmac.new(self.stored_key, auth_message, hashlib.sha256).digest()
        if len(proof) != len(signature):
            return None
        client_key = bytes(a ^ b for a, b in zip(proof, signature, strict=True))
        if not hmac.compare_digest(hashlib.sha256(client_key).digest(), self.stored_key) or not self.known:
            return None
        server_signature = hmac.new(self.server_key, auth_message, hashlib.sha256).digest()
        return b"v=" + base64.b64encode(server_signature)
