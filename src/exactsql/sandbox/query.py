"""Runs one OData GET over a row source: filter, order, server-driven paging, $top/$skip, counts."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from exactsql.sandbox import keys, odata
from exactsql.sandbox.odata import timestamp_lower_bound
from exactsql.sandbox.store import RowSource

_FIRST_CHUNK = 256
_MAX_CHUNK = 262144


@dataclass
class QueryOptions:
    """The parsed query options of a request."""

    filter: odata.Node | None = None
    select: list[str] | None = None
    top: int | None = None
    skip: int = 0
    orderby: list[tuple[str, bool]] | None = None
    skiptoken: str | None = None
    inlinecount: bool = False
    expand: list[str] = field(default_factory=list)
    #: The properties ``$select`` names through each expanded navigation property (``Lines/Amount``).
    expand_select: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class PageResult:
    """The rows of one page, whether more follow, and the total count when asked for."""

    indexes: np.ndarray
    more: bool
    count: int | None
    last_token: str | None


def _matches(
    source: RowSource, node: odata.Node | None, cand: np.ndarray, types: dict[str, str], etype: str
) -> np.ndarray:
    if node is None or len(cand) == 0:
        return cand

    def get(name: str) -> np.ndarray:
        return source.column(name)[cand]

    mask = odata.evaluate(node, get, len(cand), types, entity_type=etype)
    return cand[mask]


def run_query(
    source: RowSource,
    opts: QueryOptions,
    page_size: int,
    sync: bool,
    types: dict[str, str],
    entity_type: str,
) -> PageResult:
    """Selects the rows of the requested page.

    Sync paths page by Timestamp (``$skiptoken=<ts>L``); others in key order, the token being the last
    key as a literal of its type (``guid'…'``, ``7095``, ``'GMD'``), or by ``$orderby`` when given. Candidates are walked in growing chunks from the page's start until
    the page is full, so a page costs about what it returns, however large the table.
    """
    alive = source.alive_mask()
    key_edm = types.get(source.key_name, "Edm.Guid")
    if sync:
        order, stamps = source.sync_order()
        bound = timestamp_lower_bound(opts.filter) if opts.filter is not None else None
        token = _timestamp_token(opts.skiptoken)
        lows = [b for b in (bound, token) if b is not None]
        first = int(np.searchsorted(stamps, max(lows), side="right")) if lows else 0
        total = len(order)

        def candidates(lo: int, hi: int) -> np.ndarray:
            return order[lo:hi]

    else:
        first = 0
        total = source.n
        if opts.skiptoken and not opts.orderby:
            first = _key_token(source, opts.skiptoken, key_edm) + 1

        def candidates(lo: int, hi: int) -> np.ndarray:
            return np.arange(lo, min(hi, total))

    limit = page_size if opts.top is None else min(page_size, opts.top)
    if opts.orderby or opts.inlinecount or opts.skip:
        cand = candidates(first, total)
        matched = _matches(source, opts.filter, cand[alive[cand]], types, entity_type)
        count = len(matched) if opts.inlinecount else None
        if opts.orderby:
            matched = odata.order_indexes(matched, opts.orderby, source.column)
            if opts.skiptoken:
                matched = matched[_position_after(source, matched, opts.skiptoken, key_edm) :]
        matched = matched[opts.skip :]
        page = matched[:limit]
        more = len(matched) > limit
    else:
        count = None
        found: list[np.ndarray] = []
        n_found = 0
        pos = first
        chunk = max(_FIRST_CHUNK, 2 * (limit + 1))
        while pos < total and n_found <= limit:
            cand = candidates(pos, pos + chunk)
            part = _matches(source, opts.filter, cand[alive[cand]], types, entity_type)
            found.append(part)
            n_found += len(part)
            pos += chunk
            chunk = min(chunk * 4, _MAX_CHUNK)
        matched = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
        page = matched[:limit]
        more = len(matched) > limit
    if opts.top is not None and len(page) >= opts.top:
        more = False
    last_token = None
    if len(page):
        last = page[-1:]
        if sync:
            last_token = f"{int(source.take('Timestamp', last)[0])}L"
        else:
            last_token = keys.literal(source.take(source.key_name, last)[0], key_edm)
    return PageResult(page, more, count, last_token)


def _timestamp_token(token: str | None) -> int | None:
    if not token:
        return None
    text = token.strip().rstrip("Ll")
    try:
        return int(text)
    except ValueError:
        raise odata.ODataError(f"Invalid skip token '{token}'.", 0) from None


def _key_token(source: RowSource, token: str, edm: str) -> int:
    """The row of the key a ``$skiptoken`` names."""
    try:
        row = keys.find_row(source, keys.parse(token, edm))
    except odata.ODataError:
        row = None
    if row is None:
        raise odata.ODataError(f"Invalid skip token '{token}'.", 0)
    return row


def _position_after(source: RowSource, ordered: np.ndarray, token: str, edm: str) -> int:
    row = _key_token(source, token, edm)
    hits = np.flatnonzero(ordered == row)
    return int(hits[0]) + 1 if len(hits) else 0
