"""The control plane under ``/_sandbox/``: stats, request log, truth snapshots, mutations, faults, clock."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np
import orjson

from exactsql.sandbox.messages import Request, Response, json_response
from exactsql.sandbox.render import render_rows
from exactsql.sandbox.store import RowSource
from exactsql.sandbox.values import cet_ms

if TYPE_CHECKING:
    from exactsql.sandbox.core import Sandbox


def _bad(message: str, status: int = 400) -> Response:
    return json_response(status, {"error": message})


def handle(sb: Sandbox, request: Request) -> Response:
    """Dispatches a control-plane request."""
    name = request.path[len("/_sandbox/") :].strip("/")
    method = request.method
    try:
        body = request.json() if method == "POST" else {}
    except orjson.JSONDecodeError:
        return _bad("the body must be JSON")
    try:
        if name == "stats" and method == "GET":
            return json_response(200, sb.stats.as_dict())
        if name == "requests" and method == "GET":
            limit = int(request.params().get("limit", "100"))
            entries = list(sb.requests)[-limit:] if limit > 0 else []
            return json_response(200, entries)
        if name == "info" and method == "GET":
            return json_response(200, sb.info(request.base_url))
        if name.startswith("snapshot/") and method == "GET":
            return _snapshot(sb, request, name[len("snapshot/") :])
        if name == "mutate" and method == "POST":
            return _mutate(sb, body)
        if name == "faults":
            if method == "POST":
                fault = sb.faults.add(body)
                return json_response(200, {"armed": fault.as_dict(), "faults": sb.faults.list()})
            if method == "DELETE":
                sb.faults.clear()
                return json_response(200, {"faults": []})
            return json_response(200, {"faults": sb.faults.list()})
        if name == "authorize" and method == "POST":
            return _authorize(sb, body)
        if name == "clock":
            now = sb.clock.advance(float(body.get("advance", 0))) if method == "POST" else sb.clock.now()
            return json_response(
                200,
                {
                    "now": now,
                    "iso": dt.datetime.fromtimestamp(now, dt.UTC).isoformat(),
                    "scale": sb.clock.scale,
                },
            )
        if name == "settings":
            if method == "POST":
                sb.settings.update(body)
            return json_response(200, {n: getattr(sb.settings, n) for n in sb.settings.names()})
        if name == "reset" and method == "POST":
            sb.reset()
            return json_response(200, {"reset": True})
    except ValueError as exc:
        return _bad(str(exc))
    return _bad(f"no control-plane call {method} /_sandbox/{name}", 404)


def _authorize(sb: Sandbox, body: dict) -> Response:
    app = sb.oauth.app(str(body.get("client_id", "")))
    if app is None:
        return _bad("unknown client_id")
    redirect_uri = str(body.get("redirect_uri") or app.redirect_uris[0])
    if redirect_uri not in app.redirect_uris:
        return _bad("redirect_uri does not match the app's registered redirect URI")
    wanted = body.get("user")
    if wanted:
        user = sb.users_by_name.get(str(wanted).lower()) or sb.users.get(str(wanted))
        if user is None:
            return _bad(f"unknown user {wanted!r}")
    else:
        user = sb.world.users[0]
    divisions = tuple(body.get("divisions") or user.divisions)
    code = sb.oauth.issue_code(app, redirect_uri, user.user_id, divisions)
    return json_response(200, {"code": code, "redirect_uri": redirect_uri, "user_id": user.user_id})


def _snapshot(sb: Sandbox, request: Request, rest: str) -> Response:
    parts = rest.split("/")
    if len(parts) != 3 or not parts[0].isdigit():
        return _bad("use /_sandbox/snapshot/{division}/{service}/{entity}")
    state = sb.division(int(parts[0]))
    if state is None:
        return _bad(f"no division {parts[0]}", 404)
    entity = f"{parts[1]}/{parts[2]}"
    source: RowSource
    if entity.lower() == "sync/deleted":
        source = state.deleted
        table = sb.catalog.table("sync/Deleted")
    else:
        rows = state.rows(entity)
        if rows is None:
            return _bad(f"the sandbox has no data for {entity}", 404)
        source, table = rows, rows.table
    path = table.path("sync") or table.paths[0]
    columns = list(path.columns)
    if table.partitioned and path.column("Division") is None and table.column("Division") is not None:
        division_col = table.column("Division")
        assert division_col is not None
        columns.append(division_col)
    idx = np.flatnonzero(source.alive_mask())
    key_name = path.key or source.key_name
    base = f"{request.base_url}/api/v1/{state.code}/{path.endpoint}"

    def uris(ix: np.ndarray) -> list[str]:
        return [f"{base}({k})" for k in source.take(key_name, ix).tolist()]

    rows_out = render_rows(columns, source.take, idx, uris, table.entity_type)
    return json_response(
        200, {"division": state.code, "entity": table.full_name, "count": len(rows_out), "rows": rows_out}
    )


def _mutate(sb: Sandbox, body: dict) -> Response:
    division = body.get("division")
    entity = str(body.get("entity", ""))
    state = (
        sb.division(int(division)) if isinstance(division, int | str) and str(division).isdigit() else None
    )
    if state is None:
        return _bad(f"unknown division {division!r}")
    counts = {k: int(body.get(k, 0)) for k in ("inserts", "updates", "deletes")}
    if any(v < 0 for v in counts.values()):
        return _bad("inserts, updates and deletes must be non-negative")
    try:
        done = state.mutate(
            entity,
            counts["inserts"],
            counts["updates"],
            counts["deletes"],
            sb._mutate_rng,
            sb.world.users[0].user_id,
            cet_ms(dt.datetime.fromtimestamp(sb.clock.now(), dt.UTC)),
        )
    except KeyError:
        return _bad(
            f"the sandbox has no data for {entity!r}; entities: {', '.join(sorted(state.entities))}", 404
        )
    return json_response(200, {"division": state.code, "entity": entity, **done})
