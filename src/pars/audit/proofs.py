"""Reading the stored log: the head, subtree hashes, proofs, stored checkpoints, entries.

Everything here is a read in the caller's transaction; nothing here writes. Proofs
and roots come from the tiles (``audit_tiles``): every perfect subtree hash is one
tile read away, so a proof or a root costs O(log n) rows::

    with store.read() as conn:
        root = root_at(conn, size)
        proof = inclusion_proof(conn, index, size)
        cp = stored_checkpoint(conn, size)        # None when none was stored there

Rule: reads only, through SQLAlchemy Core over the ``Table`` objects; a missing
subtree hash is an ``AuditWriteError`` naming ``pars audit verify``, never a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Connection, and_, or_, select

from pars.audit import tiles
from pars.audit.merkle import EMPTY_ROOT, fill, range_nodes
from pars.audit.merkle import consistency_ranges as _consistency_ranges
from pars.audit.merkle import inclusion_ranges as _inclusion_ranges
from pars.audit.note import Checkpoint
from pars.errors import InvalidInput, NotFound, ParsError
from pars.store.schema.audit import audit_checkpoints, audit_head, audit_leaves, audit_tiles


class AuditWriteError(ParsError):
    """The log could not take an entry (so the request must fail, no data leaves)."""

    code = "audit_unavailable"


@dataclass(frozen=True, slots=True)
class Head:
    origin: str
    size: int
    root: bytes
    verifier_key: str
    #: When the newest stored checkpoint was stored (naive UTC), None with none stored.
    checkpoint_utc: datetime | None = None
    #: The newest entry's bytes (the leaf at ``size - 1``), when read under the lock.
    last_entry: bytes | None = None


@dataclass(frozen=True, slots=True)
class LogEntry:
    """A stored leaf: its index, the exact entry bytes and the stored leaf hash."""

    index: int
    entry: bytes
    leaf_hash: bytes

    def document(self) -> dict[str, Any]:
        # orjson: oversight and replay decode every entry of the log, and it is 3-5x
        # faster than the standard library on these canonical RFC 8785 bytes.
        doc: dict[str, Any] = orjson.loads(self.entry)
        return doc


def tiles_in(keys: Sequence[tiles.TileKey]) -> ColumnElement[bool]:
    # OR of key equalities, not a row-value IN: SQLite answers the latter with a
    # full scan of audit_tiles, the former with one primary-key probe per tile.
    return or_(*(and_(audit_tiles.c.level == lv, audit_tiles.c.idx == ix) for lv, ix in keys))


def read_head(conn: Connection, *, for_update: bool = False) -> Head | None:
    q = select(audit_head.c.origin, audit_head.c.size, audit_head.c.root, audit_head.c.verifier_key).where(
        audit_head.c.id == 1
    )
    if for_update and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).first()
    return None if row is None else Head(row.origin, int(row.size), bytes(row.root), row.verifier_key)


def log_size(conn: Connection) -> int:
    head = read_head(conn)
    return 0 if head is None else head.size


def _need_size(conn: Connection, size: int) -> None:
    have = log_size(conn)
    if not 0 <= size <= have:
        raise NotFound(f"the log has {have} entries; no tree of size {size}")


def read_tiles(conn: Connection, keys: Sequence[tiles.TileKey]) -> dict[tiles.TileKey, bytes]:
    """The stored tiles at ``keys`` (level, index), in one query; missing ones are absent."""
    if not keys:
        return {}
    rows = conn.execute(
        select(audit_tiles.c.level, audit_tiles.c.idx, audit_tiles.c.hashes).where(tiles_in(keys))
    ).all()
    return {(int(r.level), int(r.idx)): bytes(r.hashes) for r in rows}


def read_nodes(conn: Connection, nodes: Sequence[tiles.Node]) -> dict[tiles.Node, bytes]:
    """Perfect-subtree hashes by (height, index), from one query over their tiles."""
    found = read_tiles(conn, sorted({tiles.tile_of(n) for n in nodes}))
    try:
        return {n: tiles.node_from_tile(n, found[tiles.tile_of(n)]) for n in nodes}
    except (KeyError, ValueError):
        raise AuditWriteError("audit storage is missing a subtree hash; run pars audit verify") from None


def _proof(conn: Connection, ranges: list[tuple[int, int]]) -> list[bytes]:
    nodes = [n for a, b in ranges for n in range_nodes(a, b)]
    found = read_nodes(conn, nodes)
    return fill(ranges, found.__getitem__)


def root_at(conn: Connection, size: int) -> bytes:
    """MTH of the first ``size`` leaves, from O(log n) stored subtree hashes."""
    _need_size(conn, size)
    return EMPTY_ROOT if size == 0 else _proof(conn, [(0, size)])[0]


def inclusion_proof(conn: Connection, index: int, size: int) -> list[bytes]:
    """RFC 9162 inclusion proof of leaf ``index`` in the tree of ``size``."""
    _need_size(conn, size)
    if not 0 <= index < size:
        raise InvalidInput(f"index: {index} is not below size {size}")
    return _proof(conn, _inclusion_ranges(index, size))


def consistency_proof(conn: Connection, old: int, new: int) -> list[bytes]:
    """RFC 9162 consistency proof from size ``old`` to size ``new`` (0 < old <= new)."""
    _need_size(conn, new)
    if not 0 < old <= new:
        raise InvalidInput(f"old: need 0 < old <= new, got old={old}, new={new}")
    return _proof(conn, _consistency_ranges(old, new))


def _checkpoint_row(row: Any, origin: str) -> Checkpoint:
    return Checkpoint(origin, int(row.size), bytes(row.root), row.note)


def latest_checkpoint(conn: Connection) -> Checkpoint | None:
    head = read_head(conn)
    if head is None:
        return None
    row = conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.size.desc()).limit(1)).first()
    return None if row is None else _checkpoint_row(row, head.origin)


def stored_checkpoint(conn: Connection, size: int) -> Checkpoint | None:
    head = read_head(conn)
    row = conn.execute(select(audit_checkpoints).where(audit_checkpoints.c.size == size)).first()
    return None if row is None or head is None else _checkpoint_row(row, head.origin)


def newest_checkpoint_time(conn: Connection) -> tuple[int, datetime] | None:
    """The size and storing time (naive UTC) of the newest stored checkpoint, if any."""
    row = conn.execute(
        select(audit_checkpoints.c.size, audit_checkpoints.c.time_utc)
        .order_by(audit_checkpoints.c.size.desc())
        .limit(1)
    ).first()
    return None if row is None else (int(row.size), row.time_utc)


def get_entry(conn: Connection, index: int) -> LogEntry:
    row = conn.execute(
        select(audit_leaves.c.idx, audit_leaves.c.entry, audit_leaves.c.leaf_hash).where(
            audit_leaves.c.idx == index
        )
    ).first()
    if row is None:
        raise NotFound(f"no audit entry at index {index}")
    return LogEntry(int(row.idx), bytes(row.entry), bytes(row.leaf_hash))
