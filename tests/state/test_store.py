"""One suite for every state store backend (SQLite, PostgreSQL, Redis), against real servers and processes."""

from __future__ import annotations

import multiprocessing
import os
import signal
import stat
import threading
import time
from collections.abc import Callable, Iterator
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest

from exactsql.state import LockTimeout, StateStore, open_store
from exactsql.state.redis_store import DEFAULT_LOCK_LEASE
from exactsql.state.sqlite import path_from_url

SPAWN = multiprocessing.get_context("spawn")
LOCK_KEY_OAUTH = -371374229684388929  # exactsql.state.postgres.lock_key("oauth"), fixed forever


@pytest.fixture()
def store(store_url: str) -> Iterator[StateStore]:
    s = open_store(store_url)
    try:
        yield s
    finally:
        s.close()


def backend(store: StateStore) -> str:
    return store.url.split(":", 1)[0]


# -- functions for update / update_many (pure, as the protocol demands)


def incr(value: bytes | None) -> tuple[bytes | None, int]:
    n = int(value or b"0") + 1
    return str(n).encode(), n


def delete(value: bytes | None) -> tuple[bytes | None, bytes | None]:
    return None, value


def keep(value: bytes | None) -> tuple[bytes | None, bytes | None]:
    return value, value


def set_to(new: bytes | None) -> Callable[[bytes | None], tuple[bytes | None, bytes | None]]:
    def fn(value: bytes | None) -> tuple[bytes | None, bytes | None]:
        return new, value

    return fn


# -- workers for other processes (module level, so that 'spawn' children can import them)


def increment_worker(url: str, key: str, n: int, barrier: Barrier, results: Queue[list[int]]) -> None:
    store = open_store(url)
    try:
        barrier.wait(timeout=60)
        seen = [store.update(key, incr) for _ in range(n)]
        results.put(seen)
    finally:
        store.close()


def lock_worker(url: str, counter: str, journal: str, n: int, barrier: Barrier) -> None:
    store = open_store(url)
    counter_path, pid = Path(counter), os.getpid()
    try:
        barrier.wait(timeout=60)
        for _ in range(n):
            with store.lock("shared", timeout=30):
                with open(journal, "a") as f:
                    f.write(f"enter {pid}\n")
                value = int(counter_path.read_text())
                time.sleep(0.001)  # widen the window for a lost update, were the lock not exclusive
                counter_path.write_text(str(value + 1))
                with open(journal, "a") as f:
                    f.write(f"leave {pid}\n")
    finally:
        store.close()


def hold_lock_forever(url: str, ready: str) -> None:
    store = open_store(url)
    with store.lock("victim", timeout=30):
        Path(ready).write_text("held")
        time.sleep(600)


def run_processes(
    target: Callable[..., None], args_list: list[tuple[object, ...]], timeout: float = 90
) -> None:
    procs = [SPAWN.Process(target=target, args=args) for args in args_list]
    for p in procs:
        p.start()
    deadline = time.monotonic() + timeout
    for p in procs:
        p.join(max(0.0, deadline - time.monotonic()))
    alive = [p for p in procs if p.is_alive()]
    for p in alive:
        p.kill()
        p.join()
    assert not alive, f"{len(alive)} worker(s) hung"
    assert [p.exitcode for p in procs] == [0] * len(procs)


# -- semantics


def test_is_a_state_store(store: StateStore, store_url: str) -> None:
    assert isinstance(store, StateStore)
    assert store.url == store_url


def test_get_and_update(store: StateStore) -> None:
    assert store.get("a") is None
    assert store.update("a", lambda v: (v, "absent" if v is None else "present")) == "absent"
    assert store.get("a") is None  # writing None to an absent key leaves it absent
    assert store.update("a", set_to(b"one")) is None
    assert store.get("a") == b"one"
    assert store.update("a", set_to(b"\x00\xffbinary")) == b"one"
    assert store.get("a") == b"\x00\xffbinary"
    assert store.update("a", lambda v: (v, {"same": v})) == {"same": b"\x00\xffbinary"}  # unchanged value
    assert store.get("a") == b"\x00\xffbinary"
    assert store.update("a", delete) == b"\x00\xffbinary"
    assert store.get("a") is None
    assert store.update("a", delete) is None  # deleting an absent key is fine
    assert store.update("a", set_to(b"")) is None
    assert store.get("a") == b""  # the empty value is a value, not absence
    assert [store.update("n", incr) for _ in range(3)] == [1, 2, 3]
    assert store.get("n") == b"3"
    assert store.get("a") == b""  # keys are independent
    long_key = "token:" + "x" * 500 + ":ünïcode"
    store.update(long_key, set_to(b"v"))
    assert store.get(long_key) == b"v"


def test_update_many(store: StateStore) -> None:
    def swap(values: list[bytes | None]) -> tuple[list[bytes | None], list[bytes | None]]:
        return [values[1], values[0]], values

    assert store.update_many(["x", "y"], swap) == [None, None]
    assert store.update_many(["x", "y"], lambda vs: ([b"1", b"2"], len(vs))) == 2
    assert (store.get("x"), store.get("y")) == (b"1", b"2")
    assert store.update_many(["x", "y"], swap) == [b"1", b"2"]
    assert (store.get("x"), store.get("y")) == (b"2", b"1")
    # Order of the values follows the order of the keys, not any sorting.
    assert store.update_many(["y", "z", "x"], lambda vs: ([None, b"z", vs[2]], vs)) == [b"1", None, b"2"]
    assert (store.get("x"), store.get("y"), store.get("z")) == (b"2", None, b"z")
    assert store.update_many([], lambda vs: ([], "nothing")) == "nothing"


def test_failed_updates_change_nothing(store: StateStore) -> None:
    store.update("k", set_to(b"before"))

    def boom(value: bytes | None) -> tuple[bytes | None, None]:
        raise KeyError("boom")

    with pytest.raises(KeyError):
        store.update("k", boom)
    with pytest.raises(ValueError, match="returned 1 values for 2 keys"):
        store.update_many(["k", "other"], lambda vs: ([b"x"], None))
    with pytest.raises(TypeError, match="bytes or None"):
        store.update("k", lambda v: ("a str", None))  # type: ignore[arg-type, return-value]
    with pytest.raises(ValueError, match="distinct"):
        store.update_many(["k", "k"], lambda vs: (vs, None))
    assert store.get("k") == b"before"
    assert store.get("other") is None
    assert store.update("k", keep) == b"before"  # the store still works after the failures


def test_update_is_atomic_across_threads(store: StateStore) -> None:
    results: list[int] = []
    guard = threading.Lock()

    def work() -> None:
        seen = [store.update("counter", incr) for _ in range(50)]
        with guard:
            results.extend(seen)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert store.get("counter") == b"400"
    assert sorted(results) == list(range(1, 401))


def test_update_is_atomic_across_processes(store: StateStore) -> None:
    procs, n = 8, 200
    barrier = SPAWN.Barrier(procs)
    results: Queue[list[int]] = SPAWN.Queue()
    started = time.monotonic()
    run_processes(increment_worker, [(store.url, "counter", n, barrier, results)] * procs)
    seen = [v for _ in range(procs) for v in results.get(timeout=10)]
    assert store.get("counter") == str(procs * n).encode()
    # Every increment saw a distinct value: no two read-modify-writes overlapped.
    assert sorted(seen) == list(range(1, procs * n + 1))
    print(f"{backend(store)}: {procs} processes x {n} updates in {time.monotonic() - started:.2f} s")


# -- locks


def test_lock_is_exclusive_across_processes(store: StateStore, tmp_path: Path) -> None:
    procs, n = 4, 25
    counter, journal = tmp_path / "counter", tmp_path / "journal"
    counter.write_text("0")
    journal.write_text("")
    barrier = SPAWN.Barrier(procs)
    run_processes(lock_worker, [(store.url, str(counter), str(journal), n, barrier)] * procs)
    assert counter.read_text() == str(procs * n)
    lines = journal.read_text().splitlines()
    assert len(lines) == 2 * procs * n
    for enter, leave in zip(lines[::2], lines[1::2], strict=True):
        assert enter.split()[0] == "enter" and leave == "leave " + enter.split()[1], (
            "critical sections interleaved"
        )


def test_lock_of_a_killed_process_is_released(store: StateStore, tmp_path: Path) -> None:
    ready = tmp_path / "ready"
    proc = SPAWN.Process(target=hold_lock_forever, args=(store.url, str(ready)))
    proc.start()
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.is_alive() and time.monotonic() < deadline, "the holder did not take the lock"
            time.sleep(0.01)
        with pytest.raises(LockTimeout), store.lock("victim", timeout=0.2):
            pass
    finally:
        assert proc.pid is not None
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
    assert proc.exitcode == -signal.SIGKILL
    started = time.monotonic()
    with store.lock("victim", timeout=10):
        waited = time.monotonic() - started
    if backend(store) == "redis":
        # The dead holder's lease (renewed every lease/3) runs out; nothing else frees it.
        assert DEFAULT_LOCK_LEASE / 3 < waited < DEFAULT_LOCK_LEASE + 1.0
    else:
        assert waited < 1.0  # the OS (flock) or the server (dropped connection) released it at once
    print(f"{backend(store)}: lock of a SIGKILLed holder acquired after {waited:.3f} s")


def test_lock_timeout_and_release(store: StateStore) -> None:
    outcome: dict[str, object] = {}

    def contender(timeout: float) -> None:
        started = time.monotonic()
        try:
            with store.lock("L", timeout=timeout):
                outcome["acquired"] = True
        except LockTimeout as e:
            outcome["error"] = e
        outcome["waited"] = time.monotonic() - started

    with store.lock("L"):
        with store.lock("other name", timeout=1):  # another name is another lock
            pass
        t = threading.Thread(target=contender, args=(0.3,))  # a thread: its own connection/descriptor
        t.start()
        t.join(10)
        assert isinstance(outcome.get("error"), LockTimeout), outcome
        assert "'L'" in str(outcome["error"]) and "0.3" in str(outcome["error"])
        assert 0.3 <= outcome["waited"] < 2.0  # type: ignore[operator]
        outcome.clear()
        t = threading.Thread(target=contender, args=(0,))  # timeout 0: one try
        t.start()
        t.join(10)
        assert isinstance(outcome.get("error"), LockTimeout)
        assert outcome["waited"] < 0.5  # type: ignore[operator]
        outcome.clear()
        # A waiter gets the lock once the holder leaves.
        t = threading.Thread(target=contender, args=(10,))
        t.start()
        time.sleep(0.2)
        assert not outcome
    t.join(10)
    assert outcome.get("acquired") is True

    with pytest.raises(RuntimeError), store.lock("L", timeout=1):
        raise RuntimeError("inside the lock")
    with store.lock("L", timeout=0):  # released despite the error
        pass


# -- clock, files, URLs


def test_now(store: StateStore) -> None:
    a = store.now()
    b = store.now()
    assert isinstance(a, float)
    assert abs(a - time.time()) < 1.0
    assert b >= a


def test_sqlite_files_are_private(tmp_path: Path) -> None:
    store_url = f"sqlite:///{tmp_path / 'state' / 'state.db'}"
    path = path_from_url(store_url)
    assert not path.parent.exists()
    store = open_store(store_url)
    try:
        store.update("secret", set_to(b"refresh token"))
        with store.lock("refresh"):
            files = [path, Path(f"{path}-wal"), Path(f"{path}-shm"), *Path(f"{path}.locks").iterdir()]
            assert len(files) == 4
            for f in files:
                assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
            for d in (path.parent, Path(f"{path}.locks")):
                assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    finally:
        store.close()


def test_sqlite_relative_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_store("sqlite:///rel/state.db")
    try:
        store.update("k", set_to(b"v"))
    finally:
        store.close()
    assert (tmp_path / "rel" / "state.db").is_file()
    other = open_store(f"sqlite:///{tmp_path}/rel/state.db")  # the same file, absolute
    try:
        assert other.get("k") == b"v"
    finally:
        other.close()


@pytest.mark.parametrize(
    "url",
    ["mysql://localhost/x", "http://example.com", "", "state.db", "/tmp/state.db", "memcached://h:1"],
)
def test_bad_url(url: str) -> None:
    with pytest.raises(ValueError, match=r"sqlite:///.*postgresql://.*redis://"):
        open_store(url)


@pytest.mark.parametrize("url", ["sqlite://state.db", "sqlite:///", "sqlite:///:memory:"])
def test_bad_sqlite_url(url: str) -> None:
    with pytest.raises(ValueError, match="sqlite"):
        open_store(url)


def test_postgres_lock_keys_are_stable() -> None:
    from exactsql.state.postgres import lock_key

    # blake2b of the name: the same in every process, machine and Python version (unlike hash()).
    assert lock_key("oauth") == LOCK_KEY_OAUTH
    assert lock_key("oauth") != lock_key("oauth2")
    assert -(2**63) <= lock_key("x" * 1000) < 2**63


def test_postgres_scheme_alias(postgres_url: str) -> None:
    store = open_store("postgres://" + postgres_url.split("://", 1)[1])
    try:
        store.update("alias", set_to(b"ok"))
        assert store.get("alias") == b"ok"
    finally:
        store.update("alias", delete)
        store.close()


def test_redis_lock_lease_setting(redis_url: str) -> None:
    from exactsql.state.redis_store import RedisStore

    store = open_store(redis_url + "?lock_lease=0.5")
    try:
        assert isinstance(store, RedisStore) and store.lock_lease == 0.5
        with store.lock("lease"):
            time.sleep(1.0)  # twice the lease: the renewing thread keeps it ours
            with pytest.raises(LockTimeout), store.lock("lease", timeout=0):
                pass
    finally:
        store.close()
    with pytest.raises(ValueError, match="lock_lease"):
        open_store(redis_url + "?lock_lease=soon")
