"""References a write names (accounts, items, GL accounts, journals), checked with few cached reads: a GUID
must exist, a code given where a GUID is due becomes the GUID (``OrderedBy = '1000'`` → the account's ID).
One filtered read per chunk of distinct values, per endpoint and division, and each answer kept for the
run."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from exactsql.sql.validation import GUID

if TYPE_CHECKING:
    from exactsql.sql.engine import Engine

#: Guid fields that name an entity by ID, and the endpoint that holds it (its ``Code`` may be given).
GUID_REFERENCES = {
    "OrderedBy": "crm/Accounts",
    "InvoiceTo": "crm/Accounts",
    "DeliverTo": "crm/Accounts",
    "Account": "crm/Accounts",
    "Supplier": "crm/Accounts",
    "Customer": "crm/Accounts",
    "Item": "logistics/Items",
    "GLAccount": "financial/GLAccounts",
}
#: Text fields that name an entity by code.
CODE_REFERENCES = {"Journal": "financial/Journals", "JournalCode": "financial/Journals"}
CHUNK = 20
ACCOUNT_CODE_WIDTH = 18  # Exact right-aligns account codes in 18 characters


@dataclass
class Known:
    """What the reads of one endpoint in one division found: IDs, and codes (trimmed) to IDs."""

    ids: set[str] = field(default_factory=set)
    codes: dict[str, str] = field(default_factory=dict)
    asked_ids: set[str] = field(default_factory=set)
    asked_codes: set[str] = field(default_factory=set)


def is_guid(value: object) -> bool:
    """Whether ``value`` reads as a GUID."""
    return isinstance(value, uuid.UUID) or (isinstance(value, str) and bool(GUID.match(value)))


def _code_forms(endpoint: str, code: str) -> list[str]:
    """The forms a code may have in ``endpoint``'s rows (account codes of digits right-aligned)."""
    forms = [code]
    if endpoint.lower() == "crm/accounts" and code.isdigit() and len(code) < ACCOUNT_CODE_WIDTH:
        forms.append(code.rjust(ACCOUNT_CODE_WIDTH))
    return forms


class References:
    """The reference reads of one engine's run, cached by (alias, division, endpoint)."""

    def __init__(self) -> None:
        self._known: dict[tuple[str, int, str], Known] = {}

    def known(self, alias: str, division: int, endpoint: str) -> Known:
        """What is known of ``endpoint`` in ``division`` so far."""
        return self._known.setdefault((alias, division, endpoint.lower()), Known())

    def planned_reads(self, wanted: dict[str, tuple[set[str], set[str]]]) -> int:
        """The reads ``load`` makes at most for ``wanted`` (endpoint → (ids, codes)), before the cache."""
        return sum(-(-len(ids) // CHUNK) + -(-len(codes) // CHUNK) for ids, codes in wanted.values())

    def load(
        self, engine: Engine, alias: str, division: int, wanted: dict[str, tuple[set[str], set[str]]]
    ) -> None:
        """Reads what the cache does not know yet of ``wanted``: endpoint → (GUIDs, codes)."""
        for endpoint, (ids, codes) in wanted.items():
            known = self.known(alias, division, endpoint)
            new_ids = sorted(i.lower() for i in ids if i.lower() not in known.asked_ids)
            new_codes = sorted(c for c in codes if c not in known.asked_codes)
            for chunk in _chunks(new_ids):
                self._read(engine, alias, division, endpoint, [f"ID eq guid'{i}'" for i in chunk], known)
                known.asked_ids.update(chunk)
            for chunk in _chunks(new_codes):
                terms = [
                    f"Code eq '{form.replace(chr(39), chr(39) * 2)}'"
                    for c in chunk
                    for form in _code_forms(endpoint, c)
                ]
                self._read(engine, alias, division, endpoint, terms, known)
                known.asked_codes.update(chunk)

    def _read(
        self, engine: Engine, alias: str, division: int, endpoint: str, terms: list[str], known: Known
    ) -> None:
        from exactsql.sql.engine import IORecord

        client = engine._client(alias)
        started, before = time.perf_counter(), client.thread_calls()
        rows = 0
        params = {"$filter": " or ".join(terms), "$select": "ID,Code"}
        for page in client.pages(endpoint, params, division):
            for row in page:
                rows += 1
                known.ids.add(str(row["ID"]).lower())
                if row.get("Code") is not None:
                    known.codes[str(row["Code"]).strip()] = str(row["ID"])
        engine.ios.append(
            IORecord(
                engine._statement,
                "references",
                endpoint,
                division,
                client.thread_calls() - before,
                rows,
                time.perf_counter() - started,
            )
        )


def _chunks(values: Iterable[str]) -> list[list[str]]:
    items = list(values)
    return [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]
