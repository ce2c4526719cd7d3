"""Exact's default response format: Atom/XML, for requests that do not ask for JSON (sandbox-fidelity.md §10).

The form of WCF Data Services: a feed with ``xml:base``, ``id``, ``title``, ``updated`` and a ``self`` link
before its entries and a ``next`` link after them; entries with ``edit`` and navigation links; properties
typed with ``m:type`` (strings untyped) and nulls marked ``m:null="true"``.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

_NS = (
    'xmlns="http://www.w3.org/2005/Atom" '
    'xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices" '
    'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"'
)
_SCHEME = "http://schemas.microsoft.com/ado/2007/08/dataservices/scheme"
_RELATED = "http://schemas.microsoft.com/ado/2007/08/dataservices/related/"
_DATE = re.compile(r"^/Date\((-?\d+)\)/$")
_HEAD = '<?xml version="1.0" encoding="utf-8" standalone="yes"?>'


@dataclass(frozen=True)
class Place:
    """Where a document is: its service root (``xml:base``), its own URL, its set's name and the time."""

    root: str
    url: str
    title: str
    updated: str
    types_of: Callable[[str], dict[str, str]]


def wants_json(accept: str | None) -> bool:
    """Whether an Accept header asks for JSON (Exact answers Atom/XML otherwise)."""
    return accept is not None and "json" in accept.lower()


def _text(value: object, edm: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if edm == "Edm.DateTime" and isinstance(value, str):
        m = _DATE.match(value)
        if m:
            ms = int(m.group(1))
            moment = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=ms)
            text = moment.strftime("%Y-%m-%dT%H:%M:%S")
            return text + (f".{ms % 1000:03d}" if ms % 1000 else "")
    return str(value)


def _property(name: str, value: object, edm: str) -> str:
    typed = "" if edm == "Edm.String" else f' m:type="{edm}"'
    if value is None:
        return f'<d:{name}{typed} m:null="true" />'
    return f"<d:{name}{typed}>{escape(_text(value, edm))}</d:{name}>"


def _relative(uri: str, root: str) -> str:
    return uri[len(root) :] if uri.startswith(root) else uri


def _entry(row: dict, place: Place) -> str:
    meta = row.get("__metadata", {})
    uri, entity_type = meta.get("uri", ""), meta.get("type", "")
    types = place.types_of(entity_type)
    href = _relative(uri, place.root)
    links, props = [], []
    for name, value in row.items():
        if name == "__metadata":
            continue
        if isinstance(value, dict):
            inline = ""
            if "results" in value:
                inner = "".join(_entry(r, place) for r in value["results"])
                inline = f"<m:inline><feed>{inner}</feed></m:inline>"
            links.append(
                f'<link rel="{_RELATED}{name}" type="application/atom+xml;type=feed" title="{name}" '
                f"href={quoteattr(href + '/' + name)}>{inline}</link>"
            )
        else:
            props.append(_property(name, value, types.get(name, "Edm.String")))
    return (
        f"<entry><id>{escape(uri)}</id>"
        f"<category term={quoteattr(entity_type)} scheme={quoteattr(_SCHEME)} />"
        f'<link rel="edit" title="{entity_type.rsplit(".", 1)[-1]}" href={quoteattr(href)} />'
        f"{''.join(links)}<title /><updated>{place.updated}</updated><author><name /></author>"
        f'<content type="application/xml"><m:properties>{"".join(props)}</m:properties></content></entry>'
    )


def document(d: Any, place: Place) -> bytes:
    """The Atom form of a JSON ``d``: a feed for a collection, an entry for one entity."""
    if isinstance(d, dict) and "__metadata" in d:
        entry = _entry(d, place).replace("<entry>", f"<entry xml:base={quoteattr(place.root)} {_NS}>", 1)
        return (_HEAD + entry).encode()
    if isinstance(d, dict) and "results" not in d:
        return (_HEAD + "".join(_value(name, value) for name, value in d.items())).encode()
    rows = d if isinstance(d, list) else d["results"]
    head = (
        f"<feed xml:base={quoteattr(place.root)} {_NS}><id>{escape(place.url)}</id>"
        f'<title type="text">{escape(place.title)}</title><updated>{place.updated}</updated>'
        f'<link rel="self" title={quoteattr(place.title)} href={quoteattr(_relative(place.url, place.root))} />'
    )
    count = f"<m:count>{d['__count']}</m:count>" if isinstance(d, dict) and "__count" in d else ""
    link = (
        f'<link rel="next" href={quoteattr(d["__next"])} />' if isinstance(d, dict) and "__next" in d else ""
    )
    body = "".join(_entry(r, place) for r in rows)
    return (_HEAD + head + count + body + link + "</feed>").encode()


def _value(name: str, value: object) -> str:
    edm = (
        "Edm.Boolean" if isinstance(value, bool) else "Edm.String" if isinstance(value, str) else "Edm.Int32"
    )
    namespaces = (
        'xmlns="http://schemas.microsoft.com/ado/2007/08/dataservices" '
        'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"'
    )
    typed = "" if edm == "Edm.String" else f' m:type="{edm}"'
    return f"<{name} {namespaces}{typed}>{escape(_text(value, edm))}</{name}>"


def error(message: str) -> bytes:
    """An OData error as XML."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<error xmlns="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">'
        f'<code></code><message xml:lang="">{escape(message)}</message></error>'
    ).encode()
