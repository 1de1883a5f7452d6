"""Reading the whole log fast and consistently, for ``verify_log``.

``snapshot`` is a read transaction that sees one state of the log (REPEATABLE
READ on PostgreSQL, a WAL snapshot on SQLite), so a verify running beside the
gate never mistakes a concurrent append for a disagreement.

``leaf_chunks`` hands over the stored entries and leaf hashes in index order, one
``Chunk`` at a time, through the driver itself:

- SQLite is read in line, on the caller's own snapshot. The sqlite3 module lets
  the GIL go and takes it back at every row, so a reader thread beside a caller
  that is hashing waits out the interpreter's switch interval (5 ms) per row:
  measured, a thread made verify slower, not faster.
- PostgreSQL is read ahead on a thread of its own (with its own snapshot, opened
  after the caller's, so it sees at least what the caller saw), with one blocking
  libpq call per chunk, which runs without the GIL: the server reads and sends
  while the caller hashes. At most two chunks wait in memory.

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
    """The stored leaves with indices in [start, end)."""

    start: int
    end: int
    #: (entry bytes, stored leaf hash) per stored leaf, in index order, as the driver
    #: gives them. Read it once, before asking for the next chunk (it may be a live cursor).
    rows: Iterable[tuple[Any, Any]]
    #: The indices actually stored in the range, after ``rows`` was read: ask only
    #: when fewer than ``end - start`` rows came.
    indices: Callable[[], list[int]]


def leaf_chunks(store: Store, conn: Connection, size: int, chunk: int) -> Iterator[Chunk]:
    """``Chunk``s of ``chunk`` leaves covering [0, size); ``conn`` is the caller's snapshot."""
    if store.is_sqlite:
        return _sqlite_chunks(conn, size, chunk)
    return iter(_PostgresReader(store, size, chunk))


_SQLITE_ROWS = "SELECT entry, leaf_hash FROM audit_leaves WHERE idx >= ? AND idx < ? ORDER BY idx"
_SQLITE_IDX = "SELECT idx FROM audit_leaves WHERE idx >= ? AND idx < ? ORDER BY idx"


def _sqlite_chunks(conn: Connection, size: int, chunk: int) -> Iterator[Chunk]:
    raw = conn.connection.driver_connection
    assert raw is not None

    def indices(start: int, end: int) -> list[int]:
        return [int(r[0]) for r in raw.execute(_SQLITE_IDX, (start, end)).fetchall()]

    cur = raw.cursor()
    try:
        for start in range(0, size, chunk):
            end = min(start + chunk, size)
            # The cursor itself, not a list: each row is hashed while it is still in
            # the CPU's cache (a fetched list of thousands is not; it cost a fifth more).
            yield Chunk(start, end, cur.execute(_SQLITE_ROWS, (start, end)), partial(indices, start, end))
    finally:
        cur.close()


_PG_ROWS = b"SELECT entry, leaf_hash FROM audit_leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx"
_PG_IDX = "SELECT idx FROM audit_leaves WHERE idx >= %s AND idx < %s ORDER BY idx"

_DONE = object()


def _pg_rows(pgconn: pq.abc.PGconn, start: int, end: int) -> tuple[int, Iterable[tuple[Any, Any]]]:
    import psycopg
    from psycopg import pq

    # PQexecParams blocks without the GIL until the whole result is in. psycopg's
    # cursor instead polls, and takes the GIL back at every socket read: beside a
    # caller that is hashing, each of those waits out the switch interval.
    res = pgconn.exec_params(_PG_ROWS, [b"%d" % start, b"%d" % end], result_format=pq.Format.BINARY)
    if res.status != pq.ExecStatus.TUPLES_OK:
        message = pq.error_message(res)
        res.clear()
        raise psycopg.DatabaseError(message)
    # A bytea in binary format is its bytes as stored: nothing to decode. The values
    # become bytes only as the caller reads them, each while it is still in cache.
    n = res.ntuples
    value = res.get_value
    return n, zip(map(value, range(n), repeat(0)), map(value, range(n), repeat(1)), strict=True)


class _PostgresReader:
    """Iterate ``Chunk``s covering [0, size), read ahead on a background thread."""

    def __init__(self, store: Store, size: int, chunk: int) -> None:
        self.store = store
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
        from psycopg import pq

        try:
            with snapshot(self.store) as conn:
                raw = conn.connection.driver_connection
                assert isinstance(raw, psycopg.Connection)
                # Read in index order straight off the primary key: a fresh table has
                # no statistics and the planner would sort on disk instead. Through
                # psycopg, so that it opens the snapshot's transaction first.
                raw.execute("SET LOCAL enable_sort = off")
                if raw.pgconn.transaction_status != pq.TransactionStatus.INTRANS:
                    raise psycopg.InterfaceError("the reader's snapshot transaction is not open")
                for start in range(0, self.size, self.chunk):
                    end = min(start + self.chunk, self.size)
                    count, rows = _pg_rows(raw.pgconn, start, end)
                    stored: list[int] = []
                    if count != end - start:
                        stored = [int(r[0]) for r in raw.execute(_PG_IDX, (start, end)).fetchall()]
                    if not self._put(Chunk(start, end, rows, partial(list, stored))):
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
