"""The serving version of an agreement, loaded once per change of its history.

An agreement's history (versions, approvals, terminations) is insert-only, so the
row counts of its three tables identify it exactly. Each request asks for those
counts (one indexed query) and reuses the parsed history and compiled versions
while they are unchanged; any apply, approval or termination, from any process,
changes a count and the next request loads the history afresh.

Rule: the cache only ever saves parsing; the serving version is still chosen by
``AgreementHistory.serving(now)`` on every request, at that request's instant.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from pars.agreements.decide import AgreementVersion
from pars.agreements.history import AgreementHistory
from pars.agreements.service import load_history
from pars.store.schema.agreements import agreement_approvals, agreement_terminations, agreement_versions

_MAX = 256


class VersionCache:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._histories: dict[tuple[str, int, int, int], AgreementHistory] = {}
        self._versions: dict[tuple[object, ...], AgreementVersion] = {}

    def serving(
        self, conn: Connection, agreement_id: str, now: datetime, counts: tuple[int, int, int] | None = None
    ) -> AgreementVersion:
        """What ``pars.agreements.service.serving_version`` answers, without re-parsing.

        ``counts``: the history's row counts (``COUNT_COLUMNS``) when the caller already
        read them in this transaction, in the same statement as something else."""
        key = (agreement_id, *(counts if counts is not None else _counts(conn, agreement_id)))
        with self._lock:
            history = self._histories.get(key)
        if history is None:
            history = load_history(conn, agreement_id)  # NotFound for an unknown id
            with self._lock:
                if len(self._histories) >= _MAX:
                    self._histories.clear()
                self._histories[key] = history
        version = history.serving(now)
        vkey = (key, version.number, version.approved, version.approvals, version.terminated_at)
        with self._lock:
            cached = self._versions.get(vkey)
            if cached is not None:
                return cached  # its compiled rules come with it
            if len(self._versions) >= _MAX:
                self._versions.clear()
            self._versions[vkey] = version
        return version


# One indexed count per table, on the driver: built and compiled by SQLAlchemy per
# request this look-up cost a tenth of an audited search.
_TABLES = (agreement_versions, agreement_approvals, agreement_terminations)
#: The three counts as scalar subqueries, each taking the agreement id (``?`` marks).
COUNT_COLUMNS = ", ".join(f"(SELECT count(*) FROM {t.name} WHERE agreement_id = ?)" for t in _TABLES)  # noqa: S608
_COUNTS = "SELECT " + COUNT_COLUMNS


def _counts(conn: Connection, agreement_id: str) -> tuple[int, int, int]:
    sqlite = conn.dialect.name == "sqlite"
    raw: Any = conn.connection.driver_connection
    cur = raw.cursor()
    try:
        cur.execute(_COUNTS if sqlite else _COUNTS.replace("?", "%s"), (agreement_id,) * 3)
        row = cur.fetchone()
    finally:
        cur.close()
    return int(row[0]), int(row[1]), int(row[2])
