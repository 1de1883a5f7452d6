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
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
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
    start: int
    #: (entry bytes, stored leaf hash) per stored leaf, in index order, as the driver gave them.
    rows: list[tuple[Any, Any]]
    #: Only when rows are missing: the indices actually stored in the range.
    indices: list[int] | None


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
    cur = raw.cursor()
    try:
        for start in range(0, size, chunk):
            end = min(start + chunk, size)
            rows = cur.execute(_SQLITE_ROWS, (start, end)).fetchall()
            indices = None
            if len(rows) != end - start:
                indices = [int(r[0]) for r in cur.execute(_SQLITE_IDX, (start, end)).fetchall()]
            yield Chunk(start, rows, indices)
    finally:
        cur.close()


_PG_ROWS = b"SELECT entry, leaf_hash FROM audit_leaves WHERE idx >= $1 AND idx < $2 ORDER BY idx"
_PG_IDX = "SELECT idx FROM audit_leaves WHERE idx >= %s AND idx < %s ORDER BY idx"

_DONE = object()


def _pg_rows(pgconn: pq.abc.PGconn, start: int, end: int) -> list[tuple[Any, Any]]:
    import psycopg
    from psycopg import pq

    # PQexecParams blocks without the GIL until the whole result is in. psycopg's
    # cursor instead polls, and takes the GIL back at every socket read: beside a
    # caller that is hashing, each of those waits out the switch interval.
    res = pgconn.exec_params(_PG_ROWS, [b"%d" % start, b"%d" % end], result_format=pq.Format.BINARY)
    try:
        if res.status != pq.ExecStatus.TUPLES_OK:
            raise psycopg.DatabaseError(pq.error_message(res))
        # A bytea in binary format is its bytes as stored: nothing to decode.
        value = res.get_value
        return [(value(i, 0), value(i, 1)) for i in range(res.ntuples)]
    finally:
        res.clear()


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
                    rows = _pg_rows(raw.pgconn, start, end)
                    indices = None
                    if len(rows) != end - start:
                        indices = [int(r[0]) for r in raw.execute(_PG_IDX, (start, end)).fetchall()]
                    if not self._put(Chunk(start, rows, indices)):
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
