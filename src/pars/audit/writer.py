"""The log's writer: append in the caller's transaction, under the one-writer lock.

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

Round trips (PostgreSQL): one for the lock, the head and the newest entry (pipelined;
psycopg's implicit BEGIN adds one when the append opens the transaction), and one
for every row it writes (leaves, tiles, texts, checkpoint, head: pipelined); the
caller's COMMIT is the last. The SQL is generated from the ``Table`` objects
(``pars.audit.sql``). PostgreSQL runs the pipelined statements one after another,
each on a fresh snapshot under READ COMMITTED, so the head read after the lock sees
every append committed before the lock was granted.

Crash consistency: everything is written in the caller's one transaction, so a
crash before its COMMIT leaves neither the entry nor the data it guards, and a
COMMIT that returned is durable (SQLite ``synchronous=FULL`` in WAL mode,
PostgreSQL ``synchronous_commit``): an entry whose receipt has left survives a
power loss.

Rule: one writer at a time. ``append`` takes the PostgreSQL advisory lock (on
SQLite the caller's ``Store.write()`` already holds BEGIN IMMEDIATE) before it
reads the head, and nothing here ever updates or deletes a leaf.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import psycopg
from sqlalchemy import Connection
from sqlalchemy.exc import SQLAlchemyError

from pars.audit import tiles
from pars.audit.entry import AuditEntry
from pars.audit.keys import LogKeys, configured_origin, load_keys
from pars.audit.merkle import EMPTY_ROOT
from pars.audit.note import Checkpoint, sign_checkpoint
from pars.audit.proofs import (
    AuditWriteError,
    Head,
    log_size,
    newest_checkpoint_time,
    read_head,
    read_tiles,
    root_at,
    stored_checkpoint,
)
from pars.audit.sql import statements
from pars.audit.text_store import text_rows
from pars.audit.texts import texts_json
from pars.clock import SYSTEM_CLOCK, Clock, to_utc_naive, utc_text
from pars.errors import ConfigError, InvalidInput, NotFound
from pars.store.schema.audit import audit_checkpoints, audit_head

#: pg_advisory_xact_lock key: "PARSLOG" as a number, shared by every writer.
LOCK_KEY = 0x50_41_52_53_4C_4F_47
ENV_CHECKPOINT_INTERVAL = "PARS_CHECKPOINT_INTERVAL"
#: Seconds between stored checkpoints (a receipt's own checkpoint is always signed).
DEFAULT_CHECKPOINT_INTERVAL = 1.0
_DRIVER_ERRORS = (psycopg.Error, sqlite3.Error)


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


def _driver(conn: Connection) -> Any:
    return conn.connection.driver_connection


def _driver_lock_and_head(conn: Connection) -> Head | None:
    """Take the log's lock and read the head and its newest entry, in one round trip
    (None: no head yet)."""
    raw = _driver(conn)
    sql = statements(conn.dialect.name)
    try:
        if sql.lock is not None:
            with raw.cursor() as lock, raw.cursor() as cur, raw.cursor() as last:
                with raw.pipeline():
                    lock.execute(sql.lock, (LOCK_KEY,))
                    cur.execute(sql.head)
                    last.execute(sql.last)
                row = cur.fetchone()
                newest = last.fetchone()
        else:
            _lock(conn)  # SQLite: BEGIN IMMEDIATE already holds the write lock
            row = raw.execute(sql.head).fetchone()
            newest = raw.execute(sql.last).fetchone()
    except _DRIVER_ERRORS as exc:
        raise AuditWriteError(f"the audit log's head could not be read: {exc}") from exc
    if row is None:
        return None
    stored = row[4]
    if isinstance(stored, str):  # SQLite keeps SQLAlchemy's text form of a DateTime
        stored = datetime.fromisoformat(stored)
    last_entry = None if newest is None else bytes(newest[0])
    return Head(row[0], int(row[1]), bytes(row[2]), row[3], stored, last_entry)


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


class ClockBehind(AuditWriteError):
    """An entry is older than the log's newest: the clock that stamped it is behind the one
    that stamped the newest (another machine's, or this one stepped back). Nothing was
    written; ``newest`` says how long a writer must wait to stamp a time the log takes."""

    def __init__(self, message: str, newest: datetime) -> None:
        super().__init__(message)
        self.newest = newest


def _check_times(head: Head, entries: Sequence[AuditEntry]) -> None:
    """Entry times never go backwards along the log: refuse the batch before writing anything."""
    newest = _newest_time(head)
    for offset, e in enumerate(entries):
        if newest is not None and e.time < newest:
            raise ClockBehind(
                f"entry {head.size + offset}: its time {e.document['time']} is older than the log's "
                f"newest entry ({newest.isoformat()}); entry times never go backwards",
                newest,
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
    """Leaves, tiles, texts, the checkpoint (unless ``note`` is None) and the head (on
    PostgreSQL in one round trip)."""
    sqlite = conn.dialect.name == "sqlite"
    sql = statements(conn.dialect.name)
    at: Any = utc_text(now) if sqlite else now
    leaves, inserts, updates, texts, arrests = _row_params(appended, frontier, sqlite=sqlite)
    # The free texts beside the leaves, in this transaction: no entry without its texts.
    writes: list[tuple[str, list[Any]]] = [
        (sql.leaf, leaves),
        (sql.tile_insert, inserts),
        (sql.tile_update, updates),
        (sql.text, texts),
        (sql.text_arrest, arrests),
        (sql.checkpoint, [(size, root, note, at)] if note is not None else []),
        (sql.head_update, [(size, root, at)]),
    ]
    raw = _driver(conn)
    try:
        if sqlite:
            for text_, params in writes:
                if params:
                    raw.executemany(text_, params)
        else:
            with raw.pipeline(), raw.cursor() as cur:
                for text_, params in writes:
                    if params:
                        cur.executemany(text_, params)
    except _DRIVER_ERRORS as exc:
        raise AuditWriteError(f"the audit log could not be written: {exc}") from exc


def _row_params(
    appended: list[AppendedLeaf], frontier: tiles.Frontier, *, sqlite: bool
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]], list[Any], list[Any]]:
    """The rows an append writes, as driver parameters: leaves, tile inserts, tile
    updates, texts and the arrests they name."""

    def stamp(value: datetime) -> Any:  # SQLite keeps SQLAlchemy's text form of a DateTime
        return utc_text(value) if sqlite else value

    leaves = []
    entries = []
    for leaf in appended:
        e = leaf.entry
        naive = e.time.replace(tzinfo=None)
        leaves.append((leaf.index, e.canonical, leaf.leaf_hash, stamp(naive), e.kind, e.agreement_id, e.user))
        if e.texts:
            entries.append((leaf.index, naive, e.document, e.texts))
    inserts, updates = frontier.dirty_tiles()
    texts, arrests = text_rows(entries, sqlite=sqlite) if entries else ([], [])
    return leaves, list(inserts), [(blob, lv, ix) for lv, ix, blob in updates], texts, list(arrests)


def _tip_write(
    conn: Connection,
    tip: tuple[int, bytes, str],
    appended: list[AppendedLeaf],
    frontier: tiles.Frontier,
    root: bytes,
    note: str,
    now: datetime,
    interval: timedelta,
) -> bool | None:
    """PostgreSQL, in one round trip: the lock, then the whole append, written only if the
    head is still at ``tip`` (size, root, verifier key). None: it was not (nothing written,
    the lock held); else whether the checkpoint was stored (at the cadence, judged by the
    database on the newest stored checkpoint's time)."""
    sql = statements(conn.dialect.name)
    assert sql.lock is not None
    assert sql.tip is not None
    t = sql.tip
    size = frontier.size
    g = (size, root)
    leaves, inserts, updates, texts, arrests = _row_params(appended, frontier, sqlite=False)
    raw = _driver(conn)
    try:
        with raw.cursor() as cur, raw.cursor() as moved, raw.cursor() as stored:
            with raw.pipeline():
                cur.execute(sql.lock, (LOCK_KEY,))
                moved.execute(t.head, (size, root, now, *tip))
                for text_, params in (
                    (t.leaf, leaves),
                    (t.tile_insert, inserts),
                    (t.tile_update, updates),
                    (t.text, texts),
                    (t.text_arrest, arrests),
                ):
                    if params:
                        cur.executemany(text_, [(*p, *g) for p in params])
                stored.execute(t.checkpoint, (size, root, note, now, *g, now - interval, now))
            if moved.fetchone() is None:
                return None
            return stored.fetchone() is not None
    except _DRIVER_ERRORS as exc:
        raise AuditWriteError(f"the audit log could not be written: {exc}") from exc


def _lock(conn: Connection) -> None:
    lock = statements(conn.dialect.name).lock
    if lock is not None:
        _driver(conn).execute(lock, (LOCK_KEY,))
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
        # The frontier that edge came from: the next append resumes it (no subtree rehashed).
        self._frontier: tiles.Frontier | None = None
        self._vkey: tuple[LogKeys, str] | None = None
        # With ``_edge``: that head's origin, verifier key and newest entry time.
        self._tip: tuple[str, str, datetime] | None = None

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
        keys, known = self.keys, self._vkey
        if known is None or known[0] is not keys:  # derived once per key, not per append
            known = self._vkey = (keys, keys.verifier_key)
        return known[1]

    def _resume(self, size: int, edge: dict[int, list[bytes]]) -> tiles.Frontier:
        """A frontier at ``size`` over ``edge``: the last append's, when it is that one."""
        last = self._frontier
        if last is not None and self._edge is not None and self._edge[2] is edge and last.size == size:
            return last.resumed()
        return tiles.Frontier(size, edge)

    def _keep(self, size: int, root: bytes, frontier: tiles.Frontier) -> None:
        self._edge = (size, root, frontier.edge())
        self._frontier = frontier

    def _check_key(self, head: Head) -> None:
        if head.verifier_key != self.verifier_key:
            raise ConfigError(
                "the signing key in the key directory is not this log's key "
                f"({head.verifier_key}); point PARS_KEY_DIR at the log's keys"
            )

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
        done = self._append_on_tip(conn, entries)
        if done is not None:
            return done
        head = _driver_lock_and_head(conn) or self.ensure_head(conn)  # under the lock either way
        self._check_key(head)
        _check_times(head, entries)
        n = head.size
        cached = self._edge
        mine = cached is not None and cached[0] == n and cached[1] == head.root
        edge = cached[2] if cached is not None and mine else self._load_edge(conn, n)
        frontier = self._resume(n, edge)
        leaves = [AppendedLeaf(i, frontier.push(e.canonical), e) for i, e in enumerate(entries, start=n)]
        size = frontier.size
        root = frontier.root()
        now = to_utc_naive(self.clock.now())
        cp = sign_checkpoint(head.origin, size, root, self.keys.name, self.keys.signing_key)
        store_cp = self._due(head, now)
        _driver_write(conn, leaves, frontier, size, root, cp.note if store_cp else None, now)
        self._keep(size, root, frontier)
        # The next append may assume this head (one round trip) only if this one found the
        # head where this writer had left it: beside other writers, the guess would miss.
        self._tip = (head.origin, head.verifier_key, entries[-1].time) if mine else None
        return Appended(leaves, cp, store_cp)

    def _append_on_tip(self, conn: Connection, entries: Sequence[AuditEntry]) -> Appended | None:
        """PostgreSQL: the append in one round trip, on the head this writer left (its edge,
        origin, key and newest entry time known, none read). None when there is no such
        tip, an entry is older than the tip's newest, or the head has moved since (another
        writer appended, or the transaction that wrote the tip rolled back): nothing was
        written, and ``append`` reads the head under the lock as usual."""
        cached, known = self._edge, self._tip
        if cached is None or known is None or conn.dialect.name != "postgresql":
            return None
        n, old_root, edge = cached
        origin, key, newest = known
        times = [e.time for e in entries]
        if times[0] < newest or times != sorted(times):
            return None  # judged (and refused) against the stored head
        frontier = self._resume(n, edge)
        leaves = [AppendedLeaf(i, frontier.push(e.canonical), e) for i, e in enumerate(entries, start=n)]
        size, root = frontier.size, frontier.root()
        now = to_utc_naive(self.clock.now())
        cp = sign_checkpoint(origin, size, root, self.keys.name, self.keys.signing_key)
        stored = _tip_write(
            conn, (n, old_root, key), leaves, frontier, root, cp.note, now, self.checkpoint_interval
        )
        if stored is None:
            self._edge = self._tip = self._frontier = None
            return None
        self._keep(size, root, frontier)
        self._tip = (origin, key, entries[-1].time)
        return Appended(leaves, cp, stored)

    def head_checkpoint_due(self, conn: Connection) -> bool:
        """Would ``checkpoint_head`` store one now? Read-only (no lock): a cheap first look."""
        head = read_head(conn)
        if head is None or head.size == 0:
            return False
        newest = newest_checkpoint_time(conn)
        if newest is not None and newest[0] >= head.size:
            return False
        last = None if newest is None else newest[1]
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
        self._check_key(head)
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
        found = read_tiles(conn, wanted)
        edge = {level: tiles.split(blob) for (level, _idx), blob in found.items()}
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
