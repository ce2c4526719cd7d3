"""Where the key for secrets at rest comes from: the environment, the OS keyring, or a key file."""

from __future__ import annotations

import stat
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend

from exactsql.errors import ConfigError
from exactsql.secretbox import KEY_ENV, load_secret_box


class MemoryKeyring(KeyringBackend):
    """An OS keyring stand-in that keeps passwords in a dict (a real keyring backend, registered as such)."""

    priority = 10  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.passwords.pop((service, username), None)


def test_key_file_is_owner_only_and_stable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.setenv("EXACTSQL_KEYRING", "0")
    box = load_secret_box(tmp_path / "home")
    key_file = tmp_path / "home" / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    sealed = box.encrypt(b"client secret")
    assert b"client secret" not in sealed
    assert load_secret_box(tmp_path / "home").decrypt(sealed) == b"client secret"


def test_the_os_keyring_is_used_when_there_is_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)
    monkeypatch.delenv("EXACTSQL_KEYRING", raising=False)
    backend = MemoryKeyring()
    previous = keyring.get_keyring()
    keyring.set_keyring(backend)
    try:
        box = load_secret_box(tmp_path / "home")
        assert box.source == "the OS keyring"
        assert len(backend.passwords) == 1
        assert not (tmp_path / "home" / "secret.key").exists()
        assert load_secret_box(tmp_path / "home").decrypt(box.encrypt(b"x")) == b"x"
    finally:
        keyring.set_keyring(previous)


def test_the_environment_key_wins_and_a_wrong_key_is_explained(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(KEY_ENV, "a shared passphrase for the cluster")
    box = load_secret_box(tmp_path / "a")
    assert box.source == KEY_ENV
    sealed = box.encrypt(b"token")
    assert load_secret_box(tmp_path / "b").decrypt(sealed) == b"token"  # another machine, same key
    monkeypatch.setenv(KEY_ENV, "another passphrase")
    with pytest.raises(ConfigError) as caught:
        load_secret_box(tmp_path / "b").decrypt(sealed)
    assert KEY_ENV in caught.value.hint
