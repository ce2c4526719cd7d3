"""Runs one OData GET over a row source: filter, order, server-driven paging, $top/$skip, counts."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from exactsql.sandbox import odata
from exactsql.sandbox.store import RowSource

_CHUNK = 65536


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

    Sync paths page by Timestamp (``$skiptoken=<ts>L``); others in key order (``$skiptoken=guid'…'``),
    or by ``$orderby`` when given. The filter is evaluated in chunks until the page is full, so wide
    reads stay cheap and selective ones scan only as far as needed.
    """
    alive = source.alive_mask()
    if sync:
        order, stamps = source.sync_order()
        bound = odata.timestamp_lower_bound(opts.filter) if opts.filter is not None else None
        token = _timestamp_token(opts.skiptoken)
        lows = [b for b in (bound, token) if b is not None]
        start = int(np.searchsorted(stamps, max(lows), side="right")) if lows else 0
        cand = order[start:]
    else:
        cand = np.arange(source.n)
        if opts.skiptoken and not opts.orderby:
            last = _key_token(source, opts.skiptoken)
            cand = cand[last + 1 :]
    cand = cand[alive[cand]]

    limit = page_size if opts.top is None else min(page_size, opts.top)
    if opts.orderby or opts.inlinecount or opts.skip:
        matched = _matches(source, opts.filter, cand, types, entity_type)
        count = len(matched) if opts.inlinecount else None
        if opts.orderby:
            matched = odata.order_indexes(matched, opts.orderby, source.column)
            if opts.skiptoken:
                pos = _position_after(source, matched, opts.skiptoken)
                matched = matched[pos:]
        matched = matched[opts.skip :]
        page = matched[:limit]
        more = len(matched) > limit
    else:
        count = None
        found: list[np.ndarray] = []
        total = 0
        pos = 0
        chunk = max(_CHUNK, limit * 4)
        while pos < len(cand) and total <= limit:
            part = _matches(source, opts.filter, cand[pos : pos + chunk], types, entity_type)
            found.append(part)
            total += len(part)
            pos += chunk
            chunk *= 2
        matched = np.concatenate(found) if found else cand[:0]
        page = matched[:limit]
        more = len(matched) > limit
    if opts.top is not None and len(page) >= opts.top:
        more = False
    last_token = None
    if len(page):
        last = int(page[-1])
        if sync:
            last_token = f"{int(source.take('Timestamp', np.array([last]))[0])}L"
        else:
            last_token = f"guid'{source.take(source.key_name, np.array([last]))[0]}'"
    return PageResult(page, more, count, last_token)


def _timestamp_token(token: str | None) -> int | None:
    if not token:
        return None
    text = token.strip().rstrip("Ll")
    try:
        return int(text)
    except ValueError:
        raise odata.ODataError(f"Invalid skip token '{token}'.", 0) from None


def _key_value(token: str) -> str:
    text = token.strip()
    if text.lower().startswith("guid'") and text.endswith("'"):
        return text[5:-1].lower()
    return text.strip("'")


def _key_token(source: RowSource, token: str) -> int:
    key = _key_value(token)
    index_of_key = getattr(source, "index_of_key", None)
    if index_of_key is not None:
        idx = index_of_key(key)
        if idx is not None:
            return int(idx)
    keys = source.column(source.key_name)
    hits = np.flatnonzero(keys == key)
    if len(hits) == 0:
        raise odata.ODataError(f"Invalid skip token '{token}'.", 0)
    return int(hits[0])


def _position_after(source: RowSource, ordered: np.ndarray, token: str) -> int:
    row = _key_token(source, token)
    hits = np.flatnonzero(ordered == row)
    return int(hits[0]) + 1 if len(hits) else 0
