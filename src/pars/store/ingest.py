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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

from sqlalchemy import Connection, func, select

from pars.clock import SYSTEM_CLOCK, Clock
from pars.records.events import ParsedEvent, Rejection, parse_event
from pars.store.apply import Applier
from pars.store.db import Store, chunks
from pars.store.schema import events

#: pg_advisory_xact_lock key serialising record writers ("PARSRECS").
RECORDS_LOCK_KEY = 0x5041525352454353
#: PostgreSQL channel told the newest event seq after each committed batch.
NOTIFY_CHANNEL = "pars_records"


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
    store: Store, items: Sequence[tuple[int, ParsedEvent | Rejection]], clock: Clock = SYSTEM_CLOCK
) -> list[LineResult]:
    """Apply one batch in one transaction; the results are final once this returns."""
    results: list[LineResult | None] = [None] * len(items)
    candidates: list[tuple[int, ParsedEvent]] = []
    for i, (line, item) in enumerate(items):
        if isinstance(item, Rejection):
            results[i] = LineResult(line, item.event_id, "rejected", item.reason)
        else:
            candidates.append((i, item))
    if candidates:
        with store.write() as conn:
            if not store.is_sqlite:
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
    items: Sequence[tuple[int, ParsedEvent | Rejection]],
    candidates: list[tuple[int, ParsedEvent]],
    results: list[LineResult | None],
) -> list[tuple[int, ParsedEvent]]:
    """Mark re-sent events as duplicates (same content) or conflicts (different)."""
    stored: dict[str, str] = {}
    for chunk in chunks(sorted({p.event_id for _, p in candidates})):
        q = select(events.c.event_id, events.c.content_sha256).where(events.c.event_id.in_(chunk))
        stored.update({eid: sha for eid, sha in conn.execute(q)})
    fresh: list[tuple[int, ParsedEvent]] = []
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


def ingest_lines(
    store: Store,
    lines: Iterable[tuple[int, bytes | str]],
    *,
    batch_size: int = 5000,
    on_batch: Callable[[list[LineResult]], None] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Totals:
    """Validate and apply (line number, JSON line) pairs; blank lines are skipped.

    ``on_batch`` sees each batch's results after its transaction committed.
    """
    totals = Totals()
    it = iter(lines)
    # A batch allocates hundreds of thousands of short-lived objects; letting the
    # cyclic collector run among them cost a third of ingest time. It is paused for
    # the run and the batch's few cycles (driver, transaction) are collected after it.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        while raw := list(islice(it, batch_size)):
            parsed = [(n, parse_event(line)) for n, line in raw if line.strip()]
            results = apply_batch(store, parsed, clock)
            totals.add(results)
            if on_batch is not None:
                on_batch(results)
            del raw, parsed
            gc.collect(1)
    finally:
        if was_enabled:
            gc.enable()
    return totals
