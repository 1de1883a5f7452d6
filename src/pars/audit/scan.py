"""Reading the whole log fast and consistently, for ``verify_log``.

``snapshot`` is a read transaction that sees one state of the log (REPEATABLE
READ on PostgreSQL, a WAL snapshot on SQLite), so a verify running beside the
gate never mistakes a concurrent append for a disagreement.

``log_chunks`` hands over, one ``Chunk`` of leaves at a time and in index order,
the stored entries and leaf hashes with the level-0 tiles and the checkpoints
that fall in the chunk, through the driver itself:

- SQLite is read in line, on the caller's own snapshot. The sqlite3 module lets
  the GIL go and takes it back at every row, so a reader thread beside a caller
  that is hashing waits out the interpreter's switch interval (5 ms) per row:
  measured, a thread made verify slower, not faster.
- PostgreSQL is read ahead on a thread of its own, in the caller's very snapshot
  (exported and imported), with blocking libpq calls, which run without the GIL:
  the server reads and sends while the caller hashes. At most two chunks wait
  in memory.

Rule: everything read here is untrusted bytes; this module hands them over,
it judges nothing.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from itertools import repeat
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from pars.audit.tiles import TILE_WIDTH
from pars.store.db import Store

if TYPE_CHECKING:
    from psycopg import pq


@contextmanager
def snapshot(store: Store) -> Iterator[Connection]:
    """A read-only transaction over one consistent state of the store."""
    with store.engine.connect() as conn:
        if not store.is_sqlite:
            conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
        with conn.begin():
            yield conn


@dataclass(frozen=True, slots=True)
class Chunk:
    """What is stored for the leaves with indices in [start, end)."""

    start: int
    end: int
    #: (entry bytes, stored leaf hash) per stored leaf, in index order, as the driver
    #: gives them. Read it once, before asking for the next chunk (it may be a live cursor).
    rows: Iterable[tuple[Any, Any]]
    #: The indices actually stored in the range, after ``rows`` was read: ask only
    #: when fewer than ``end - start`` rows came.
    indices: Callable[[], list[int]]
    #: The stored level-0 tiles over the range: tile index -> concatenated hashes.
    tiles: dict[int, bytes]
    #: The stored checkpoints with start < size <= end, by size: (size, root, note).
    checkpoints: list[tuple[int, bytes, str]]


def log_chunks(store: Store, conn: Connection, size: int, chunk: int) -> Iterator[Chunk]:
    """``Chunk``s of ``chunk`` leaves (whole tiles) covering [0, size), in ``conn``'s snapshot."""
    if chunk % TILE_WIDTH:
        raise ValueError("a chunk is whole tiles")
    if store.is_sqlite:
        return _sqlite_chunks(conn, size, chunk)
    exported = conn.exec_driver_sql("SELECT pg_export_snapshot()").scalar_one()
    return iter(_PostgresReader(store, str(exported), size, chunk))


def _tile_range(start: int, end: int) -> tuple[int, int]:
    return start // TILE_WIDTH, (end + TILE_WIDTH - 1) // TILE_WIDTH


_SQLITE_ROWS = "SELECT entry, leaf_hash FROM audit_leaves WHERE idx >= ? AND idx < ? ORDER BY idx"
_SQLITE_IDX = "SELECT idx FROM audit_leaves WHERE idx >= ? AND idx < ? ORDER BY idx"
_SQLITE_TILES = "SELECT idx, hashes FROM audit_tiles WHERE level = 0 AND idx >= ? AND idx < ?"
_SQLITE_CHECKPOINTS = (
    "SELECT size, root, note FROM audit_checkpoints WHERE size > ? AND size <= ? ORDER BY size"
)


def _sqlite_chunks(conn: Connection, size: int, chunk: int) -> Iterator[Chunk]:
    raw = conn.connection.driver_connection
    assert raw is not None

    def indices(start: int, end: int) -> list[int]:
        return [int(r[0]) for r in raw.execute(_SQLITE_IDX, (start, end)).fetchall()]

    cur = raw.cursor()
    try:
        for start in range(0, size, chunk):
            end = min(start + chunk, size)
            found = raw.execute(_SQLITE_TILES, _tile_range(start, end))
            tiles = {int(i): bytes(h or b"") for i, h in found}
            found = raw.execute(_SQLITE_CHECKPOINTS, (start, end))
            cps = [(int(s), bytes(r or b""), str(n)) for s, r, n in found]
            # The cursor itself, not a list: each row is hashed while it is still in
            # the CPU's cache (a fetched list of thousands is not: verify took a tenth longer).
            rows = cur.execute(_SQLITE_ROWS, (start, end))
            yield Chunk(start, end, rows, partial(indices, start, end), tiles, cps)
    finally:
        cur.close()


_PG_ROWS = b"SELECT entry, leaf_hash FROM audit_leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx"
_PG_IDX = b"SELECT idx::int8 FROM audit_leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx"
# Tiles and checkpoints in one round trip (on the reader, each blocking call costs a
# wait for the GIL afterwards): 0 marks a tile (index, hashes), 1 a checkpoint
# (size, root, note).
_PG_TILES_AND_CHECKPOINTS = (
    b"SELECT 0::int4, idx::int8, hashes, NULL::text FROM audit_tiles"
    b" WHERE level = 0 AND idx >= $1 AND idx < $2"
    b" UNION ALL"
    b" SELECT 1::int4, size::int8, root, note FROM audit_checkpoints WHERE size > $3 AND size <= $4"
)
_TILE_ROW = (0).to_bytes(4, "big")

_DONE = object()


def _pg_query(pgconn: pq.abc.PGconn, sql: bytes, *params: int) -> pq.abc.PGresult:
    """Run ``sql`` with ``params`` as $1, $2 …; the result in binary format (bytea as its bytes)."""
    import psycopg
    from psycopg import pq

    # PQexecParams blocks without the GIL until the whole result is in. psycopg's
    # cursor instead polls, and takes the GIL back at every socket read: beside a
    # caller that is hashing, each of those waits out the switch interval.
    res = pgconn.exec_params(sql, [b"%d" % p for p in params], result_format=pq.Format.BINARY)
    if res.status != pq.ExecStatus.TUPLES_OK:
        raise psycopg.DatabaseError(pq.error_message(res))
    return res


def _int8(value: bytes | None) -> int:
    assert value is not None
    return int.from_bytes(value, "big", signed=True)


def _pg_chunk(pgconn: pq.abc.PGconn, start: int, end: int) -> Chunk:
    meta = _pg_query(pgconn, _PG_TILES_AND_CHECKPOINTS, *_tile_range(start, end), start, end)
    v = meta.get_value
    tiles: dict[int, bytes] = {}
    cps: list[tuple[int, bytes, str]] = []
    for i in range(meta.ntuples):
        key, blob = _int8(v(i, 1)), bytes(v(i, 2) or b"")
        if v(i, 0) == _TILE_ROW:
            tiles[key] = blob
        else:
            cps.append((key, blob, (v(i, 3) or b"").decode()))
    cps.sort()
    res = _pg_query(pgconn, _PG_ROWS, start, end)
    n = res.ntuples
    stored: list[int] = []
    if n != end - start:
        idx_res = _pg_query(pgconn, _PG_IDX, start, end)
        stored = [_int8(idx_res.get_value(i, 0)) for i in range(idx_res.ntuples)]
    # The values become bytes only as the caller reads them, each while it is still
    # in cache; the result is freed with the chunk.
    value = res.get_value
    rows = zip(map(value, range(n), repeat(0)), map(value, range(n), repeat(1)), strict=True)
    return Chunk(start, end, rows, partial(list, stored), tiles, cps)


class _PostgresReader:
    """Iterate ``Chunk``s covering [0, size), read ahead on a background thread."""

    def __init__(self, store: Store, exported: str, size: int, chunk: int) -> None:
        self.store = store
        self.exported = exported
        self.size = size
        self.chunk = chunk
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pars-verify-reader", daemon=True)

    def _put(self, item: Any) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        import psycopg  # here, not at the top: SQLite users never pay for its import
        from psycopg import pq, sql

        try:
            with snapshot(self.store) as conn:
                raw = conn.connection.driver_connection
                assert isinstance(raw, psycopg.Connection)
                # Through psycopg, so that it opens the transaction first; then exactly
                # what the caller sees, or the last partial tile could have grown since.
                raw.execute(sql.SQL("SET TRANSACTION SNAPSHOT {}").format(sql.Literal(self.exported)))
                # Read in index order straight off the primary key: a fresh table has
                # no statistics and the planner would sort on disk instead.
                raw.execute("SET LOCAL enable_sort = off")
                if raw.pgconn.transaction_status != pq.TransactionStatus.INTRANS:
                    raise psycopg.InterfaceError("the reader's snapshot transaction is not open")
                for start in range(0, self.size, self.chunk):
                    if not self._put(_pg_chunk(raw.pgconn, start, min(start + self.chunk, self.size))):
                        return
        except Exception as exc:  # handed to the consumer, which re-raises it
            self._put(exc)
            return
        self._put(_DONE)

    def __iter__(self) -> Iterator[Chunk]:
        self._thread.start()
        try:
            while True:
                item = self._queue.get()
                if item is _DONE:
                    return
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            self._stop.set()
            self._thread.join()
