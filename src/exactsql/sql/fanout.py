"""Reading one endpoint in many divisions with a few worker threads.

A worker reads one page of one division, then takes the next division in turn. A division whose minute window
is full holds no worker: its admission is asked for without waiting (``wait=False``), and the division comes
back when its window reopens while the workers read the others. A division that fails is reported and the
others are read to the end.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from exactsql.api.budget import WindowFull
from exactsql.api.client import ExactClient
from exactsql.api.turns import Turns

log = logging.getLogger(__name__)


@dataclass
class DivisionRead:
    """The pages of one division read so far."""

    division: int | None
    url: str | None  # the next page's (None: all read)
    params: dict[str, str] | None  # the first page's options (the next URLs carry them)
    bodies: list[bytes] = field(default_factory=list)  # kept when no ``on_page`` takes them
    calls: int = 0
    seconds: float = 0.0
    not_before: float = 0.0  # on the state store's clock: when its minute window reopens
    error: BaseException | None = None

    @property
    def done(self) -> bool:
        return self.url is None or self.error is not None


def read_divisions(
    client: ExactClient,
    endpoint: str,
    params: dict[str, str],
    divisions: list[int | None],
    workers: int,
    on_page: Callable[[DivisionRead, bytes], None] | None = None,
) -> list[DivisionRead]:
    """Every page of ``endpoint`` in each of ``divisions``, ``workers`` calls in flight at most; ``on_page``
    hears of each page in the worker that read it. The reads come back in the order of ``divisions``, failed
    ones with their ``error``."""
    reads = [DivisionRead(d, client.url(endpoint, d), params) for d in divisions]
    if len(reads) == 1:
        for read in reads:
            while not read.done:
                _step(client, read, on_page, True)
        return reads
    clock = client.rates.clock
    turns: Turns[DivisionRead] = Turns(reads)
    running: dict[Future[None], DivisionRead] = {}
    with ThreadPoolExecutor(
        max_workers=min(workers, len(reads)), thread_name_prefix="exactsql-fetch"
    ) as pool:
        while turns.ready or turns.waiting or running:
            now = clock.now()
            turns.release(now)
            while turns.ready and len(running) < workers:
                read = turns.ready.popleft()
                running[pool.submit(_step, client, read, on_page, False)] = read
            timeout = turns.timeout(now)
            if not running:
                time.sleep(timeout or 0.0)
                continue
            finished, _ = wait(running, timeout=timeout, return_when=FIRST_COMPLETED)
            for future in finished:
                read = running.pop(future)
                if not read.done:
                    turns.put(read, read.not_before, clock.now())  # to the back: the divisions take turns
    for read in reads:
        if read.error is not None and any(r.error is None for r in reads):
            log.warning("division %s could not be read (the others were): %s", read.division, read.error)
    return reads


def _step(
    client: ExactClient,
    read: DivisionRead,
    on_page: Callable[[DivisionRead, bytes], None] | None,
    wait_for_window: bool,
) -> None:
    """One page of ``read`` (none when its minute window is full and ``wait_for_window`` is off)."""
    assert read.url is not None
    started, calls = time.perf_counter(), client.thread_calls()
    try:
        body, nxt = client.page(read.url, read.params, wait=wait_for_window)
        read.url, read.params = nxt, None
        if on_page is not None:
            on_page(read, body)
        else:
            read.bodies.append(body)
    except WindowFull as full:
        read.not_before = full.until
    except Exception as exc:  # reported with its division; the other divisions go on
        read.error = exc
    finally:
        read.calls += client.thread_calls() - calls
        read.seconds += time.perf_counter() - started
