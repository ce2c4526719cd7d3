"""Writes to Exact Online (POST, PUT, DELETE) within the client's budgets, and never twice.

Before a POST, the intent is stored in the state store under a key made of the connection, division,
endpoint and the write's identity (its natural key, see ``docs/design/writes.md``). The record holds the
natural key (a field Exact keeps and filters on, e.g. ``YourRef``) and, after success, the ID Exact
assigned. A POST is never sent again blindly: after a lost answer (no answer, or a 5xx), a crash, or on a
rerun that finds a record still pending, a filtered GET on the natural key tells whether Exact has the
record; only when it has not is the POST sent again. A record whose POST Exact refused (4xx) is removed:
nothing was created, and a corrected rerun may send it.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

import orjson

from exactsql.api.client import ExactClient
from exactsql.errors import ApiError, ExactSQLError
from exactsql.failpoints import failpoint
from exactsql.state import StateStore

log = logging.getLogger(__name__)

#: Attempts of one POST whose answer keeps getting lost (each after a GET found nothing).
POST_ATTEMPTS = 3


@dataclass(frozen=True)
class Intent:
    """One record to create: where, what, and how to find it again."""

    endpoint: str  # salesinvoice/SalesInvoices
    division: int
    body: dict[str, Any]
    key_field: str  # the ID Exact assigns (InvoiceID)
    natural: tuple[str, str | int] | None  # (field, value) a filtered GET finds the record by
    identity: str  # stable text naming this write across reruns


@dataclass
class Outcome:
    """What became of one write."""

    status: str  # created | existing | updated | deleted | failed | unknown
    id: str | None = None
    message: str = ""
    calls: list[str] = field(default_factory=list)  # the calls made, e.g. ["POST", "GET"]

    @property
    def ok(self) -> bool:
        """Whether Exact has the change."""
        return self.status in ("created", "existing", "updated", "deleted")


def odata_value(value: str | int) -> str:
    """A natural key's value as an OData literal (strings quoted, quotes doubled)."""
    if isinstance(value, int):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _unknown(exc: ApiError) -> bool:
    """Whether a failed POST may nevertheless have been carried out (no answer, or a server error)."""
    return exc.status == 0 or exc.status >= 500


#: What a 5xx says when it is no answer of Exact's own (a gateway, a crash): the write may have landed.
_GENERIC = (
    "",
    "internal server error",
    "an internal server error occurred.",
    "service unavailable",
    "bad gateway",
    "gateway timeout",
)


def _refusal(exc: ApiError) -> bool:
    """Whether a 5xx carries Exact's own refusal (its business rules answer with 500 and a message, see
    API.md §4.8): nothing was created."""
    message = _message(exc)
    return exc.status >= 500 and message.lower() not in _GENERIC and not message.startswith("<")


def _message(exc: ApiError) -> str:
    return str(exc).split(": ", 1)[-1].strip()


class Writer:
    """Sends writes for one connection through ``client``, keeping idempotency records in ``store``."""

    def __init__(self, client: ExactClient, store: StateStore, connection: str) -> None:
        self.client = client
        self.store = store
        self.connection = connection

    # -- records ---------------------------------------------------------------------------------------

    def record_key(self, intent: Intent) -> str:
        """The state store key of ``intent``'s idempotency record."""
        digest = hashlib.sha256(intent.identity.encode()).hexdigest()[:32]
        return f"write:{self.connection}|{intent.division}|{intent.endpoint.lower()}|{digest}"

    def record(self, intent: Intent) -> dict | None:
        """The idempotency record of ``intent`` (state ``pending`` or ``done``), or None."""
        raw = self.store.get(self.record_key(intent))
        return orjson.loads(raw) if raw else None

    def _put_record(self, intent: Intent, state: str, entity_id: str | None = None) -> None:
        value = {
            "state": state,
            "endpoint": intent.endpoint,
            "division": intent.division,
            "natural": list(intent.natural) if intent.natural else None,
            "id": entity_id,
            "at": self.store.now(),
        }
        self.store.update(self.record_key(intent), lambda _old: (orjson.dumps(value), None))

    def _drop_record(self, intent: Intent) -> None:
        self.store.update(self.record_key(intent), lambda _old: (None, None))

    # -- calls -----------------------------------------------------------------------------------------

    def find(self, intent: Intent) -> str | None:
        """The ID of the record Exact holds under ``intent``'s natural key (one filtered GET), or None."""
        if intent.natural is None:
            return None
        name, value = intent.natural
        params = {"$filter": f"{name} eq {odata_value(value)}", "$select": intent.key_field, "$top": "1"}
        body = self.client.get_json(intent.endpoint, params, intent.division)
        d = body.get("d") if isinstance(body, dict) else None
        rows = d if isinstance(d, list) else (d or {}).get("results", [])
        return str(rows[0][intent.key_field]) if rows else None

    def post(self, intent: Intent) -> Outcome:
        """Creates ``intent``'s record once: a done record answers without a call; a pending one (a crash or a
        lost answer earlier) is looked up first."""
        calls: list[str] = []
        known = self.record(intent)
        if known is not None and known.get("state") == "done":
            return Outcome("existing", known.get("id"), "created earlier (idempotency record)", calls)
        if known is not None:
            calls.append("GET")
            found = self.find(intent)
            if found is not None:
                self._put_record(intent, "done", found)
                return Outcome("existing", found, "created earlier; found by its natural key", calls)
            if intent.natural is None:
                return Outcome(
                    "unknown",
                    None,
                    "an earlier attempt may have created it and it has no natural key to look it up by: "
                    "check Exact Online, then remove the row or give it a YourRef/Code",
                    calls,
                )
        self._put_record(intent, "pending")
        payload = orjson.dumps(intent.body)
        for attempt in range(POST_ATTEMPTS):
            calls.append("POST")
            try:
                response = self.client.request("POST", intent.endpoint, None, intent.division, payload, False)
            except ApiError as exc:
                if not _unknown(exc):  # a 4xx: Exact created nothing
                    self._drop_record(intent)
                    return Outcome("failed", None, _message(exc), calls)
                log.warning(
                    "POST to %s: %s; looking the record up before sending again", intent.endpoint, exc
                )
                found = None
                if intent.natural is not None:
                    calls.append("GET")
                    found = self.find(intent)
                if _refusal(exc):  # Exact's own refusal; a record found has the key from before
                    self._drop_record(intent)
                    taken = f" ({intent.natural[0]} is taken: {found})" if found and intent.natural else ""
                    return Outcome("failed", None, _message(exc) + taken, calls)
                if found is not None:
                    self._put_record(intent, "done", found)
                    return Outcome("created", found, "answer lost; found by its natural key", calls)
                if intent.natural is None:
                    return Outcome(
                        "unknown", None, f"{exc}; not sent again (no natural key to look it up by)", calls
                    )
                if attempt == POST_ATTEMPTS - 1:
                    return Outcome("unknown", None, f"{exc}; not found after {POST_ATTEMPTS} tries", calls)
                continue
            except ExactSQLError:
                # refused before it was sent (the error reserve, the call cap, a token): nothing to recall
                if attempt == 0:
                    self._drop_record(intent)
                raise
            failpoint("write_answered")
            entity_id = _created_id(response.content, intent.key_field)
            self._put_record(intent, "done", entity_id)
            return Outcome("created", entity_id, "", calls)
        raise AssertionError("unreachable")

    def put(self, endpoint: str, division: int, key_literal: str, body: dict[str, Any]) -> Outcome:
        """Updates the record ``endpoint(key_literal)`` (a PUT may be sent again: it sets the same values)."""
        path = f"{endpoint}({key_literal})"
        try:
            self.client.request("PUT", path, None, division, orjson.dumps(body))
        except ApiError as exc:
            if not _unknown(exc) or _refusal(exc):
                return Outcome("failed", None, _message(exc), ["PUT"])
            raise
        return Outcome("updated", key_literal, "", ["PUT"])

    def delete(self, endpoint: str, division: int, key_field: str, key_literal: str) -> Outcome:
        """Deletes the record ``endpoint(key_literal)``. A lost answer is not followed by a blind second
        DELETE (it would be refused with a 404, an error the budget counts): a filtered GET tells whether the
        record is gone."""
        calls = ["DELETE"]
        for _attempt in range(POST_ATTEMPTS):
            try:
                self.client.request("DELETE", f"{endpoint}({key_literal})", None, division, None, False)
                return Outcome("deleted", key_literal, "", calls)
            except ApiError as exc:
                if not _unknown(exc) or _refusal(exc):
                    return Outcome("failed", None, _message(exc), calls)
                calls.append("GET")
                params = {"$filter": f"{key_field} eq {key_literal}", "$select": key_field}
                body = self.client.get_json(endpoint, params, division)
                d = body.get("d") if isinstance(body, dict) else None
                rows = d if isinstance(d, list) else (d or {}).get("results", [])
                if not rows:
                    return Outcome("deleted", key_literal, "answer lost; the record is gone", calls)
                calls.append("DELETE")
        return Outcome("unknown", None, f"no answer after {POST_ATTEMPTS} tries", calls)


def _created_id(content: bytes, key_field: str) -> str | None:
    """The ID in a 201's body (``{"d": {...}}``), or None when the body does not hold it."""
    try:
        body = orjson.loads(content)
    except orjson.JSONDecodeError:
        return None
    d = body.get("d") if isinstance(body, dict) else None
    if isinstance(d, dict) and key_field in d:
        return str(d[key_field])
    return None
