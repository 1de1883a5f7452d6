"""Console sessions kept in the store's ``console_sessions`` table (blocking calls).

    sessions = ConsoleSessions(store, clock)
    sid = sessions.open(principal.token_id)    # the cookie's value
    sessions.principal(sid)                    # on every request; SignedOut if ended

The row holds the SHA-256 of the session id and the ``token_id`` of the API token it
was opened with, so any ``pars serve`` process, or one restarted, finds the session;
a stolen copy of the table signs no one in. The token itself is kept nowhere: every
request re-reads its ``gate_tokens`` row (``pars.gate.tokens.live_principal``), so a
revoked token ends its sessions at their next request. A session idle for ``IDLE``
seconds is gone (the lookup's query says so; expired rows are deleted as sessions
open and are touched).

Rule: never store the session id or the token: only ``session_sha256`` and ``token_id``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, insert, select, update

from pars.clock import Clock, to_utc_naive
from pars.gate import Principal
from pars.gate.tokens import live_principal
from pars.store.db import Store
from pars.store.schema.console import console_sessions

#: The roles that may open a console session.
CONSOLE_ROLES = ("custodian", "oversight")
#: Seconds a session lives without use.
IDLE = 8 * 3600
#: Seconds between writes of a session's last use: most console requests (the live
#: page polls) only read, and never wait for the store's one writer. So a session
#: may end up to this many seconds short of ``IDLE`` after its true last use.
TOUCH = 60
#: Longest cookie value looked up (``secrets.token_urlsafe(32)`` gives 43 characters).
_MAX_SID = 128


class SignedOut(Exception):
    """No live console session: pages redirect to sign-in, the JSON API answers 401."""


def session_digest(sid: str) -> str:
    """What the store keeps of a session id: its SHA-256, hex."""
    return hashlib.sha256(sid.encode()).hexdigest()


@dataclass(frozen=True)
class ConsoleSessions:
    """Stateless itself: every process that opens the store sees the same sessions."""

    store: Store
    clock: Clock

    def open(self, token_id: str) -> str:
        """A new session for an authenticated token; returns its id (shown only in the cookie)."""
        sid = secrets.token_urlsafe(32)
        now = to_utc_naive(self.clock.now())
        with self.store.write() as conn:
            self._expire(conn, now)
            conn.execute(
                insert(console_sessions).values(
                    session_sha256=session_digest(sid), token_id=token_id, created_utc=now, seen_utc=now
                )
            )
        return sid

    def principal(self, sid: str) -> Principal:
        """The principal of a live session's token, noting its use; ``SignedOut`` otherwise.

        A session whose token was revoked (or is not a console role) is deleted.
        """
        if not sid or len(sid) > _MAX_SID:
            raise SignedOut("sign in with a custodian or oversight token")
        digest = session_digest(sid)
        now = to_utc_naive(self.clock.now())
        with self.store.read() as conn:
            row = conn.execute(
                select(console_sessions.c.token_id, console_sessions.c.seen_utc).where(
                    console_sessions.c.session_sha256 == digest,
                    console_sessions.c.seen_utc >= now - timedelta(seconds=IDLE),
                )
            ).first()
            who = live_principal(conn, row.token_id) if row is not None else None
        if row is None:
            raise SignedOut("sign in with a custodian or oversight token")
        if who is None or who.role not in CONSOLE_ROLES:
            self.close(sid)
            raise SignedOut("the session's token is no longer valid; sign in again")
        if now - row.seen_utc >= timedelta(seconds=TOUCH):
            with self.store.write() as conn:
                self._expire(conn, now)
                conn.execute(
                    update(console_sessions)
                    .where(console_sessions.c.session_sha256 == digest)
                    .values(seen_utc=now)
                )
        return who

    def close(self, sid: str) -> None:
        """End a session (sign-out); ending one already gone is a no-op."""
        if not sid:
            return
        with self.store.write() as conn:
            conn.execute(
                delete(console_sessions).where(console_sessions.c.session_sha256 == session_digest(sid))
            )

    @staticmethod
    def _expire(conn: Connection, now: datetime) -> None:
        """Delete sessions idle too long (the lookup ignores them anyway; this keeps the table small)."""
        conn.execute(
            delete(console_sessions).where(console_sessions.c.seen_utc < now - timedelta(seconds=IDLE))
        )
