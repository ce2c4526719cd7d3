"""Exact's default response format: an Atom/XML feed, for requests that do not ask for JSON."""

from __future__ import annotations

from xml.sax.saxutils import escape

_NS = (
    'xmlns="http://www.w3.org/2005/Atom" '
    'xmlns:d="http://schemas.microsoft.com/ado/2007/08/dataservices" '
    'xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"'
)


def wants_json(accept: str | None) -> bool:
    """Whether an Accept header asks for JSON (Exact answers Atom/XML otherwise)."""
    return accept is not None and "json" in accept.lower()


def _entry(row: dict) -> str:
    meta = row.get("__metadata", {})
    props = []
    for name, value in row.items():
        if name == "__metadata" or isinstance(value, dict):
            continue
        if value is None:
            props.append(f'<d:{name} m:null="true" />')
        else:
            text = str(value).lower() if isinstance(value, bool) else str(value)
            props.append(f"<d:{name}>{escape(text)}</d:{name}>")
    return (
        f"<entry><id>{escape(meta.get('uri', ''))}</id>"
        f'<category term="{escape(meta.get("type", ""))}" '
        'scheme="http://schemas.microsoft.com/ado/2007/08/dataservices/scheme" />'
        f'<content type="application/xml"><m:properties>{"".join(props)}</m:properties></content></entry>'
    )


def feed(d: dict, title: str) -> bytes:
    """A collection as Atom: one entry per row, ``__next`` as a link."""
    rows = d.get("results", [d])
    link = f'<link rel="next" href="{escape(d["__next"])}" />' if "__next" in d else ""
    count = f"<m:count>{d['__count']}</m:count>" if "__count" in d else ""
    body = "".join(_entry(r) for r in rows)
    return (
        f'<?xml version="1.0" encoding="utf-8"?><feed {_NS}><title type="text">{escape(title)}</title>'
        f"{count}{body}{link}</feed>"
    ).encode()


def error(message: str) -> bytes:
    """An OData error as XML."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<error xmlns="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata">'
        f'<code></code><message xml:lang="">{escape(message)}</message></error>'
    ).encode()
