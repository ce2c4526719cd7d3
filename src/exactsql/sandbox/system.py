"""The rows of the world-wide endpoints: ``current/Me``, the users, the divisions; ``users/UserHasRights``."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import numpy as np

from exactsql.catalog import Catalog
from exactsql.sandbox.keys import BAD_SYNTAX
from exactsql.sandbox.messages import Request, Response, json_response, odata_error
from exactsql.sandbox.store import StaticRows
from exactsql.sandbox.values import guid_for, salt_for

if TYPE_CHECKING:
    from exactsql.sandbox.core import Sandbox

#: The endpoints whose rows are the licence's divisions (``Divisions`` ones: the divisions of the grant).
DIVISION_ENDPOINTS = frozenset(
    {"system/divisions", "system/alldivisions", "system/getmostrecentlyuseddivisions", "hrm/divisions"}
)

#: Me's properties taken from the user's row of system/Users, by name.
_FROM_USER = (
    "UserID",
    "UserName",
    "FullName",
    "FirstName",
    "MiddleName",
    "LastName",
    "Initials",
    "Email",
    "Gender",
    "Title",
    "Language",
    "Nationality",
    "Phone",
    "Mobile",
)
_FLAGS = (
    "IsClientUser",
    "IsEmployeeSelfServiceUser",
    "IsMyFirmLiteUser",
    "IsMyFirmPortalUser",
    "IsOEIMigrationMandatory",
    "IsStarterUser",
)
_AMSTERDAM = ZoneInfo("Europe/Amsterdam")


def me_rows(sb: Sandbox, user_id: str, divisions: tuple[int, ...]) -> StaticRows:
    """``current/Me``: one row, every documented property (sandbox-fidelity.md §6), nulls where none apply."""
    table = sb.catalog.table("current/Me")
    users = sb.world.system_users()
    at = int(np.flatnonzero(users["UserID"] == user_id)[0])
    row: dict[str, object] = {name: users[name][at] for name in _FROM_USER if name in users}
    current = divisions[0] if divisions else None
    now = dt.datetime.fromtimestamp(sb.clock.now(), dt.UTC).astimezone(_AMSTERDAM)
    offset = now.utcoffset()
    row.update(
        {
            "CurrentDivision": current,
            "AccountingDivision": current,
            "DivisionCustomer": users["Customer"][at] if "Customer" in users else None,
            "DivisionCustomerName": users["CustomerName"][at] if "CustomerName" in users else None,
            "EmployeeID": guid_for(salt_for(sb.seed, "employees of users"), at),
            "LanguageCode": "nl-NL",
            "Legislation": 1,
            "ServerTime": now.replace(tzinfo=None).isoformat(timespec="milliseconds"),
            "ServerUtcOffset": offset.total_seconds() if offset is not None else 3600.0,
            **dict.fromkeys(_FLAGS, False),
        }
    )
    columns = {}
    for column in table.columns:
        value = row.get(column.name)
        if column.edm == "Edm.Double":
            columns[column.name] = np.array([np.nan if value is None else value], dtype=np.float64)
        else:
            array = np.empty(1, dtype=object)
            array[0] = value
            columns[column.name] = array
    return StaticRows(table, columns, "UserID")


def division_rows(sb: Sandbox, endpoint: str, table_name: str, granted: tuple[int, ...]) -> StaticRows:
    """The divisions of the licence; for ``Divisions`` endpoints only those of the grant."""
    cols = sb.world.divisions_table()
    if table_name == "Divisions":
        keep = np.isin(cols["Code"].astype(np.int64), np.array(granted, dtype=np.int64))
        cols = {k: v[keep] for k, v in cols.items()}
    return StaticRows(sb.catalog.table(endpoint), cols, "Code")


def user_has_rights(catalog: Catalog, request: Request) -> Response:
    """``users/UserHasRights?endpoint='crm/Accounts'&action='GET'`` (``method`` is taken for ``action``)."""
    params = {k.lower(): v for k, v in request.params().items()}
    endpoint = _quoted(params.get("endpoint"))
    action = _quoted(params.get("action", params.get("method")))
    if endpoint is None or action is None:
        return odata_error(400, BAD_SYNTAX)
    found = catalog.find_endpoint(endpoint)
    allowed = found is not None and action.upper() in found[1].methods
    return json_response(200, {"d": {"UserHasRights": allowed}})


def _quoted(value: str | None) -> str | None:
    """The text of a string literal ``'…'``; None when it is missing or not one."""
    if value is None or len(value) < 2 or not (value.startswith("'") and value.endswith("'")):
        return None
    return value[1:-1].replace("''", "'")
