"""Group commit: concurrent gate requests share one write transaction, one append, one commit.

Each request (a search, a read, a feed open or a feed delivery) is a job
``run(conn) -> (Outcome, AuditEntry)``. The first caller to
find no leader becomes the leader: it takes the waiting jobs (up to
``max_batch``, oldest first) and runs them one after another inside ONE write
transaction, appends their entries in one ``AuditLog.append`` (one signed
checkpoint) and commits once. Every job therefore still reads, decides and is
logged in the same transaction that its answer depends on; only the fsync, the
checkpoint signature and the log's writer lock are shared. When its own job is
done the leader hands leadership to the oldest waiting job and returns. On
PostgreSQL several leaders run batches at once (their reads overlap; the log's
lock orders their appends); SQLite has one writer, so one leader.

On PostgreSQL the batch first takes the (agreement, user) advisory locks of all
its jobs in ascending order, then the log's lock, before any job reads the clock:
batches from several processes never deadlock, rate counts stay exact, and entry
times follow the log's order.

If a batch of several fails, each job is retried alone, so one bad request never
sinks the others; a job that fails alone gets its own error (``Unavailable`` for
storage and log failures).

The HTTP routes submit from the event loop (``submit_async``): the job waits on an
asyncio future, not in a thread of its own, and the batches run on a leader thread
of this group commit's own small pool that keeps leading while jobs are waiting
(nobody waits on that thread's own answer, so it need not hand over). Each finished
job's future is settled on the loop. A request thus costs no thread of its own and
two thread hand-offs per batch rather than two per request.

Rule: a job's outcome is released only after the transaction holding its entry
committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC
from typing import TYPE_CHECKING

from sqlalchemy import Connection, text
from sqlalchemy.exc import SQLAlchemyError

from pars.audit import AuditEntry, AuditLog, AuditWriteError
from pars.audit.writer import ClockBehind
from pars.errors import ConfigError
from pars.gate.errors import Unavailable
from pars.store.db import Store

if TYPE_CHECKING:
    from pars.gate.core import Outcome

#: The longest a batch waits for this machine's clock to reach the log's newest entry
#: time (clocks of machines sharing one log differ by NTP's milliseconds; entry times
#: are whole seconds). A clock further behind fails closed.
MAX_CLOCK_WAIT = 2.0
_CLOCK_ATTEMPTS = 3
_INFRA = (AuditWriteError, SQLAlchemyError, OSError, ConfigError)


@dataclass(eq=False)
class Job:
    #: The job's work in the batch's transaction: its answer and the entry that logs it
    #: (``None`` only when nothing leaves: a feed step with nothing new in scope).
    run: Callable[[Connection], tuple[Outcome, AuditEntry | None]]
    lock_key: int | None = None
    wake: threading.Event = field(default_factory=threading.Event)
    finished: bool = False
    lead: bool = False
    outcome: Outcome | None = None
    error: BaseException | None = None
    #: Set for a job submitted from an event loop: the loop and the future it awaits.
    loop: asyncio.AbstractEventLoop | None = None
    done: asyncio.Future[None] | None = None


class GroupCommit:
    def __init__(
        self,
        store: Store,
        log: AuditLog,
        writer: AbstractContextManager[object],
        max_batch: int = 32,
        max_leaders: int = 1,
    ) -> None:
        self.store = store
        self.log = log
        self.writer = writer
        self.max_batch = max_batch
        self.max_leaders = max_leaders
        self._mutex = threading.Lock()
        self._pending: deque[Job] = deque()
        self._leaders = 0
        # Leader threads for jobs submitted from an event loop (at most max_leaders busy;
        # a thread starts only when first needed).
        self._pool = ThreadPoolExecutor(max(1, max_leaders), thread_name_prefix="pars-batch")

    def submit(self, job: Job) -> Outcome:
        """Run ``job`` in some batch's transaction; its outcome once that committed."""
        with self._mutex:
            self._pending.append(job)
            if self._leaders < self.max_leaders:
                self._leaders += 1
                job.lead = True
        while True:
            with self._mutex:
                lead, job.lead = job.lead, False
            if lead:
                self._lead(job)
            if job.finished:
                break
            job.wake.wait()
            job.wake.clear()
        if job.error is not None:
            raise job.error
        assert job.outcome is not None
        return job.outcome

    async def submit_async(self, job: Job) -> Outcome:
        """``submit`` for a caller on an event loop: the same batches and the same rule
        (the outcome only after its transaction committed), without a thread per job."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        job.loop, job.done = loop, done
        with self._mutex:
            self._pending.append(job)
            start = self._leaders < self.max_leaders
            if start:
                self._leaders += 1
        if start:
            self._start_leader()
        await done
        if job.error is not None:
            raise job.error
        assert job.outcome is not None
        return job.outcome

    def _start_leader(self) -> None:
        """A pool thread takes the leader slot already counted for it (callable under the mutex)."""
        self._pool.submit(self._lead_while_waiting)

    def _lead_while_waiting(self) -> None:
        """Run batches while any job waits; then give the slot back."""
        while True:
            with self._mutex:
                if not self._pending:
                    self._leaders -= 1
                    return
                n = min(len(self._pending), self.max_batch)
                batch = [self._pending.popleft() for _ in range(n)]
            self._run(batch)

    def _lead(self, own: Job) -> None:
        """Run batches until our own job is done (or taken by another leader), then pass on."""
        while True:
            with self._mutex:
                if own.finished or not self._pending:
                    self._pass_on()
                    return
                n = min(len(self._pending), self.max_batch)
                batch = [self._pending.popleft() for _ in range(n)]
            self._run(batch)

    def _pass_on(self) -> None:
        # Under the mutex: the slot goes to the oldest waiting job not already called,
        # or to a pool thread when that job waits on an event loop (no thread to call).
        for job in self._pending:
            if not job.lead:
                if job.loop is not None:
                    self._start_leader()
                    return
                job.lead = True
                job.wake.set()
                return
        self._leaders -= 1

    def _run(self, batch: list[Job]) -> None:
        try:
            results = self._in_time_order(batch)
        except BaseException as exc:
            if len(batch) > 1:
                for job in batch:
                    self._run([job])
                return
            job = batch[0]
            if isinstance(exc, _INFRA):
                job.error = Unavailable(
                    "the audit log could not record this request, so it was not answered; try again later"
                )
                job.error.__cause__ = exc
            else:
                job.error = exc
            self._finish(job)
            _settle([job])
            return
        for job, outcome in zip(batch, results, strict=True):
            job.outcome = outcome
            self._finish(job)
        _settle(batch)  # one wake-up of each waiting loop per batch, not one per job

    def _in_time_order(self, batch: list[Job]) -> list[Outcome]:
        """The batch's transaction; if another writer's clock is ahead of ours (another
        machine on the same PostgreSQL log), wait out the gap, at most ``MAX_CLOCK_WAIT``
        seconds, outside any transaction, and run the batch again: its jobs decide and
        stamp anew, with a time the log takes. A wider gap fails closed (503)."""
        for attempt in range(_CLOCK_ATTEMPTS):
            try:
                return self._transaction(batch)
            except ClockBehind as exc:
                newest = exc.newest if exc.newest.tzinfo else exc.newest.replace(tzinfo=UTC)
                gap = (newest - self.log.clock.now().astimezone(UTC)).total_seconds()
                if attempt + 1 == _CLOCK_ATTEMPTS or gap > MAX_CLOCK_WAIT:
                    raise
                time.sleep(max(gap, 0.0) + 0.001)
        raise AssertionError("unreachable")  # pragma: no cover

    def _transaction(self, batch: list[Job]) -> list[Outcome]:
        with self.writer, self.store.write() as conn:
            keys = sorted({j.lock_key for j in batch if j.lock_key is not None})
            if keys and conn.dialect.name == "postgresql":
                conn.execute(
                    text("SELECT pg_advisory_xact_lock(k) FROM (SELECT unnest(CAST(:ks AS bigint[])) AS k "
                         "ORDER BY 1) AS ordered"),
                    {"ks": keys},
                )  # fmt: skip
            # The log's lock before any job reads the clock: batches decide and append in one
            # order, so entry times never go backwards (on SQLite BEGIN IMMEDIATE is that lock).
            # It serialises PostgreSQL leaders' work, the price of times that mean what they say.
            self.log.lock(conn)
            done = [job.run(conn) for job in batch]
            entries = [entry for _, entry in done if entry is not None]
            appended = self.log.append(conn, entries) if entries else None
        receipts = iter(appended.receipts() if appended is not None else ())
        outcomes = []
        for outcome, entry in done:
            if entry is not None:
                outcome.body["receipt"] = next(receipts)
            outcomes.append(outcome)
        return outcomes

    @staticmethod
    def _finish(job: Job) -> None:
        job.finished = True
        job.wake.set()


def _settle(jobs: list[Job]) -> None:
    """Wake the event loops awaiting any of ``jobs`` (all finished), once per loop."""
    waiting: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
    for job in jobs:
        if job.loop is not None and job.done is not None:
            waiting.setdefault(job.loop, []).append(job.done)
    for loop, futures in waiting.items():
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits any more
            loop.call_soon_threadsafe(_resolve, futures)


def _resolve(futures: list[asyncio.Future[None]]) -> None:
    for done in futures:
        if not done.done():  # a cancelled waiter's job still ran and was logged
            done.set_result(None)
