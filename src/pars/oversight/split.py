"""A report in two processes: the second runs some detectors over its own checked reading.

The report is CPU-bound Python, one entry at a time (about 80 µs per entry at 10^6
entries, spread thin over reading, texts and eight detectors; see DEVELOPERS.md). On
a machine with two cores, ``build_report`` starts a second process that runs the
detectors in ``SECOND`` while the first runs the rest, the agreement counts and the
plots; the findings are then merged (``report.merge``) into exactly what one process
would have found.

Nothing is trusted across the two: the second process opens the store afresh,
reads the log through ``open_log`` at the signed size the first verified, checks
that the checkpoint it finds there has the same root (a log key that signed two
trees of one size is a fork, and the report stops), and checks every byte it reads
against that root, as the first does. It reads the same texts and record facts the
same way. So both see the same entries, byte for byte, or the report fails.

Fail closed: a second process that fails, dies or answers nothing makes the report
fail, naming why; a first process that fails stops the second.

Rule: the second process never writes; it reads one snapshot of its own.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime
from itertools import chain
from multiprocessing.connection import Connection as MPConnection
from typing import Any

from sqlalchemy.engine import make_url

from pars.audit.reader import LogMismatch, open_log
from pars.errors import ParsError
from pars.oversight.config import OversightConfig
from pars.oversight.model import Finding
from pars.store.db import Store

#: The detector kinds the second process runs: the two share tests (sliding windows,
#: per-query view, pooled scan) and bulk access, about half the detectors' time
#: (benchmarks/oversight.py; the first also verifies the log, counts and plots).
SECOND = frozenset({"origin_targeting", "non_criminal_targeting", "bulk_access"})
#: Below this many signed entries a report runs in one process: a second process takes
#: about a second to start, which a small log does not pay back.
SPLIT_FROM = 100_000


class SplitError(ParsError):
    """The report's second process failed: the report is not made."""

    code = "report_failed"


@dataclass(frozen=True)
class Job:
    """What the second process reads: the store, the agreements, the period, the thresholds."""

    url: str
    agreement_id: str | None
    listed: list[str]
    start: datetime | None
    end: datetime | None
    #: Where reading starts: the lookback before ``start`` (None: from ``start``).
    reach: datetime | None
    #: ``format_time(start)`` when there is a lookback: entries before it feed the windows only.
    period_start: str | None
    config: OversightConfig
    hmac_key: bytes


def processes_for(store: Store, size: int, processes: int | None) -> int:
    """How many processes a report of ``size`` signed entries runs in: ``processes`` if given
    (1 or 2), else two when the log is large, the machine has two cores and the store can be
    opened twice (not an in-memory SQLite)."""
    if processes is not None:
        if processes not in (1, 2):
            raise ValueError(f"processes: 1 or 2, not {processes}")
        return 1 if processes == 2 and not shareable(store) else processes
    return 2 if size >= SPLIT_FROM and _cores() >= 2 and shareable(store) else 1


def _cores() -> int:
    """The cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def shareable(store: Store) -> bool:
    """Can a second process open this store, and talk to us? (Not an in-memory SQLite
    database; a POSIX system, where a socket pair passes to a child.)"""
    if os.name != "posix":
        return False
    if not store.is_sqlite:
        return True
    database = make_url(store.url).database
    return bool(database) and database != ":memory:" and "mode=memory" not in store.url


class Second:
    """The second process. Started before the first verifies the log (it reads the record facts
    meanwhile); ``read`` then tells it the signed size and root to read to, ``result`` waits.

    A fresh interpreter (``python -c``, ``serve``) on the same ``sys.path``, talking
    over a socket pair: not ``multiprocessing``, which would re-import the caller's main module
    (a script without a ``__main__`` guard would run again) or fork a process holding threads
    and database connections.
    """

    def __init__(self, job: Job) -> None:
        ours, theirs = socket.socketpair()
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        try:
            self._proc = subprocess.Popen(  # noqa: S603 (this interpreter, this module, no shell)
                [sys.executable, "-c", f"from pars.oversight.split import serve; serve({theirs.fileno()})"],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
                env=env,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()  # if the child dies without answering, our recv() ends in EOFError
        self._conn = MPConnection(ours.detach())
        try:
            self._conn.send(job)
        except OSError:
            self.stop()
            raise SplitError("the report's second process did not start") from None

    def read(self, verifier_key: str, size: int, root: bytes) -> None:
        """Read the log to the checkpoint of ``size`` signed by ``verifier_key``, whose root is ``root``."""
        with contextlib.suppress(OSError):  # it has gone: result() says how
            self._conn.send(("read", verifier_key, size, root))

    def result(self) -> tuple[list[Finding], list[dict[str, Any]]]:
        try:
            status, value = self._conn.recv()
        except (EOFError, OSError):
            code = self._proc.wait()
            raise SplitError(
                f"the report's second process ended without an answer (exit code {code})"
            ) from None
        finally:
            self._conn.close()
        self._proc.wait()
        if status == "mismatch":
            index, message = value
            raise LogMismatch(index, message)
        if status != "ok":
            raise SplitError(f"the report's second process failed: {value}")
        findings, power = value
        return findings, power

    def stop(self) -> None:
        """Stop the second process if it still runs (the first failed, or has nothing to read)."""
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        self._conn.close()


def run(conn: MPConnection) -> None:
    """The second process: the record facts, then (told where) its detectors over its own
    checked reading; answers ("ok", (findings, power)), ("mismatch", (index, message)) or
    ("error", why)."""
    answer: tuple[str, Any]
    try:
        job = conn.recv()
        answer = ("ok", _find(conn, job))
    except EOFError:
        return  # the first process went away: nobody to answer
    except LogMismatch as exc:
        answer = ("mismatch", (exc.index, exc.reason))
    except Exception as exc:
        answer = ("error", f"{type(exc).__name__}: {exc}")
    conn.send(answer)
    conn.close()


def _find(conn: MPConnection, job: Job) -> tuple[list[Finding], list[dict[str, Any]]]:
    from pars.oversight.facts import load_facts
    from pars.oversight.report import _pages, find

    store = Store(job.url)
    try:
        facts = load_facts(
            store,
            arrest_ids=(),
            agreement_ids=job.listed,
            hmac_key=job.hmac_key,
            start=job.start,
            end=job.end,
        )
        _, verifier_key, size, root = conn.recv()
        with open_log(store, verifier_key, size=size) as view:
            cp = view.checkpoint
            if cp is None or cp.root != root:
                raise LogMismatch(
                    max(size - 1, 0), f"the log key signed two different trees of size {size} (a fork)"
                )
            pages = _pages(view, store, facts, job.agreement_id, job.reach or job.start, job.end)
            return find(
                chain.from_iterable(pages), facts, job.config, period_start=job.period_start, kinds=SECOND
            )
    finally:
        store.dispose()


def serve(fd: int) -> None:
    """The second process's entry point: ``run`` over the socket at ``fd``."""
    run(MPConnection(fd))
