"""Console sign-in: a session per browser kept in the store, a CSRF token per session.

The browser holds only a random session id in an HttpOnly, SameSite=Strict cookie
(Secure over https). The sessions themselves live in ``pars.services.sessions``
(``Services.sessions``): the store keeps only the SHA-256 of that id and the
``token_id`` it was opened with, so any ``pars serve`` process finds the session, and
a revoked token ends its sessions at their next request.

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
from dataclasses import dataclass
from urllib.parse import parse_qs

from fastapi import Request
from starlette.concurrency import run_in_threadpool

from pars.gate import Principal
from pars.gate.errors import Unauthorized
from pars.services.sessions import CONSOLE_ROLES, IDLE, TOUCH, ConsoleSessions, SignedOut, session_digest
from pars.web.deps import Services

COOKIE = "pars_console"
PRE_COOKIE = "pars_console_signin"
#: Largest console form body read.
MAX_FORM = 16 * 1024
_CSRF_LABEL = b"pars console csrf v1"


class NotAllowed(Exception):
    """The session's role may not do this (403)."""


class BadForm(Exception):
    """A POST without the session's CSRF token, or a form that cannot be read (403/400)."""


def csrf_token(sid: str) -> str:
    """The session's CSRF token: HMAC-SHA256 keyed by the session id (see the module docstring)."""
    mac = hmac.new(sid.encode(), _CSRF_LABEL, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def sessions(request: Request) -> ConsoleSessions:
    return services(request).sessions


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


__all__ = [
    "CONSOLE_ROLES",
    "COOKIE",
    "IDLE",
    "PRE_COOKIE",
    "TOUCH",
    "BadForm",
    "NotAllowed",
    "SignedOut",
    "Viewer",
    "session_digest",
]
