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


def split_api_path(path: str) -> ApiPath:
    """Splits ``/api/v1/[beta/]{division}/service/Entity…`` (or ``/api/v1/current/Me``)."""
    rest = path.split("/api/v1/", 1)[-1].strip("/")
    first, _, after = rest.partition("/")
    division: int | None = None
    if first.isdigit():
        division, rest = int(first), after
    elif first == "beta" and after.split("/", 1)[0].isdigit():
        code, _, rest = after.partition("/")
        division = int(code)
    base, key = rest.removesuffix("/$count"), None
    match = _KEY_RE.match(base)
    if match:
        base, key = match.group("entity"), match.group("key")
    base = base.strip("/")
    return ApiPath(division, rest, base, base.lower(), key, rest.endswith("/$count"))
