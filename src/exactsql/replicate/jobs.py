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
import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from exactsql.api.client import RETRIES, ExactClient, next_link
from exactsql.api.convert import page_to_arrow
from exactsql.catalog import Column
from exactsql.errors import ApiError
from exactsql.replicate.plan import RELOAD, TablePlan, TableSpec
from exactsql.replicate.targets import CursorRow, TargetConnection

log = logging.getLogger(__name__)

#: The first sync read of a division: "Timestamp gt 1", as Exact's documentation says.
START = 1
#: How far behind the largest Modified seen the next Modified read starts (CET milliseconds): rows changed
#: while a read was under way may carry a Modified below the largest one it saw.
MODIFIED_LAG_MS = 10 * 60 * 1000
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
    calls_before: int = 0

    def save(self, **values: object) -> None:
        """Updates this item's state inside the current transaction (fenced by the claim)."""
        self.conn.save(self.plan.name, self.division, self.owner, self.ttl, self.state.generation, **values)

    def pages(
        self, path: str, params: dict[str, str] | None, columns: list[Column]
    ) -> Iterator[tuple[pa.Table, str | None]]:
        """Each page as Arrow with the ``__next`` link after it; a page that cannot be read is fetched again."""
        url: str | None = path
        division: int | None = self.division if self.plan.partitioned else None
        while url is not None:
            if self.stopping():
                raise Stopped()
            absolute = url.startswith(("http://", "https://"))
            for attempt in range(RETRIES):
                response = self.client.request("GET", url, params, None if absolute else division)
                body = response.content
                try:
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
            self.progress.calls(self.client.calls - self.calls_before)
            nxt = next_link(body)
            yield table, nxt
            url, params = nxt, None


class Stopped(Exception):
    """The run is stopping (Ctrl+C or a fatal error elsewhere): the item ends after its last commit."""


def conform(page: pa.Table, spec: TableSpec, division: int) -> pa.Table:
    """A page as rows of ``spec``: ``Division`` added where the endpoint has none, one row per key (the last)."""
    if "Division" not in page.column_names:
        page = page.append_column("Division", pa.array([division] * page.num_rows, pa.int32()))
    page = page.select(spec.column_names).cast(spec.schema)
    keys = page.column(spec.key)
    if page.num_rows > 1 and pc.count_distinct(keys).as_py() < page.num_rows:
        last: dict = {}
        for i, k in enumerate(keys.to_pylist()):
            last[k] = i
        page = page.take(pa.array(sorted(last.values()), pa.int64()))
    return page


def _max(column: pa.ChunkedArray) -> int | None:
    value = pc.max(column).as_py()
    return None if value is None else int(value)


def restart(job: Job) -> None:
    """Starts the item over (a resync): its rows and its cursor go in one transaction, so that the run reads
    it in full as the first time; a reload keeps its rows until its swap replaces them."""
    plan = job.plan
    with job.conn.transaction():
        if plan.strategy != RELOAD:
            job.conn.delete_rows(plan.spec, job.division if plan.partitioned else None)
        job.save(cursor=None, resume=None, loaded=False, row_count=None)
    job.state = dataclasses.replace(job.state, cursor=None, resume=None, loaded=False, row_count=None)


def row_count(job: Job) -> int:
    """The rows of the item now, to record at its end; when far fewer than its last run left, that count
    is kept instead (so the shortfall is reported on every run until a resync) and ``tally.shortfall`` set."""
    now = job.conn.count(job.plan.spec.name, job.division)
    before = job.state.row_count
    if before is None or not job.state.loaded or now >= before * SHORT_SHARE or before - now < SHORT_ROWS:
        return now
    job.tally.shortfall = (before, now)
    return before


# -- sync -------------------------------------------------------------------------------------------------


def run_sync(job: Job) -> None:
    """Full load, then increments: ``Timestamp gt cursor``, each page committed with its cursor."""
    plan, conn = job.plan, job.conn
    cursor = job.state.cursor if job.state.cursor is not None else START
    loaded = job.state.loaded
    params = {"$select": plan.select(), "$filter": f"Timestamp gt {cursor}L"}
    for page, nxt in job.pages(plan.path.endpoint, params, plan.path_columns()):
        batch = conform(page, plan.spec, job.division)
        top = _max(batch.column("Timestamp")) if batch.num_rows else None
        if top is not None and top > cursor:
            cursor = top
        if batch.num_rows or (nxt is None and not loaded):
            with conn.transaction():
                conn.upsert(plan.spec, batch)
                job.save(cursor=cursor, loaded=loaded or nxt is None)
            loaded = loaded or nxt is None
        job.tally.rows += batch.num_rows
        job.progress.rows(batch.num_rows)
    with conn.transaction():
        job.save(row_count=row_count(job))


# -- sync/Deleted -----------------------------------------------------------------------------------------


def run_deleted(job: Job, targets: dict[int, TableSpec]) -> None:
    """The deletions of one division since its cursor, applied to the tables their EntityType names."""
    conn = job.conn
    cursor = job.state.cursor if job.state.cursor is not None else START
    params = {"$select": "Timestamp,EntityKey,EntityType", "$filter": f"Timestamp gt {cursor}L"}
    for page, _nxt in job.pages(job.plan.path.endpoint, params, DELETED_COLUMNS):
        if not page.num_rows:
            continue
        top = _max(page.column("Timestamp"))
        cursor = max(cursor, top or cursor)
        with conn.transaction():
            for entity_type, spec in targets.items():
                mine = page.filter(pc.equal(page.column("EntityType"), entity_type))
                if mine.num_rows:
                    keys = mine.column("EntityKey").to_pylist()
                    stamps = mine.column("Timestamp").to_pylist()
                    job.tally.deleted += conn.delete_keys(spec, job.division, keys, stamps)
            job.save(cursor=cursor, loaded=True)
        job.tally.rows += page.num_rows
        job.progress.rows(page.num_rows)


# -- full reload ------------------------------------------------------------------------------------------


def _first_params(plan: TablePlan) -> dict[str, str]:
    params = {"$select": plan.select()}
    tautology = plan.tautology()
    if tautology:
        params["$filter"] = tautology
    return params


def run_reload(job: Job) -> None:
    """Every row into the staging table (resumable by the committed ``__next``), then one swap."""
    plan, conn, spec = job.plan, job.conn, job.plan.spec
    resume = orjson.loads(job.state.resume) if job.state.resume else None
    if resume is None or resume.get("phase") not in ("load", "swap"):
        with conn.transaction():
            conn.clear_stage(spec, job.division)
            job.save(resume=orjson.dumps({"phase": "load", "url": None}).decode())
        resume = {"phase": "load", "url": None}
    if resume["phase"] == "load":
        url = resume.get("url")
        path, params = (url, None) if url else (plan.path.endpoint, _first_params(plan))
        for page, nxt in job.pages(path, params, plan.path_columns()):
            batch = conform(page, spec, job.division)
            state = {"phase": "load", "url": nxt} if nxt else {"phase": "swap"}
            with conn.transaction():
                conn.upsert(spec, batch, stage=True)
                job.save(resume=orjson.dumps(state).decode())
            job.tally.rows += batch.num_rows
            job.progress.rows(batch.num_rows)
    with conn.transaction():
        count = conn.replace_from_stage(spec, job.division)
        job.save(resume=None, loaded=True, row_count=count)


# -- Modified ---------------------------------------------------------------------------------------------


def cet_literal(ms: int) -> str:
    """An OData datetime literal for a CET wall-clock time given in milliseconds."""
    moment = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms)
    return "datetime'" + moment.isoformat(timespec="milliseconds") + "'"


def run_modified(job: Job) -> None:
    """New and changed rows by ``Modified ge cursor`` (ties read again), resumable by the ``__next`` link."""
    plan, conn, spec = job.plan, job.conn, job.plan.spec
    resume = orjson.loads(job.state.resume) if job.state.resume else None
    cursor = job.state.cursor
    seen = resume.get("max") if resume else None
    if resume and resume.get("url"):
        path, params = resume["url"], None
    else:
        path, params = plan.path.endpoint, _first_params(plan)
        if cursor is not None:
            params["$filter"] = f"Modified ge {cet_literal(cursor)}"
    for page, nxt in job.pages(path, params, plan.path_columns()):
        batch = conform(page, spec, job.division)
        modified = batch.column("Modified").cast(pa.int64())
        top = _max(modified) if batch.num_rows else None
        if top is not None:
            seen = top if seen is None else max(seen, top)
        state = orjson.dumps({"url": nxt, "max": seen}).decode() if nxt else None
        with conn.transaction():
            conn.upsert(spec, batch)
            job.save(resume=state)
        job.tally.rows += batch.num_rows
        job.progress.rows(batch.num_rows)
    following = cursor
    if seen is not None:
        following = max(cursor or 0, seen - MODIFIED_LAG_MS)
    with conn.transaction():
        job.save(cursor=following, resume=None, loaded=True, row_count=row_count(job))
