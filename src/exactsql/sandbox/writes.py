"""Writes through the REST API as Exact answers them: POST creates (201), PUT updates and DELETE removes (204).

A header's lines come inline in its POST (``SalesInvoiceLines: [...]``) and become rows of the lines'
entity, linked by the header's key, so the lines endpoint, ``Header(key)/Lines``, ``$expand`` and the
bulk and sync endpoints all show them. Evidence and texts: docs/design/sandbox-writes.md.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import orjson

from exactsql.catalog import AccessPath, Table
from exactsql.endpoints import ApiPath
from exactsql.sandbox import bookings, expand, keys, odata
from exactsql.sandbox.fidelity import FaithfulRows
from exactsql.sandbox.messages import Request, Response, json_response, odata_error
from exactsql.sandbox.pages import EntitySet, not_found, records, uri_maker
from exactsql.sandbox.query import QueryOptions
from exactsql.sandbox.store import DivisionState, EntityRows, deleted_entity_type
from exactsql.sandbox.write_rules import write_fields
from exactsql.sandbox.write_validation import (
    ALREADY_EXISTS,
    NOT_AN_OBJECT,
    REFERENCES,
    UNBALANCED,
    Checked,
    Reference,
    WriteError,
    caption,
    check_body,
    check_references,
    find_reference,
    mandatory_error,
    missing,
)

if TYPE_CHECKING:
    from exactsql.sandbox.core import Sandbox
    from exactsql.sandbox.oauth import AccessToken

WRITE_METHODS = frozenset({"POST", "PUT", "DELETE"})
#: WCF Data Services' words for a header PUT that carries lines.
DEEP_UPDATE = (
    "Error processing request stream. Deep updates are not supported in PUT, MERGE, or PATCH operations."
)
#: The words of a method the endpoint does not take (ASP.NET's, as Exact's token endpoint answers a GET).
NOT_ALLOWED = "The requested resource does not support http method '{}'."
#: The sum of a journal entry's lines may be off by at most this (half a cent).
BALANCE_TOLERANCE = 0.005
#: Entries whose lines must add up to zero.
BALANCED = frozenset({"generaljournalentry/GeneralJournalEntries"})
#: Numbers the server gives a new record: the next one after the highest in the division.
NUMBERED = {
    "salesinvoice/SalesInvoices": "InvoiceNumber",
    "salesorder/SalesOrders": "OrderNumber",
    "generaljournalentry/GeneralJournalEntries": "EntryNumber",
    "purchaseentry/PurchaseEntries": "EntryNumber",
    "salesentry/SalesEntries": "EntryNumber",
}
#: Values the server gives a new record of these entities when the body does not (a draft invoice).
TODAY = object()
INITIAL: dict[str, dict[str, object]] = {
    "salesinvoice/SalesInvoices": {
        "Status": 10,
        "StatusDescription": "Draft",
        "Type": 8020,
        "InvoiceDate": TODAY,
        "OrderDate": TODAY,
    },
    "salesorder/SalesOrders": {"Status": 12, "StatusDescription": "Open", "OrderDate": TODAY},
    "generaljournalentry/GeneralJournalEntries": {"Status": 20, "StatusDescription": "Open"},
}
#: A header's amounts that are the sum of its lines' AmountFC.
_TOTALS = ("AmountFC", "AmountDC", "AmountFCExclVat")
#: Columns named after a reference (``OrderedBy`` + ``Name``) filled from the named record's column.
_DESCRIBED = (("Code", "Code"), ("Name", "Name"), ("Description", "Description"), ("FullName", "FullName"))


def write(
    sb: Sandbox, request: Request, token: AccessToken, parsed: ApiPath, state: DivisionState
) -> Response:
    """A POST, PUT or DELETE of ``/api/v1/{division}/…``."""
    found = sb.catalog.find_endpoint(parsed.base)
    if found is None:
        return odata_error(404, f"Resource not found for the segment '{parsed.base.rsplit('/', 1)[-1]}'.")
    table, path = found
    method = request.method
    if method not in path.methods or (method == "POST") != (parsed.key is None) or parsed.count:
        return odata_error(405, NOT_ALLOWED.format(method))
    rows = state.rows(table.full_name)
    if rows is None:
        return odata_error(404, f"The sandbox has no data for '{path.endpoint}'.")
    writer = _Writer(sb, state, token.chain.user_id)
    try:
        if method == "POST":
            return writer.post(request, table, path, rows, parsed.division)
        row = _row(rows, path, parsed.key or "")
        if row is None:
            return not_found(sb, table.name)
        if method == "PUT":
            writer.put(request, table, path, rows, row)
        else:
            writer.delete(table, rows, row)
        return Response(204, {}, b"")
    except WriteError as exc:
        return odata_error(sb.settings.validation_error_status if exc.validation else 400, str(exc))


def _row(rows: EntityRows, path: AccessPath, key_text: str) -> int | None:
    """The live row a key literal of the URL names; WriteError for a literal not of the key's type."""
    column = path.column(path.key or rows.key_name)
    try:
        key = keys.parse(key_text, column.edm if column else "Edm.Guid")
    except odata.ODataError as exc:
        raise WriteError(str(exc)) from None
    row = keys.find_row(rows, key)
    return row if row is not None and rows.alive_mask()[row] else None


def _body(request: Request) -> object:
    try:
        return orjson.loads(request.body) if request.body.strip() else None
    except (orjson.JSONDecodeError, UnicodeDecodeError):
        raise WriteError(NOT_AN_OBJECT) from None


@dataclass
class _Lines:
    """The lines of one collection of a POST: where they go and each line's checked values."""

    nav: expand.Navigation
    rows: EntityRows
    lines: list[Checked]


class _Writer:
    """One write's context: the division, the user and the moment."""

    def __init__(self, sb: Sandbox, state: DivisionState, user_id: str) -> None:
        self.sb = sb
        self.state = state
        self.user_id = user_id
        self.now_ms = sb.clock.wall_ms()
        self.today_ms = self.now_ms - self.now_ms % 86_400_000  # midnight, as Exact's dates are

    # ------------------------------------------------------------------ POST

    def post(
        self, request: Request, table: Table, path: AccessPath, rows: EntityRows, division: int | None
    ) -> Response:
        checked, collections = self._checked(table, path, rows, _body(request))
        parent = _parent_of(self.sb, table)
        row = self._create(table, rows, checked.values)
        key = rows.take(rows.key_name, np.array([row]))[0]
        for lines in collections:
            for number, line in enumerate(lines.lines, 1):
                line.values[lines.nav.link] = key
                if lines.nav.table.column("LineNumber") is not None:
                    line.values.setdefault("LineNumber", number)
                self._create(lines.nav.table, lines.rows, line.values)
        self._total(table, rows, row)
        entry_type = bookings.BOOKED.get(table.full_name)
        if entry_type is not None:
            self._book(entry_type, rows, row, collections)
        if parent:
            self._retotal_header(table, checked.values)
        es = EntitySet(table, path, FaithfulRows(rows, table, self.sb.settings), division)
        shown = records(self.sb, request, es, np.array([row]), QueryOptions())
        location = uri_maker(request, path, rows, division)(np.array([row]))[0]
        return json_response(201, {"d": shown[0]}, {"Location": location})

    def _checked(
        self, table: Table, path: AccessPath, rows: EntityRows, body: object
    ) -> tuple[Checked, list[_Lines]]:
        """A POST's body and lines with what the server derives, after every check (WriteError otherwise)."""
        checked = check_body(table, path.endpoint, body)
        collections = self._collections(table, checked)
        self._complete(table, checked.values)
        exempt = {rows.key_name}
        gone = missing(path.endpoint, checked.values, checked.lines, exempt)
        for lines in collections:
            for line in lines.lines:
                self._complete(lines.nav.table, line.values)
                gone_line = missing(
                    lines.nav.path.endpoint, line.values, {}, {lines.nav.link, lines.rows.key_name}
                )
                gone += [n for n in gone_line if n not in gone]
        if gone:
            raise mandatory_error(gone)
        _check_new_key(rows, checked.values)
        for lines in collections:
            for line in lines.lines:
                _check_new_key(lines.rows, line.values)
        check_references(self.state, checked.values, _parent_of(self.sb, table))
        for lines in collections:
            for line in lines.lines:
                check_references(self.state, line.values, {})
        if table.full_name in BALANCED:
            self._check_balance(checked.values, collections)
        return checked, collections

    def _collections(self, table: Table, checked: Checked) -> list[_Lines]:
        out = []
        for name, raw in checked.lines.items():
            nav = expand.navigation(self.sb.catalog, table, name)
            line_rows = self.state.rows(nav.table.full_name) if nav is not None else None
            if nav is None or line_rows is None:
                raise WriteError(NOT_AN_OBJECT)
            lines = [check_body(nav.table, nav.path.endpoint, line, lines_allowed=False) for line in raw]
            out.append(_Lines(nav, line_rows, lines))
        return out

    def _complete(self, table: Table, values: dict[str, object]) -> None:
        """Fills what the server derives before the mandatory check: a sales line's GL account from its item."""
        if values.get("GLAccount") is None and values.get("Item") is not None:
            item = find_reference(self.state, Reference("logistics/Items"), values["Item"])
            items = self.state.rows("logistics/Items")
            if item is not None and items is not None and table.column("GLAccount") is not None:
                revenue = items.take("GLRevenue", np.array([item]))[0]
                if revenue is not None:
                    values["GLAccount"] = revenue

    def _create(self, table: Table, rows: EntityRows, values: dict[str, object]) -> int:
        """A new row with the body's values and what the server fills; returns its index."""
        values = dict(values)
        if values.get(rows.key_name) is None:
            values[rows.key_name] = str(uuid.uuid4())
        user = self.sb.users[self.user_id]
        for role in ("Creator", "Modifier"):
            if table.column(role) is not None:
                values[role] = self.user_id
            if table.column(role + "FullName") is not None:
                values[role + "FullName"] = user.full_name
        for name, value in INITIAL.get(table.full_name, {}).items():
            if values.get(name) is None and table.column(name) is not None:
                values[name] = self.today_ms if value is TODAY else value
        numbered = NUMBERED.get(table.full_name)
        if numbered is not None and values.get(numbered) is None and rows.n:
            numbers = [int(v) for v in rows.column(numbered).tolist() if v is not None and v == v]
            values[numbered] = max(numbers, default=0) + 1
        self._describe(table, values)
        self._amounts(table, values)
        return rows.append(values, self.now_ms)

    def _describe(self, table: Table, values: dict[str, object]) -> None:
        """``OrderedByName``, ``ItemCode``, ``GLAccountDescription``…: from the records the values name."""
        for name, reference in REFERENCES.items():
            value = values.get(name)
            if value is None:
                continue
            target = self.state.rows(reference.entity)
            row = find_reference(self.state, reference, value)
            if target is None or row is None:
                continue
            base = "Journal" if name == "JournalCode" else name
            for suffix, source in _DESCRIBED:
                column = table.column(base + suffix)
                if (
                    column is not None
                    and column.name not in values
                    and target.table.column(source) is not None
                ):
                    values[column.name] = target.take(source, np.array([row]))[0]

    @staticmethod
    def _amounts(table: Table, values: dict[str, object]) -> None:
        """A line's amount from quantity and price when not given, and its amount in the division's currency."""
        if values.get("AmountFC") is None and table.column("AmountFC") is not None:
            price = values.get("NetPrice")
            price = values.get("UnitPrice") if price is None else price
            if price is not None:
                quantity = values.get("Quantity")
                values["AmountFC"] = _number(price) * (_number(quantity) if quantity is not None else 1.0)
        if values.get("AmountDC") is None and values.get("AmountFC") is not None and table.column("AmountDC"):
            values["AmountDC"] = values["AmountFC"]

    def _total(self, table: Table, rows: EntityRows, row: int, *, touch: bool = False) -> None:
        """A header's amounts: the sum of its lines' amounts (``touch``: a change the sync endpoints see)."""
        for name in table.columns:
            if not name.edm.startswith("Collection("):
                continue
            nav = expand.navigation(self.sb.catalog, table, name.name)
            lines = self.state.rows(nav.table.full_name) if nav is not None else None
            if nav is None or lines is None or lines.table.column("AmountFC") is None:
                continue
            key = rows.take(nav.parent_key, np.array([row]))[0]
            mine = np.flatnonzero(lines.alive_mask() & (lines.column(nav.link) == key))
            total = float(np.nansum(lines.take("AmountFC", mine).astype(np.float64))) if len(mine) else 0.0
            sums = {
                n: total for n in _TOTALS if table.column(n) is not None and rows.table.column(n) is not None
            }
            if touch:
                rows.write(row, sums, self.now_ms)
            else:
                rows.set_values(row, sums)
            return

    def _book(self, entry_type: int, rows: EntityRows, row: int, collections: list[_Lines]) -> None:
        """A posted entry's transaction lines in the ledger."""
        ledger = self.state.rows(bookings.LEDGER)
        if ledger is None:
            return
        at = np.array([row])
        header = {c.name: rows.take(c.name, at)[0] for c in rows.table.columns if c.edm.startswith("Edm.")}
        for lines in collections:
            for values in bookings.ledger_lines(
                entry_type, header, [line.values for line in lines.lines], self.today_ms
            ):
                self._create(ledger.table, ledger, values)

    def _retotal_header(self, table: Table, values: Mapping[str, object]) -> None:
        """After a line changed through its own endpoint: its header's amounts again."""
        for link, reference in _parent_of(self.sb, table).items():
            header_rows = self.state.rows(reference.entity)
            row = find_reference(self.state, reference, values.get(link))
            if header_rows is not None and row is not None:
                self._total(header_rows.table, header_rows, row, touch=True)

    def _check_balance(self, header: dict[str, object], collections: list[_Lines]) -> None:
        """A journal entry's lines must add up to zero (to half a cent)."""
        today = dt.datetime.fromtimestamp(self.sb.clock.now(), dt.UTC)
        year = header.get("FinancialYear") or today.year
        period = header.get("FinancialPeriod") or today.month
        for lines in collections:
            total = sum(_number(line.values.get("AmountFC")) for line in lines.lines)
            if abs(total) > BALANCE_TOLERANCE:
                raise WriteError(UNBALANCED.format(year, period, "General journal", total), validation=True)

    # ------------------------------------------------------------------ PUT and DELETE

    def put(self, request: Request, table: Table, path: AccessPath, rows: EntityRows, row: int) -> None:
        body = _body(request)
        if isinstance(body, dict) and any(
            (c := table.column(n)) is not None and c.edm.startswith("Collection(") and v is not None
            for n, v in body.items()
        ):
            raise WriteError(DEEP_UPDATE)
        checked = check_body(table, path.endpoint, body, lines_allowed=False)
        values = checked.values
        values.pop(rows.key_name, None)
        cleared = [
            n for n in sorted(write_fields(path.endpoint).required) if n in values and values[n] is None
        ]
        if cleared:
            raise mandatory_error(cleared)
        parent = _parent_of(self.sb, table)
        check_references(self.state, values, parent)
        self._describe(table, values)
        if table.column("Modifier") is not None:
            values["Modifier"] = self.user_id
        if table.column("ModifierFullName") is not None:
            values["ModifierFullName"] = self.sb.users[self.user_id].full_name
        if "AmountFC" not in values and {"Quantity", "UnitPrice", "NetPrice"} & set(values):
            now = {n: rows.take(n, np.array([row]))[0] for n in ("Quantity", "UnitPrice", "NetPrice", "AmountFC")
                   if table.column(n) is not None}  # fmt: skip
            merged = {**{k: (None if v != v else v) for k, v in now.items()}, **values, "AmountFC": None}
            self._amounts(table, merged)
            values.update({n: merged[n] for n in ("AmountFC", "AmountDC") if n in merged})
        rows.write(row, values, self.now_ms)
        if parent:
            link_values = {n: rows.take(n, np.array([row]))[0] for n in parent}
            self._retotal_header(table, link_values)

    def delete(self, table: Table, rows: EntityRows, row: int) -> None:
        """Removes a record and its lines; each lands in sync/Deleted."""
        key = rows.take(rows.key_name, np.array([row]))[0]
        for column in table.columns:
            if not column.edm.startswith("Collection("):
                continue
            nav = expand.navigation(self.sb.catalog, table, column.name)
            lines = self.state.rows(nav.table.full_name) if nav is not None else None
            if nav is None or lines is None:
                continue
            mine = np.flatnonzero(lines.alive_mask() & (lines.column(nav.link) == key))
            if len(mine):
                self._remove(lines, mine)
        ledger = self.state.rows(bookings.LEDGER)
        if table.full_name in bookings.BOOKED and ledger is not None:
            booked = np.flatnonzero(ledger.alive_mask() & (ledger.column("EntryID") == key))
            if len(booked):
                self._remove(ledger, booked)
        parent = _parent_of(self.sb, table)
        link_values = {n: rows.take(n, np.array([row]))[0] for n in parent}
        self._remove(rows, np.array([row]))
        if parent:
            self._retotal_header(table, link_values)

    def _remove(self, rows: EntityRows, idx: np.ndarray) -> None:
        gone = rows.delete(idx)
        entity_type = deleted_entity_type(rows.table)
        if entity_type:  # Exact logs only the entities its EntityType list names (not invoice lines)
            removed = [str(k) for k in rows.take(rows.key_name, gone).tolist()]
            self.state.deleted.append(entity_type, removed, self.user_id, self.now_ms)


def _check_new_key(rows: EntityRows, values: dict[str, object]) -> None:
    """A key the body gives must not be taken (not even by a deleted record)."""
    key = values.get(rows.key_name)
    if key is not None and rows.index_of_key(str(key)) is not None:
        raise WriteError(ALREADY_EXISTS.format(caption(rows.key_name)), validation=True)


def _number(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


_parents: dict[str, dict[str, Reference]] = {}


def _parent_of(sb: Sandbox, table: Table) -> dict[str, Reference]:
    """For a lines entity, its link column as a reference to its header (``InvoiceID`` -> SalesInvoices)."""
    if not _parents:
        for header in sb.catalog.tables:
            for column in header.columns:
                if column.edm.startswith("Collection("):
                    nav = expand.navigation(sb.catalog, header, column.name)
                    if nav is not None and header.key:
                        _parents.setdefault(nav.table.full_name, {})[nav.link] = Reference(header.full_name)
    return _parents.get(table.full_name, {})
