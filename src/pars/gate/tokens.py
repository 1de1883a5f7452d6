"""API tokens: issue (shown once), authenticate, revoke, list.

A token is ``pars_`` + 43 random URL-safe characters. Only its SHA-256 is stored,
with a short public ``token_id`` to name it in lists and revocations. A partner
token is bound to one agreement and one user; custodian and oversight tokens to a
role and a user. A partner token needs no expiry of its own: it dies with its
agreement's term, which decide() enforces (rule ``term.end``, logged), so the
partner sees the clause that ended its access.

Issuing and revoking each append an admin audit entry (the token's id, never
the token) in the same transaction, through the ``record_admin_event`` the
caller passes: no entry, no change.

Rule: never store, log or print a token after ``issue_token`` returned it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Connection, insert, select, update

from pars.agreements.service import AdminEventRecorder, admin_event
from pars.clock import Clock, to_utc_naive
from pars.errors import InvalidInput, NotFound
from pars.store.db import Store
from pars.store.schema.agreements import agreements
from pars.store.schema.gate import gate_tokens

Role = Literal["partner", "custodian", "oversight"]
ROLES: tuple[str, ...] = ("partner", "custodian", "oversight")
TOKEN_PREFIX = "pars_"  # noqa: S105 (a prefix, not a secret)
_TOKEN = re.compile(r"^pars_[A-Za-z0-9_-]{43}$")
_USER = re.compile(r"^[^\s\x00-\x1f][^\x00-\x1f]{0,199}$")


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is asking: the token's role and user, and for a partner its agreement."""

    token_id: str
    role: str
    user: str
    agreement_id: str | None = None


@dataclass(frozen=True, slots=True)
class TokenInfo:
    token_id: str
    role: str
    user: str
    agreement_id: str | None
    created: datetime
    revoked: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "token_id": self.token_id,
            "role": self.role,
            "user": self.user,
            "agreement_id": self.agreement_id,
            "created": self.created.isoformat(),
            "revoked": self.revoked.isoformat() if self.revoked else None,
        }


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(
    store: Store,
    clock: Clock,
    *,
    role: str,
    user: str,
    agreement_id: str | None = None,
    record_admin_event: AdminEventRecorder,
    by: str | None = None,
) -> tuple[str, TokenInfo]:
    """A new token (returned once) and what is stored about it.

    Its admin audit entry (never the token, only its id) is appended in the same
    transaction: no entry, no token. ``by`` is who issued it (default: ``user``).
    """
    if role not in ROLES:
        raise InvalidInput(f"role: must be one of {', '.join(ROLES)}")
    user = user.strip()
    if not _USER.match(user):
        raise InvalidInput("user: required, at most 200 printable characters")
    if (role == "partner") != (agreement_id is not None):
        raise InvalidInput("agreement: a partner token needs --agreement; other roles take none")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = secrets.token_hex(6)
    now = clock.now()
    with store.write() as conn:
        if agreement_id is not None:
            found = conn.execute(
                select(agreements.c.agreement_id).where(agreements.c.agreement_id == agreement_id)
            ).first()
            if found is None:
                raise NotFound(f"agreement {agreement_id!r}: no such agreement")
        conn.execute(
            insert(gate_tokens).values(
                token_id=token_id,
                token_sha256=token_digest(token),
                role=role,
                user=user,
                agreement_id=agreement_id,
                created_utc=to_utc_naive(now),
            )
        )
        record_admin_event(
            conn, _token_event(now, by or user, "token.issue", token_id, role, user, agreement_id)
        )
    return token, TokenInfo(token_id, role, user, agreement_id, now, None)


def _token_event(
    at: datetime, by: str, action: str, token_id: str, role: str, user: str, agreement_id: str | None
) -> dict[str, Any]:
    verb = "issued" if action == "token.issue" else "revoked"
    return admin_event(
        at=at,
        user=by,
        action=action,
        agreement_id=agreement_id,
        detail=f"{role} token {token_id} for {user} {verb}",
        extra={"token_id": token_id, "role": role, "for_user": user},
    )


def _live(conn: Connection, where: ColumnElement[bool]) -> tuple[Principal, str] | None:
    """The principal and stored digest of the token matching ``where``, if it is live."""
    row = conn.execute(
        select(
            gate_tokens.c.token_id,
            gate_tokens.c.token_sha256,
            gate_tokens.c.role,
            gate_tokens.c.user,
            gate_tokens.c.agreement_id,
            gate_tokens.c.revoked_utc,
        ).where(where)
    ).first()
    if row is None or row.revoked_utc is not None:
        return None
    return Principal(row.token_id, row.role, row.user, row.agreement_id), row.token_sha256


def authenticate(conn: Connection, token: str | None) -> Principal | None:
    """The principal of a live token, or None (missing, malformed, unknown or revoked)."""
    if not token or not _TOKEN.match(token):
        return None
    digest = token_digest(token)
    found = _live(conn, gate_tokens.c.token_sha256 == digest)
    if found is None or not hmac.compare_digest(found[1], digest):
        return None
    return found[0]


def live_principal(conn: Connection, token_id: str) -> Principal | None:
    """The principal of the live token with this id, or None (unknown or revoked).

    For callers that kept only the id of a token authenticated earlier (console
    sessions, open feed streams): the id names a token but proves nothing, so call
    this only for an id that ``authenticate`` returned.
    """
    found = _live(conn, gate_tokens.c.token_id == token_id)
    return None if found is None else found[0]


def token_live(conn: Connection, token_id: str) -> bool:
    """Whether the token with this id is still live (open feed streams re-check it)."""
    return live_principal(conn, token_id) is not None


def still_live(
    conn: Connection, principal: Principal, also: str = "", also_params: tuple[Any, ...] = ()
) -> tuple[bool, tuple[Any, ...]]:
    """Whether ``principal``'s token is live now and still names exactly this principal,
    read in ``conn``'s transaction on the driver (one primary-key probe, no statement
    building: it runs for every partner request, in the request's own transaction).

    ``also``: more columns (scalar subqueries with ``?`` marks, values ``also_params``)
    read in the same statement, so the same round trip; their values come second.
    """
    extra = f", {also}" if also else ""
    sql = (
        f'SELECT t.role, t."user", t.agreement_id{extra} FROM (SELECT 1 AS one) AS x '  # noqa: S608
        "LEFT JOIN gate_tokens t ON t.token_id = ? AND t.revoked_utc IS NULL"
    )
    sqlite = conn.dialect.name == "sqlite"
    raw: Any = conn.connection.driver_connection
    cur = raw.cursor()
    try:
        cur.execute(sql if sqlite else sql.replace("?", "%s"), (*also_params, principal.token_id))
        row = tuple(cur.fetchone())
    finally:
        cur.close()
    return row[:3] == (principal.role, principal.user, principal.agreement_id), row[3:]


def revoke_token(
    store: Store,
    clock: Clock,
    token_or_id: str,
    *,
    record_admin_event: AdminEventRecorder,
    by: str = "custodian",
) -> TokenInfo:
    """Revoke by token id or by the token itself; revoking twice is a no-op.

    The revocation's admin audit entry is appended in the same transaction.
    """
    key = token_or_id.strip()
    cond = (
        gate_tokens.c.token_sha256 == token_digest(key)
        if key.startswith(TOKEN_PREFIX)
        else (gate_tokens.c.token_id == key)
    )
    with store.write() as conn:
        row = conn.execute(select(gate_tokens).where(cond)).first()
        if row is None:
            raise NotFound("token: no such token")
        if row.revoked_utc is None:
            now = clock.now()
            conn.execute(
                update(gate_tokens)
                .where(gate_tokens.c.token_id == row.token_id)
                .values(revoked_utc=to_utc_naive(now))
            )
            record_admin_event(
                conn,
                _token_event(now, by, "token.revoke", row.token_id, row.role, row.user, row.agreement_id),
            )
        row = conn.execute(select(gate_tokens).where(gate_tokens.c.token_id == row.token_id)).one()
    return _info(row)


def list_tokens(store: Store) -> list[TokenInfo]:
    with store.read() as conn:
        rows = conn.execute(select(gate_tokens).order_by(gate_tokens.c.created_utc, gate_tokens.c.token_id))
        return [_info(r) for r in rows]


def _info(row: Any) -> TokenInfo:
    revoked = row.revoked_utc.replace(tzinfo=UTC) if row.revoked_utc is not None else None
    return TokenInfo(
        row.token_id, row.role, row.user, row.agreement_id, row.created_utc.replace(tzinfo=UTC), revoked
    )
