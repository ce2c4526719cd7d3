"""One process of the cluster benchmark: the session of a named connection, calling the API until a deadline.

Started by ``benchmarks/cluster_tokens.py`` (and ``tests/connections/test_cluster.py``) as
``python benchmarks/cluster_worker.py --connection eol --division 1 --go-file … --ready-file …`` or
``python -m benchmarks.cluster_worker …``, with the environment of ``tests.connections.helpers.isolated_env``
(EXACTSQL_HOME, and the shared EXACTSQL_STATE and EXACTSQL_SECRET_KEY). The protocol with the harness:

1. open the session (imports, store, HTTP client) and write the ready file (the pid);
2. wait for the go file, JSON ``{"start": epoch, "until": epoch | null}`` (the harness logs in before it
   writes it, so that the chain's life starts with the measured period);
3. from ``start`` call the API until ``until`` (no API or token call is started after it) or SIGTERM;
4. print a JSON summary on stdout: calls, successes, exceptions by type, HTTP requests sent, refreshes this
   process made, the time between each token response and its store write, and per rate window (by its
   ``X-RateLimit-Minutely-Reset``) the responses seen.

Modes: ``mix`` (a filtered GLAccounts GET in the division, every ``--me-every``-th call ``current/Me``),
``division`` (only the division GET: the rate test), ``spin`` (asks for a token without pause when the chain is
due, calls ``current/Me`` every 0.25 s: a process that is first to refresh, for the kill trials), ``errors`` (a GET that answers 400).
With ``--status-file`` the counters are also written there every 0.1 s (for a harness watching live).
"""

from __future__ import annotations

import argparse
import collections
import faulthandler
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

GL_ACCOUNT = {"$filter": "Code eq '1000'", "$select": "Code"}
BAD_REQUEST = {"$filter": "NoSuchProperty eq 1", "$select": "Code"}
ERROR_PAUSE = 0.02


class Stop(BaseException):
    """The deadline passed or SIGTERM arrived (a BaseException: no ``except Exception`` swallows it)."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--connection", default="eol")
    parser.add_argument("--division", type=int, required=True)
    parser.add_argument("--mode", choices=("mix", "division", "spin", "errors"), default="mix")
    parser.add_argument("--me-every", type=int, default=2, help="in mix mode, every n-th call is current/Me")
    parser.add_argument("--ready-file", type=Path, required=True)
    parser.add_argument("--go-file", type=Path, required=True)
    parser.add_argument("--status-file", type=Path)
    parser.add_argument("--startup-timeout", type=float, default=300.0)
    return parser.parse_args(argv)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


class Worker:
    """The loop and its counters."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.until = float("inf")
        self.calls = 0
        self.ok = 0
        self.last_ok = 0.0
        self.errors: collections.Counter[str] = collections.Counter()
        self.error_samples: dict[str, str] = {}  # the first message of each kind
        self.token_windows: list[float] = []
        self.windows: dict[str, list[int]] = {}
        self._token_response_at: float | None = None
        self._status_written = 0.0

    # -- instrumentation of this process's session (wrappers on instances, the library is untouched) --------

    def instrument(self, client: Any) -> None:
        broker, rates, http = client.broker, client.rates, client.http
        access_token, store, post, reconcile = broker.access_token, broker._store, http.post, rates.reconcile

        def guarded_access_token() -> str:
            if time.time() >= self.until:
                raise Stop  # no call, and no refresh, after the deadline
            return str(access_token())

        def timed_post(url: Any, *a: Any, **kw: Any) -> Any:
            response = post(url, *a, **kw)
            if str(url).endswith("/api/oauth2/token"):
                self._token_response_at = time.time()
            return response

        def timed_store(*a: Any, **kw: Any) -> None:
            store(*a, **kw)
            if self._token_response_at is not None:
                self.token_windows.append(time.time() - self._token_response_at)
                self._token_response_at = None

        def recorded_reconcile(division: int, headers: Any, *rest: Any) -> None:
            reset = headers.get("X-RateLimit-Minutely-Reset")
            remaining = headers.get("X-RateLimit-Minutely-Remaining")
            if reset is not None and remaining is not None:
                seen = self.windows.setdefault(reset, [0, 10**9])
                seen[0] += 1
                seen[1] = min(seen[1], int(remaining))
            reconcile(division, headers, *rest)

        broker.access_token = guarded_access_token
        broker._store = timed_store
        http.post = timed_post
        rates.reconcile = recorded_reconcile

    # -- the loop ---------------------------------------------------------------------------------------

    def _one_call(self, client: Any, i: int) -> None:
        args = self.args
        if args.mode == "errors":
            client.get_json("financial/GLAccounts", BAD_REQUEST, args.division)
        elif args.mode == "spin" or (args.mode == "mix" and args.me_every > 0 and i % args.me_every == 0):
            client.me()  # (a spinning worker never waits for a rate window)
        else:
            client.get_json("financial/GLAccounts", GL_ACCOUNT, args.division)

    def run(self, client: Any) -> None:
        i = 0
        while time.time() < self.until:
            i += 1
            self.calls += 1
            try:
                if self.args.mode == "spin":
                    self._spin(client)
                self._one_call(client, i)
            except Stop:
                self.calls -= 1
                raise
            except Exception as exc:
                status = getattr(exc, "status", None)
                kind = type(exc).__name__ + (f":{status}" if status is not None else "")
                self.errors[kind] += 1
                self.error_samples.setdefault(kind, str(exc)[:300])
                time.sleep(ERROR_PAUSE)
            else:
                self.ok += 1
                self.last_ok = time.time()
            self.write_status()

    def _spin(self, client: Any) -> None:
        """Asks for a token without pause from just before the chain is due (for 0.25 s at most)."""
        broker = client.broker
        chain = broker.read()
        if chain is not None and not chain.broken:
            time.sleep(min(0.25, max(0.0, chain.refresh_at - broker.clock.now() - 0.02)))
        deadline = time.monotonic() + 0.25
        while time.monotonic() < deadline:
            broker.access_token()
            time.sleep(0)

    # -- reporting --------------------------------------------------------------------------------------

    def status(self) -> dict:
        return {
            "pid": os.getpid(),
            "calls": self.calls,
            "ok": self.ok,
            "last_ok": self.last_ok,
            "errors": dict(self.errors),
            "error_samples": self.error_samples,
        }

    def write_status(self, force: bool = False) -> None:
        path = self.args.status_file
        if path is None:
            return
        now = time.monotonic()
        if force or now - self._status_written >= 0.1:
            self._status_written = now
            _write_atomic(path, json.dumps(self.status()))

    def summary(self, client: Any | None) -> dict:
        out = self.status()
        out["http_requests"] = client.calls if client is not None else 0
        out["refreshes"] = client.broker.refreshes if client is not None else 0
        out["clock_skew"] = client.broker.clock.skew if client is not None else None
        out["token_windows"] = self.token_windows
        out["windows"] = self.windows
        return out


def _wait_for_go(go_file: Path, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while not go_file.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"no go file {go_file} within {timeout:g} s")
        time.sleep(0.005)
    for _ in range(100):
        try:
            return dict(json.loads(go_file.read_text()))
        except ValueError:  # caught between create and write: read again
            time.sleep(0.005)
    raise SystemExit(f"unreadable go file {go_file}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)

    def on_term(signum: int, frame: object) -> None:
        raise Stop

    signal.signal(signal.SIGTERM, on_term)
    faulthandler.register(signal.SIGUSR1)  # `kill -USR1 PID` prints every thread's stack to stderr
    worker = Worker(args)
    client = None
    try:
        from exactsql.api.session import open_session

        session = open_session(args.connection)
        _write_atomic(args.ready_file, str(os.getpid()))
        go = _wait_for_go(args.go_file, args.startup_timeout)
        worker.until = float("inf") if go.get("until") is None else float(go["until"])
        client = session.client()
        worker.instrument(client)
        time.sleep(max(0.0, float(go.get("start", 0)) - time.time()))
        worker.run(client)
    except Stop:
        pass
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    worker.write_status(force=True)
    sys.stdout.write(json.dumps(worker.summary(client)) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
