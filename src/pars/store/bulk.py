"""The fastest bulk writes each database offers, inside the caller's transaction.

SQLite: one ``executemany`` on the driver cursor. PostgreSQL: ``COPY`` for plain
inserts and a pipelined ``executemany`` for upserts. Rows are tuples in the order
of ``columns``; values must already be in a form the database accepts (timestamps as
naive UTC text, see ``timestamp``).

Rule: use only inside an open ``Store.write()`` transaction, on tables whose
constraints the caller has already checked; a violation fails the whole batch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table

from pars.clock import utc_text


def number(sqlite: bool, text: str | None) -> Any:
    """A decimal as the raw path stores it: REAL on SQLite (as SQLAlchemy's Numeric
    does), the exact text on PostgreSQL (parsed into ``numeric``)."""
    if text is None or not sqlite:
        return text
    return float(text)


def timestamp(value: Any) -> str | None:
    """A ``*_utc`` value read through the driver, as ``YYYY-MM-DD HH:MM:SS.ffffff``.

    SQLite hands back that text (SQLAlchemy's storage form); PostgreSQL a naive
    datetime. Written back, both databases accept the text.
    """
    if value is None or isinstance(value, str):
        return value
    assert isinstance(value, datetime)
    return utc_text(value)


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


def _keys_subquery(dialect: str, width: int) -> str:
    """A subquery over one bound JSON array (encoded in C, unlike a driver's array)."""
    if dialect == "sqlite":
        if width == 1:
            return "SELECT value FROM json_each(?)"
        cols = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(width))
        return f"SELECT {cols} FROM json_each(?)"  # noqa: S608
    if width == 1:
        return "SELECT jsonb_array_elements_text(%s::jsonb)"
    cols = ", ".join(f"e ->> {i}" for i in range(width))
    return f"SELECT {cols} FROM jsonb_array_elements(%s::jsonb) AS e"  # noqa: S608


def select_in(
    conn: Connection, sql: str, keys: Sequence[str] | Sequence[tuple[str | None, ...]], width: int = 1
) -> list[tuple[Any, ...]]:
    """Run ``sql``, in which ``{keys}`` stands for a subquery over all ``keys``.

    One statement with one bound JSON array, whatever the number of keys (SQLite
    ``json_each``, PostgreSQL ``jsonb_array_elements``): no ``IN`` list to chunk or
    recompile. ``keys`` are strings, or tuples of ``width`` strings for a row-value
    ``IN``. Values come back in the driver's own form (SQLite datetimes as text).
    """
    if not keys:
        return []
    cur = _cursor(conn)
    try:
        cur.execute(sql.format(keys=_keys_subquery(conn.dialect.name, width)), (json.dumps(list(keys)),))
        return list(cur.fetchall())
    finally:
        cur.close()
