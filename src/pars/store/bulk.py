"""The fastest bulk writes each database offers, inside the caller's transaction.

SQLite: one ``executemany`` on the driver cursor. PostgreSQL: ``COPY`` for plain
inserts and a pipelined ``executemany`` for upserts. Rows are tuples in the order
of ``columns``; values must already be in the database's own form (see ``Values``).

Rule: use only inside an open ``Store.write()`` transaction, on tables whose
constraints the caller has already checked; a violation fails the whole batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Table


class Values:
    """Converts Python values to what the raw driver path stores.

    SQLAlchemy keeps SQLite datetimes as ``YYYY-MM-DD HH:MM:SS.ffffff`` text and
    numerics as REAL; the raw path must write the same forms so reads agree.
    """

    def __init__(self, sqlite: bool) -> None:
        self.sqlite = sqlite

    def ts(self, value: datetime | None) -> Any:
        if value is None or not self.sqlite:
            return value
        return value.strftime("%Y-%m-%d %H:%M:%S.%f")

    def num(self, value: Decimal | None) -> Any:
        if value is None or not self.sqlite:
            return value
        return float(value)


def _cursor(conn: Connection) -> Any:
    return conn.connection.driver_connection.cursor()  # type: ignore[union-attr]


def insert_rows(
    conn: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[Any, ...]]
) -> None:
    if not rows:
        return
    cols = ", ".join(columns)
    cur = _cursor(conn)
    try:
        if conn.dialect.name == "sqlite":
            marks = ", ".join("?" for _ in columns)
            cur.executemany(f"INSERT INTO {table.name} ({cols}) VALUES ({marks})", rows)  # noqa: S608
        else:
            with cur.copy(f"COPY {table.name} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
    finally:
        cur.close()


def upsert_rows(
    conn: Connection,
    table: Table,
    key: Sequence[str],
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """Insert, or replace the non-key columns of the row with the same key."""
    if not rows:
        return
    cols = ", ".join(columns)
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    marks = ", ".join(mark for _ in columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    sql = (
        f"INSERT INTO {table.name} ({cols}) VALUES ({marks}) "  # noqa: S608
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )
    cur = _cursor(conn)
    try:
        cur.executemany(sql, rows)
    finally:
        cur.close()
