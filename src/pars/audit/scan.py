"""Reading the whole log fast and consistently, for ``verify_log``.

``snapshot`` is a read transaction that sees one state of the log (REPEATABLE
READ on PostgreSQL, a WAL snapshot on SQLite), so a verify running beside the
gate never mistakes a concurrent append for a disagreement.

``LeafChunks`` reads the stored entries and leaf hashes in index order on a
thread of its own (with its own snapshot, opened after the caller's, so it sees
at least what the caller saw), through the driver's cursor: the database works
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
from typing import Any

from sqlalchemy import Connection

from pars.store.db import Store


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
    #: (entry bytes, stored leaf hash) per stored leaf, in index order.
    rows: list[tuple[bytes, bytes]]
    #: Only when rows are missing: the indices actually stored in the range.
    indices: list[int] | None


_DONE = object()

# Driver-level SQL (the driver's own parameter style), one pair per dialect.
_SQL = {
    "sqlite": (
        "SELECT entry, leaf_hash FROM audit_leaves WHERE idx >= ? AND idx < ? ORDER BY idx",
        "SELECT idx FROM audit_leaves WHERE idx >= ? AND idx < ? ORDER BY idx",
    ),
    "postgresql": (
        "SELECT entry, leaf_hash FROM audit_leaves WHERE idx >= %s AND idx < %s ORDER BY idx",
        "SELECT idx FROM audit_leaves WHERE idx >= %s AND idx < %s ORDER BY idx",
    ),
}


class LeafChunks:
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
        try:
            with snapshot(self.store) as conn:
                raw = conn.connection.driver_connection
                assert raw is not None
                sql, sql_idx = _SQL["sqlite" if self.store.is_sqlite else "postgresql"]
                # Binary results: bytea arrives as bytes, without hex decoding.
                cur = raw.cursor() if self.store.is_sqlite else raw.cursor(binary=True)
                if not self.store.is_sqlite:
                    # Read in index order straight off the primary key: a fresh table
                    # has no statistics and the planner would sort on disk instead.
                    cur.execute("SET LOCAL enable_sort = off")
                for start in range(0, self.size, self.chunk):
                    end = min(start + self.chunk, self.size)
                    cur.execute(sql, (start, end))
                    rows = cur.fetchall()
                    indices = None
                    if len(rows) != end - start:
                        cur.execute(sql_idx, (start, end))
                        indices = [int(r[0]) for r in cur.fetchall()]
                    item = Chunk(start, rows, indices)
                    if not self._put(item):
                        return
                cur.close()
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
