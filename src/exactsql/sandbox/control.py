"""The control plane under ``/_sandbox/``: stats, request log, truth snapshots, mutations, faults, clock."""

from __future__ import annotations

import datetime as dt
import ipaddress
import math
from typing import TYPE_CHECKING

import numpy as np
import orjson

from exactsql.sandbox.fidelity import FaithfulRows
from exactsql.sandbox.messages import Request, Response, json_response
from exactsql.sandbox.pages import uri_maker
from exactsql.sandbox.render import render_rows
from exactsql.sandbox.settings import checked_text
from exactsql.sandbox.store import RowSource

if TYPE_CHECKING:
    from exactsql.sandbox.core import Sandbox


#: The largest number the control plane takes (a count, a limit, seconds): beyond it, a 400.
MAX_NUMBER = 10**12
#: The methods of the calls that answer more than one (any other: 404).
ALLOWED = {"faults": ("GET", "POST", "DELETE"), "clock": ("GET", "POST"), "settings": ("GET", "POST")}
#: The most rows one mutate call inserts, updates or deletes.
MAX_MUTATIONS = 1_000_000
#: Settings that must be at least 1 (0 would leave nothing to page or address).
AT_LEAST_ONE = {"regular_page_size", "bulk_page_size", "max_url_length"}


class BadInput(ValueError):
    """A control-plane request the sandbox refuses with a 400 (or the given status) and this message."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _bad(message: str, status: int = 400) -> Response:
    return json_response(status, {"error": message})


def is_loopback(address: str | None) -> bool:
    """Whether a client address is this machine (None: in-process, no network in between)."""
    if address is None:
        return True
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return address == "localhost"
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def number(
    body: dict, name: str, default: float | None = None, *, whole: bool = True, low: float = 0
) -> float:
    """``body[name]`` as a finite number in [low, MAX_NUMBER] (whole if asked); BadInput names the field."""
    value = body.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise BadInput(f"{name!r} must be a number, not {orjson.dumps(value).decode()[:40]}")
    if whole and value != int(value):
        raise BadInput(f"{name!r} must be a whole number, not {value}")
    if not low <= value <= MAX_NUMBER:
        raise BadInput(f"{name!r} must be between {low:g} and {MAX_NUMBER:g}, not {value}")
    return int(value) if whole else float(value)


def _body(request: Request) -> dict:
    """The JSON object of a POST (empty when there is no body); BadInput for anything else."""
    if request.method != "POST":
        return {}
    try:
        body = request.json()
    except (orjson.JSONDecodeError, UnicodeDecodeError):
        raise BadInput("the body must be JSON") from None
    if not isinstance(body, dict):
        raise BadInput(f"the body must be a JSON object, not {type(body).__name__}")
    return body


def handle(sb: Sandbox, request: Request) -> Response:
    """Dispatches a control-plane request; bad input is a 400 that says what is wrong, never a 500."""
    name = request.path[len("/_sandbox/") :].strip("/")
    try:
        return _handle(sb, request, name, request.method, _body(request))
    except BadInput as exc:
        return _bad(str(exc), exc.status)
    except (ValueError, TypeError) as exc:
        return _bad(f"bad input for /_sandbox/{name}: {exc}")


def _handle(sb: Sandbox, request: Request, name: str, method: str, body: dict) -> Response:
    if name == "stats" and method == "GET":
        return json_response(200, sb.stats.as_dict())
    if name == "requests" and method == "GET":
        text = request.params().get("limit", "100")
        if not text.isascii() or not text.lstrip("-").isdigit() or len(text) > 13:
            raise BadInput(f"limit must be a whole number, not {text[:40]!r}")
        limit = int(text)
        entries = list(sb.requests)[-limit:] if limit > 0 else []
        return json_response(200, entries)
    if name == "info" and method == "GET":
        if not is_loopback(request.client):
            raise BadInput(
                f"/_sandbox/info holds the app's client secret and the users' passwords: it answers only "
                f"clients on this machine (loopback), not {request.client or 'an unknown address'}",
                403,
            )
        return json_response(200, sb.info(request.base_url))
    if name.startswith("snapshot/") and method == "GET":
        return _snapshot(sb, request, name[len("snapshot/") :])
    if name == "mutate" and method == "POST":
        return _mutate(sb, body)
    if method not in ALLOWED.get(name, ("GET", "POST")):
        raise BadInput(f"no control-plane call {method} /_sandbox/{name}", 404)
    if name == "faults":
        if method == "POST":
            _check_fault(body)
            fault = sb.faults.add(body)
            return json_response(200, {"armed": fault.as_dict(), "faults": sb.faults.list()})
        if method == "DELETE":
            sb.faults.clear()
            return json_response(200, {"faults": []})
        return json_response(200, {"faults": sb.faults.list()})
    if name == "authorize" and method == "POST":
        return _authorize(sb, body)
    if name == "clock":
        if method == "POST":
            now = sb.clock.advance(number(body, "advance", 0, whole=False))
        else:
            now = sb.clock.now()
        return json_response(
            200,
            {"now": now, "iso": dt.datetime.fromtimestamp(now, dt.UTC).isoformat(), "scale": sb.clock.scale},
        )
    if name == "settings":
        if method == "POST":
            sb.settings.update(_checked_settings(sb, body))
        return json_response(200, {n: getattr(sb.settings, n) for n in sb.settings.names()})
    if name == "reset" and method == "POST":
        sb.reset()
        return json_response(200, {"reset": True})
    raise BadInput(f"no control-plane call {method} /_sandbox/{name}", 404)


def _check_fault(body: dict) -> None:
    """The types of a fault to arm (``Faults.add`` checks the values)."""
    if not isinstance(body.get("kind", ""), str):
        raise BadInput("'kind' must be a string")
    if body.get("count") is not None:
        number(body, "count")
    if body.get("ratio") is not None:
        number(body, "ratio", whole=False)
    if "seconds" in body:
        number(body, "seconds", whole=False)
    if not isinstance(body.get("path_prefix") or "", str):
        raise BadInput("'path_prefix' must be a string")


def _checked_settings(sb: Sandbox, body: dict) -> dict:
    """``body`` as settings: known names, each of its setting's type and in range; BadInput otherwise."""
    known = sb.settings.names()
    checked: dict = {}
    for name, value in body.items():
        if name not in known:
            raise BadInput(f"unknown setting {name!r}; known: {', '.join(sorted(known))}")
        current = getattr(sb.settings, name)
        if isinstance(current, str | dict) or name == "skip_refused":
            checked[name] = checked_text(name, value)
        elif isinstance(current, bool):
            if not isinstance(value, bool):
                raise BadInput(
                    f"setting {name!r} must be true or false, not {orjson.dumps(value).decode()[:40]}"
                )
            checked[name] = value
        elif isinstance(current, tuple):
            if not isinstance(value, list) or not all(
                isinstance(v, int) and not isinstance(v, bool) and 100 <= v <= 599 for v in value
            ):
                raise BadInput(f"setting {name!r} must be a list of HTTP statuses (100-599)")
            checked[name] = tuple(value)
        elif isinstance(current, int):
            checked[name] = number(body, name, low=1 if name in AT_LEAST_ONE else 0)
            if name in ("error_block_status", "validation_error_status") and not 100 <= checked[name] <= 599:
                raise BadInput(f"setting {name!r} must be an HTTP status (100-599)")
        else:
            checked[name] = number(body, name, whole=False)
    return checked


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
    wanted_divisions = body.get("divisions") or user.divisions
    if not isinstance(wanted_divisions, list | tuple) or not all(
        isinstance(d, int) and not isinstance(d, bool) for d in wanted_divisions
    ):
        return _bad("'divisions' must be a list of division codes")
    divisions = tuple(wanted_divisions)
    code = sb.oauth.issue_code(app, redirect_uri, user.user_id, divisions)
    return json_response(200, {"code": code, "redirect_uri": redirect_uri, "user_id": user.user_id})


def _snapshot(sb: Sandbox, request: Request, rest: str) -> Response:
    parts = rest.split("/")
    if len(parts) != 3 or not parts[0].isascii() or not parts[0].isdigit():
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
    source = FaithfulRows(source, table, sb.settings)  # the values as the API sends them (code_widths)
    path = table.path("sync") or table.paths[0]
    columns = list(path.columns)
    if table.partitioned and path.column("Division") is None and table.column("Division") is not None:
        division_col = table.column("Division")
        assert division_col is not None
        columns.append(division_col)
    idx = np.flatnonzero(source.alive_mask())
    uris = uri_maker(request, path, source, state.code)
    rows_out = render_rows(columns, source.take, idx, uris, table.entity_type, sb.settings.int64_as_string)
    return json_response(
        200, {"division": state.code, "entity": table.full_name, "count": len(rows_out), "rows": rows_out}
    )


def _mutate(sb: Sandbox, body: dict) -> Response:
    division = body.get("division")
    entity = str(body.get("entity", ""))
    code = str(division) if isinstance(division, int | str) and not isinstance(division, bool) else ""
    state = sb.division(int(code)) if code.isascii() and code.isdigit() and len(code) < 12 else None
    if state is None:
        return _bad(f"unknown division {division!r}")
    counts = {k: int(number(body, k, 0)) for k in ("inserts", "updates", "deletes")}
    if any(v > MAX_MUTATIONS for v in counts.values()):
        return _bad(f"inserts, updates and deletes must be at most {MAX_MUTATIONS:,} a call")
    try:
        done = state.mutate(
            entity,
            counts["inserts"],
            counts["updates"],
            counts["deletes"],
            sb._mutate_rng,
            sb.world.users[0].user_id,
            sb.clock.wall_ms(),
        )
    except KeyError:
        return _bad(
            f"the sandbox has no data for {entity!r}; entities: {', '.join(sorted(state.entities))}", 404
        )
    return json_response(200, {"division": state.code, "entity": entity, **done})
