"""The REST side of the sandbox: the token endpoint and ``/api/v1/…`` with Exact's checks and shapes."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import functools
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote_plus

import numpy as np
import orjson

from exactsql.catalog import load_catalog
from exactsql.endpoints import ApiPath, split_api_path
from exactsql.sandbox import atom, expand, keys, metadata, odata, system, writes
from exactsql.sandbox.fidelity import FaithfulRows
from exactsql.sandbox.messages import Request, Response, json_response, odata_error
from exactsql.sandbox.pages import EntitySet, not_found, read
from exactsql.sandbox.render import escape_slashes
from exactsql.sandbox.store import RowSource, StaticRows

if TYPE_CHECKING:
    from exactsql.sandbox.core import Sandbox
    from exactsql.sandbox.oauth import AccessToken

TOKEN_ENDPOINT = "oauth2/token"


def token(sb: Sandbox, request: Request) -> Response:
    """``POST /api/oauth2/token``."""
    sb.stats.token_calls += 1
    request = _public(sb, request)
    if request.method != "POST":
        sb.log_request(request, 405, None)
        return sb.respond(odata_error(405, "The requested resource does not support http method 'GET'."))
    form = _client_credentials(sb, request)
    app = sb.oauth.app(form.get("client_id", "")) if form is not None else None
    user_id = None
    if app is not None and form is not None:
        chain = sb.oauth.chain_of(form.get("refresh_token", ""))
        user_id = chain.user_id if chain else None
    if app is not None and user_id and sb.errors.blocked(app.client_id, user_id, None, TOKEN_ENDPOINT):
        sb.stats.error_budget_blocks += 1
        sb.log_request(
            request, sb.settings.error_block_status, None, {"grant_type": (form or {}).get("grant_type")}
        )
        return sb.respond(_blocked_response(sb))
    result = sb.oauth.token(form if form is not None else {})
    grant = (form or request.form()).get("grant_type")
    if result.error_kind:
        sb.stats.token_errors[result.error_kind] += 1
    if app is not None and result.user_id:
        sb.errors.record(result.status, app.client_id, result.user_id, None, TOKEN_ENDPOINT)
    sb.log_request(request, result.status, None, {"grant_type": grant, "error": result.error_kind})
    if isinstance(result.body, str):
        return sb.respond(
            Response(result.status, {"Content-Type": "text/plain", **result.headers}, result.body.encode())
        )
    headers = {"Cache-Control": "no-store", "Pragma": "no-cache", **result.headers}
    response = json_response(result.status, result.body, headers)
    if sb.settings.json_escape_slash:
        response.body = escape_slashes(response.body)
    return sb.respond(response)


def _client_credentials(sb: Sandbox, request: Request) -> dict[str, str] | None:
    """The form with the client's id and secret, from the form or an HTTP Basic header (RFC 6749 §2.3.1).

    None when a Basic header cannot be read or names another client than the form.
    """
    form = request.form()
    header = request.header("authorization") or ""
    if not sb.settings.token_basic_auth or header[:6].lower() != "basic ":
        return form
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        return None
    client_id, secret = (unquote_plus(v) if "%" in v else v for v in (client_id, secret))
    if form.get("client_id", client_id) != client_id or form.get("client_secret", secret) != secret:
        return None
    return {**form, "client_id": client_id, "client_secret": secret}


def _blocked_response(sb: Sandbox) -> Response:
    message = f"API key blocked: more than {sb.settings.error_limit} error responses in this hour for this endpoint. Try again next hour."
    return odata_error(sb.settings.error_block_status, message, {"Reason": "ErrorLimitExceeded"})


def _public(sb: Sandbox, request: Request) -> Request:
    """The request as seen through ``public_base_url`` (the base its answers' URLs are written with)."""
    if sb.settings.public_base_url:
        return dataclasses.replace(request, base_url=sb.settings.public_base_url)
    return request


def api(sb: Sandbox, request: Request) -> Response:
    """``/api/v1/…``: authentication, error budget, rate limits, division access, then the endpoint."""
    sb.stats.api_calls += 1
    request = _public(sb, request)
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
    response = _finish(sb, request, parsed, _dispatch(sb, request, token, parsed))
    response.headers.update(headers)
    sb.errors.record(response.status, chain.client_id, chain.user_id, division, endpoint)
    sb.log_request(request, response.status, division)
    return sb.respond(response)


def _finish(sb: Sandbox, request: Request, parsed: ApiPath, response: Response) -> Response:
    """The answer as Exact writes it: Atom/XML unless JSON was asked for, escaped slashes, the OData version."""
    content_type = response.headers.get("Content-Type", "")
    if sb.settings.data_service_version and content_type:
        d = response.payload.get("d") if isinstance(response.payload, dict) else None
        v2 = (isinstance(d, dict) and "results" in d) or content_type.startswith("text/plain")
        response.headers["DataServiceVersion"] = "2.0;" if v2 else "1.0;"
    if "json" not in content_type:
        return response
    if not atom.wants_json(request.header("accept")):
        return _as_atom(sb, request, parsed, response)
    if sb.settings.json_escape_slash:
        response.body = escape_slashes(response.body)
    return response


def _as_atom(sb: Sandbox, request: Request, parsed: ApiPath, response: Response) -> Response:
    payload: Any = response.payload if response.payload is not None else orjson.loads(response.body)
    if "error" in payload:
        body = atom.error(payload["error"]["message"]["value"])
        return Response(response.status, {**response.headers, "Content-Type": "application/xml"}, body)
    service, _, _ = parsed.base.partition("/")
    prefix = f"{request.base_url}/api/v1/" + (f"{parsed.division}/" if parsed.division is not None else "")
    now = dt.datetime.fromtimestamp(sb.clock.now(), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    title = parsed.base.rsplit("/", 1)[-1]
    place = atom.Place(prefix + service + "/", prefix + parsed.base, title, now, _types_of)
    d = payload["d"]
    kind = "entry" if isinstance(d, dict) and "__metadata" in d else "feed"
    content_type = f"application/atom+xml;type={kind};charset=utf-8"
    if isinstance(d, dict) and "__metadata" not in d and "results" not in d:
        content_type = "application/xml;charset=utf-8"
    return Response(
        response.status, {**response.headers, "Content-Type": content_type}, atom.document(d, place)
    )


@functools.cache
def _entity_types() -> dict[str, dict[str, str]]:
    types: dict[str, dict[str, str]] = {}
    for table in load_catalog().tables:
        found = types.setdefault(table.entity_type, {})
        for column in table.columns:
            found.setdefault(column.name, column.edm)
    return types


def _types_of(entity_type: str) -> dict[str, str]:
    """The Edm types of an entity type's properties, by name."""
    return _entity_types().get(entity_type, {})


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
    if request.method != "GET" and (request.method not in writes.WRITE_METHODS or division is None):
        return odata_error(405, writes.NOT_ALLOWED.format(request.method))
    url = request.base_url + request.path + ("?" + request.query if request.query else "")
    if len(url) > sb.settings.max_url_length:
        return odata_error(
            400, f"The request URL is too long: {len(url)} characters, at most {sb.settings.max_url_length}."
        )
    chain = token.chain
    user = sb.users[chain.user_id]
    if division is None:
        name = parsed.base.lower()
        if name == "current/me":
            me = system.me_rows(sb, chain.user_id, chain.divisions)
            return _read(sb, request, "current/Me", me, parsed)
        if name == "system/users":
            users = StaticRows(sb.catalog.table("system/Users"), sb.world.system_users(), "UserID")
            return _read(sb, request, "system/Users", users, parsed)
        return odata_error(404, "The requested resource was not found: " + rest)
    state = sb.division(division)
    if state is None or division not in chain.divisions or division not in user.divisions:
        return odata_error(
            403, "Forbidden - you have no access to this division.", {"Reason": "NoDivisionAccess"}
        )
    if request.method != "GET":
        return writes.write(sb, request, token, parsed, state)
    base = parsed.base
    if base.lower().endswith("/$metadata") and base.count("/") == 1:
        document = metadata.document(sb.catalog, base.split("/", 1)[0])
        if document is None:
            return odata_error(404, f"Resource not found for the segment '{base.split('/', 1)[0]}'.")
        return Response(200, {"Content-Type": "application/xml;charset=utf-8"}, document)
    if base.lower() == "users/userhasrights":
        return system.user_has_rights(sb.catalog, request)
    deferred = expand.DEFERRED.match(base)
    if deferred is not None and parsed.key is None:
        return _navigation(sb, request, parsed, deferred)
    found = sb.catalog.find_endpoint(base)
    if found is None:
        return odata_error(404, f"Resource not found for the segment '{base.rsplit('/', 1)[-1]}'.")
    table, path = found
    source: RowSource | None
    if table.full_name.lower() in system.DIVISION_ENDPOINTS:
        source = system.division_rows(sb, table.full_name, table.name, chain.divisions)
    elif table.full_name == "sync/Deleted":
        source = state.deleted
    else:
        source = state.rows(table.full_name)
    if source is None:
        return odata_error(404, f"The sandbox has no data for '{path.endpoint}'.")
    es = EntitySet(table, path, FaithfulRows(source, table, sb.settings), division)
    return read(sb, request, es, parsed)


def _read(sb: Sandbox, request: Request, name: str, rows: StaticRows, parsed: ApiPath) -> Response:
    """A read of a world-wide table (no division in the URL)."""
    table = sb.catalog.table(name)
    es = EntitySet(table, table.paths[0], FaithfulRows(rows, table, sb.settings), None)
    return read(sb, request, es, parsed)


def _navigation(sb: Sandbox, request: Request, parsed: ApiPath, match: re.Match[str]) -> Response:
    """``Header(key)/Lines``: the header's lines, as a collection of their own."""
    base, key_text, name = match.group("base"), match.group("key"), match.group("nav")
    found = sb.catalog.find_endpoint(base)
    state = sb.division(parsed.division) if parsed.division is not None else None
    if found is None or state is None:
        return odata_error(404, f"Resource not found for the segment '{base.rsplit('/', 1)[-1]}'.")
    table = found[0]
    nav = expand.navigation(sb.catalog, table, name)
    headers = state.rows(table.full_name)
    lines = state.rows(nav.table.full_name) if nav is not None else None
    if nav is None or headers is None or lines is None:
        return odata_error(404, f"Resource not found for the segment '{name}'.")
    key_column = table.column(nav.parent_key)
    try:
        key = keys.parse(key_text, key_column.edm if key_column else "Edm.Guid")
    except odata.ODataError as exc:
        return odata_error(400, str(exc))
    row = keys.find_row(headers, key)
    if row is None or not headers.alive_mask()[row]:
        return not_found(sb, table.name)
    value = headers.take(nav.parent_key, np.array([row]))[0]
    keep = lines.column(nav.link) == value
    source = FaithfulRows(lines, nav.table, sb.settings, keep=keep)
    es = EntitySet(nav.table, nav.path, source, parsed.division, navigated=True)
    return read(sb, request, es, dataclasses.replace(parsed, key=None))
