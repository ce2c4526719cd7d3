"""An entity set read over a row source: query options, the page, its records, ``__next``, one entity by key."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

import numpy as np

from exactsql.catalog import AccessPath, Column, Table
from exactsql.endpoints import ApiPath
from exactsql.sandbox import expand, keys, odata
from exactsql.sandbox.fidelity import FaithfulRows
from exactsql.sandbox.messages import Request, Response, json_response, odata_error
from exactsql.sandbox.query import QueryOptions, run_query
from exactsql.sandbox.render import render_rows
from exactsql.sandbox.store import RowSource

if TYPE_CHECKING:
    from exactsql.sandbox.core import Sandbox

SELECT_OR_TOP = "Please add a $select or a $top=1 statement to the query string."
MANDATORY = (
    "This endpoint has mandatory filtering applied. A GET request for this endpoint must have a $filter "
    "parameter with one of the following fields in the url:{}."
)
SKIP_REFUSED = "The $skip query option is not supported for this resource."


@dataclass
class EntitySet:
    """What a read is over: the table, the path it came by, its rows and the division in the URL."""

    table: Table
    path: AccessPath
    source: RowSource
    division: int | None
    #: A navigation URL (``Header(key)/Lines``): the rows are a header's lines, so no filter is mandatory.
    navigated: bool = False


def read(sb: Sandbox, request: Request, es: EntitySet, parsed: ApiPath) -> Response:
    """A GET of an entity set, of its ``/$count`` or of one of its entities by key."""
    try:
        opts, params = _options(sb, request, es)
    except odata.ODataError as exc:
        return odata_error(400, _message(sb, exc))
    if parsed.key is not None:
        return _by_key(sb, request, es, parsed.key, opts)
    path, table = es.path, es.table
    if path.select_mandatory and opts.select is None and (path.kind in ("sync", "bulk") or opts.top != 1):
        return odata_error(400, SELECT_OR_TOP)
    types = _types(es)
    if opts.filter is not None:
        used = odata.fields(opts.filter)
        unknown = sorted(f for f in used if f not in types)
        if unknown:
            return odata_error(
                400, f"No property '{unknown[0]}' exists in type '{table.entity_type}' at position 0."
            )
        refused = sorted(f for f in used if not path.can_filter(f))
        if refused:
            return odata_error(400, "Filtering on these fields is not supported: " + ", ".join(refused))
    if sb.settings.mandatory_filtering and path.mandatory_filter and not es.navigated:
        named = odata.fields(opts.filter) if opts.filter is not None else set()
        if not named & set(path.mandatory_filter):
            return odata_error(400, MANDATORY.format(",".join(mandatory_fields(path))))
    page_size = sb.settings.bulk_page_size if path.kind in ("sync", "bulk") else sb.settings.regular_page_size
    page_size = min(page_size, path.page_size) if path.kind == "regular" else page_size
    source = es.source
    try:
        if parsed.count:
            opts.inlinecount, opts.top, opts.skiptoken = True, 0, None
            result = run_query(source, opts, page_size, path.kind == "sync", types, table.entity_type)
            return Response(200, {"Content-Type": "text/plain; charset=utf-8"}, str(result.count).encode())
        result = run_query(source, opts, page_size, path.kind == "sync", types, table.entity_type)
        rows = records(sb, request, es, result.indexes, opts)
    except odata.ODataError as exc:
        return odata_error(400, _message(sb, exc))
    if (
        sb.settings.bare_array_for_top
        and opts.top is not None
        and opts.top <= page_size
        and not opts.inlinecount
        and not opts.skiptoken  # the pages after a __next keep their results
    ):
        return json_response(200, {"d": rows})  # an OData 1.0 answer: no paging, no count (§14a)
    d: dict = {"results": rows}
    if result.count is not None:
        d["__count"] = str(result.count)
    if result.more and result.last_token:
        d["__next"] = _next_url(request, params, result.last_token, opts, len(rows))
    return json_response(200, {"d": d})


def mandatory_fields(path: AccessPath) -> list[str]:
    """The fields a mandatory filter may name, navigation properties left out (they cannot be filtered)."""
    names = path.mandatory_filter or ()
    return [n for n in names if (c := path.column(n)) is None or c.edm.startswith("Edm.")]


def _message(sb: Sandbox, exc: odata.ODataError) -> str:
    if isinstance(exc, odata.LiteralError) and sb.settings.literal_error_form == "short":
        return exc.short()
    return str(exc)


def _types(es: EntitySet) -> dict[str, str]:
    types = {c.name: c.edm for c in es.path.columns}
    if es.division is not None and es.table.partitioned:
        types.setdefault("Division", "Edm.Int32")
    return types


def _options(sb: Sandbox, request: Request, es: EntitySet) -> tuple[QueryOptions, dict[str, str]]:
    params = request.params()
    path = es.path
    names = [c.name for c in path.columns]
    opts = QueryOptions()
    text = params.get("$filter")
    if text is not None and text.strip():
        opts.filter = odata.parse_filter(text)
    if params.get("$expand", "").strip():
        opts.expand = expand.parse_expand(params["$expand"], es.table)
    select = params.get("$select")
    if select:
        select, opts.expand_select = expand.split_select(select, opts.expand)
        opts.select = odata.parse_select(select, names, es.table.entity_type)
    if params.get("$top"):
        opts.top = _non_negative(params["$top"], "$top")
    if "$skip" in params and _skip_refused(sb, path):
        raise odata.ODataError(SKIP_REFUSED)
    if params.get("$skip"):
        opts.skip = _non_negative(params["$skip"], "$skip")
    if params.get("$orderby"):
        opts.orderby = odata.parse_orderby(params["$orderby"], {c.name: c.edm for c in path.columns})
    opts.skiptoken = params.get("$skiptoken") or None
    opts.inlinecount = params.get("$inlinecount", "").lower() == "allpages"
    return opts, params


def _skip_refused(sb: Sandbox, path: AccessPath) -> bool:
    refused = {r.lower() for r in sb.settings.skip_refused}
    return path.kind in refused or path.endpoint.lower() in refused


def _non_negative(text: str, option: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise odata.ODataError(f"Invalid value '{text}' for {option}: expected a non-negative integer.", 0)
    return value


def columns_of(path: AccessPath, select: list[str] | None) -> list[Column]:
    """The columns of ``path`` that ``select`` names (all when None), in the order of ``select``."""
    if select is None:
        return list(path.columns)
    return [c for c in (path.column(n) for n in select) if c is not None]


def records(sb: Sandbox, request: Request, es: EntitySet, idx: np.ndarray, opts: QueryOptions) -> list[dict]:
    """The records of rows ``idx``, with the expanded navigation properties inlined."""
    columns = columns_of(es.path, opts.select)
    inline = {}
    for name in opts.expand:
        if any(c.name == name for c in columns):
            inline[name] = _expanded(sb, request, es, idx, name, opts.expand_select.get(name))
    return render_rows(
        columns,
        es.source.take,
        idx,
        uri_maker(request, es.path, es.source, es.division),
        es.table.entity_type,
        sb.settings.int64_as_string,
        inline,
    )


def _expanded(
    sb: Sandbox, request: Request, es: EntitySet, idx: np.ndarray, name: str, select: list[str] | None
) -> list[dict]:
    nav = expand.navigation(sb.catalog, es.table, name)
    state = sb.division(es.division) if es.division is not None else None
    lines = state.rows(nav.table.full_name) if nav is not None and state is not None else None
    if nav is None or lines is None:
        raise odata.ODataError(f"The sandbox has no data for the navigation property '{name}'.")
    source = FaithfulRows(lines, nav.table, sb.settings)
    chosen = odata.parse_select(",".join(select), [c.name for c in nav.path.columns]) if select else None
    parents = es.source.take(nav.parent_key, idx).tolist()
    groups = expand.children(source, nav.link, parents)
    child = EntitySet(nav.table, nav.path, source, es.division)
    rows = records(
        sb,
        request,
        child,
        np.concatenate(groups) if groups else np.zeros(0, np.int64),
        QueryOptions(select=chosen),
    )
    out, at = [], 0
    for group in groups:
        out.append({"results": rows[at : at + len(group)]})
        at += len(group)
    return out


def uri_maker(request: Request, path: AccessPath, source: RowSource, division: int | None):  # type: ignore[no-untyped-def]
    """A function from row indexes to the entities' URIs (``…/crm/Accounts(guid'…')``)."""
    prefix = (
        f"{request.base_url}/api/v1/{division}/{path.endpoint}"
        if division is not None
        else f"{request.base_url}/api/v1/{path.endpoint}"
    )
    key_name = key_of(path, source)
    key_column = path.column(key_name)
    edm = key_column.edm if key_column else "Edm.Guid"

    def make(idx: np.ndarray) -> list[str]:
        return [f"{prefix}({keys.literal(k, edm)})" for k in source.take(key_name, idx).tolist()]

    return make


def key_of(path: AccessPath, source: RowSource) -> str:
    """The key column of a path: the catalog's when it is one column, else the row source's."""
    return path.key if isinstance(path.key, str) else source.key_name


def _next_url(request: Request, params: dict[str, str], token: str, opts: QueryOptions, served: int) -> str:
    kept = {k: v for k, v in params.items() if k not in ("$skiptoken", "$skip")}
    if opts.top is not None:
        kept["$top"] = str(opts.top - served)
    kept["$skiptoken"] = token
    query = urlencode(kept, quote_via=quote, safe="'(),$*:")
    return f"{request.base_url}{request.path}?{query}"


def not_found(sb: Sandbox, segment: str) -> Response:
    """The 404 of a key without an entity (sandbox-fidelity.md §9d: WCF's words by default)."""
    if sb.settings.not_found_text == "wcf":
        return odata_error(404, f"Resource not found for the segment '{segment}'.")
    return odata_error(404, "The requested entity was not found.")


def _by_key(sb: Sandbox, request: Request, es: EntitySet, key_text: str, opts: QueryOptions) -> Response:
    key_name = key_of(es.path, es.source)
    column = es.path.column(key_name)
    try:
        key = keys.parse(key_text, column.edm if column else "Edm.Guid")
    except odata.ODataError as exc:
        return odata_error(400, str(exc))
    idx = keys.find_row(es.source, key)
    if idx is None or not es.source.alive_mask()[idx]:
        return not_found(sb, es.table.name)
    try:
        rows = records(sb, request, es, np.array([idx]), opts)
    except odata.ODataError as exc:
        return odata_error(400, _message(sb, exc))
    return json_response(200, {"d": rows[0]})
