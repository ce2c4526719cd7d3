"""The rows of write statements, collected and checked before anything is sent: plain rows (sent by their
statement), headers held for a transaction's ``commit`` (``identified by``) and their lines (``attach to``).

A row's problems are collected with its label (``row 3``, ``'INV-7'``, ``line 2 of 'INV-7'``); references
are resolved in one pass per batch; every row gets its natural key (see ``docs/design/writes.md``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from exactsql.catalog.writes import WriteTarget, header_of, write_target
from exactsql.sql.dialect import SQLError
from exactsql.sql.dml.references import CODE_REFERENCES, GUID_REFERENCES, References, is_guid
from exactsql.sql.validation import Problem, balance_problems, missing_required, row_body

if TYPE_CHECKING:
    from exactsql.sql.engine import Engine

#: Fields a user fills with a value of their own that identifies the record (first found is used).
NATURAL_FIELDS = ("YourRef", "Code", "EntryNumber")
#: Text fields Exact keeps where a generated reference is written when the row names no natural key.
MARKER_FIELDS = ("YourRef", "Description", "Remarks", "Notes")
MARKER_PREFIX = "XS"
SHOWN_PROBLEMS = 40


@dataclass
class Row:
    """One record to write: a plain row, a header with its lines, or a line."""

    label: str
    target: WriteTarget
    alias: str
    division: int | None
    body: dict[str, Any]
    problems: list[Problem]
    codes: dict[str, str] = field(default_factory=dict)  # field → code to resolve to a GUID
    lines: list[Row] = field(default_factory=list)
    statement: str = ""  # hash of the statement that gave the row
    natural: tuple[str, str | int] | None = None
    identity: str = ""

    def all_problems(self) -> list[Problem]:
        """The row's problems and its lines'."""
        return self.problems + [p for line in self.lines for p in line.problems]


def statement_hash(text: str) -> str:
    """A short stable hash of a statement's text (parameters bound)."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def write_target_of(engine: Engine, table: Any, alias: str) -> WriteTarget:
    """The write description of the Exact table a statement names; SQLError for any other table."""
    ref = engine.resolver.resolve(table)
    if ref.table is None:
        raise SQLError(f"{ref.display} is not a table of Exact Online: it cannot be written to.")
    path = ref.table.path("regular") or ref.table.paths[0]
    target = write_target(path.endpoint)
    if target is None:
        raise SQLError(
            f"Exact Online takes no insert, update or delete on {ref.table.name} ({path.endpoint}).",
            "See `exactsql tables` for the tables; only some take writes.",
        )
    return target


def split_codes(target: WriteTarget, values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """``values`` without the codes given where a GUID reference is due, and those codes by field."""
    codes: dict[str, str] = {}
    kept: dict[str, Any] = {}
    for name, value in values.items():
        found = target.field(name)
        if (
            found is not None
            and found.name in GUID_REFERENCES
            and found.edm == "Edm.Guid"
            and isinstance(value, str | int)
            and not is_guid(value)
        ):
            codes[found.name] = str(value).strip()
        else:
            kept[name] = value
    return kept, codes


def make_row(
    target: WriteTarget,
    alias: str,
    division: int | None,
    values: dict[str, Any],
    label: str,
    required: list[str],
    statement: str,
) -> Row:
    """A row from a statement's values: its JSON body, codes to resolve, and its problems."""
    kept, codes = split_codes(target, values)
    body, problems = row_body(target, kept, label, [r for r in required if r not in codes])
    return Row(label, target, alias, division, body, problems, codes, statement=statement)


def line_required(line: WriteTarget, header: WriteTarget) -> list[str]:
    """The required fields of an inline line (not the header's key: Exact sets it)."""
    return missing_required(line, [], skip=(header.key or "",))


def check_lines(header: Row) -> None:
    """A header's line problems: too few lines where Exact needs one, and unbalanced journal entries."""
    by_prop: dict[str, list[Row]] = {}
    for line in header.lines:
        found = header_of(line.target.endpoint)
        if found is None or found[0].endpoint != header.target.endpoint:
            header.problems.append(
                Problem(
                    line.label, f"{line.target.endpoint} lines cannot be attached to {header.target.endpoint}"
                )
            )
            continue
        by_prop.setdefault(found[1], []).append(line)
    for f in header.target.fields:
        if f.required and f.collection is not None and not by_prop.get(f.name):
            line_endpoint = header.target.lines.get(f.name, f.collection)
            header.problems.append(
                Problem(
                    header.label,
                    f"needs at least one line: insert into {line_endpoint.split('/')[-1]} (…) values (…) "
                    f"attach to {header.label}",
                )
            )
    for prop, lines in by_prop.items():
        header.body[prop] = [line.body for line in lines]
        header.problems.extend(
            balance_problems(lines[0].target.endpoint, [ln.body for ln in lines], header.label)
        )


def resolve_references(engine: Engine, references: References, rows: list[Row], dry: bool) -> None:
    """Checks every GUID reference of ``rows`` (and their lines) exists and turns codes into GUIDs; ``dry``
    (explain): nothing is read, codes stay unresolved."""
    everything = [r for row in rows for r in (row, *row.lines)]
    groups: dict[tuple[str, int], dict[str, tuple[set[str], set[str]]]] = {}
    for r in everything:
        if r.division is None:
            continue
        wanted = groups.setdefault((r.alias, r.division), {})
        for name, endpoint in GUID_REFERENCES.items():
            value = r.body.get(name)
            if value is not None and r.target.field(name) is not None:
                wanted.setdefault(endpoint, (set(), set()))[0].add(str(value))
        for name, code in r.codes.items():
            wanted.setdefault(GUID_REFERENCES[name], (set(), set()))[1].add(code)
        for name, endpoint in CODE_REFERENCES.items():
            value = r.body.get(name)
            if value is not None and r.target.field(name) is not None:
                wanted.setdefault(endpoint, (set(), set()))[1].add(str(value).strip())
    if dry:
        return
    for (alias, division), wanted in groups.items():
        references.load(engine, alias, division, wanted)
    for r in everything:
        if r.division is None:
            continue
        for name, endpoint in GUID_REFERENCES.items():
            value = r.body.get(name)
            known = references.known(r.alias, r.division, endpoint)
            if value is not None and r.target.field(name) is not None and str(value).lower() not in known.ids:
                r.problems.append(Problem(r.label, f"{name} {value} is not in {endpoint}"))
        for name, code in r.codes.items():
            endpoint = GUID_REFERENCES[name]
            found = references.known(r.alias, r.division, endpoint).codes.get(code)
            if found is None:
                r.problems.append(Problem(r.label, f"{name}: no {endpoint.split('/')[-1]} has code {code!r}"))
            else:
                r.body[name] = found
        for name, endpoint in CODE_REFERENCES.items():
            value = r.body.get(name)
            known = references.known(r.alias, r.division, endpoint)
            if (
                value is not None
                and r.target.field(name) is not None
                and str(value).strip() not in known.codes
            ):
                r.problems.append(Problem(r.label, f"{name} {value!r} is not a code in {endpoint}"))


def assign_natural_keys(rows: list[Row]) -> None:
    """Gives every row its natural key and identity; a natural key used twice is a problem of the later row."""
    seen: dict[tuple[str, int | None, str, str], str] = {}
    for row in rows:
        natural = next(
            (
                (f, row.body[f])
                for f in NATURAL_FIELDS
                if row.target.field(f) is not None and row.body.get(f) not in (None, "")
            ),
            None,
        )
        if natural is not None:
            row.natural = natural
            row.identity = f"natural|{natural[0]}|{natural[1]}"
            where = (row.alias, row.division, row.target.endpoint.lower(), f"{natural[0]}={natural[1]}")
            if where in seen:
                row.problems.append(
                    Problem(
                        row.label,
                        f"{natural[0]} {natural[1]!r} is {seen[where]}'s too: give each row its own "
                        f"{natural[0]} (it is how a write whose answer was lost is found again)",
                    )
                )
            seen[where] = row.label
            continue
        row.identity = f"{row.statement}|{row.label}"
        marker = next(
            (
                f
                for f in MARKER_FIELDS
                if (found := row.target.field(f)) is not None
                and not found.read_only
                and found.edm == "Edm.String"
                and row.body.get(f) in (None, "")
            ),
            None,
        )
        if marker is not None:
            value = MARKER_PREFIX + hashlib.sha256(row.identity.encode()).hexdigest()[:14].upper()
            row.body[marker] = value
            row.natural = (marker, value)


def report(problems: list[Problem], sent_nothing: bool = True) -> SQLError:
    """One error naming every problem (the first SHOWN_PROBLEMS of them)."""
    rows = sorted({p.row for p in problems})
    shown = "\n".join(f"  {p}" for p in problems[:SHOWN_PROBLEMS])
    more = f"\n  … and {len(problems) - SHOWN_PROBLEMS} more" if len(problems) > SHOWN_PROBLEMS else ""
    return SQLError(
        f"{len(problems)} problem(s) in {len(rows)} row(s); "
        + ("nothing was sent" if sent_nothing else "those rows were not sent")
        + f":\n{shown}{more}",
        "Fix the rows named, or send the valid rows only: exactsql query --send-valid-rows "
        "(DB-API: connect(send_valid_rows=True)).",
    )
