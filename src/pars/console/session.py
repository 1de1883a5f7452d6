"""Console sign-in: a session per browser kept in the store, a CSRF token per session.

The browser holds only a random session id in an HttpOnly, SameSite=Strict cookie
(Secure over https). The store's ``console_sessions`` row holds the SHA-256 of that
id and the ``token_id`` of the API token it was opened with, so any ``pars serve``
process, or one restarted, finds the session; a stolen copy of the table signs no
one in. The token itself is kept nowhere: every request re-reads its
``gate_tokens`` row (``pars.gate.tokens.live_principal``), so a revoked token ends
its sessions at their next request. A session idle for ``IDLE`` seconds is gone
(the lookup's query says so; expired rows are deleted as sessions open and are
touched).

Every POST carries the session's CSRF token in a hidden field. The token is
derived, not stored: HMAC-SHA256 keyed by the session id (``csrf_token``). Any
process that sees the cookie can recompute it, so there is no server key to share
among processes or to keep out of the database, and the row (which holds only
the id's SHA-256) is no help in forging it; a CSRF token read from a page does not
give back the session id.

Rule: only custodian and oversight tokens open a session; a partner token never
does (partners see records only through the gate's API). Never store the session
id or the token: only ``session_sha256`` and ``token_id``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import parse_qs

from fastapi import Request
from sqlalchemy import Connection, delete, insert, select, update
from starlette.concurrency import run_in_threadpool

from pars.clock import Clock, to_utc_naive
from pars.gate import Principal
from pars.gate.errors import Unauthorized
from pars.gate.tokens import live_principal
from pars.store.db import Store
from pars.store.schema.console import console_sessions
from pars.web.deps import Services

COOKIE = "pars_console"
PRE_COOKIE = "pars_console_signin"
CONSOLE_ROLES = ("custodian", "oversight")
#: Seconds a session lives without use.
IDLE = 8 * 3600
#: Seconds between writes of a session's last use: most console requests (the live
#: page polls) only read, and never wait for the store's one writer. So a session
#: may end up to this many seconds short of ``IDLE`` after its true last use.
TOUCH = 60
#: Largest console form body read.
MAX_FORM = 16 * 1024
#: Longest cookie value looked up (``secrets.token_urlsafe(32)`` gives 43 characters).
_MAX_SID = 128
_CSRF_LABEL = b"pars console csrf v1"


class SignedOut(Exception):
    """No live console session: pages redirect to sign-in, the JSON API answers 401."""


class NotAllowed(Exception):
    """The session's role may not do this (403)."""


class BadForm(Exception):
    """A POST without the session's CSRF token, or a form that cannot be read (403/400)."""


def session_digest(sid: str) -> str:
    """What the store keeps of a session id: its SHA-256, hex."""
    return hashlib.sha256(sid.encode()).hexdigest()


def csrf_token(sid: str) -> str:
    """The session's CSRF token: HMAC-SHA256 keyed by the session id (see the module docstring)."""
    mac = hmac.new(sid.encode(), _CSRF_LABEL, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


@dataclass(frozen=True)
class Sessions:
    """Console sessions in the store's ``console_sessions`` table (blocking calls).

        sessions = Sessions(store, clock)
        sid = sessions.open(principal.token_id)    # the cookie's value
        sessions.principal(sid)                    # on every request; SignedOut if ended

    Stateless itself: every process that opens the store sees the same sessions.
    """

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


def sessions(request: Request) -> Sessions:
    svc = services(request)
    return Sessions(svc.store, svc.clock)


def services(request: Request) -> Services:
    svc: Services = request.app.state.pars
    return svc


@dataclass(frozen=True)
class Viewer:
    """Who is using the console: the token's principal and the session's CSRF token."""

    principal: Principal
    csrf: str
    sid: str

    @property
    def role(self) -> str:
        return self.principal.role

    @property
    def user(self) -> str:
        return self.principal.user


async def check_token(svc: Services, token: str) -> Principal:
    """The principal of a console-capable token; ``SignedOut`` or ``NotAllowed`` otherwise."""
    try:
        who = await run_in_threadpool(svc.gate.authenticate, token)
    except Unauthorized:
        raise SignedOut("that token is not valid (revoked, mistyped or never issued)") from None
    if who.role not in CONSOLE_ROLES:
        raise NotAllowed("the console is for custodian and oversight tokens; partners use the API")
    return who


async def viewer(request: Request) -> Viewer:
    """The signed-in viewer (dependency of every console page and JSON endpoint)."""
    sid = request.cookies.get(COOKIE, "")
    who = await run_in_threadpool(sessions(request).principal, sid)
    info = request.scope.get("pars")
    if isinstance(info, dict):
        info["principal"] = who
    return Viewer(who, csrf_token(sid), sid)


def require(v: Viewer, *roles: str) -> None:
    if v.role not in roles:
        raise NotAllowed(f"this needs a {' or '.join(roles)} session; you are signed in as {v.role}")


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form body as single values (the last of repeated keys)."""
    raw = await request.body()
    if len(raw) > MAX_FORM:
        raise BadForm("the form is too large")
    try:
        parsed = parse_qs(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except (UnicodeDecodeError, ValueError):
        raise BadForm("the form could not be read") from None
    return {k: v[-1] for k, v in parsed.items()}


def check_csrf(v: Viewer, form: dict[str, str]) -> None:
    if not hmac.compare_digest(form.get("csrf", "").encode(), v.csrf.encode()):
        raise BadForm("the form's CSRF token is missing or stale; reload the page and try again")


def secure(request: Request) -> bool:
    return request.url.scheme == "https"
