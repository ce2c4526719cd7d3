"""The PostgreSQL wire protocol (v3) over asyncio, with pygwire's codec: startup, TLS, SCRAM-SHA-256,
simple and extended query, cancel requests; statements run in worker threads, rows stream by batches.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import ssl
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NoReturn

import pyarrow as pa
from pygwire import BackendConnection, PygwireError
from pygwire import messages as m
from pygwire.constants import TransactionStatus

from exactsql.errors import ExactSQLError, advice
from exactsql.serve import statements as st
from exactsql.serve.backend import Shared
from exactsql.serve.catalog import Introspection
from exactsql.serve.pgtypes import arrow_type, data_rows, decode_parameter, wire_column
from exactsql.serve.session import (
    REPORTED,
    ClientSession,
    Portal,
    QueryCanceled,
    Result,
    ServerLimits,
    SessionError,
    sqlstate_of,
)
from exactsql.serve.users import MECHANISM, ScramExchange, Users

log = logging.getLogger(__name__)

BATCH_ROWS = 32_768
_STATUS = {
    "I": TransactionStatus.IDLE,
    "T": TransactionStatus.IN_TRANSACTION,
    "E": TransactionStatus.ERROR_TRANSACTION,
}


class Disconnect(Exception):
    """The client went away or broke the protocol."""


@dataclass
class ServerConfig:
    """What the server offers and how: database name, limits, TLS, where statements run."""

    database: str
    limits: ServerLimits
    shared: Shared | None
    replica: str | None
    tls: ssl.SSLContext | None = None
    workers: int = 32


class Server:
    """Serves the PostgreSQL protocol; every session shares the engine state, token chain and budgets."""

    def __init__(self, config: ServerConfig, users: Users, introspection: Introspection) -> None:
        self.config = config
        self.users = users
        self.introspection = introspection
        self.sessions: dict[int, ClientSession] = {}
        self.pool = ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="exactsql-serve")
        self._server: asyncio.AbstractServer | None = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listens on ``host``:``port``; returns the address bound (``port`` 0 picks a free one)."""
        self._server = await asyncio.start_server(self._client, host, port)
        address = self._server.sockets[0].getsockname()
        return str(address[0]), int(address[1])

    async def serve_forever(self) -> None:
        """Serves until cancelled."""
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    def close(self) -> None:
        """Stops every session and the workers."""
        for session in list(self.sessions.values()):
            session.cancel("server shutdown")
        self.pool.shutdown(wait=False, cancel_futures=True)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        link = Link(self, reader, writer)
        try:
            await link.run()
        except (Disconnect, ConnectionError, asyncio.IncompleteReadError, PygwireError) as exc:
            log.debug("client gone: %s", exc)
        except Exception:
            log.exception("session failed")
        finally:
            if link.session is not None:
                self.sessions.pop(link.session.pid, None)
                await asyncio.get_running_loop().run_in_executor(self.pool, link.session.close)
            with contextlib.suppress(Exception):
                writer.close()


class Link:
    """One client connection: the protocol state machine around a ClientSession."""

    def __init__(self, server: Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.conn = BackendConnection(strict=False)
        self.inbox: deque[m.PGMessage] = deque()
        self.session: ClientSession | None = None
        self.skipping = False  # after an error in the extended protocol, until Sync

    # -- io ---------------------------------------------------------------------------------------------

    async def receive(self) -> m.PGMessage:
        while not self.inbox:
            data = await self.reader.read(65536)
            if not data:
                raise Disconnect("end of stream")
            self.inbox.extend(self.conn.receive(data))
        return self.inbox.popleft()

    def send(self, *messages: m.PGMessage) -> None:
        for message in messages:
            self.writer.write(self.conn.send(message))

    async def flush(self) -> None:
        await self.writer.drain()

    async def in_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.server.pool, fn, *args)

    # -- startup and authentication -----------------------------------------------------------------------

    async def run(self) -> None:
        startup = await self.startup()
        if startup is None:
            return
        await self.authenticate(startup)
        while True:
            message = await self.receive()
            if isinstance(message, m.Terminate):
                return
            await self.dispatch(message)

    async def startup(self) -> m.StartupMessage | None:
        while True:
            message = await self.receive()
            if isinstance(message, m.SSLRequest):
                tls = self.server.config.tls
                self.send(m.SSLResponse(accepted=tls is not None))
                await self.flush()
                if tls is not None:
                    await self.writer.start_tls(tls)
            elif isinstance(message, m.GSSEncRequest):
                self.send(m.GSSResponse(accepted=False))
                await self.flush()
            elif isinstance(message, m.CancelRequest):
                session = self.server.sessions.get(message.process_id)
                if session is not None and hmac.compare_digest(session.secret, bytes(message.secret_key)):
                    session.cancel()
                return None
            elif isinstance(message, m.StartupMessage):
                return message
            else:
                raise Disconnect(f"unexpected {type(message).__name__} at startup")

    async def authenticate(self, startup: m.StartupMessage) -> None:
        params = dict(startup.params)
        user = params.get("user", "")
        database = params.get("database") or user
        if (startup.protocol_version & 0xFFFF) > 0 or any(k.startswith("_pq_.") for k in params):
            self.send(
                m.NegotiateProtocolVersion(
                    newest_minor=0, unrecognized=[k for k in params if k.startswith("_pq_.")]
                )
            )
        exchange = ScramExchange(self.server.users, user)
        self.send(m.AuthenticationSASL(mechanisms=[MECHANISM]))
        await self.flush()
        first = await self.receive()
        if not isinstance(first, m.SASLInitialResponse) or first.mechanism != MECHANISM:
            await self.fatal("28000", f'SCRAM-SHA-256 authentication is required for user "{user}"')
        try:
            server_first = exchange.first(bytes(first.data))
        except Exception:
            await self.fatal("08P01", "malformed SCRAM message")
        self.send(m.AuthenticationSASLContinue(data=server_first))
        await self.flush()
        final = await self.receive()
        if not isinstance(final, m.SASLResponse):
            raise Disconnect("no SCRAM response")
        server_final = exchange.final(bytes(final.data))
        if server_final is None:
            log.warning("password authentication failed for user %r", user)
            await self.fatal("28P01", f'password authentication failed for user "{user}"')
        if database != self.server.config.database:
            await self.fatal("3D000", f'database "{database}" does not exist',
                             f'The database is called "{self.server.config.database}".')  # fmt: skip
        assert server_final is not None
        self.send(m.AuthenticationSASLFinal(data=server_final), m.AuthenticationOk())
        config = self.server.config
        session = ClientSession(user, database, params, self.server.introspection, config.shared, config.replica,
                                config.limits)  # fmt: skip
        self.session = session
        self.server.sessions[session.pid] = session
        for name, shown in REPORTED.items():
            self.send(m.ParameterStatus(name=shown, value=session.settings.get(name, "")))
        self.send(m.ParameterStatus(name="session_authorization", value=user))
        self.send(m.BackendKeyData(process_id=session.pid, secret_key=session.secret))
        self.send(m.ReadyForQuery(status=TransactionStatus.IDLE))
        await self.flush()

    async def fatal(self, code: str, message: str, hint: str = "") -> NoReturn:
        fields = {"S": "FATAL", "V": "FATAL", "C": code, "M": message}
        if hint:
            fields["H"] = hint
        self.send(m.ErrorResponse(fields=fields))
        await self.flush()
        raise Disconnect(message)

    # -- queries ------------------------------------------------------------------------------------------

    async def dispatch(self, message: m.PGMessage) -> None:
        assert self.session is not None
        if isinstance(message, m.Query):
            await self.simple_query(message.query_string)
        elif isinstance(message, m.Sync):
            self.skipping = False
            self.session.portals.pop("", None)
            self.ready()
            await self.flush()
        elif isinstance(message, m.Flush):
            await self.flush()
        elif self.skipping:
            return
        else:
            try:
                await self.extended(message)
            except Exception as exc:
                self.error(exc)
                self.skipping = True

    def ready(self) -> None:
        assert self.session is not None
        self.send(m.ReadyForQuery(status=_STATUS[self.session.transaction]))

    def error(self, exc: BaseException) -> None:
        """Sends an error the way PostgreSQL does: severity, SQLSTATE, message and hint."""
        if isinstance(exc, ExactSQLError):
            message, hint = exc.message, exc.hint or advice(exc)
        else:
            message, hint = str(exc) or type(exc).__name__, ""
            if not isinstance(exc, SessionError):
                log.warning("statement failed: %s: %s", type(exc).__name__, message)
        fields = {"S": "ERROR", "V": "ERROR", "C": sqlstate_of(exc), "M": message}
        if hint:
            fields["H"] = hint
        line = getattr(exc, "line", None)
        if line:
            column = getattr(exc, "column", None)
            fields["W"] = f"line {line}" + (f", column {column}" if column else "")
        self.send(m.ErrorResponse(fields=fields))

    async def simple_query(self, text: str) -> None:
        assert self.session is not None
        try:
            from exactsql.sql.dialect import split_statements

            parts = split_statements(text) if text.strip() else []
        except ExactSQLError as exc:
            self.error(exc)
            parts = None
        if parts is not None and not parts:
            self.send(m.EmptyQueryResponse())
        for part in parts or []:
            try:
                statement = st.classify(part)
                result = await self.execute(statement, [])
                if result.table is not None:
                    types = [arrow_type(f.type) for f in result.table.schema]
                    self.send(_row_description(result.table.schema, [0] * len(types)))
                    sent = await self.stream(result.table, [0] * len(types), 0, 0)
                    self.send(m.CommandComplete(tag=f"{result.tag} {sent}"))
                else:
                    self.complete(result)
            except Exception as exc:
                self.error(exc)
                break
        self.ready()
        await self.flush()

    def complete(self, result: Result) -> None:
        for name, value in result.reported.items():
            self.send(m.ParameterStatus(name=name, value=value))
        if result.tag:
            self.send(m.CommandComplete(tag=result.tag))
        else:
            self.send(m.EmptyQueryResponse())

    async def execute(self, statement: st.Statement, values: list[object]) -> Result:
        """Runs a statement in a worker; the timeout cancels it at its next page."""
        assert self.session is not None
        session = self.session
        future = asyncio.get_running_loop().run_in_executor(self.server.pool, session.run, statement, values)
        timeout = session.timeout()
        if not timeout:
            return await future
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            session.cancel("statement timeout")
            with contextlib.suppress(QueryCanceled):
                await future
            raise QueryCanceled("canceling statement due to statement timeout") from None

    async def stream(self, table: pa.Table, formats: list[int], start: int, limit: int) -> int:
        """Sends rows ``start``… (at most ``limit``, 0 for all) as DataRows, a batch at a time."""
        assert self.session is not None
        end = table.num_rows if not limit else min(table.num_rows, start + limit)
        types = [arrow_type(f.type) for f in table.schema]
        position = start
        while position < end:
            size = min(BATCH_ROWS, end - position)
            batch = table.slice(position, size)
            payload = await self.in_thread(_encode, batch, types, formats)
            self.writer.write(payload)
            await self.writer.drain()
            position += size
            if self.session._cancel.is_set():
                raise QueryCanceled("canceling statement due to user request")
        return position - start

    async def extended(self, message: m.PGMessage) -> None:
        assert self.session is not None
        session = self.session
        if isinstance(message, m.Parse):
            session.prepare(message.statement, message.query, list(message.param_types))
            self.send(m.ParseComplete())
        elif isinstance(message, m.Bind):
            prepared = session.prepared.get(message.statement)
            if prepared is None:
                raise SessionError(f'prepared statement "{message.statement}" does not exist', "26000")
            formats = list(message.param_formats) or [0]
            values = []
            for i, raw in enumerate(message.param_values):
                fmt = formats[i] if len(formats) > 1 else formats[0]
                oid = prepared.param_types[i] if i < len(prepared.param_types) else 0
                values.append(decode_parameter(None if raw is None else bytes(raw), oid, fmt == 1))
            session.portals[message.portal] = Portal(prepared, values, list(message.result_formats))
            self.send(m.BindComplete())
        elif isinstance(message, m.Describe):
            await self.describe(message)
        elif isinstance(message, m.Execute):
            portal = session.portals.get(message.portal)
            if portal is None:
                raise SessionError(f'portal "{message.portal}" does not exist', "34000")
            await self.execute_portal(portal, message.max_rows)
        elif isinstance(message, m.Close):
            (session.prepared if message.kind == "S" else session.portals).pop(message.name, None)
            self.send(m.CloseComplete())
        else:
            raise SessionError(f"unsupported message {type(message).__name__}", "08P01")

    async def describe(self, message: m.Describe) -> None:
        assert self.session is not None
        session = self.session
        if message.kind == "S":
            prepared = session.prepared.get(message.name)
            if prepared is None:
                raise SessionError(f'prepared statement "{message.name}" does not exist', "26000")
            self.send(m.ParameterDescription(type_oids=[t or 25 for t in prepared.param_types]))
            schema = await self.in_thread(session.describe, prepared)
            formats = [0] * (len(schema) if schema is not None else 0)
        else:
            portal = session.portals.get(message.name)
            if portal is None:
                raise SessionError(f'portal "{message.name}" does not exist', "34000")
            if portal.result is None:
                portal.result = await self.execute(portal.prepared.statement, portal.values)
            schema = portal.result.table.schema if portal.result.table is not None else None
            formats = _formats(portal.result_formats, len(schema) if schema is not None else 0)
        if schema is None:
            self.send(m.NoData())
        else:
            self.send(_row_description(schema, formats))

    async def execute_portal(self, portal: Portal, max_rows: int) -> None:
        if portal.result is None:
            portal.result = await self.execute(portal.prepared.statement, portal.values)
        result = portal.result
        if result.table is None:
            if portal.sent == 0:
                self.complete(result)
                portal.sent = -1
            else:
                self.send(m.CommandComplete(tag=result.tag))
            return
        formats = _formats(portal.result_formats, result.table.num_columns)
        sent = await self.stream(result.table, formats, portal.sent, max_rows)
        portal.sent += sent
        if max_rows and portal.sent < result.table.num_rows:
            self.send(m.PortalSuspended())
        else:
            self.send(m.CommandComplete(tag=f"{result.tag} {portal.sent}"))


def _formats(requested: list[int], columns: int) -> list[int]:
    if not requested:
        return [0] * columns
    if len(requested) == 1:
        return requested * columns
    return requested


def _row_description(schema: pa.Schema, formats: list[int]) -> m.RowDescription:
    fields = []
    for f, fmt in zip(schema, formats, strict=True):
        pg = arrow_type(f.type)
        fields.append(m.FieldDescription(name=f.name, table_oid=0, column_attr=0, type_oid=pg.oid,
                                         type_size=pg.size, type_modifier=-1, format_code=fmt))  # fmt: skip
    return m.RowDescription(fields=fields)


def _encode(batch: pa.Table, types: list, formats: list[int]) -> bytes:
    columns = [wire_column(batch.column(i), types[i], formats[i] == 1) for i in range(batch.num_columns)]
    return data_rows(columns)
