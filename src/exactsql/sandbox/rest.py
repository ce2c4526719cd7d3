"""The REST side of the sandbox: the token endpoint and ``/api/v1/…`` with Exact's checks and shapes."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote, urlencode

import numpy as np
import orjson

from exactsql.catalog import AccessPath, Column, Table
from exactsql.endpoints import ApiPath, split_api_path
from exactsql.sandbox import atom, odata
from exactsql.sandbox.messages import Request, Response, json_response, odata_error
from exactsql.sandbox.query import QueryOptions, run_query
from exactsql.sandbox.render import render_rows
from exactsql.sandbox.store import RowSource, StaticRows

if TYPE_CHECKING:
    from exactsql.sandbox.core import Sandbox
    from exactsql.sandbox.oauth import AccessToken

TOKEN_ENDPOINT = "oauth2/token"
SELECT_OR_TOP = "Please add a $select or a $top=1 statement to the query string."
MANDATORY = (
    "This endpoint has mandatory filtering applied. A GET request for this endpoint must have a $filter "
    "parameter with one of the following fields in the url: {}."
)


def token(sb: Sandbox, request: Request) -> Response:
    """``POST /api/oauth2/token``."""
    sb.stats.token_calls += 1
    if request.method != "POST":
        sb.log_request(request, 405, None)
        return sb.respond(odata_error(405, "The requested resource does not support http method 'GET'."))
    form = request.form()
    app = sb.oauth.app(form.get("client_id", ""))
    user_id = None
    if app is not None:
        refresh = form.get("refresh_token")
        chain = sb.oauth._refresh.get(refresh or "")
        user_id = chain.user_id if chain else None
    if app is not None and user_id and sb.errors.blocked(app.client_id, user_id, None, TOKEN_ENDPOINT):
        sb.stats.error_budget_blocks += 1
        sb.log_request(request, sb.settings.error_block_status, None, {"grant_type": form.get("grant_type")})
        return sb.respond(_blocked_response(sb))
    result = sb.oauth.token(form)
    if result.error_kind:
        sb.stats.token_errors[result.error_kind] += 1
    if app is not None and result.user_id:
        sb.errors.record(result.status, app.client_id, result.user_id, None, TOKEN_ENDPOINT)
    sb.log_request(
        request, result.status, None, {"grant_type": form.get("grant_type"), "error": result.error_kind}
    )
    if isinstance(result.body, str):
        return sb.respond(
            Response(result.status, {"Content-Type": "text/plain", **result.headers}, result.body.encode())
        )
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache", **result.headers}
    return sb.respond(json_response(result.status, result.body, headers))


def _blocked_response(sb: Sandbox) -> Response:
    message = f"API key blocked: more than {sb.settings.error_limit} error responses in this hour for this endpoint. Try again next hour."
    return odata_error(sb.settings.error_block_status, message, {"Reason": "ErrorLimitExceeded"})


def api(sb: Sandbox, request: Request) -> Response:
    """``/api/v1/…``: authentication, error budget, rate limits, division access, then the endpoint."""
    sb.stats.api_calls += 1
    parsed = split_api_path(request.path)
    division, endpoint = parsed.division, parsed.endpoint

    token, problem = sb.oauth.authenticate(request.header("authorization"))
    if token is None or problem is not None:
        return _unauthorized(sb, request, token, problem, division, endpoint)
    chain = token.chain
    if sb.errors.blocked(chain.client_id, chain.user_id, division, endpoint):
        sb.stats.error_budget_blocks += 1
        sb.log_request(request, sb.settings.error_block_status, division, {"blocked": True})
        return sb.respond(_blocked_response(sb))

    headers: dict[str, str] = {}
    if division is not None:
        decision = sb.rates.admit(chain.client_id, division)
        if not decision.allowed:
            sb.stats.rate_limited += 1
            sb.log_request(request, 429, division, {"rate_limited": decision.exceeded})
            return sb.respond(Response(429, decision.headers, b""))
        headers = decision.headers
    response = _as_requested(request, _dispatch(sb, request, token, parsed), parsed.base)
    response.headers.update(headers)
    sb.errors.record(response.status, chain.client_id, chain.user_id, division, endpoint)
    sb.log_request(request, response.status, division)
    return sb.respond(response)


def _as_requested(request: Request, response: Response, rest: str) -> Response:
    """Atom/XML instead of JSON when the request does not ask for JSON, as Exact does."""
    if atom.wants_json(request.header("accept")) or "json" not in response.headers.get("Content-Type", ""):
        return response
    payload = orjson.loads(response.body)
    if "error" in payload:
        body = atom.error(payload["error"]["message"]["value"])
    else:
        body = atom.feed(payload["d"], rest.rsplit("/", 1)[-1])
    content_type = (
        "application/atom+xml;type=feed;charset=utf-8" if "error" not in payload else "application/xml"
    )
    return Response(response.status, {**response.headers, "Content-Type": content_type}, body)


def _unauthorized(
    sb: Sandbox,
    request: Request,
    token: AccessToken | None,
    problem: str | None,
    division: int | None,
    endpoint: str,
) -> Response:
    if problem == "expired" and token is not None:
        sb.stats.expired_token_401 += 1
        sb.errors.record(401, token.chain.client_id, token.chain.user_id, division, endpoint)
        reason = quote("access token expired")
    else:
        reason = quote("invalid access token" if problem == "invalid" else "access token missing")
    sb.log_request(request, 401, division, {"auth": problem})
    headers = {
        "WWW-Authenticate": f'Bearer realm="Exact Online", error="invalid_token", error_description="{reason}"'
    }
    return sb.respond(odata_error(401, "Unauthorized", headers))


def _dispatch(sb: Sandbox, request: Request, token: AccessToken, parsed: ApiPath) -> Response:
    division, rest = parsed.division, parsed.rest
    if request.method != "GET":
        return odata_error(405, f"The requested resource does not support http method '{request.method}'.")
    url = request.base_url + request.path + ("?" + request.query if request.query else "")
    if len(url) > sb.settings.max_url_length:
        return odata_error(
            400, f"The request URL is too long: {len(url)} characters, at most {sb.settings.max_url_length}."
        )
    chain = token.chain
    user = sb.users[chain.user_id]
    if division is None:
        if rest.lower() == "current/me":
            return _me(sb, request, chain.user_id, chain.divisions)
        if rest.lower().startswith("system/users"):
            table = sb.catalog.table("system/Users")
            path = table.paths[0]
            users = StaticRows(table, sb.world.system_users(), "UserID")
            return _collection(sb, request, table, path, users, parsed)
        return odata_error(404, "The requested resource was not found: " + rest)
    state = sb.division(division)
    if state is None or division not in chain.divisions or division not in user.divisions:
        return odata_error(
            403, "Forbidden - you have no access to this division.", {"Reason": "NoDivisionAccess"}
        )
    base = parsed.base
    found = sb.catalog.find_endpoint(base)
    if found is None:
        return odata_error(404, f"Resource not found for the segment '{base.rsplit('/', 1)[-1]}'.")
    table, path = found
    source: RowSource | None
    if table.full_name.lower() in (
        "system/divisions",
        "system/alldivisions",
        "system/getmostrecentlyuseddivisions",
    ):
        cols = sb.world.divisions_table()
        if table.name == "Divisions":
            keep = np.isin(cols["Code"].astype(np.int64), np.array(chain.divisions, dtype=np.int64))
            cols = {k: v[keep] for k, v in cols.items()}
        source = StaticRows(table, cols, "Code")
    elif table.full_name == "sync/Deleted":
        source = state.deleted
    else:
        source = state.rows(table.full_name)
    if source is None:
        return odata_error(404, f"The sandbox has no data for '{path.endpoint}'.")
    return _collection(sb, request, table, path, source, parsed)


def _me(sb: Sandbox, request: Request, user_id: str, divisions: tuple[int, ...]) -> Response:
    user = sb.users[user_id]
    current = divisions[0] if divisions else None
    row = {
        "__metadata": {
            "uri": f"{request.base_url}/api/v1/current/Me(guid'{user_id}')",
            "type": "Exact.Web.Api.System.Me",
        },
        "UserID": user_id,
        "CurrentDivision": current,
        "AccountingDivision": current,
        "DossierDivision": None,
        "FullName": user.full_name,
        "FirstName": user.first_name,
        "LastName": user.last_name,
        "UserName": user.username,
        "Email": user.email,
        "Language": user.language,
        "LanguageCode": "nl-NL",
        "Legislation": 1,
        "ServerTime": None,
        "ServerUtcOffset": 3600.0,
        "IsClientUser": False,
        "IsMyFirmPortalUser": False,
    }
    for column in sb.catalog.table("current/Me").columns:
        row.setdefault(column.name, None)
    select = request.params().get("$select")
    if select:
        names = odata.parse_select(select, [k for k in row if k != "__metadata"])
        row = {"__metadata": row["__metadata"], **{n: row[n] for n in names}}
    return json_response(200, {"d": {"results": [row]}})


def _options(request: Request, path: AccessPath, table: Table) -> tuple[QueryOptions, dict[str, str]]:
    params = request.params()
    names = [c.name for c in path.columns]
    opts = QueryOptions()
    text = params.get("$filter")
    if text is not None and text.strip():
        opts.filter = odata.parse_filter(text)
    if params.get("$select"):
        opts.select = odata.parse_select(params["$select"], names)
    if params.get("$top"):
        opts.top = _non_negative(params["$top"], "$top")
    if params.get("$skip"):
        opts.skip = _non_negative(params["$skip"], "$skip")
    if params.get("$orderby"):
        opts.orderby = odata.parse_orderby(params["$orderby"], {c.name: c.edm for c in path.columns})
    opts.skiptoken = params.get("$skiptoken") or None
    opts.inlinecount = params.get("$inlinecount", "").lower() == "allpages"
    return opts, params


def _non_negative(text: str, option: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise odata.ODataError(f"Invalid value '{text}' for {option}: expected a non-negative integer.", 0)
    return value


def _collection(
    sb: Sandbox,
    request: Request,
    table: Table,
    path: AccessPath,
    source: RowSource,
    parsed: ApiPath,
) -> Response:
    division = parsed.division
    try:
        opts, params = _options(request, path, table)
    except odata.ODataError as exc:
        return odata_error(400, str(exc))
    types = {c.name: c.edm for c in path.columns}
    if division is not None and table.partitioned:
        types.setdefault("Division", "Edm.Int32")
    if parsed.key is not None:
        return _by_key(sb, request, table, path, source, division, parsed.key, opts)
    count_only = parsed.count
    if path.select_mandatory and opts.select is None and (path.kind in ("sync", "bulk") or opts.top != 1):
        return odata_error(400, SELECT_OR_TOP)
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
    if sb.settings.mandatory_filtering and path.mandatory_filter:
        named = odata.fields(opts.filter) if opts.filter is not None else set()
        if not named & set(path.mandatory_filter):
            return odata_error(400, MANDATORY.format(", ".join(path.mandatory_filter)))
    page_size = sb.settings.bulk_page_size if path.kind in ("sync", "bulk") else sb.settings.regular_page_size
    page_size = min(page_size, path.page_size) if path.kind == "regular" else page_size
    try:
        if count_only:
            opts.inlinecount, opts.top, opts.skiptoken = True, 0, None
            result = run_query(source, opts, page_size, path.kind == "sync", types, table.entity_type)
            return Response(200, {"Content-Type": "text/plain; charset=utf-8"}, str(result.count).encode())
        result = run_query(source, opts, page_size, path.kind == "sync", types, table.entity_type)
    except odata.ODataError as exc:
        return odata_error(400, str(exc))
    columns = _columns(path, opts.select)
    rows = render_rows(
        columns, source.take, result.indexes, _uri_maker(request, path, source, division), table.entity_type
    )
    d: dict = {"results": rows}
    if result.count is not None:
        d["__count"] = str(result.count)
    if result.more and result.last_token:
        d["__next"] = _next_url(request, params, result.last_token, opts, len(rows))
    return Response(200, {"Content-Type": "application/json; charset=utf-8"}, orjson.dumps({"d": d}))


def _columns(path: AccessPath, select: list[str] | None) -> list[Column]:
    if select is None:
        return list(path.columns)
    return [c for c in (path.column(n) for n in select) if c is not None]


def _uri_maker(request: Request, path: AccessPath, source: RowSource, division: int | None):  # type: ignore[no-untyped-def]
    prefix = (
        f"{request.base_url}/api/v1/{division}/{path.endpoint}"
        if division is not None
        else f"{request.base_url}/api/v1/{path.endpoint}"
    )
    key_name = _key_name(path, source)
    key_column = path.column(key_name)
    edm = key_column.edm if key_column else "Edm.Guid"

    def make(idx: np.ndarray) -> list[str]:
        keys = source.take(key_name, idx).tolist()
        if edm == "Edm.Guid":
            return [f"{prefix}(guid'{k}')" for k in keys]
        if edm == "Edm.Int64":
            return [f"{prefix}({k}L)" for k in keys]
        return [f"{prefix}({k})" for k in keys]

    return make


def _key_name(path: AccessPath, source: RowSource) -> str:
    """The key column of a path: the catalog's when it is one column, else the row source's."""
    return path.key if isinstance(path.key, str) else source.key_name


def _next_url(request: Request, params: dict[str, str], token: str, opts: QueryOptions, served: int) -> str:
    kept = {k: v for k, v in params.items() if k not in ("$skiptoken", "$skip")}
    if opts.top is not None:
        kept["$top"] = str(opts.top - served)
    kept["$skiptoken"] = token
    query = urlencode(kept, quote_via=quote, safe="'(),$*:")
    return f"{request.base_url}{request.path}?{query}"


def _by_key(
    sb: Sandbox,
    request: Request,
    table: Table,
    path: AccessPath,
    source: RowSource,
    division: int | None,
    key_text: str,
    opts: QueryOptions,
) -> Response:
    key = key_text.strip()
    if key.lower().startswith("guid'") and key.endswith("'"):
        key = key[5:-1].lower()
    idx = None
    lookup = getattr(source, "index_of_key", None)
    if lookup is not None:
        idx = lookup(key)
    if idx is None:
        keys = source.column(_key_name(path, source))
        hits = np.flatnonzero(keys.astype(str) == key)
        idx = int(hits[0]) if len(hits) else None
    if idx is None or not source.alive_mask()[idx]:
        return odata_error(404, "The requested entity was not found.")
    columns = _columns(path, opts.select)
    rows = render_rows(
        columns, source.take, np.array([idx]), _uri_maker(request, path, source, division), table.entity_type
    )
    return json_response(200, {"d": rows[0]})
