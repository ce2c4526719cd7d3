"""A token pair that could not be stored (the state store was down), kept encrypted on local disk."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import orjson

from exactsql.errors import ConfigError
from exactsql.secretbox import SecretBox

if TYPE_CHECKING:
    from exactsql.api.tokens import TokenChain

log = logging.getLogger(__name__)


class RescueFile:
    """One chain's rescue file under ``directory``: the new pair and the refresh token it replaced."""

    def __init__(self, directory: Path, chain_key: str, box: SecretBox) -> None:
        digest = hashlib.blake2b(chain_key.encode(), digest_size=12).hexdigest()
        self.path = directory / f"rescued-pair-{digest}.bin"
        self.box = box

    def write(self, refreshed_from: str, chain: TokenChain) -> Path | None:
        """Writes the pair (owner-only, never through a symlink); the path, or None when that failed too."""
        payload = self.box.encrypt(orjson.dumps({"refreshed_from": refreshed_from, "chain": chain.__dict__}))
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(payload)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except OSError as exc:
            log.warning("could not write the rescue file %s: %s", self.path, exc)
            return None
        return self.path

    def read(self) -> tuple[str, TokenChain] | None:
        """The kept pair and the refresh token it replaced, or None (no file, or one this key cannot read)."""
        from exactsql.api.tokens import TokenChain

        try:
            raw = self.path.read_bytes()
        except OSError:
            return None
        try:
            data = orjson.loads(self.box.decrypt(raw))
            return str(data["refreshed_from"]), TokenChain(**data["chain"])
        except (ConfigError, orjson.JSONDecodeError, KeyError, TypeError):
            log.warning("ignoring the unreadable rescue file %s", self.path)
            return None

    def remove(self) -> None:
        """Deletes the file (once its pair is stored, or when it is stale)."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
