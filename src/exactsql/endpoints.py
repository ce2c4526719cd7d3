"""Reading ``/api/v1/…`` paths the way both the client and the sandbox count them."""

from __future__ import annotations

import re
from dataclasses import dataclass

_KEY_RE = re.compile(r"^(?P<entity>.+?)\((?P<key>[^)]*)\)$")


@dataclass(frozen=True)
class ApiPath:
    """A REST path split into its parts.

    Attributes:
        division: the division in the URL, or None for division-less endpoints such as current/Me.
        rest: what follows the division, e.g. ``crm/Accounts(guid'…')`` or ``crm/Accounts/$count``.
        base: the entity path as written, without key or ``/$count``: ``crm/Accounts``.
        endpoint: what limits count against: ``crm/accounts`` (``base`` in lower case).
        key: the key between parentheses, or None.
        count: whether the path asks for ``/$count``.
    """

    division: int | None
    rest: str
    base: str
    endpoint: str
    key: str | None
    count: bool


#: The largest division code: Exact's divisions are 32-bit integers.
MAX_DIVISION = 2**31 - 1


def division_code(text: str) -> int | None:
    """``text`` as a division code (ASCII digits, at most ``MAX_DIVISION``), else None."""
    if text.isascii() and text.isdigit() and len(text) <= 10 and int(text) <= MAX_DIVISION:
        return int(text)
    return None


def split_api_path(path: str) -> ApiPath:
    """Splits ``/api/v1/[beta/]{division}/service/Entity…`` (or ``/api/v1/current/Me``).

    Only a 32-bit code of ASCII digits is a division: ``/api/v1/²/…`` or ``/api/v1/99999999999/…`` keep
    their first segment in ``rest`` (no such resource, as on Exact).
    """
    rest = path.split("/api/v1/", 1)[-1].strip("/")
    first, _, after = rest.partition("/")
    division: int | None = None
    if division_code(first) is not None:
        division, rest = division_code(first), after
    elif first == "beta" and division_code(after.split("/", 1)[0]) is not None:
        code, _, rest = after.partition("/")
        division = division_code(code)
    base, key = rest.removesuffix("/$count"), None
    match = _KEY_RE.match(base)
    if match:
        base, key = match.group("entity"), match.group("key")
    base = base.strip("/")
    return ApiPath(division, rest, base, base.lower(), key, rest.endswith("/$count"))
