"""The driver SQL of the log's hot paths, compiled from the ``Table`` objects.

The append (and the texts beside it) talks to the driver directly: on PostgreSQL
its statements are pipelined (psycopg pipeline mode), on SQLite it skips
SQLAlchemy's per-call statement building, most of an append's cost there. The
SQL text it sends is not written by hand: each statement is built here with
SQLAlchemy Core over ``pars.store.schema.audit`` and compiled once per dialect
(``statements(dialect_name)``, cached), so a schema change reaches it or fails
loudly at compile time, never silently diverges.

Rule: every statement names its parameters, in the order the driver takes them;
``_compile`` refuses one whose compiled parameters are not exactly that order.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from sqlalchemy import BigInteger, Integer, Table, bindparam, func, literal_column, select, update
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.dml import Insert

from pars.store.schema.audit import (
    audit_checkpoints,
    audit_head,
    audit_leaves,
    audit_text_arrests,
    audit_texts,
    audit_tiles,
)

#: The head's one row (``audit_head.id``), rendered inline, not as a parameter.
_ONE = literal_column("1", Integer)


@dataclass(frozen=True, slots=True)
class Statements:
    """One dialect's SQL text for the append; parameters positional, in the order documented."""

    #: PostgreSQL only (None on SQLite): ``pg_advisory_xact_lock(key)``.
    lock: str | None
    #: origin, size, root, verifier_key, newest stored checkpoint's time_utc (or NULL);
    #: on PostgreSQL also ``FOR UPDATE OF audit_head``. No parameters.
    head: str
    #: The newest entry's bytes (the leaf at size - 1). No parameters.
    last: str
    #: (idx, entry, leaf_hash, time_utc, kind, agreement_id, user)
    leaf: str
    #: (level, idx, hashes)
    tile_insert: str
    #: (hashes, level, idx)
    tile_update: str
    #: (size, root, note, time_utc)
    checkpoint: str
    #: (size, root, updated_utc)
    head_update: str
    #: (idx, key, text, salt, time_utc)
    text: str
    #: (arrest_id, idx)
    text_arrest: str
    #: The writer's own tip (PostgreSQL only, else None): the statements of an append
    #: that assumes the head is still where this writer left it. ``tip_head`` moves the
    #: head, (size, root, updated_utc, w_size, w_root, w_key), only from that very
    #: (size, root, verifier key), RETURNING its size (no row: another head). Each
    #: other statement takes its usual parameters and then (g_size, g_root), the new
    #: head, and writes nothing unless the head is there now: a stale tip writes nothing.
    tip: TipStatements | None = None


@dataclass(frozen=True, slots=True)
class TipStatements:
    head: str
    leaf: str
    tile_insert: str
    tile_update: str
    text: str
    text_arrest: str
    #: (size, root, note, time_utc, g_size, g_root, since, now) RETURNING size: stored
    #: only when the newest stored checkpoint is not in (since, now] (the cadence).
    checkpoint: str


def _compile(stmt: Any, dialect: Dialect, order: tuple[str, ...]) -> str:
    keys = list(order) if isinstance(stmt, Insert) else None
    compiled = stmt.compile(dialect=dialect, column_keys=keys)
    got = tuple(compiled.positiontup or ())
    if got != order:
        raise RuntimeError(f"driver SQL {compiled.string!r} takes {got}, not {order}")
    return str(compiled.string)


def _dialect(name: str) -> Dialect:
    if name == "postgresql":
        from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

        # Positional %s, as psycopg's executemany takes tuples.
        return PGDialect_psycopg(paramstyle="format")  # type: ignore[no-untyped-call]
    if name == "sqlite":
        from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite

        return SQLiteDialect_pysqlite()
    raise ValueError(f"no driver SQL for the {name!r} dialect")


@cache
def statements(dialect_name: str) -> Statements:
    """The append's SQL for ``dialect_name`` (``postgresql`` or ``sqlite``), compiled once."""
    d = _dialect(dialect_name)
    pg = dialect_name == "postgresql"
    cp, head, leaves, tiles = audit_checkpoints, audit_head, audit_leaves, audit_tiles
    newest_cp = select(func.max(cp.c.size)).scalar_subquery()
    head_q = select(
        head.c.origin,
        head.c.size,
        head.c.root,
        head.c.verifier_key,
        select(cp.c.time_utc).where(cp.c.size == newest_cp).scalar_subquery(),
    ).where(head.c.id == _ONE)
    if pg:
        head_q = head_q.with_for_update(of=head)
    last_q = select(leaves.c.entry).where(
        leaves.c.idx == select(head.c.size - _ONE).where(head.c.id == _ONE).scalar_subquery()
    )
    lock = select(func.pg_advisory_xact_lock(bindparam("key", type_=BigInteger)))
    tile_update = (
        update(tiles)
        .where(tiles.c.level == bindparam("w_level"), tiles.c.idx == bindparam("w_idx"))
        .values(hashes=bindparam("hashes"))
    )
    head_update = (
        update(head)
        .where(head.c.id == _ONE)
        .values(size=bindparam("size"), root=bindparam("root"), updated_utc=bindparam("updated_utc"))
    )
    leaf_cols = ("idx", "entry", "leaf_hash", "time_utc", "kind", "agreement_id", "user")
    tip = _tip_statements(d, leaf_cols) if pg else None
    return Statements(
        lock=_compile(lock, d, ("key",)) if pg else None,
        head=_compile(head_q, d, ()),
        last=_compile(last_q, d, ()),
        leaf=_compile(leaves.insert(), d, leaf_cols),
        tile_insert=_compile(tiles.insert(), d, ("level", "idx", "hashes")),
        tile_update=_compile(tile_update, d, ("hashes", "w_level", "w_idx")),
        checkpoint=_compile(cp.insert(), d, ("size", "root", "note", "time_utc")),
        head_update=_compile(head_update, d, ("size", "root", "updated_utc")),
        text=_compile(audit_texts.insert(), d, ("idx", "key", "text", "salt", "time_utc")),
        text_arrest=_compile(audit_text_arrests.insert(), d, ("arrest_id", "idx")),
        tip=tip,
    )


def _tip_statements(d: Dialect, leaf_cols: tuple[str, ...]) -> TipStatements:
    cp, head, tiles = audit_checkpoints, audit_head, audit_tiles
    guard = (
        select(head.c.id)
        .where(head.c.id == _ONE, head.c.size == bindparam("g_size"), head.c.root == bindparam("g_root"))
        .exists()
    )
    g = ("g_size", "g_root")

    def insert(table: Table, cols: tuple[str, ...], *extra: Any) -> Any:
        values = select(*(bindparam(c, type_=table.c[c].type) for c in cols)).where(guard, *extra)
        return table.insert().from_select(list(cols), values)

    moved = (
        update(head)
        .where(
            head.c.id == _ONE,
            head.c.size == bindparam("w_size"),
            head.c.root == bindparam("w_root"),
            head.c.verifier_key == bindparam("w_key"),
        )
        .values(size=bindparam("size"), root=bindparam("root"), updated_utc=bindparam("updated_utc"))
        .returning(head.c.size)
    )
    tile_update = (
        update(tiles)
        .where(tiles.c.level == bindparam("w_level"), tiles.c.idx == bindparam("w_idx"), guard)
        .values(hashes=bindparam("hashes"))
    )
    newest = select(func.max(cp.c.size)).scalar_subquery()
    recent = (
        select(cp.c.size)
        .where(cp.c.size == newest, cp.c.time_utc > bindparam("since", type_=cp.c.time_utc.type))
        .where(cp.c.time_utc <= bindparam("now", type_=cp.c.time_utc.type))
        .exists()
    )
    cp_cols = ("size", "root", "note", "time_utc")
    checkpoint = insert(cp, cp_cols, ~recent).returning(cp.c.size)
    text_cols = ("idx", "key", "text", "salt", "time_utc")
    return TipStatements(
        head=_compile(moved, d, ("size", "root", "updated_utc", "w_size", "w_root", "w_key")),
        leaf=_compile(insert(audit_leaves, leaf_cols), d, (*leaf_cols, *g)),
        tile_insert=_compile(insert(tiles, ("level", "idx", "hashes")), d, ("level", "idx", "hashes", *g)),
        tile_update=_compile(tile_update, d, ("hashes", "w_level", "w_idx", *g)),
        text=_compile(insert(audit_texts, text_cols), d, (*text_cols, *g)),
        text_arrest=_compile(insert(audit_text_arrests, ("arrest_id", "idx")), d, ("arrest_id", "idx", *g)),
        checkpoint=_compile(checkpoint, d, (*cp_cols, *g, "since", "now")),
    )
