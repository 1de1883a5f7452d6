"""The publisher: sends the newest stored checkpoint to every witness and keeps what comes back.

    publisher = Publisher(store, log, witness_config())
    result = publisher.round()        # `pars audit publish`; `pars serve` runs rounds in a thread

One round (C2SP tlog-witness ``add-checkpoint``):

1. store a checkpoint at a quiet log's head once the cadence allows (``checkpoint_head``);
2. take the newest stored checkpoint; for each witness that has not cosigned it, send it
   with ``old`` = the size that witness last cosigned (known from storage) and the
   consistency proof from there (from the tiles); on ``409`` retry once from the size
   the witness names;
3. keep each cosignature that verifies against that witness's configured key;
4. mark the checkpoint published once a quorum cosigned it.

A witness that refuses consistency (``422``, a ``409`` naming a size the retry cannot
resolve, or a size beyond the log's newest checkpoint) is recorded as refusing: an
alarm. One that is unreachable or answers otherwise gets ``last_error`` and is tried
again later, with a back-off, in the thread.

Exactly one process publishes, however many ``pars serve`` processes share the store,
on one machine or several (``Leadership``): the thread runs rounds only while its
process holds the publisher's lock, a PostgreSQL session advisory lock on a connection
of its own (on SQLite, an exclusive ``flock`` on a file beside the database). A process
that dies, or loses that connection, loses the lock with it, and the next process to
try (every ``PUBLISH_POLL``) takes over. Witnesses therefore see one publisher, and
even a publisher that has lost its lock without noticing yet could only send what the
leader sends: the checkpoint of a size is the log key's deterministic Ed25519
signature over (origin, size, root), the same bytes whoever signs it.

Rule: nothing here is on a request's path. Appends and receipts never wait for a
witness; a witness that is down only holds publishing back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, select, update
from sqlalchemy.engine import make_url

from pars.audit.cosignature import CosignatureError, verify_cosignature
from pars.audit.note import Checkpoint
from pars.audit.proofs import consistency_proof, latest_checkpoint
from pars.audit.publish import Witness, WitnessConfig
from pars.audit.writer import AuditLog
from pars.clock import SYSTEM_CLOCK, Clock, to_utc_naive
from pars.store.db import Store
from pars.store.schema.publish import audit_cosignatures, audit_published, audit_witnesses
from pars.witness.client import Conflict, Cosigned, Refused, Unreachable, WitnessAnswer, add_checkpoint

log_events = logging.getLogger("pars.publish")

#: Seconds a witness gets to answer one add-checkpoint.
TIMEOUT = 5.0
#: Longest back-off (seconds) for a witness that keeps failing, in the thread.
MAX_BACKOFF = 60.0
#: pg_try_advisory_lock key of the one publishing process: "PARSPUB" as a number
#: (the log's writer lock is "PARSLOG").
LEADER_KEY = 0x50_41_52_53_50_55_42
#: ``application_name`` of the leadership connection (with the process id): who publishes
#: is visible in ``pg_stat_activity`` joined with ``pg_locks``.
LEADER_APP = "pars-publisher"


Send = Callable[..., WitnessAnswer]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one witness did this round: ``cosigned``, ``current`` (had it already),
    ``refused`` (an alarm), ``error`` or ``unreachable``."""

    witness: str
    status: str
    message: str = ""


@dataclass
class RoundResult:
    checkpoint_size: int | None = None
    published_size: int | None = None
    newly_published: bool = False
    outcomes: list[Outcome] = field(default_factory=list)


class _Refused(Exception):
    pass


class _Failed(Exception):
    pass


class _Unreachable(Exception):
    pass


class Publisher:
    """Publishes one log to its witnesses; safe to run in several processes at once."""

    def __init__(
        self,
        store: Store,
        log: AuditLog | None,
        config: WitnessConfig,
        *,
        clock: Clock = SYSTEM_CLOCK,
        send: Send = add_checkpoint,
        timeout: float = TIMEOUT,
    ) -> None:
        self.store = store
        self.log = log
        self.config = config
        self.clock = clock
        self.send = send
        self.timeout = timeout
        self._retry_at: dict[str, float] = {}
        self._failures: dict[str, int] = {}

    # --- one round -------------------------------------------------------------

    def round(self, *, now_s: float | None = None) -> RoundResult:
        """Publish the newest stored checkpoint as far as the witnesses allow.

        ``now_s`` (a monotonic time) turns on the back-off for failing witnesses.
        """
        result = RoundResult()
        if self.log is not None:
            with self.store.read() as conn:  # the writer lock only when a checkpoint is due
                due_now = self.log.head_checkpoint_due(conn)
            if due_now:
                with self.store.write() as conn:
                    self.log.checkpoint_head(conn)
        with self.store.read() as conn:
            cp = latest_checkpoint(conn)
            if cp is None:
                return result
            published = conn.execute(
                select(audit_published.c.size).order_by(audit_published.c.size.desc()).limit(1)
            ).scalar()
            have = set(
                conn.scalars(
                    select(audit_cosignatures.c.witness_key).where(audit_cosignatures.c.size == cp.size)
                )
            )
            known = {
                r.witness_key: r.cosigned_size
                for r in conn.execute(select(audit_witnesses.c.witness_key, audit_witnesses.c.cosigned_size))
            }
        result.checkpoint_size = cp.size
        due = []
        for w in self.config.witnesses:
            if w.vkey in have:
                result.outcomes.append(Outcome(w.name, "current"))
            elif now_s is not None and self._retry_at.get(w.vkey, 0.0) > now_s:
                result.outcomes.append(Outcome(w.name, "waiting", "backing off after a failure"))
            else:
                old = known.get(w.vkey)
                due.append((w, 0 if old is None else int(old)))
        if due:
            with ThreadPoolExecutor(max_workers=len(due)) as pool:
                outcomes = list(pool.map(lambda job: self._ask(job[0], cp, job[1]), due))
            result.outcomes.extend(outcomes)
            if now_s is not None:
                self._back_off(outcomes, now_s)
        if not self.config.witnesses:
            result.published_size = cp.size  # with no witness, every stored checkpoint is published
        elif not due and published is not None and int(published) >= cp.size:
            result.published_size = int(published)  # nothing new: no write transaction
        else:
            result.published_size, result.newly_published = self._mark(cp)
        return result

    def _back_off(self, outcomes: list[Outcome], now_s: float) -> None:
        keys = {w.name: w.vkey for w in self.config.witnesses}
        for o in outcomes:
            key = keys[o.witness]
            if o.status == "cosigned":
                self._failures.pop(key, None)
                self._retry_at.pop(key, None)
            else:
                n = self._failures.get(key, 0) + 1
                self._failures[key] = n
                self._retry_at[key] = now_s + min(MAX_BACKOFF, 2.0 ** (n - 1))

    def _ask(self, w: Witness, cp: Checkpoint, old: int) -> Outcome:
        try:
            line, timestamp = self._add_checkpoint(w, cp, old)
        except _Refused as exc:
            self._save(w, refusal=str(exc))
            log_events.error("ALARM: witness %s refuses checkpoint %d: %s", w.name, cp.size, exc)
            return Outcome(w.name, "refused", str(exc))
        except _Failed as exc:
            self._save(w, error=str(exc))
            return Outcome(w.name, "error", str(exc))
        except _Unreachable as exc:
            self._save(w, error=str(exc))
            return Outcome(w.name, "unreachable", str(exc))
        self._save(w, cosigned=(cp.size, line, timestamp))
        return Outcome(w.name, "cosigned")

    def _add_checkpoint(self, w: Witness, cp: Checkpoint, old: int) -> tuple[str, int]:
        if old > cp.size:  # storage says it cosigned more than we now have: let it say so
            old = 0
        for attempt in (1, 2):
            proof = self._proof(old, cp.size)
            answer = self.send(w.url, old, proof, cp.note, timeout=self.timeout, witness_key=w.vkey)
            match answer:
                case Cosigned(lines):
                    return self._cosignature(w, cp, lines)
                case Conflict(theirs) if theirs > cp.size:
                    raise _Refused(
                        f"it cosigned size {theirs} but the log's newest checkpoint is {cp.size}: "
                        "the log was cut below what it saw"
                    )
                case Conflict(theirs) if attempt == 1 and theirs != old:
                    old = theirs  # tlog-witness: resend from the size it names
                case Conflict(theirs):
                    raise _Refused(f"it answered 409 (size {theirs}) again after the retry from that size")
                case Refused(422, message):
                    raise _Refused(
                        f"it refused the consistency proof from size {old} to {cp.size} (422: "
                        f"{message[:200]}): the log forked from what it cosigned"
                    )
                case Refused(200, message):
                    raise _Failed(f"bad cosignature, not counted: {message[:300]}")
                case Refused(status, message):
                    raise _Failed(f"answered {status}: {message[:300]}")
                case Unreachable(message):
                    raise _Unreachable(f"unreachable: {message[:400]}")
        raise AssertionError("unreachable")  # pragma: no cover

    def _proof(self, old: int, new: int) -> list[bytes]:
        if old in (0, new):
            return []
        with self.store.read() as conn:
            return consistency_proof(conn, old, new)

    @staticmethod
    def _cosignature(w: Witness, cp: Checkpoint, lines: tuple[str, ...]) -> tuple[str, int]:
        mine = list(lines)  # the client kept only the lines by this witness's key
        try:
            timestamp = verify_cosignature(cp.note + "".join(mine), w.key)
        except CosignatureError as exc:
            raise _Failed(f"bad cosignature, not counted: {exc}") from None
        return mine[0].rstrip("\n"), timestamp

    # --- storage ---------------------------------------------------------------

    def _save(
        self,
        w: Witness,
        *,
        cosigned: tuple[int, str, int] | None = None,
        error: str | None = None,
        refusal: str | None = None,
    ) -> None:
        now = to_utc_naive(self.clock.now())
        with self.store.write() as conn:
            row = _lock_row(conn, w)
            values: dict[str, object] = {"last_attempt_utc": now, "url": w.url, "name": w.name}
            if cosigned is not None:
                size, line, timestamp = cosigned
                if not conn.execute(
                    select(audit_cosignatures.c.size).where(
                        audit_cosignatures.c.size == size, audit_cosignatures.c.witness_key == w.vkey
                    )
                ).first():
                    conn.execute(
                        audit_cosignatures.insert().values(
                            size=size, witness_key=w.vkey, signature=line, timestamp=timestamp,
                            received_utc=now,
                        )
                    )  # fmt: skip
                values.update(last_success_utc=now, last_error=None, refusing_since=None, refusal=None)
                if row.cosigned_size is None or int(row.cosigned_size) < size:
                    values["cosigned_size"] = size
            elif refusal is not None:
                values.update(last_error=refusal, refusal=refusal)
                if row.refusing_since is None:
                    values["refusing_since"] = now
            else:
                values["last_error"] = error
            mine = audit_witnesses.c.witness_key == w.vkey
            conn.execute(update(audit_witnesses).where(mine).values(values))

    def _mark(self, cp: Checkpoint) -> tuple[int | None, bool]:
        """Mark ``cp`` published if a quorum of configured witnesses cosigned it (a write
        transaction only then); returns the newest published size and whether it is new."""
        keys = [w.vkey for w in self.config.witnesses]
        mine = audit_cosignatures.c.size == cp.size, audit_cosignatures.c.witness_key.in_(keys)
        newest = select(audit_published.c.size).order_by(audit_published.c.size.desc()).limit(1)
        this = select(audit_published.c.size).where(audit_published.c.size == cp.size)
        with self.store.read() as conn:
            count = len(conn.scalars(select(audit_cosignatures.c.witness_key).where(*mine)).all())
            marked = conn.execute(this).first()
            size = conn.execute(newest).scalar()
        if count < self.config.quorum or marked is not None:
            return (None if size is None else int(size)), False
        with self.store.write() as conn:
            if conn.execute(this).first():
                return int(conn.execute(newest).scalar_one()), False  # another publisher was first
            at = to_utc_naive(self.clock.now())
            conn.execute(audit_published.insert().values(size=cp.size, published_utc=at))
            return int(conn.execute(newest).scalar_one()), True

    # --- the background thread -------------------------------------------------

    def run(self, stop: threading.Event, interval: float, leadership: Leadership | None = None) -> None:
        """Run rounds every ``interval`` seconds until ``stop`` is set, while this process
        holds the publisher's leadership (taken here when none is given); never raises."""
        lead = Leadership(self.store) if leadership is None else leadership
        try:
            while not stop.is_set():
                try:
                    if lead.held():
                        self.round(now_s=time.monotonic())
                except Exception:  # the thread must outlive a bad round (store down, ...)
                    log_events.exception("publishing round failed; trying again")
                stop.wait(max(interval, 0.05))
        finally:
            lead.release()


class Leadership:
    """The one publishing process among all that share a store (see the module docstring).

        lead = Leadership(store)
        if lead.held(): ...          # takes the lock if free; False while another process holds it
        lead.release()

    PostgreSQL: a session advisory lock (``LEADER_KEY``) on a connection of its own, held
    while that connection lives; ``held()`` checks the connection with a round trip each
    call, so a lost connection (and so a lost lock) is noticed at the next round. SQLite:
    ``flock`` on ``<database>.publisher`` (one machine, like SQLite itself); an in-memory
    database has one process, which always leads.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self._conn: Any = None
        self._file: Any = None
        self._leading = False

    @property
    def leading(self) -> bool:
        """Whether the last ``held()`` found this process leading."""
        return self._leading

    def held(self) -> bool:
        """Whether this process leads now: takes the lock when it is free."""
        try:
            now = self._pg() if not self.store.is_sqlite else self._sqlite()
        except Exception as exc:  # the database is away: not leading until it is back
            if self._leading:
                log_events.warning("publisher: lost the lead (%s)", exc.__class__.__name__)
            self._drop()
            now = False
        if now and not self._leading:
            log_events.info("publisher: process %d now publishes", os.getpid())
        self._leading = now
        return now

    def _pg(self) -> bool:
        import psycopg

        if self._conn is not None and self._leading:
            self._conn.execute("SELECT 1")  # the session, and so the lock, is still ours
            return True
        if self._conn is None:
            info = make_url(self.store.url).set(drivername="postgresql").render_as_string(hide_password=False)
            self._conn = psycopg.connect(
                info, autocommit=True, connect_timeout=10, application_name=f"{LEADER_APP} {os.getpid()}",
                keepalives=1, keepalives_idle=10, keepalives_interval=5, keepalives_count=3,
            )  # fmt: skip
        row = self._conn.execute("SELECT pg_try_advisory_lock(%s)", (LEADER_KEY,)).fetchone()
        return bool(row[0])

    def _sqlite(self) -> bool:
        import fcntl

        if self._file is not None:
            return True  # the flock lives as long as the open file
        database = make_url(self.store.url).database
        if not database or database == ":memory:":
            return True
        f = open(f"{database}.publisher", "a+b")  # noqa: SIM115 (held open while leading)
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            f.close()
            return False
        self._file = f
        return True

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        f, self._file = self._file, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()  # the session's advisory lock goes with it
        if f is not None:
            with contextlib.suppress(OSError):
                f.close()  # and the flock with the file

    def release(self) -> None:
        """Give up the lead (if held) so another process takes over at once."""
        if self._leading and self._conn is not None:
            # Unlock before closing: the server ends a closed session's backend (and frees
            # its locks) a moment later, not by the time close() returns.
            with contextlib.suppress(Exception):
                self._conn.execute("SELECT pg_advisory_unlock(%s)", (LEADER_KEY,))
        self._drop()
        self._leading = False


def _lock_row(conn: Connection, w: Witness) -> Any:
    """The witness's state row, created if missing, locked for this write transaction."""
    q = select(audit_witnesses).where(audit_witnesses.c.witness_key == w.vkey)
    if conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).first()
    if row is None:
        conn.execute(audit_witnesses.insert().values(witness_key=w.vkey, name=w.name, url=w.url))
        row = conn.execute(q).first()
    return row


def start(publisher: Publisher, interval: float) -> tuple[threading.Thread, threading.Event]:
    """Run ``publisher`` in a daemon thread; set the event to stop it."""
    stop = threading.Event()
    thread = threading.Thread(target=publisher.run, args=(stop, interval), name="pars-publisher", daemon=True)
    thread.start()
    return thread, stop
