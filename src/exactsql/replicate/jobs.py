"""The work on one (table, division): each page's rows and the cursor that follows them in one transaction.

- sync: ``Timestamp gt cursor``, pages in Timestamp order; the cursor is the largest Timestamp committed,
  so a run killed at any moment goes on where the last commit left it;
- deleted: ``sync/Deleted`` of one division, applied to every replicated table its EntityType names, a
  row only if its Timestamp is not newer than the deletion's;
- reload: every row through the bulk (or regular) endpoint into a staging table, the ``__next`` link
  committed with each page, then the division's rows replaced by the staged ones in one transaction;
- modified: ``Modified ge cursor`` (ties read again; upserts make that harmless), the ``__next`` link
  committed with each page, the cursor moved at the end.

A sync or modified item that ends with far fewer rows than its last run left has lost rows outside
replication (deleted by hand, an older copy restored): later runs would not bring them back, so it is
reported (``Tally.shortfall``) until a resync (``restart``) reads it again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import random
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from exactsql.api.budget import WindowFull
from exactsql.api.client import RETRIES, ExactClient, next_link
from exactsql.api.convert import page_to_arrow
from exactsql.catalog import Column
from exactsql.errors import ApiError
from exactsql.replicate.batch import Batch, last_per_key
from exactsql.replicate.plan import RELOAD, TablePlan, TableSpec
from exactsql.replicate.targets import CursorRow, TargetConnection

log = logging.getLogger(__name__)
T = TypeVar("T")

#: The first sync read of a division: "Timestamp gt 1", as Exact's documentation says.
START = 1
#: How far behind the largest Modified seen the next Modified read starts (CET milliseconds): rows changed
#: while a read was under way may carry a Modified below the largest one it saw.
MODIFIED_LAG_MS = 10 * 60 * 1000
#: A reload that found no change (by its probe) is read in full anyway when its last full read is older.
RELOAD_AT_LEAST_EVERY = 24 * 3600.0
#: An item is short of rows when it ends with fewer than this share of the rows its last run left…
SHORT_SHARE = 0.5
#: …and at least this many fewer.
SHORT_ROWS = 10

DELETED_COLUMNS = [
    Column("Timestamp", "Edm.Int64"),
    Column("EntityKey", "Edm.Guid"),
    Column("EntityType", "Edm.Int32"),
]


@dataclass
class Tally:
    """What one (table, division) did in this run."""

    rows: int = 0
    deleted: int = 0
    errors: int = 0
    pages: int = 0
    #: (rows the last run left, rows now) when the item is short of rows.
    shortfall: tuple[int, int] | None = None


class ItemProgress:
    """Receives progress of one (table, division); the CLI shows it, the default ignores it."""

    def rows(self, count: int) -> None:
        """``count`` more rows were committed."""

    def wait(self, seconds: float) -> None:
        """A wait of ``seconds`` for a rate window began."""

    def calls(self, count: int) -> None:
        """The calls made for this item so far."""


@dataclass
class Job:
    """One (table, division) being worked on by this thread."""

    plan: TablePlan
    division: int
    state: CursorRow
    client: ExactClient
    conn: TargetConnection
    owner: str
    ttl: float
    progress: ItemProgress = field(default_factory=ItemProgress)
    stopping: Callable[[], bool] = lambda: False
    tally: Tally = field(default_factory=Tally)
    #: API calls made for this item (retries included).
    calls: int = 0
    #: Where the writes go (committed with other pages' and items' writes); None: one transaction a page.
    batch: Batch | None = None
    #: A digest of the answers of the last ``pages`` read (a reload's fingerprint of its table).
    digest: str = ""
    _hash: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.batch is None:
            self.batch = Batch(self.conn, max_rows=0)
        self._failures = self.batch.failures

    def check(self) -> None:
        """Raises :class:`Dropped` when a commit failed since the item began (its pages may have gone with
        it): the item stops where its last commit left it, to be read on from there by the next run."""
        if self.out.failures != self._failures:
            raise Dropped()

    @property
    def out(self) -> Batch:
        """The writes of this item, pending until their batch commits."""
        assert self.batch is not None
        return self.batch

    def save(self, **values: object) -> None:
        """Updates this item's state inside the current transaction (fenced by the claim)."""
        self.conn.save(self.plan.name, self.division, self.owner, self.ttl, self.state.generation, **values)

    def get(self, path: str, params: dict[str, str] | None, division: int | None) -> Steps[bytes]:
        """One GET's body; while the division's minute window is full it yields a :class:`Wait` instead of
        waiting (the caller may work on other divisions meanwhile and resume it after ``Wait.until``)."""
        while True:
            if self.stopping():
                raise Stopped()
            before = self.client.thread_calls()
            try:
                return self.client.request("GET", path, params, division, wait=False).content
            except WindowFull as full:
                until = full.until
            finally:  # counted before any yield: the work may go on in another thread
                self.calls += self.client.thread_calls() - before
                self.progress.calls(self.calls)
            yield Wait(until)

    def page(
        self, url: str, params: dict[str, str] | None, columns: list[Column], unless: str | None = None
    ) -> Steps[tuple[pa.Table | None, str | None]]:
        """One page as Arrow and the ``__next`` link after it; a page that cannot be read is fetched again.
        The first page of a read (with its ``params``, or the first of the item) starts its ``digest``. When
        the page is the last and the read's digest comes out as ``unless`` (every answer as before), the page
        is not converted: None instead of it."""
        self.check()
        if self._hash is None or params is not None:
            self.digest, self._hash = "", hashlib.blake2b(digest_size=16)
        absolute = url.startswith(("http://", "https://"))
        division: int | None = self.division if self.plan.partitioned and not absolute else None
        for attempt in range(RETRIES):
            body = yield from self.get(url, params, division)
            if unless is not None and next_link(body) is None:
                whole = self._hash.copy()
                whole.update(body)
                if whole.hexdigest() == unless:
                    self.tally.pages += 1
                    self._hash, self.digest = whole, unless
                    return None, None
            try:
                table = _empty_page(body, columns)
                if table is None:
                    table = page_to_arrow(body, columns)
                break
            except (ValueError, pa.ArrowInvalid, KeyError, TypeError) as exc:  # a truncated answer
                self.tally.errors += 1
                log.warning(
                    "an unreadable page from %s (%s); fetching it again", url[:120], type(exc).__name__
                )
                time.sleep(min(10.0, 0.25 * 2**attempt) * (0.5 + random.random()))
        else:
            raise ApiError(0, "the answer kept arriving unreadable", self.plan.path.endpoint)
        self.tally.pages += 1
        nxt = next_link(body)
        self._hash.update(body)
        if nxt is None:
            self.digest = self._hash.hexdigest()
        return table, nxt


#: Empty pages as Arrow, by their columns (a run that finds no change reads mostly these).
_EMPTY: dict[tuple[tuple[str, str], ...], pa.Table] = {}


def _empty_page(body: bytes, columns: list[Column]) -> pa.Table | None:
    """The page as Arrow when it is a last page without rows (else None), without converting it again."""
    if len(body) > 200:
        return None
    d = orjson.loads(body).get("d")
    if not isinstance(d, dict) or d.get("results") != [] or d.get("__next"):
        return None
    key = tuple((c.name, c.edm) for c in columns)
    empty = _EMPTY.get(key)
    if empty is None:
        empty = _EMPTY[key] = page_to_arrow(body, columns)
    return empty


@dataclass
class Wait:
    """Yielded by a job whose division's minute window is full: resume it at ``until`` (the state store's
    clock) or later."""

    until: float


#: A step-wise piece of work: yields a :class:`Wait` whenever it would wait, returns its result.
Steps = Generator[Wait, None, T]


class Dropped(Exception):
    """A commit of the batch failed while the item was under way: its uncommitted writes were dropped."""

    def __str__(self) -> str:
        return "a commit failed while it was under way; the next run goes on from its last commit"


class Stopped(Exception):
    """The run is stopping (Ctrl+C or a fatal error elsewhere): the item ends after its last commit."""


def conform(page: pa.Table, spec: TableSpec, division: int) -> pa.Table:
    """A page as rows of ``spec``: ``Division`` added where the endpoint has none, one row per key (the last)."""
    if "Division" not in page.column_names:
        page = page.append_column("Division", pa.array([division] * page.num_rows, pa.int32()))
    return last_per_key(page.select(spec.column_names).cast(spec.schema), spec.key)


def _max(column: pa.ChunkedArray) -> int | None:
    value = pc.max(column).as_py()
    return None if value is None else int(value)


def restart(job: Job) -> None:
    """Starts the item over (a resync): its rows and its cursor go in one transaction, so that the run reads
    it in full as the first time; a reload keeps its rows until its swap replaces them."""
    plan, conn = job.plan, job.conn
    if plan.strategy != RELOAD:
        job.out.call(
            lambda: conn.delete_rows(plan.spec, job.division if plan.partitioned else None),
            needs=(plan.spec.name,),
        )
    job.out.save(job.save, cursor=None, resume=None, loaded=False, row_count=None)
    job.state = dataclasses.replace(job.state, cursor=None, resume=None, loaded=False, row_count=None)


def row_count(job: Job, now: int) -> int:
    """The rows of the item to record at its end (``now``: its rows in the copy); when far fewer than its
    last run left, that count is kept instead (so the shortfall is reported on every run until a resync)
    and ``tally.shortfall`` set."""
    before = job.state.row_count
    if before is None or not job.state.loaded or now >= before * SHORT_SHARE or before - now < SHORT_ROWS:
        return now
    job.tally.shortfall = (before, now)
    return before


def save_row_count(job: Job, now: int) -> None:
    """Records the item's rows at its end (no write when the count recorded is still right)."""
    count = row_count(job, now)
    if count != job.state.row_count:
        job.save(row_count=count)


# -- sync -------------------------------------------------------------------------------------------------


def run_sync(job: Job) -> Steps[None]:
    """Full load, then increments: ``Timestamp gt cursor``, each page committed with its cursor."""
    plan, out = job.plan, job.out
    cursor = job.state.cursor if job.state.cursor is not None else START
    loaded = job.state.loaded
    url: str | None = plan.path.endpoint
    params: dict[str, str] | None = {"$select": plan.select(), "$filter": f"Timestamp gt {cursor}L"}
    while url is not None:
        page, nxt = yield from job.page(url, params, plan.path_columns())
        url, params = nxt, None
        assert page is not None
        if not page.num_rows and loaded:
            continue  # nothing new: nothing to write
        batch = conform(page, plan.spec, job.division)
        top = _max(batch.column("Timestamp")) if batch.num_rows else None
        if top is not None and top > cursor:
            cursor = top
        if batch.num_rows or (nxt is None and not loaded):
            out.upsert(plan.spec, job.division, batch)
            out.save(job.save, cursor=cursor, loaded=loaded or nxt is None)
            loaded = loaded or nxt is None
        job.tally.rows += batch.num_rows
        job.progress.rows(batch.num_rows)
        out.maybe_flush()
    counted = out.count(plan.spec.name, job.division)
    if job.tally.rows or not job.state.loaded:  # with the last page's cursor, in one statement
        out.save(job.save, row_count=lambda: row_count(job, counted.value))
    else:  # nothing written: no statement at all while the count recorded is right
        out.call(lambda: save_row_count(job, counted.value), late=True)


# -- sync/Deleted -----------------------------------------------------------------------------------------


def run_deleted(job: Job, targets: dict[int, TableSpec]) -> Steps[None]:
    """The deletions of one division since its cursor, applied to the tables their EntityType names."""
    conn, out = job.conn, job.out
    cursor = job.state.cursor if job.state.cursor is not None else START
    url: str | None = job.plan.path.endpoint
    params: dict[str, str] | None = {
        "$select": "Timestamp,EntityKey,EntityType",
        "$filter": f"Timestamp gt {cursor}L",
    }

    def deletion(spec: TableSpec, keys: list, stamps: list) -> Callable[[], None]:
        def apply() -> None:
            job.tally.deleted += conn.delete_keys(spec, job.division, keys, stamps)

        return apply

    while url is not None:
        page, url = yield from job.page(url, params, DELETED_COLUMNS)
        params = None
        if page is None or not page.num_rows:
            continue
        top = _max(page.column("Timestamp"))
        cursor = max(cursor, top or cursor)
        for entity_type, spec in targets.items():
            mine = page.filter(pc.equal(page.column("EntityType"), entity_type))
            if mine.num_rows:
                keys = mine.column("EntityKey").to_pylist()
                stamps = mine.column("Timestamp").to_pylist()
                out.call(deletion(spec, keys, stamps), needs=(spec.name,))
        out.save(job.save, cursor=cursor, loaded=True)
        job.tally.rows += page.num_rows
        job.progress.rows(page.num_rows)
        out.maybe_flush()


# -- full reload ------------------------------------------------------------------------------------------


def _first_params(plan: TablePlan) -> dict[str, str]:
    params = {"$select": plan.select()}
    tautology = plan.tautology()
    if tautology:
        params["$filter"] = tautology
    return params


def probe(job: Job) -> Steps[str | None]:
    """One call that tells whether a reloaded table changed: its row count and latest ``Modified`` through
    a regular endpoint (``TablePlan.probe_path``), as ``"count:modified"``; None when it has no such endpoint."""
    path = job.plan.probe_path()
    if path is None:
        return None
    params = {
        "$select": "Modified",
        "$orderby": "Modified desc",
        "$top": "1",
        "$inlinecount": "allpages",
    }
    division = job.division if job.plan.partitioned else None
    answer = orjson.loads((yield from job.get(path.endpoint, params, division)))
    d = answer.get("d", {}) if isinstance(answer, dict) else {}
    if not isinstance(d, dict) or "__count" not in d:
        return None
    rows = d.get("results") or []
    latest = rows[0].get("Modified") if rows and isinstance(rows[0], dict) else None
    return f"{d['__count']}:{latest}"


def _reload_pages(job: Job) -> int:
    """The pages a full read of the item takes, by the rows its last one left (1 when unknown)."""
    rows = job.state.row_count or 0
    size = job.plan.path.page_size or 60
    return max(1, -(-rows // size))


def _stage(job: Job, page: pa.Table, nxt: str | None, signature: str | None) -> None:
    """One page of a full read into the staging table, with the ``__next`` link that follows it."""
    batch = conform(page, job.plan.spec, job.division)
    state: dict[str, object] = {"phase": "load", "url": nxt} if nxt else {"phase": "swap"}
    if nxt is None:
        state.update(digest=job.digest, probe=signature)
    job.out.upsert(job.plan.spec, job.division, batch, stage=True)
    job.out.save(job.save, resume=orjson.dumps(state).decode())
    job.tally.rows += batch.num_rows
    job.progress.rows(batch.num_rows)
    job.out.maybe_flush()


def run_reload(job: Job) -> Steps[None]:
    """Every row into the staging table (resumable by the committed ``__next``), then one swap.

    A table read before is first asked whether it changed: by its probe (one call, made before the read, so
    that a change during the read shows at the next probe) when a full read takes more pages than that,
    else by the fingerprint of its one page. Unchanged, nothing is written. The first full read of a table
    has no probe to compare with yet (the second one makes it); a full read is made at least every
    ``RELOAD_AT_LEAST_EVERY`` anyway.
    """
    plan, conn, spec, out = job.plan, job.conn, job.plan.spec, job.out
    resume = orjson.loads(job.state.resume) if job.state.resume else None
    fresh = resume is None or resume.get("phase") not in ("load", "swap")
    known = resume if fresh and resume is not None and job.state.loaded else None
    if known is not None and time.time() - known.get("at", 0) >= RELOAD_AT_LEAST_EVERY:
        known = None
    signature = None
    if fresh and job.state.loaded and _reload_pages(job) > 1:
        signature = yield from probe(job)
        if known is not None and signature is not None and signature == known.get("probe"):
            return
    elif known is not None:
        signature = known.get("probe")
    if fresh:
        resume = {"phase": "load", "url": None}
    assert resume is not None
    if resume["phase"] == "load":
        url = resume.get("url")
        path, params = (url, None) if url else (plan.path.endpoint, _first_params(plan))
        # a table read before is held back while it fits in a batch: unchanged (same answers), nothing is written
        held: list[tuple[pa.Table, str | None]] | None = [] if fresh and known is not None else None
        held_rows = 0
        read: str | None = path
        while read is not None:
            unless = known.get("digest") if held is not None and known is not None else None
            got, nxt = yield from job.page(read, params, plan.path_columns(), unless)
            read, params = nxt, None
            page = got if got is not None else pa.table({})
            if held is not None:
                held.append((page, nxt))
                held_rows += page.num_rows
                assert known is not None
                if nxt is None and job.digest == known.get("digest"):  # every page as it was: no rows written
                    if signature != known.get("probe"):  # the probe the next run compares with
                        note = {**known, "probe": signature, "at": time.time()}
                        out.save(job.save, resume=orjson.dumps(note).decode())
                    return
                if nxt is not None and held_rows < out.max_rows:
                    continue
                pages, held = held, None
            else:
                pages = [(page, nxt)]
            for one, after in pages:
                if fresh:
                    out.call(lambda: conn.clear_stage(spec, job.division))
                    fresh = False
                _stage(job, one, after, signature)
    last = {"digest": job.digest or resume.get("digest"), "probe": signature or resume.get("probe")}

    def swap() -> None:
        count = conn.replace_from_stage(spec, job.division)
        note = orjson.dumps({**last, "at": time.time()}).decode()
        job.save(resume=note, loaded=True, row_count=count)

    out.call(swap, late=True)


# -- Modified ---------------------------------------------------------------------------------------------


def cet_literal(ms: int) -> str:
    """An OData datetime literal for a CET wall-clock time given in milliseconds."""
    moment = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms)
    return "datetime'" + moment.isoformat(timespec="milliseconds") + "'"


def run_modified(job: Job) -> Steps[None]:
    """New and changed rows by ``Modified ge cursor`` (ties read again), resumable by the ``__next`` link."""
    plan, spec, out = job.plan, job.plan.spec, job.out
    resume = orjson.loads(job.state.resume) if job.state.resume else None
    cursor = job.state.cursor
    seen = resume.get("max") if resume else None
    if resume and resume.get("url"):
        path, params = resume["url"], None
    else:
        path, params = plan.path.endpoint, _first_params(plan)
        if cursor is not None:
            params["$filter"] = f"Modified ge {cet_literal(cursor)}"
    read: str | None = path
    while read is not None:
        page, nxt = yield from job.page(read, params, plan.path_columns())
        read, params = nxt, None
        assert page is not None
        batch = conform(page, spec, job.division)
        modified = batch.column("Modified").cast(pa.int64())
        top = _max(modified) if batch.num_rows else None
        if top is not None:
            seen = top if seen is None else max(seen, top)
        state = orjson.dumps({"url": nxt, "max": seen}).decode() if nxt else None
        out.upsert(spec, job.division, batch)
        out.save(job.save, resume=state)
        job.tally.rows += batch.num_rows
        job.progress.rows(batch.num_rows)
        out.maybe_flush()
    following = cursor
    if seen is not None:
        following = max(cursor or 0, seen - MODIFIED_LAG_MS)
    counted = out.count(spec.name, job.division)
    out.call(
        lambda: job.save(cursor=following, resume=None, loaded=True, row_count=row_count(job, counted.value)),
        late=True,
    )
