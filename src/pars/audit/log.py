"""The stored log: append in the caller's transaction, checkpoints, proofs, entries.

The gate appends in the same write transaction as its response, so no entry
means no data::

    log = AuditLog.open()                      # keys from PARS_KEY_DIR
    with store.write() as conn:
        appended = log.append(conn, [entry])   # signs a checkpoint for the new size
        receipt = appended.receipts()[0]

Every append signs a checkpoint for its own new size (the receipt carries it), but
stores one only at a cadence: when ``PARS_CHECKPOINT_INTERVAL`` seconds (default
1) have passed on the log's clock since the newest stored checkpoint. A receipt's
checkpoint that was not stored still checks later: its root is the root the tiles
give at its size, and the consistency proof to any later checkpoint comes from
the tiles. ``AuditLog.checkpoint_head`` stores one for a quiet log's head.

Entry times never go backwards: ``append`` refuses (``AuditWriteError``, nothing
written) an entry older than the log's newest, which it reads under the lock
off the newest entry's own bytes, in the same round trip as the head (no column
or head field holds a copy a custodian could edit, and no migration). Writers
that read the clock for an entry do so after ``AuditLog.lock``.

Rule: one writer at a time. ``append`` takes the PostgreSQL advisory lock (on
SQLite the caller's ``Store.write()`` already holds BEGIN IMMEDIATE) before it
reads the head, and nothing here ever updates or deletes a leaf.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
import psycopg
from sqlalchemy import ColumnElement, Connection, and_, or_, select, text
from sqlalchemy.exc import SQLAlchemyError

from pars.audit import tiles
from pars.audit.entry import AuditEntry
from pars.audit.keys import LogKeys, configured_origin, create_keys, load_keys
from pars.audit.merkle import EMPTY_ROOT, fill, range_nodes
from pars.audit.merkle import consistency_ranges as _consistency_ranges
from pars.audit.merkle import inclusion_ranges as _inclusion_ranges
from pars.audit.note import Checkpoint, sign_checkpoint
from pars.audit.text_store import write_texts
from pars.audit.texts import texts_json
from pars.clock import SYSTEM_CLOCK, Clock, to_utc_naive, utc_text
from pars.errors import ConfigError, InvalidInput, NotFound, ParsError
from pars.store.db import Store
from pars.store.schema.audit import audit_checkpoints, audit_head, audit_leaves, audit_tiles

#: pg_advisory_xact_lock key: "PARSLOG" as a number, shared by every writer.
LOCK_KEY = 0x50_41_52_53_4C_4F_47
ENV_CHECKPOINT_INTERVAL = "PARS_CHECKPOINT_INTERVAL"
#: Seconds between stored checkpoints (a receipt's own checkpoint is always signed).
DEFAULT_CHECKPOINT_INTERVAL = 1.0


def checkpoint_interval_seconds(value: str | None = None) -> float:
    """Seconds between stored checkpoints: ``value``, else ``PARS_CHECKPOINT_INTERVAL``, else 1."""
    text_value = os.environ.get(ENV_CHECKPOINT_INTERVAL, "") if value is None else value
    if not text_value.strip():
        return DEFAULT_CHECKPOINT_INTERVAL
    try:
        seconds = float(text_value)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 86_400:  # also refuses nan
        raise ConfigError(
            f"{ENV_CHECKPOINT_INTERVAL}: seconds between stored checkpoints, from 0 to 86400 "
            f"(0 stores one per append), not {text_value!r}"
        )
    return seconds


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
class AppendedLeaf:
    index: int
    leaf_hash: bytes
    entry: AuditEntry


@dataclass(frozen=True, slots=True)
class Appended:
    """What one ``append`` wrote: the leaves in order and the checkpoint that covers them.

    ``stored`` says whether that checkpoint was also stored (see the cadence above).
    """

    leaves: list[AppendedLeaf]
    checkpoint: Checkpoint
    stored: bool = True

    def receipts(self) -> list[dict[str, Any]]:
        return [receipt(leaf, self.checkpoint) for leaf in self.leaves]


def receipt(leaf: AppendedLeaf, checkpoint: Checkpoint) -> dict[str, Any]:
    """CONTRACT section 4: ``{leaf_index, leaf_hash_hex, entry, checkpoint}``."""
    if checkpoint.size <= leaf.index:
        raise ValueError("a receipt's checkpoint must cover its leaf")
    return {
        "leaf_index": leaf.index,
        "leaf_hash_hex": leaf.leaf_hash.hex(),
        "entry": dict(leaf.entry.document),
        "checkpoint": checkpoint.note,
        # CONTRACT section 5: the texts the entry's commitments open, beside it.
        "texts": texts_json(leaf.entry.texts),
    }


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


# --- reading -----------------------------------------------------------------


def _tiles_in(keys: Sequence[tiles.TileKey]) -> ColumnElement[bool]:
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


def read_nodes(conn: Connection, nodes: Sequence[tiles.Node]) -> dict[tiles.Node, bytes]:
    """Perfect-subtree hashes by (height, index), from one query over their tiles."""
    wanted = sorted({tiles.tile_of(n) for n in nodes})
    if not wanted:
        return {}
    rows = conn.execute(
        select(audit_tiles.c.level, audit_tiles.c.idx, audit_tiles.c.hashes).where(_tiles_in(wanted))
    ).all()
    found = {(int(r.level), int(r.idx)): bytes(r.hashes) for r in rows}
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


def get_entry(conn: Connection, index: int) -> LogEntry:
    row = conn.execute(
        select(audit_leaves.c.idx, audit_leaves.c.entry, audit_leaves.c.leaf_hash).where(
            audit_leaves.c.idx == index
        )
    ).first()
    if row is None:
        raise NotFound(f"no audit entry at index {index}")
    return LogEntry(int(row.idx), bytes(row.entry), bytes(row.leaf_hash))


# --- writing -----------------------------------------------------------------


# An append talks to the driver directly: on PostgreSQL its round trips are
# pipelined (psycopg pipeline mode), on SQLite it skips SQLAlchemy's statement
# building, most of an append's cost there. PostgreSQL still runs the statements
# one after another, each on a fresh snapshot under READ COMMITTED, so the head
# read after the lock sees every append committed before the lock was granted.
_PG_LOCK = "SELECT pg_advisory_xact_lock(%s)"
_HEAD = "SELECT origin, size, root, verifier_key FROM audit_head WHERE id = 1"
# The head and when the newest checkpoint was stored, in one round trip (a primary-key probe).
_HEAD_AND_CADENCE = (
    "SELECT origin, size, root, verifier_key, "
    "(SELECT time_utc FROM audit_checkpoints ORDER BY size DESC LIMIT 1) FROM audit_head WHERE id = 1"
)
# The head's newest entry, whose time no later entry may precede (read with the head).
_LAST = "SELECT entry FROM audit_leaves WHERE idx = (SELECT size - 1 FROM audit_head WHERE id = 1)"
_LEAF = (
    'INSERT INTO audit_leaves (idx, entry, leaf_hash, time_utc, kind, agreement_id, "user") '
    "VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
_TILE_INSERT = "INSERT INTO audit_tiles (level, idx, hashes) VALUES (%s, %s, %s)"
_TILE_UPDATE = "UPDATE audit_tiles SET hashes = %s WHERE level = %s AND idx = %s"
_CHECKPOINT = "INSERT INTO audit_checkpoints (size, root, note, time_utc) VALUES (%s, %s, %s, %s)"
_HEAD_UPDATE = "UPDATE audit_head SET size = %s, root = %s, updated_utc = %s WHERE id = 1"
_DRIVER_ERRORS = (psycopg.Error, sqlite3.Error)


def _driver(conn: Connection) -> Any:
    return conn.connection.driver_connection


def _sqlite(sql: str) -> str:
    return sql.replace("%s", "?")


def _driver_lock_and_head(conn: Connection) -> Head | None:
    """Take the log's lock and read the head and its newest entry, in one round trip
    (None: no head yet)."""
    raw = _driver(conn)
    try:
        if conn.dialect.name == "postgresql":
            with raw.cursor() as lock, raw.cursor() as cur, raw.cursor() as last:
                with raw.pipeline():
                    lock.execute(_PG_LOCK, (LOCK_KEY,))
                    cur.execute(_HEAD_AND_CADENCE + " FOR UPDATE OF audit_head")
                    last.execute(_LAST)
                row = cur.fetchone()
                newest = last.fetchone()
        else:
            _lock(conn)  # SQLite: BEGIN IMMEDIATE already holds the write lock
            row = raw.execute(_HEAD_AND_CADENCE).fetchone()
            newest = raw.execute(_LAST).fetchone()
    except _DRIVER_ERRORS as exc:
        raise AuditWriteError(f"the audit log's head could not be read: {exc}") from exc
    if row is None:
        return None
    stored = row[4]
    if isinstance(stored, str):  # SQLite keeps SQLAlchemy's text form of a DateTime
        stored = datetime.fromisoformat(stored)
    last = None if newest is None else bytes(newest[0])
    return Head(row[0], int(row[1]), bytes(row[2]), row[3], stored, last)


def _newest_time(head: Head) -> datetime | None:
    """The time of the head's newest entry, read off its bytes (no column copy of it:
    CONTRACT 5). None for an empty log."""
    if head.size == 0:
        return None
    try:
        if head.last_entry is None:
            raise ValueError("missing")
        return datetime.fromisoformat(str(orjson.loads(head.last_entry)["time"]))
    except (ValueError, KeyError, TypeError, orjson.JSONDecodeError):
        raise AuditWriteError(
            f"the log's newest entry (index {head.size - 1}) has no readable time; run pars audit verify"
        ) from None


def _check_times(head: Head, entries: Sequence[AuditEntry]) -> None:
    """Entry times never go backwards along the log: refuse the batch before writing anything."""
    newest = _newest_time(head)
    for offset, e in enumerate(entries):
        if newest is not None and e.time < newest:
            raise AuditWriteError(
                f"entry {head.size + offset}: its time {e.document['time']} is older than the log's "
                f"newest entry ({newest.isoformat()}); entry times never go backwards"
            )
        newest = e.time


def _driver_write(
    conn: Connection,
    appended: list[AppendedLeaf],
    frontier: tiles.Frontier,
    size: int,
    root: bytes,
    note: str | None,
    now: datetime,
) -> None:
    """Leaves, tiles, the checkpoint (unless ``note`` is None) and head (on PostgreSQL in
    one round trip)."""
    inserts, updates = frontier.dirty_tiles()
    pg = conn.dialect.name == "postgresql"

    def stamp(value: datetime) -> Any:  # SQLite keeps SQLAlchemy's text form of a DateTime
        return value if pg else utc_text(value)

    at = stamp(now)
    leaves = [
        (
            leaf.index,
            leaf.entry.canonical,
            leaf.leaf_hash,
            stamp(leaf.entry.time.replace(tzinfo=None)),
            leaf.entry.kind,
            leaf.entry.agreement_id,
            leaf.entry.user,
        )
        for leaf in appended
    ]
    statements: list[tuple[str, list[tuple[Any, ...]]]] = [(_LEAF, leaves)]
    if inserts:
        statements.append((_TILE_INSERT, list(inserts)))
    if updates:
        statements.append((_TILE_UPDATE, [(blob, lv, ix) for lv, ix, blob in updates]))
    if note is not None:
        statements.append((_CHECKPOINT, [(size, root, note, at)]))
    statements.append((_HEAD_UPDATE, [(size, root, at)]))
    raw = _driver(conn)
    try:
        if pg:
            with raw.pipeline(), raw.cursor() as cur:
                for sql, params in statements:
                    cur.executemany(sql, params)
        else:
            for sql, params in statements:
                raw.executemany(_sqlite(sql), params)
    except _DRIVER_ERRORS as exc:
        raise AuditWriteError(f"the audit log could not be written: {exc}") from exc


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    elif not conn.get_execution_options().get("pars_write"):
        # A deferred SQLite transaction would read the head unlocked.
        raise AuditWriteError("append needs a connection from Store.write()")


class AuditLog:
    """The log's writer: holds the signing key and appends under the writer lock."""

    def __init__(
        self,
        keys: LogKeys,
        clock: Clock = SYSTEM_CLOCK,
        origin: str | None = None,
        *,
        checkpoint_interval: float | None = None,
    ):
        self.keys = keys
        self.clock = clock
        self._origin = origin
        seconds = checkpoint_interval_seconds() if checkpoint_interval is None else checkpoint_interval
        if not 0 <= seconds <= 86_400:
            raise ConfigError("checkpoint_interval: seconds from 0 to 86400")
        #: Stored checkpoints are at least this far apart on ``clock`` (0: one per append).
        self.checkpoint_interval = timedelta(seconds=seconds)
        # The right edge this writer left at (size, root). The root pins the whole
        # tree, so when the head still shows that size and root the edge is the one
        # stored, and the next append need not read and re-split it. A transaction
        # that rolled back, or another writer's append, changes the head: reload.
        self._edge: tuple[int, bytes, dict[int, list[bytes]]] | None = None

    @classmethod
    def open(
        cls,
        key_dir: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
        *,
        checkpoint_interval: float | None = None,
    ) -> AuditLog:
        """The log writer with keys from ``key_dir`` (default ``PARS_KEY_DIR``)."""
        return cls(load_keys(key_dir), clock, checkpoint_interval=checkpoint_interval)

    def _due(self, head: Head, now: datetime) -> bool:
        """Store a checkpoint now? When none is stored, the interval has passed, or the
        clock went back (a checkpoint stored "in the future" must not stop the cadence)."""
        last = head.checkpoint_utc
        return last is None or now >= last + self.checkpoint_interval or now < last

    @property
    def verifier_key(self) -> str:
        return self.keys.verifier_key

    def ensure_head(self, conn: Connection) -> Head:
        """The head row, created at size 0 with the configured origin if missing."""
        head = read_head(conn, for_update=True)
        if head is not None:
            return head
        origin = self._origin or configured_origin()
        conn.execute(
            audit_head.insert().values(
                id=1,
                origin=origin,
                size=0,
                root=EMPTY_ROOT,
                verifier_key=self.verifier_key,
                updated_utc=to_utc_naive(self.clock.now()),
            )
        )
        return Head(origin, 0, EMPTY_ROOT, self.verifier_key)

    def append(self, conn: Connection, entries: Sequence[AuditEntry]) -> Appended:
        """Append ``entries`` in the caller's write transaction and sign the new size."""
        if not entries:
            raise InvalidInput("entries: nothing to append")
        head = _driver_lock_and_head(conn) or self.ensure_head(conn)  # under the lock either way
        if head.verifier_key != self.verifier_key:
            raise ConfigError(
                "the signing key in the key directory is not this log's key "
                f"({head.verifier_key}); point PARS_KEY_DIR at the log's keys"
            )
        _check_times(head, entries)
        n = head.size
        cached = self._edge
        if cached is not None and cached[0] == n and cached[1] == head.root:
            edge = cached[2]
        else:
            edge = self._load_edge(conn, n)
        frontier = tiles.Frontier(n, edge)
        leaves = [AppendedLeaf(i, frontier.push(e.canonical), e) for i, e in enumerate(entries, start=n)]
        size = frontier.size
        root = frontier.root()
        now = to_utc_naive(self.clock.now())
        cp = sign_checkpoint(head.origin, size, root, self.keys.name, self.keys.signing_key)
        store_cp = self._due(head, now)
        _driver_write(conn, leaves, frontier, size, root, cp.note if store_cp else None, now)
        # The free texts beside the leaves, in this transaction: no entry without its texts.
        texts = [(x.index, to_utc_naive(x.entry.time), x.entry.document, x.entry.texts) for x in leaves]
        write_texts(conn, texts)
        self._edge = (size, root, frontier.edge())
        return Appended(leaves, cp, store_cp)

    def head_checkpoint_due(self, conn: Connection) -> bool:
        """Would ``checkpoint_head`` store one now? Read-only (no lock): a cheap first look."""
        head = read_head(conn)
        if head is None or head.size == 0:
            return False
        row = conn.execute(
            select(audit_checkpoints.c.size, audit_checkpoints.c.time_utc)
            .order_by(audit_checkpoints.c.size.desc())
            .limit(1)
        ).first()
        if row is not None and int(row.size) >= head.size:
            return False
        last = None if row is None else row.time_utc
        at = Head(head.origin, head.size, head.root, head.verifier_key, last)
        return self._due(at, to_utc_naive(self.clock.now()))

    def checkpoint_head(self, conn: Connection, *, force: bool = False) -> Checkpoint | None:
        """Store a checkpoint at the head's size if none is stored there and the interval
        has passed (or ``force``); returns it, or None when nothing was due.

        Call in a ``Store.write()`` transaction: it takes the writer lock like ``append``.
        A quiet log's newest entries get a stored (so verifiable, publishable) checkpoint
        this way; the publisher calls it every round.
        """
        head = _driver_lock_and_head(conn)
        if head is None or head.size == 0:
            return None
        if head.verifier_key != self.verifier_key:
            raise ConfigError(
                "the signing key in the key directory is not this log's key "
                f"({head.verifier_key}); point PARS_KEY_DIR at the log's keys"
            )
        now = to_utc_naive(self.clock.now())
        if stored_checkpoint(conn, head.size) is not None or not (force or self._due(head, now)):
            return None
        cp = sign_checkpoint(head.origin, head.size, head.root, self.keys.name, self.keys.signing_key)
        row = {"size": cp.size, "root": cp.root, "note": cp.note, "time_utc": now}
        conn.execute(audit_checkpoints.insert().values(**row))
        return cp

    @staticmethod
    def lock(conn: Connection) -> None:
        """Take the log's writer lock in ``conn``'s write transaction now, before ``append``.

        A writer that reads the clock for its entries after this appends them in time
        order with every other writer (entry times never go backwards). On SQLite
        ``Store.write()`` already holds the lock.
        """
        try:
            _lock(conn)
        except (*_DRIVER_ERRORS, SQLAlchemyError) as exc:
            raise AuditWriteError(f"the audit log's lock could not be taken: {exc}") from exc

    def record(self, conn: Connection, document: Mapping[str, Any]) -> Appended:
        """Validate one entry object (e.g. an admin event) and append it.

        Usable as the agreements room's ``record_admin_event(conn, event)``.
        """
        return self.append(conn, [AuditEntry.from_document(document)])

    @staticmethod
    def _load_edge(conn: Connection, size: int) -> dict[int, list[bytes]]:
        wanted = tiles.edge_tiles(size)
        if not wanted:
            return {}
        rows = conn.execute(
            select(audit_tiles.c.level, audit_tiles.c.idx, audit_tiles.c.hashes).where(_tiles_in(wanted))
        ).all()
        edge = {int(r.level): tiles.split(bytes(r.hashes)) for r in rows}
        for level, _idx in wanted:
            if len(edge.get(level, ())) != tiles.edge_width(size, level):
                raise AuditWriteError(
                    f"audit tile at level {level} does not match the head; run pars audit verify"
                )
        return edge

    def head_checkpoint(self, conn: Connection) -> Checkpoint | None:
        """A checkpoint at the head's size: the stored one, or one signed now (None: empty log)."""
        size = log_size(conn)
        return None if size == 0 else self.checkpoint_at(conn, size)

    def checkpoint_at(self, conn: Connection, size: int) -> Checkpoint:
        """The stored checkpoint at ``size``, or a freshly signed one for a past size."""
        cp = stored_checkpoint(conn, size)
        if cp is not None:
            return cp
        head = read_head(conn)
        if head is None:
            raise NotFound("the audit log is empty; run pars init")
        return sign_checkpoint(head.origin, size, root_at(conn, size), self.keys.name, self.keys.signing_key)


@dataclass
class LogSetup:
    """What ``init_log`` did, for ``pars init`` to report (no secrets)."""

    origin: str
    verifier_key: str
    created_files: list[str] = field(default_factory=list)


def init_log(store: Store, key_dir: str | None = None) -> LogSetup:
    """Create missing key files and the head row (fixing the origin); idempotent."""
    keys, created = create_keys(key_dir)
    log = AuditLog(keys)
    with store.write() as conn:
        _lock(conn)
        head = log.ensure_head(conn)
    if head.verifier_key != keys.verifier_key:
        raise ConfigError(
            "the key in the key directory is not the key this log was started with "
            f"({head.verifier_key}); point PARS_KEY_DIR at the log's keys"
        )
    return LogSetup(head.origin, keys.verifier_key, [str(p) for p in created])
