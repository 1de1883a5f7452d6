"""Ingestion: validated booking events applied to the store, a batch per transaction.

Each batch is one write transaction holding the records' write lock (SQLite
``BEGIN IMMEDIATE``; a PostgreSQL advisory lock), so event sequence numbers are
dense and ordered, and a result is reported only after its batch committed: a
crash loses nothing reported accepted, and re-running the same input finishes the
job (what was committed comes back as duplicates).

Rule: report a result only after the transaction that holds it has committed.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sqlalchemy import Connection, func, select

from pars.clock import SYSTEM_CLOCK, Clock
from pars.errors import ParsError
from pars.records.events import Rejection
from pars.records.prepared import Prepared, prepare_lines
from pars.store.apply import Applier
from pars.store.bulk import select_in
from pars.store.db import Store
from pars.store.schema import events

#: pg_advisory_xact_lock key serialising record writers ("PARSRECS").
RECORDS_LOCK_KEY = 0x5041525352454353
#: Events per transaction. Larger batches write each index page fewer times per
#: event (the commit and WAL checkpoint cost is per page); memory grows with the
#: batch, never with the input.
BATCH_SIZE = 20_000
#: SQLite page cache of the ingesting connection, in KiB (the default is 2 MiB):
#: a batch touches pages all over the person and party indexes.
SQLITE_CACHE_KIB = 32_768
#: After a run that accepted this many events, PostgreSQL re-reads the record
#: tables' statistics: without them (autovacuum gets there only later) it plans
#: record loads as sequential scans.
ANALYZE_AFTER = 10_000
RECORD_TABLES = (
    "events, persons, arrests, parties, charges, charging, arraignments, custody, dispositions, expungements"
)
#: PostgreSQL channel told the newest event seq after each committed batch.
NOTIFY_CHANNEL = "pars_records"


class IngestInterrupted(ParsError):
    """Ingestion stopped part-way; what was reported is committed."""

    exit_code = 2


@dataclass(slots=True)
class LineResult:
    line: int
    event_id: str | None
    status: str  # accepted | duplicate | rejected
    reason: str | None = None
    warnings: list[str] | None = None
    source: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"line": self.line, "event_id": self.event_id, "status": self.status}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.warnings:
            out["warnings"] = self.warnings
        if self.source is not None:
            out["file"] = self.source
        return out


@dataclass(slots=True)
class Totals:
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    warnings: int = 0

    def add(self, results: Iterable[LineResult]) -> None:
        for r in results:
            if r.status == "accepted":
                self.accepted += 1
            elif r.status == "duplicate":
                self.duplicates += 1
            else:
                self.rejected += 1
            self.warnings += len(r.warnings or ())

    def merge(self, other: Totals) -> None:
        self.accepted += other.accepted
        self.rejected += other.rejected
        self.duplicates += other.duplicates
        self.warnings += other.warnings

    def to_json(self) -> dict[str, int]:
        return {
            "accepted": self.accepted,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "warnings": self.warnings,
        }


def apply_batch(
    store: Store, items: Sequence[tuple[int, Prepared | Rejection]], clock: Clock = SYSTEM_CLOCK
) -> list[LineResult]:
    """Apply one batch in one transaction; the results are final once this returns."""
    results: list[LineResult | None] = [None] * len(items)
    candidates: list[tuple[int, Prepared]] = []
    for i, (line, item) in enumerate(items):
        if isinstance(item, Rejection):
            results[i] = LineResult(line, item.event_id, "rejected", item.reason)
        else:
            candidates.append((i, item))
    if candidates:
        with store.write() as conn:
            if store.is_sqlite:
                conn.exec_driver_sql(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
            else:
                conn.execute(select(func.pg_advisory_xact_lock(RECORDS_LOCK_KEY)))
            fresh = _dedupe(conn, items, candidates, results)
            if fresh:
                applier = Applier(conn, clock.now())
                applier.load([p for _, p in fresh])
                seq = conn.scalar(select(func.coalesce(func.max(events.c.seq), 0))) or 0
                for i, p in fresh:
                    reason, warnings = applier.apply(p, seq + 1)
                    line = items[i][0]
                    if reason:
                        results[i] = LineResult(line, p.event_id, "rejected", reason)
                    else:
                        seq += 1
                        results[i] = LineResult(line, p.event_id, "accepted", None, warnings or None)
                applier.flush()
                if not store.is_sqlite and applier.p.events:
                    conn.execute(select(func.pg_notify(NOTIFY_CHANNEL, str(seq))))
    return [r for r in results if r is not None]


def _dedupe(
    conn: Connection,
    items: Sequence[tuple[int, Prepared | Rejection]],
    candidates: list[tuple[int, Prepared]],
    results: list[LineResult | None],
) -> list[tuple[int, Prepared]]:
    """Mark re-sent events as duplicates (same content) or conflicts (different)."""
    sql = "SELECT event_id, content_sha256 FROM events WHERE event_id IN ({keys})"
    stored: dict[str, str] = dict(select_in(conn, sql, sorted({p.event_id for _, p in candidates})))
    fresh: list[tuple[int, Prepared]] = []
    in_batch: dict[str, str] = {}
    for i, p in candidates:
        line = items[i][0]
        earlier = stored.get(p.event_id) or in_batch.get(p.event_id)
        if earlier is None:
            in_batch[p.event_id] = p.sha256
            fresh.append((i, p))
        elif earlier == p.sha256:
            results[i] = LineResult(line, p.event_id, "duplicate")
        else:
            reason = f"event_id: {p.event_id} was already accepted with different content (conflict)"
            results[i] = LineResult(line, p.event_id, "rejected", reason)
    return fresh


Numbered = tuple[int, bytes | str]


def _batches(lines: Iterable[Numbered], size: int, first: int | None = None) -> Iterator[list[Numbered]]:
    """Batches of at most ``size`` lines; from ``first`` lines, doubling up to ``size``.

    Small first batches let the writer start while the validating processes are
    still on the next ones, instead of waiting for a whole large batch.
    """
    it = iter(lines)
    n = min(size, first or size)
    while batch := list(islice(it, n)):
        yield batch
        n = min(size, n * 2)


def default_workers() -> int:
    """Validating processes for a long input: one less than the CPUs, at most 4."""
    return max(0, min(4, (os.cpu_count() or 1) - 1))


def _prepare_batch(batch: list[Numbered]) -> list[tuple[int, Prepared | Rejection]]:
    """A worker's task. Its cyclic GC is paused as in the writer; what the last
    batch left is collected before the next."""
    gc.collect(1)
    return prepare_lines(batch)


def _prepared_in_pool(
    batches: Iterator[list[Numbered]], workers: int
) -> Iterator[list[tuple[int, Prepared | Rejection]]]:
    """Batches validated by ``workers`` processes, in input order, a few ahead.

    At most ``workers + 1`` batches are in flight, so memory stays flat however
    long the input. On Linux the workers are forked, so they start with the
    validators imported; they run only the pure ``prepare_lines`` and leave by
    ``os._exit``. Everything they inherit is frozen out of their cyclic collector
    first, so an inherited database connection is never finalised (closed) in a
    child: it is never touched there at all.
    """
    method = "fork" if sys.platform == "linux" else "spawn"
    context = multiprocessing.get_context(method)
    ahead: deque[Future[list[tuple[int, Prepared | Rejection]]]] = deque()
    try:
        with ProcessPoolExecutor(workers, mp_context=context, initializer=gc.disable) as pool:
            for n, batch in enumerate(batches):
                forks = n == 0 and method == "fork"  # the first submit forks every worker
                if forks:
                    gc.freeze()
                try:
                    ahead.append(pool.submit(_prepare_batch, batch))
                finally:
                    if forks:
                        gc.unfreeze()
                if len(ahead) > workers:
                    yield ahead.popleft().result()
            while ahead:
                yield ahead.popleft().result()
    except BrokenProcessPool as exc:
        raise IngestInterrupted(
            "a validating process died (out of memory?); every batch reported so far is "
            "committed: run the same input again to finish, or use --workers 0"
        ) from exc
    finally:
        for f in ahead:
            f.cancel()


def ingest_lines(
    store: Store,
    lines: Iterable[Numbered],
    *,
    batch_size: int = BATCH_SIZE,
    on_batch: Callable[[list[LineResult]], None] | None = None,
    clock: Clock = SYSTEM_CLOCK,
    workers: int = 0,
) -> Totals:
    """Validate and apply (line number, JSON line) pairs; blank lines are skipped.

    ``on_batch`` sees each batch's results after its transaction committed. With
    ``workers`` > 0, that many processes validate the coming batches while this
    one writes (validation is pure; the writes stay in this process, in order).
    """
    totals = Totals()
    if workers > 0:
        prepared: Iterator[list[tuple[int, Prepared | Rejection]]] = _prepared_in_pool(
            _batches(lines, batch_size, first=1000), workers
        )
    else:
        prepared = map(prepare_lines, _batches(lines, batch_size))
    # A batch allocates hundreds of thousands of short-lived objects; letting the
    # cyclic collector run among them cost a third of ingest time. It is paused for
    # the run and the batch's few cycles (driver, transaction) are collected after it.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        for items in prepared:
            results = apply_batch(store, items, clock)
            totals.add(results)
            if on_batch is not None:
                on_batch(results)
            del items
            gc.collect(1)
    finally:
        close = getattr(prepared, "close", None)
        if close is not None:
            close()
        if was_enabled:
            gc.enable()
    if not store.is_sqlite and totals.accepted >= ANALYZE_AFTER:
        with store.engine.begin() as conn:
            conn.exec_driver_sql(f"ANALYZE {RECORD_TABLES}")
    return totals
