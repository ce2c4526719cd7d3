"""Tables a script keeps in a replica: ``create [or replace] table NAME@ALIAS as select …``, ``insert into
NAME@ALIAS …`` and ``drop table NAME@ALIAS``, where the config names the replica (``[replicas] ALIAS = URL``).

They stay in the replica beside the replicated tables and are listed, with their columns as Exact's types, in
``exactsql_saved_tables``; a table the script did not make there (a replicated one) is never replaced or
dropped. Amounts are kept as the replica keeps them (doubles); GUIDs as text.
"""

from __future__ import annotations

import json

import pyarrow as pa

from exactsql.api.convert import schema_for
from exactsql.catalog import Column
from exactsql.replicate.targets import Target, TargetConnection, open_target
from exactsql.sql import memory
from exactsql.sql.dialect import SQLError

REGISTRY = "exactsql_saved_tables"


class ReplicaTables(memory.TableStorage):
    """The tables scripts keep in the replica at ``url``, written as NAME@``alias``; opened on first use."""

    def __init__(self, alias: str, url: str) -> None:
        super().__init__(alias)
        self.url = url
        self._target: Target | None = None
        self._conn: TargetConnection | None = None

    def _db(self) -> TargetConnection:
        if self._conn is None:
            self._target = open_target(self.url)
            self._conn = self._target.connect()
            q = self._conn.q
            with self._conn.transaction():
                self._conn.execute(
                    f"CREATE TABLE IF NOT EXISTS {q(REGISTRY)} "
                    f"({q('lname')} TEXT PRIMARY KEY, {q('name')} TEXT NOT NULL, {q('columns')} TEXT NOT NULL)"
                )
        return self._conn

    def close(self) -> None:
        """Closes the replica (when it was opened)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._target is not None:
            self._target.close()
            self._target = None

    # -- the registry -----------------------------------------------------------------------------------

    def _get(self, name: str) -> memory.Stored | None:
        db = self._db()
        found = db.execute(
            f"SELECT {db.q('name')}, {db.q('columns')} FROM {db.q(REGISTRY)} WHERE {db.q('lname')} = {db.p(1)}",
            [name.lower()],
        ).fetchall()
        if not found:
            return None
        written, described = found[0]
        columns = [Column(n, edm) for n, edm in json.loads(described)]
        return memory.Stored(written, schema_for(columns), columns)

    def _names(self) -> list[str]:
        db = self._db()
        return [r[0] for r in db.execute(f"SELECT {db.q('name')} FROM {db.q(REGISTRY)}").fetchall()]

    def _check_create(self, name: str, table: pa.Table, replace: bool) -> None:
        super()._check_create(name, table, replace)
        if self._get(name) is None and self._db().column_types(name) is not None:
            raise SQLError(
                f"The replica {self.alias} already has a table {name} that no script made (a replicated table?): "
                "it is left as it is.",
                f"Choose another name for the table, e.g. {name}_report@{self.alias}.",
            )

    # -- the rows ---------------------------------------------------------------------------------------

    def _put(self, name: str, table: pa.Table) -> None:
        columns = [Column(f.name, memory.edm(f.type)) for f in table.schema]
        db = self._db()
        body = ", ".join(f"{db.q(c.name)} {db.sql_type(c.edm)}" for c in columns)
        with db.transaction():
            existing = self._get(name)
            if existing is not None:
                self._forget(db, existing.name)
            db.create_table(name, body, "")
            db.append(name, table.cast(schema_for(columns)))
            db.execute(
                f"INSERT INTO {db.q(REGISTRY)} VALUES ({db.p(3)})",
                [name.lower(), name, json.dumps([[c.name, c.edm] for c in columns])],
            )

    def _add(self, stored: memory.Stored, added: pa.Table) -> None:
        db = self._db()
        with db.transaction():
            db.append(stored.name, added)

    def _delete(self, stored: memory.Stored) -> None:
        db = self._db()
        with db.transaction():
            self._forget(db, stored.name)

    @staticmethod
    def _forget(db: TargetConnection, written: str) -> None:
        """Drops the saved table ``written`` (its name as the registry has it) and its registry row."""
        db.drop_table(written)
        db.execute(f"DELETE FROM {db.q(REGISTRY)} WHERE {db.q('lname')} = {db.p(1)}", [written.lower()])

    def _read(self, stored: memory.Stored) -> pa.Table:
        return self._db().read(stored.name, stored.columns)
