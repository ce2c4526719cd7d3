"""Key values as OData URI literals, in entity URLs and skip tokens: ``guid'…'``, ``7095``, ``'GMD'``, ``387L``.

An Exact maintainer lists these forms for ``$skiptoken`` (sandbox-fidelity.md §11); a key that is not a
literal of its type answers "Bad Request - Error in query syntax." (§9a).
"""

from __future__ import annotations

import numpy as np

from exactsql.sandbox.odata_syntax import Literal, ODataError, parse_filter
from exactsql.sandbox.store import RowSource

BAD_SYNTAX = "Bad Request - Error in query syntax."

_INTS = frozenset({"Edm.Byte", "Edm.SByte", "Edm.Int16", "Edm.Int32"})
_KINDS = {
    "Edm.Guid": ("guid",),
    "Edm.String": ("string",),
    "Edm.Int64": ("int", "int64"),
    **{edm: ("int",) for edm in _INTS},
}


def literal(value: object, edm: str) -> str:
    """``value`` of a key of type ``edm`` as a URI literal."""
    if edm == "Edm.Guid":
        return f"guid'{value}'"
    if edm == "Edm.Int64":
        return f"{int(value)}L"  # type: ignore[call-overload]
    if edm in _INTS:
        return str(int(value))  # type: ignore[call-overload]
    if edm == "Edm.String":
        return "'" + str(value).replace("'", "''") + "'"
    return str(value)


def parse(text: str, edm: str) -> str:
    """The key value a literal names, as text (guids in lower case); ODataError if it is not of ``edm``."""
    try:
        node = parse_filter(text)
    except ODataError:
        raise ODataError(BAD_SYNTAX) from None
    if not isinstance(node, Literal) or node.kind not in _KINDS.get(edm, (node.kind,)):
        raise ODataError(BAD_SYNTAX)
    return str(node.value)


def find_row(source: RowSource, key: str) -> int | None:
    """The row holding key value ``key`` (text, as ``parse`` gives it), alive or not; None if there is none."""
    lookup = getattr(source, "index_of_key", None)
    if lookup is not None:
        found = lookup(key)
        return None if found is None else int(found)
    hits = np.flatnonzero(source.column(source.key_name).astype(str) == key)
    return int(hits[0]) if len(hits) else None
