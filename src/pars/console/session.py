"""Console sign-in: a server-side session per browser, a CSRF token per session.

The browser holds only a random session id in an HttpOnly, SameSite=Strict cookie
(Secure over https); the API token it was opened with stays on the server and is
re-checked through the gate on every request, so a revoked token ends the session.
Every POST carries the session's CSRF token in a hidden field.

Rule: only custodian and oversight tokens open a session; a partner token never
does (partners see records only through the gate's API).
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from pars.gate import Principal
from pars.gate.errors import Unauthorized
from pars.web.deps import Services

COOKIE = "pars_console"
PRE_COOKIE = "pars_console_signin"
CONSOLE_ROLES = ("custodian", "oversight")
#: Seconds a session lives without use.
IDLE = 8 * 3600
#: Largest console form body read.
MAX_FORM = 16 * 1024


class SignedOut(Exception):
    """No live console session: pages redirect to sign-in, the JSON API answers 401."""


class NotAllowed(Exception):
    """The session's role may not do this (403)."""


class BadForm(Exception):
    """A POST without the session's CSRF token, or a form that cannot be read (403/400)."""


@dataclass
class Session:
    token: str
    csrf: str
    seen: float


@dataclass
class Sessions:
    """Open console sessions of one app (in memory: ``pars serve`` runs one process)."""

    by_id: dict[str, Session] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, token: str) -> tuple[str, Session]:
        sid = secrets.token_urlsafe(32)
        session = Session(token, secrets.token_urlsafe(32), time.monotonic())
        with self.lock:
            self._expire()
            self.by_id[sid] = session
        return sid, session

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        with self.lock:
            self._expire()
            session = self.by_id.get(sid)
            if session is not None:
                session.seen = time.monotonic()
            return session

    def close(self, sid: str | None) -> None:
        with self.lock:
            self.by_id.pop(sid or "", None)

    def _expire(self) -> None:
        now = time.monotonic()
        for sid in [s for s, v in self.by_id.items() if now - v.seen > IDLE]:
            del self.by_id[sid]


def sessions(request: Request) -> Sessions:
    state = request.app.state
    found = getattr(state, "console_sessions", None)
    if found is None:
        found = Sessions()
        state.console_sessions = found
    return found


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
    sid = request.cookies.get(COOKIE)
    session = sessions(request).get(sid)
    if session is None or sid is None:
        raise SignedOut("sign in with a custodian or oversight token")
    try:
        who = await check_token(services(request), session.token)
    except (SignedOut, NotAllowed):
        sessions(request).close(sid)
        raise SignedOut("the session's token is no longer valid; sign in again") from None
    info = request.scope.get("pars")
    if isinstance(info, dict):
        info["principal"] = who
    return Viewer(who, session.csrf, sid)


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
