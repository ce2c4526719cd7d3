"""Running one bad input through the real ``exactsql`` command and judging what it printed."""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

#: A marker for ``Case.files``: make a directory there.
DIR = b"\0<directory>\0"
#: Passwords the cases put into URLs; they must never be printed.
PASSWORD = "s3cret-Pw"
TIMEOUT = 60.0


@dataclass(frozen=True)
class Ready:
    """The logged-in template: its home, the shared store's file, the server's info, and what is secret."""

    home: Path
    store: Path
    server: dict
    secrets: tuple[str, ...]


@dataclass(frozen=True)
class Case:
    """One bad input: the command's arguments and what surrounds it.

    ``{home}`` (the case's home), ``{tmp}`` (a scratch directory), ``{division}`` (one of the server's),
    ``{store}`` (the shared, logged-in state
    store's file), ``{base_url}``, ``{client_id}`` and ``{redirect_uri}`` (the sandbox server's) are replaced in ``args``, ``env``, ``config`` and
    the keys of ``files``. ``expect``: words the message must contain (case-insensitive); ``before``: commands
    that set the case up (they must succeed); ``tmpfs``: a file system of that many bytes at ``{tmp}/full``
    for the command only (a full disk; needs root and ``unshare``, else the case is skipped).
    """

    id: str
    args: tuple[str, ...]
    expect: tuple[str, ...] = ()
    config: str | bytes | None = None
    env: dict[str, str | None] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    stdin: str = ""
    stdout_to: str | None = None
    fsize: int | None = None
    hold_duckdb: str | None = None
    before: tuple[tuple[str, ...], ...] = ()
    tmpfs: int | None = None


def base_env(home: Path) -> dict[str, str]:
    """The environment of a case: its own home, the key file (no keyring, no key variable), no colours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EXACTSQL_")}
    env.update({"EXACTSQL_HOME": str(home), "EXACTSQL_KEYRING": "0", "NO_COLOR": "1", "COLUMNS": "200"})
    return env


def sqlite_bytes(*statements: str) -> bytes:
    """A SQLite database file made by ``statements``, as bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.db"
        db = sqlite3.connect(path)
        for statement in statements:
            db.execute(statement)
        db.commit()
        db.close()
        return path.read_bytes()


def duckdb_bytes() -> bytes:
    """A small valid DuckDB file, as bytes."""
    import duckdb

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.duckdb"
        db = duckdb.connect(str(path))
        db.execute("CREATE TABLE t (x INTEGER)")
        db.close()
        return path.read_bytes()


@contextlib.contextmanager
def holding_duckdb(path: Path) -> Iterator[None]:
    """Another process holds the DuckDB file at ``path`` open for writing (DuckDB locks it)."""
    code = (
        "import duckdb, sys; db = duckdb.connect(sys.argv[1]); db.execute('CREATE TABLE IF NOT EXISTS t (x int)');"
        "print('ready', flush=True); sys.stdin.read()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ready"
        yield
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


def _on_tmpfs(command: list[str], where: Path, size: int) -> list[str]:
    """``command`` in a mount namespace of its own with a tmpfs of ``size`` bytes at ``where``."""
    import pytest

    if os.geteuid() != 0 or not shutil.which("unshare"):
        pytest.skip("a tmpfs of its own needs root and unshare")
    where.mkdir(exist_ok=True)
    mount = f'mount -t tmpfs -o size={size},mode=0700 tmpfs "$0" && exec "$@"'
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", mount, str(where), *command]


def _limit_file_size(size: int) -> Callable[[], None]:
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))

    return limit


@dataclass
class Outcome:
    """What the command did."""

    returncode: int
    output: str
    seconds: float


def run_case(case: Case, home: Path, tmp: Path, ready: Ready) -> Outcome:
    """Prepares the case's files and runs ``python -m exactsql …``; a hang fails the test."""
    values = {"{home}": str(home), "{tmp}": str(tmp), "{store}": str(ready.store)}
    for name in ("base_url", "client_id", "redirect_uri"):
        values["{" + name + "}"] = ready.server[name]
    values["{division}"] = str(ready.server["divisions"][0])

    def fill(text: str) -> str:
        for key, value in values.items():
            text = text.replace(key, value)
        return text

    env = {**base_env(home), "EXACTSQL_STATE": f"sqlite:///{ready.store}"}
    for name, value in case.env.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = fill(value)
    if case.config is not None:
        raw = case.config if isinstance(case.config, bytes) else fill(case.config).encode()
        (home / "config.toml").write_bytes(raw)
    for name, content in case.files.items():
        path = Path(fill(name))
        path.parent.mkdir(parents=True, exist_ok=True)
        if content == DIR:
            if path.is_file():
                path.unlink()
            path.mkdir(exist_ok=True)
        else:
            path.write_bytes(content)
    for command in case.before:
        done = subprocess.run(
            [sys.executable, "-m", "exactsql", *(fill(a) for a in command)],
            env=env, cwd=tmp, capture_output=True, text=True, timeout=TIMEOUT,
        )  # fmt: skip
        assert done.returncode == 0, f"setting up with {command}: {done.stdout}{done.stderr}"
    holder = holding_duckdb(Path(fill(case.hold_duckdb))) if case.hold_duckdb else contextlib.nullcontext()
    args = [fill(a) for a in case.args]
    with holder, contextlib.ExitStack() as stack:
        stdout = stack.enter_context(open(case.stdout_to, "wb")) if case.stdout_to else subprocess.PIPE
        started = time.monotonic()
        command = [sys.executable, "-m", "exactsql", *args]
        if case.tmpfs is not None:
            command = _on_tmpfs(command, tmp / "full", case.tmpfs)
        proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=stdout,
            stderr=subprocess.PIPE,
            env=env,
            cwd=tmp,
            preexec_fn=_limit_file_size(case.fsize) if case.fsize is not None else None,
            start_new_session=True,
        )
        try:
            out, errs = proc.communicate(case.stdin.encode(), timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise AssertionError(f"`exactsql {' '.join(args)}` did not finish within {TIMEOUT:g} s") from None
    text = (out or b"").decode("utf-8", "replace") + (errs or b"").decode("utf-8", "replace")
    return Outcome(proc.returncode, text, time.monotonic() - started)


def judge(case: Case, outcome: Outcome, ready: Ready) -> None:
    """A non-zero exit, a message with the expected words, no traceback, no internal error, no secret."""
    text = outcome.output
    shown = f"exit {outcome.returncode}, output:\n{text}"
    assert outcome.returncode != 0, shown
    assert outcome.returncode > 0, f"killed by a signal: {shown}"
    assert "Traceback" not in text, shown
    assert "internal error" not in text.lower(), shown
    assert text.strip(), "no message at all"
    assert "error" in text.lower(), shown
    for word in case.expect:
        assert word.lower() in text.lower(), f"{word!r} not in the message: {shown}"
    for secret in (*ready.secrets, PASSWORD):
        assert secret not in text, f"a secret was printed: {shown}"
