"""Carrying out write statements: checks before any call, the rows collected, references resolved, then
one POST per row or header (lines inline), one PUT or DELETE per row found — each through the API's
idempotent writer (``exactsql.api.writes``), within the run's call cap and the error budget."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa
from sqlglot import exp

from exactsql.api.writes import Intent, Outcome, Writer
from exactsql.errors import ErrorBudgetError
from exactsql.sql.dialect import SQLError, shown
from exactsql.sql.dml.batch import (
    Row,
    assign_natural_keys,
    check_lines,
    line_required,
    make_row,
    report,
    resolve_references,
    statement_hash,
    write_target_of,
)
from exactsql.sql.dml.references import References
from exactsql.sql.dml.statements import (
    ATTACHED,
    IDENTIFIED,
    Delete,
    Insert,
    Transaction,
    Update,
    alias_of,
    view,
)
from exactsql.sql.validation import Problem, check_columns, missing_required

if TYPE_CHECKING:
    from exactsql.sql.engine import Engine, StatementResult
    from exactsql.sql.plan import Plan

RESULT_SCHEMA = pa.schema(
    [
        ("row", pa.string()),
        ("endpoint", pa.string()),
        ("division", pa.int32()),
        ("status", pa.string()),
        ("id", pa.string()),
        ("message", pa.string()),
    ]
)


@dataclass
class Held:
    """Headers held until ``commit`` (in the order they were identified), and problems of lines that
    named no header."""

    explicit: bool = False
    headers: dict[str, Row] = field(default_factory=dict)
    orphans: list[Problem] = field(default_factory=list)

    def held(self) -> bool:
        return bool(self.headers or self.orphans)


class WriteSession:
    """The writes of one engine: the open transaction, cached reference reads, and the opt-in to send the
    valid rows of a batch that has invalid ones."""

    def __init__(self, send_valid_rows: bool = False) -> None:
        self.send_valid_rows = send_valid_rows
        self.transaction = Held()
        self.references = References()
        self.shadow: WriteSession | None = None  # what explain simulates, apart from the real transaction
        self.changes: list[dict[str, Any]] = []  # SessionRowsChanged: one entry per row written or refused
        self._writers: dict[str, Writer] = {}

    def writer(self, engine: Engine, alias: str) -> Writer:
        """The idempotent writer of connection ``alias`` (its client counts against the run's cap)."""
        if alias not in self._writers:
            session = engine.sessions[alias]
            self._writers[alias] = Writer(engine._client(alias), session.store, session.connection.name)
        return self._writers[alias]

    def finish(self, engine: Engine) -> list[StatementResult]:
        """At the end of a run: headers held without ``begin transaction`` are sent (Invantive sends them at
        the end of the batch); an explicit transaction stays open until ``commit`` or ``rollback``."""
        from exactsql.sql.engine import StatementResult

        if not self.transaction.held():
            return []
        if self.transaction.explicit:
            count = len(self.transaction.headers)
            return [
                StatementResult(
                    "transaction",
                    None,
                    message=f"Transaction open: {count} header(s) held until commit; nothing sent.",
                )
            ]
        return [commit(engine, self, "commit (end of script)")]

    def abandon(self) -> None:
        """After a failed run: headers held without ``begin transaction`` are dropped (nothing was sent)."""
        if not self.transaction.explicit:
            self.transaction = Held()


def is_write(engine: Engine, node: object) -> bool:
    """Whether ``node`` is a write statement on an Exact Online connection of ``engine``."""
    statement = view(node)
    if statement is None:
        return False
    return isinstance(statement, Transaction) or alias_of(statement) in engine.sessions


def _scope_division(engine: Engine, alias: str, dry: bool) -> int:
    scope = engine._local_scope() if dry else engine._lazy_scope()
    divisions = scope.of(alias)
    if len(divisions) != 1:
        raise SQLError(
            f"The script uses {len(divisions)} divisions on {alias}: a write goes to one.",
            "Give a Division column in the insert, or `use` one division first.",
        )
    return divisions[0]


def check(engine: Engine, node: exp.Expression) -> None:
    """Statement-level checks before any call: the table takes the method, the columns are writable, the
    required fields are named, the query binds."""
    statement = view(node)
    if isinstance(statement, Transaction) or statement is None:
        return
    written = f"`{shown(node.meta['text'])}` (line {node.meta['line']})"
    target = write_target_of(engine, statement.table, alias_of(statement))
    if isinstance(statement, Insert):
        if not statement.columns:
            raise SQLError(
                f"{written} names no columns.",
                "Name the columns: insert into SalesInvoices (OrderedBy, Journal, …) values (…).",
            )
        inline = statement.attached
        problems = check_columns(target, "POST", statement.columns, inline)
        if not inline:
            missing = missing_required(target, statement.columns)
            if missing:
                problems.append(f"required field(s) not given: {', '.join(missing)}")
        columns = engine._preflight(engine.plan(statement.query, engine._local_scope(), check=False))
        extra = int(statement.identified) + int(statement.attached)
        if len(columns) - extra != len(statement.columns):
            problems.append(
                f"{len(statement.columns)} column(s) named, {len(columns) - extra} value(s) given"
            )
    elif isinstance(statement, Update):
        problems = check_columns(target, "PUT", [n for n, _ in statement.sets])
        engine._preflight(
            engine.plan(_resolving_query(engine, statement), engine._local_scope(), check=False)
        )
    else:
        problems = check_columns(target, "DELETE", [])
        engine._preflight(
            engine.plan(_resolving_query(engine, statement), engine._local_scope(), check=False)
        )
    if problems:
        raise SQLError(
            f"{written} cannot be sent: " + "; ".join(problems) + ". Nothing was sent.",
            "See `exactsql columns` for the table's fields; read-only ones are set by Exact Online.",
        )


def _key_column(engine: Engine, statement: Update | Delete) -> tuple[str, str]:
    ref = engine.resolver.resolve(statement.table)
    assert ref.table is not None and ref.table.key is not None
    column = ref.table.column(ref.table.key)
    return ref.table.key, column.edm if column else "Edm.Guid"


def _resolving_query(engine: Engine, statement: Update | Delete) -> exp.Select:
    """``select KEY, Division, new values from TABLE where …``: the rows an update or delete changes."""
    ref = engine.resolver.resolve(statement.table)
    assert ref.table is not None
    key, _ = _key_column(engine, statement)
    table = statement.table.copy()
    qualifier = table.alias_or_name
    select = exp.select(exp.alias_(exp.column(key, table=qualifier), "__key", quoted=True)).from_(table)
    if ref.table.partitioned:
        select = select.select(exp.alias_(exp.column("Division", table=qualifier), "__division", quoted=True))
    if isinstance(statement, Update):
        for name, value in statement.sets:
            select = select.select(exp.alias_(value.copy(), name, quoted=True))
    return select.where(statement.where.copy())


def _key_literal(value: Any, edm: str) -> str:
    if edm == "Edm.Guid":
        return f"guid'{value}'"
    if edm.startswith("Edm.Int"):
        return str(int(value))
    return "'" + str(value).replace("'", "''") + "'"


# -- collecting ---------------------------------------------------------------------------------------


def _insert_rows(engine: Engine, session: WriteSession, node: exp.Expression, dry: bool) -> list[Row]:
    """Reads an insert's rows and files them: held headers and lines go to the transaction, plain rows are
    returned to be sent by the statement."""
    statement = view(node)
    assert isinstance(statement, Insert)
    alias = alias_of(statement)
    target = write_target_of(engine, statement.table, alias)
    result = engine._run_query(statement.query)
    assert result.table is not None
    digest = statement_hash(node.sql())
    n = len(statement.columns)
    names = result.table.column_names
    plain: list[Row] = []
    transaction = session.transaction
    default_division: int | None = None
    for index, record in enumerate(result.table.to_pylist(), start=1):
        values_list = [record[c] for c in names]
        values = dict(zip(statement.columns, values_list[:n], strict=True))
        extras = dict(zip(names[n:], values_list[n:], strict=True))
        division = next((v for k, v in values.items() if k.lower() == "division"), None)
        values = {k: v for k, v in values.items() if k.lower() != "division"}
        if division is None:
            if default_division is None:
                default_division = _scope_division(engine, alias, dry)
            division = default_division
        line = node.meta["line"]
        label = f"row {index} of line {line}"
        if IDENTIFIED in extras:
            label = repr(str(extras[IDENTIFIED]))
        if ATTACHED in extras:
            key = str(extras[ATTACHED])
            header = transaction.headers.get(key)
            if header is None:
                transaction.orphans.append(
                    Problem(
                        label, f"attach to {key!r}: no header is identified by {key!r} in this transaction"
                    )
                )
                continue
            label = f"line {len(header.lines) + 1} of {header.label}"
            row = make_row(
                target, alias, int(division), values, label, line_required(target, header.target), digest
            )
            header.lines.append(row)
            continue
        required = missing_required(target, [])
        row = make_row(target, alias, int(division), values, label, required, digest)
        if IDENTIFIED in extras:
            key = str(extras[IDENTIFIED])
            if key in transaction.headers:
                row.problems.append(Problem(label, f"identified by {key!r} is used for another header too"))
                transaction.orphans.extend(row.problems)
                continue
            transaction.headers[key] = row
        else:
            plain.append(row)
    return plain


def _prepare(
    engine: Engine, session: WriteSession, rows: list[Row], headers: bool, dry: bool
) -> list[Problem]:
    """Lines checked, references resolved, natural keys given; the problems of ``rows`` (and their lines)."""
    for row in rows:
        if headers or row.target.lines:
            check_lines(row)
    resolve_references(engine, session.references, rows, dry)
    assign_natural_keys(rows)
    return [p for row in rows for p in row.all_problems()]


# -- sending ------------------------------------------------------------------------------------------


@dataclass
class Sent:
    """The outcomes of one batch, for the result rows and the message."""

    rows: list[tuple[str, str, int | None, str, str | None, str]] = field(default_factory=list)
    calls: dict[tuple[str, int | None], int] = field(default_factory=dict)  # per endpoint and division

    def add(self, label: str, endpoint: str, division: int | None, outcome: Outcome) -> None:
        self.rows.append((label, endpoint, division, outcome.status, outcome.id, outcome.message))
        if outcome.calls:
            self.calls[(endpoint, division)] = self.calls.get((endpoint, division), 0) + len(outcome.calls)

    def table(self) -> pa.Table:
        columns: list[list[Any]] = [list(c) for c in zip(*self.rows, strict=True)] if self.rows else []
        columns = columns or [[] for _ in RESULT_SCHEMA]
        return pa.Table.from_arrays(
            [pa.array(list(c), t.type) for c, t in zip(columns, RESULT_SCHEMA, strict=True)],
            schema=RESULT_SCHEMA,
        )

    def count(self, *statuses: str) -> int:
        return sum(1 for r in self.rows if r[3] in statuses)

    def summary(self) -> str:
        parts = [
            f"{self.count(s)} {s}"
            for s in ("created", "existing", "updated", "deleted", "failed", "unknown", "invalid")
            if self.count(s)
        ]
        return ", ".join(parts) or "nothing"


def _send_all(
    engine: Engine, action: str, rows: list[Row], send: Callable[[Row], Outcome], sent: Sent, reserve: int
) -> None:
    """Sends every row in order. Stops, with what went, what failed and when it can go on, at the error
    reserve of an endpoint (the client refuses the call), at the run's call cap, or when Exact has refused
    ``reserve`` writes of this batch (its business rules answer with 500, which the error budget does not
    count: the batch does). Each outcome goes to SessionRowsChanged."""
    for done, row in enumerate(rows):
        refused = sent.count("failed")
        try:
            if refused >= reserve:
                raise SQLError(
                    f"Exact Online refused {refused} write(s) of this batch; exactsql stops there so that "
                    "the app's key is not blocked.",
                    "Fix the rows it refused first.",
                )
            outcome = send(row)
        except (ErrorBudgetError, SQLError) as exc:
            failed = [f"{r[0]}: {r[5]}" for r in sent.rows if r[3] == "failed"]
            raise SQLError(
                f"Stopped after {done} of {len(rows)} write(s) ({sent.summary()}): {exc.message}"
                + ("\nRefused by Exact Online:\n  " + "\n  ".join(failed[:20]) if failed else ""),
                (exc.hint + " " if exc.hint else "")
                + "Run the same script again then: rows already written are recognised and not sent twice.",
            ) from None
        sent.add(row.label, row.target.endpoint, row.division, outcome)
        engine.writes.changes.append(
            {
                "Statement": engine._statement,
                "TableName": row.target.endpoint,
                "Division": row.division,
                "Action": action,
                "Row": row.label,
                "ID": outcome.id,
                "Status": outcome.status,
                "Successful": outcome.ok,
                "ErrorMessage": None if outcome.ok else outcome.message,
                "ExecutionDateUtc": dt.datetime.now(dt.UTC).replace(tzinfo=None),
            }
        )


def _reserve(engine: Engine, rows: list[Row]) -> int:
    """The refusals a batch takes at most: the error reserve of its connection."""
    aliases = {r.alias for r in rows} or set(engine.sessions)
    return min(engine.sessions[a].connection.error_reserve for a in aliases)


def _intent(row: Row) -> Intent:
    return Intent(
        row.target.endpoint,
        int(row.division or 0),
        row.body,
        row.target.key or "ID",
        row.natural,
        row.identity,
    )


def _post_rows(engine: Engine, session: WriteSession, rows: list[Row], what: str) -> StatementResult:
    from exactsql.sql.engine import StatementResult

    started = len(engine.ios)
    sent = Sent()
    valid = [r for r in rows if not r.all_problems()]
    for row in rows:
        if row.all_problems():
            sent.add(
                row.label,
                row.target.endpoint,
                row.division,
                Outcome("invalid", None, "; ".join(p.message for p in row.all_problems())),
            )
    clock = time.perf_counter()
    post: Callable[[Row], Outcome] = lambda r: session.writer(engine, r.alias).post(_intent(r))  # noqa: E731
    _send_all(engine, "insert", valid, post, sent, _reserve(engine, valid))
    _record_io(engine, sent, clock)
    return StatementResult(what, sent.table(), None, engine.ios[started:], f"{what}: {sent.summary()}.")


def _record_io(engine: Engine, sent: Sent, clock: float) -> None:
    """One SessionIOs record per endpoint and division written to: its calls (POST, PUT, DELETE and the
    look-ups after lost answers) and rows."""
    from exactsql.sql.engine import IORecord

    rows: dict[tuple[str, int | None], int] = {}
    for r in sent.rows:
        if r[3] != "invalid":
            rows[(r[1], r[2])] = rows.get((r[1], r[2]), 0) + 1
    seconds = time.perf_counter() - clock
    for (endpoint, division), count in rows.items():
        calls = sent.calls.get((endpoint, division), 0)
        engine.ios.append(IORecord(engine._statement, "write", endpoint, division, calls, count, seconds))


def commit(engine: Engine, session: WriteSession, what: str = "commit") -> StatementResult:
    """Sends the held headers, one POST each with its lines inline, after checking them all."""
    transaction = session.transaction
    session.transaction = Held()
    headers = list(transaction.headers.values())
    problems = transaction.orphans + _prepare(engine, session, headers, True, False)
    if problems and not session.send_valid_rows:
        raise report(problems)
    return _post_rows(engine, session, headers, what)


def execute(engine: Engine, node: exp.Expression) -> StatementResult:
    """Carries out a write statement."""
    from exactsql.sql.engine import StatementResult

    session: WriteSession = engine.writes
    statement = view(node)
    if isinstance(statement, Transaction):
        if statement.action == "begin":
            if session.transaction.held():
                raise SQLError("A transaction is open already.", "Commit or roll it back first.")
            session.transaction.explicit = True
            return StatementResult("begin transaction", None, message="Transaction begun.")
        if statement.action == "rollback":
            count = len(session.transaction.headers)
            session.transaction = Held()
            return StatementResult("rollback", None, message=f"Rolled back: {count} header(s) not sent.")
        return commit(engine, session)
    if isinstance(statement, Insert):
        plain = _insert_rows(engine, session, node, dry=False)
        if statement.identified or statement.attached:
            held = session.transaction
            lines = sum(len(h.lines) for h in held.headers.values())
            return StatementResult(
                node.sql(), None, message=f"Held for commit: {len(held.headers)} header(s), {lines} line(s)."
            )
        problems = _prepare(engine, session, plain, False, False)
        if problems and not session.send_valid_rows:
            raise report(problems)
        return _post_rows(engine, session, plain, f"insert into {plain[0].target.endpoint if plain else '…'}")
    assert isinstance(statement, Update | Delete)
    return _change(engine, session, node, statement)


def _change(
    engine: Engine, session: WriteSession, node: exp.Expression, statement: Update | Delete
) -> StatementResult:
    """An update or delete: the rows found by a read, then one PUT or DELETE per row by its key."""
    from exactsql.sql.engine import StatementResult

    alias = alias_of(statement)
    target = write_target_of(engine, statement.table, alias)
    _, key_edm = _key_column(engine, statement)
    started = len(engine.ios)
    found = engine._run_query(_resolving_query(engine, statement))
    assert found.table is not None
    rows: list[Row] = []
    default: int | None = None
    for _index, record in enumerate(found.table.to_pylist(), start=1):
        division = record.pop("__division", None)
        if division is None:
            default = default if default is not None else _scope_division(engine, alias, False)
            division = default
        key = record.pop("__key")
        label = f"{target.key} {key}"
        if isinstance(statement, Update):
            values = {name: record[name] for name, _ in statement.sets}
            required = [n for n in values if (f := target.field(n)) is not None and f.required]
            row = make_row(target, alias, int(division), values, label, required, "")
        else:
            row = Row(label, target, alias, int(division), {}, [])
        row.identity = _key_literal(key, key_edm)
        rows.append(row)
    resolve_references(engine, session.references, rows, False)
    problems = [p for r in rows for p in r.problems]
    if problems and not session.send_valid_rows:
        raise report(problems)
    sent = Sent()
    for r in rows:
        if r.problems:
            sent.add(
                r.label,
                target.endpoint,
                r.division,
                Outcome("invalid", None, "; ".join(p.message for p in r.problems)),
            )
    valid = [r for r in rows if not r.problems]
    clock = time.perf_counter()
    writer = session.writer(engine, alias)

    def send(r: Row) -> Outcome:
        if isinstance(statement, Update):
            return writer.put(target.endpoint, int(r.division or 0), r.identity, r.body)
        return writer.delete(target.endpoint, int(r.division or 0), target.key or "ID", r.identity)

    action = "update" if isinstance(statement, Update) else "delete"
    _send_all(engine, action, valid, send, sent, _reserve(engine, valid))
    _record_io(engine, sent, clock)
    verb = "update" if isinstance(statement, Update) else "delete from"
    return StatementResult(
        node.sql(),
        sent.table(),
        found.plan,
        engine.ios[started:],
        f"{verb} {target.endpoint}: {len(rows)} row(s) found; {sent.summary()}.",
    )


# -- explain ------------------------------------------------------------------------------------------


def explain(engine: Engine, node: exp.Expression) -> tuple[Plan | None, str]:
    """The plan of a write's read (None when it reads nothing from Exact) and the calls it will make, with
    what local validation found; no call is made (codes and references are checked when it runs)."""
    session: WriteSession = engine.writes
    if session.shadow is None:
        session.shadow = WriteSession(session.send_valid_rows)
    shadow = session.shadow
    statement = view(node)
    if isinstance(statement, Transaction):
        if statement.action == "begin":
            shadow.transaction = Held(explicit=True)
            return None, "begins a transaction: inserts with identified by / attach to are held until commit"
        headers = list(shadow.transaction.headers.values())
        orphans = shadow.transaction.orphans
        shadow.transaction = Held()
        if statement.action == "rollback":
            return None, f"drops {len(headers)} held header(s); no call"
        problems = orphans + _prepare(engine, shadow, headers, True, True)
        return None, _calls_text(headers, problems, "commit sends")
    assert statement is not None
    if isinstance(statement, Insert):
        plan = engine.plan(statement.query, engine._local_scope())
        if plan.fetches:
            target = write_target_of(engine, statement.table, alias_of(statement))
            return (
                plan,
                f"reads the rows below, then sends one POST to {target.endpoint} per row (references checked by a filtered read per 20 distinct values)",
            )
        plain = _insert_rows(engine, shadow, node, dry=True)
        if statement.identified or statement.attached:
            held = shadow.transaction
            return (
                None,
                f"holds {len(held.headers)} header(s) with {sum(len(h.lines) for h in held.headers.values())} line(s) for commit; no call",
            )
        problems = _prepare(engine, shadow, plain, False, True)
        return None, _calls_text(plain, problems, "sends")
    target = write_target_of(engine, statement.table, alias_of(statement))
    plan = engine.plan(_resolving_query(engine, statement), engine._local_scope())
    method = "PUT" if isinstance(statement, Update) else "DELETE"
    return (
        plan,
        f"reads the rows below (their {target.key}), then sends one {method} to {target.endpoint}({target.key}) per row",
    )


def explain_end(engine: Engine) -> str | None:
    """What the end of an explained script does with headers held without ``begin transaction`` (it sends
    them), or None when none are held."""
    shadow = engine.writes.shadow
    if shadow is None or shadow.transaction.explicit or not shadow.transaction.held():
        return None
    headers = list(shadow.transaction.headers.values())
    problems = shadow.transaction.orphans + _prepare(engine, shadow, headers, True, True)
    shadow.transaction = Held()
    return _calls_text(headers, problems, "at the end of the script, sends")


def _calls_text(rows: list[Row], problems: list[Problem], verb: str) -> str:
    endpoints = sorted({r.target.endpoint for r in rows})
    lines = sum(len(r.lines) for r in rows)
    text = f"{verb} {len(rows)} POST(s) to {', '.join(endpoints) or '—'}" + (
        f" with {lines} line(s) inline" if lines else ""
    )
    refs = sum(1 for r in rows for x in (r, *r.lines) if x.codes)
    if refs:
        text += f"; {refs} row(s) name references by code (resolved by a filtered read when run)"
    if problems:
        text += f"; local validation found {len(problems)} problem(s):\n" + "\n".join(
            f"  {p}" for p in problems[:40]
        )
    else:
        text += "; local validation found no problem"
    return text
