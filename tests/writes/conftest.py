"""Fixtures of the write tests: the shared sandbox server and a logged-in engine (those of the SQL tests),
the sandbox's snapshot and request log, and the current division's reference records."""

from __future__ import annotations

import httpx
import pytest

from exactsql.sql.engine import Engine
from tests.sql.conftest import cli, control, engine, logged_in_cli, server, session

__all__ = ["cli", "control", "engine", "logged_in_cli", "server", "session"]


def snapshot(control: httpx.Client, division: int, entity: str) -> list[dict]:
    """The rows the sandbox holds of ``entity`` (``salesinvoice/SalesInvoices``) in ``division``."""
    response = control.get(f"/_sandbox/snapshot/{division}/{entity}")
    response.raise_for_status()
    return list(response.json()["rows"])


def requests_made(control: httpx.Client) -> list[dict]:
    """The sandbox's request log (API requests since its reset)."""
    return list(control.get("/_sandbox/requests", params={"limit": 20000}).json())


@pytest.fixture()
def books(engine: Engine, control: httpx.Client) -> dict:
    """The current division and records a sales invoice can name (read from the snapshot: no API call
    but the one ``current/Me``)."""
    division = engine.current_division("eol")
    accounts = snapshot(control, division, "crm/Accounts")
    items = snapshot(control, division, "logistics/Items")
    gl = snapshot(control, division, "financial/GLAccounts")
    return {
        "division": division,
        "account": accounts[0]["ID"],
        "account_code": accounts[0]["Code"].strip(),
        "items": [i["ID"] for i in items[:5]],
        "gl": gl[0]["ID"],
        "journal": "70",
    }


def invoice_script(books: dict, refs: list[str], lines: int = 2, begin: bool = True) -> str:
    """A transaction of one sales invoice per reference (``YourRef``), each with ``lines`` lines."""
    parts = ["begin transaction;"] if begin else []
    for ref in refs:
        parts.append(
            f"insert into SalesInvoices (OrderedBy, Journal, YourRef, Description) values "
            f"('{books['account']}', '{books['journal']}', '{ref}', 'Written by the write tests') "
            f"identified by '{ref}';"
        )
        for n in range(lines):
            item = books["items"][n % len(books["items"])]
            parts.append(
                f"insert into SalesInvoiceLines (Item, Quantity, UnitPrice, GLAccount) values "
                f"('{item}', {n + 1}, 12.5, '{books['gl']}') attach to '{ref}';"
            )
    if begin:
        parts.append("commit")
    return "\n".join(parts)
