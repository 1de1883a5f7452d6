"""The warrants registry: judicial warrants on file, by reference, arrest and agreement.

A warrant is filed for one agreement's requests (CONTRACT section 7). A request
cites it by reference; the gate asks ``warranted_arrests`` which of the arrests it
is about to return that reference covers, for the request's own agreement, at
that instant, and shows the plan's ``warrant_groups`` on those records only.

Rule: a warrant covers exactly the arrests and the agreement it was filed for,
from the second it was added until its expiry (inclusive); nothing else makes a
gated group visible. Warrants filed before warrants named an agreement (revision
0010_warrants) have agreement "" and cover nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, and_, insert, or_, select

from pars.clock import Clock, to_utc_naive
from pars.errors import InvalidInput, NotFound
from pars.store.db import Store
from pars.store.schema.agreements import agreements, warrants
from pars.store.schema.records import arrests


@dataclass(frozen=True)
class Warrant:
    reference: str
    arrest_id: str
    agreement_id: str
    issued_by: str
    expires_at: datetime | None
    added: bool


def add_warrant(
    store: Store,
    clock: Clock,
    *,
    arrest_id: str,
    reference: str,
    issued_by: str,
    agreement_id: str,
    expires_at: datetime | None = None,
    by: str,
) -> Warrant:
    """Put a warrant on file for one arrest and one agreement; the same warrant again is a no-op."""
    reference, arrest_id, issued_by = reference.strip(), arrest_id.strip(), issued_by.strip()
    agreement_id = agreement_id.strip()
    for name, value in (
        ("reference", reference),
        ("arrest", arrest_id),
        ("issued_by", issued_by),
        ("agreement", agreement_id),
    ):
        if not value:
            raise InvalidInput(f"{name}: required")
    now = clock.now()
    if expires_at is not None:
        if expires_at.tzinfo is None:
            raise InvalidInput("expires: not an ISO 8601 time with an offset")
        if expires_at <= now:
            raise InvalidInput(f"expires: {expires_at.isoformat()} has already passed")
    with store.write() as conn:
        exists = conn.execute(select(arrests.c.arrest_id).where(arrests.c.arrest_id == arrest_id)).first()
        if exists is None:
            raise NotFound(f"arrest: {arrest_id!r} is not on file")
        known = conn.execute(
            select(agreements.c.agreement_id).where(agreements.c.agreement_id == agreement_id)
        ).first()
        if known is None:
            raise NotFound(f"agreement: {agreement_id!r} is not on file")
        old = conn.execute(
            select(warrants).where(
                warrants.c.reference == reference,
                warrants.c.arrest_id == arrest_id,
                warrants.c.agreement_id == agreement_id,
            )
        ).first()
        if old is not None:
            same = old.issued_by == issued_by and old.expires_at == (
                expires_at.isoformat() if expires_at else None
            )
            if not same:
                raise InvalidInput(
                    f"reference: warrant {reference!r} is already on file for {arrest_id} "
                    f"under {agreement_id} with a different court or expiry"
                )
            return Warrant(reference, arrest_id, agreement_id, issued_by, expires_at, added=False)
        conn.execute(
            insert(warrants).values(
                reference=reference,
                arrest_id=arrest_id,
                agreement_id=agreement_id,
                issued_by=issued_by,
                expires_at=expires_at.isoformat() if expires_at else None,
                expires_utc=to_utc_naive(expires_at) if expires_at else None,
                added_at=now.isoformat(),
                added_utc=to_utc_naive(now),
                added_by=by,
            )
        )
    return Warrant(reference, arrest_id, agreement_id, issued_by, expires_at, added=True)


def warranted_arrests(
    conn: Connection,
    reference: str | None,
    arrest_ids: Iterable[str],
    at: datetime,
    *,
    agreement_id: str,
) -> frozenset[str]:
    """The arrests among ``arrest_ids`` that ``reference``, filed for ``agreement_id``, covers at ``at``."""
    ids = sorted(set(arrest_ids))
    if not reference or not ids or not agreement_id:
        return frozenset()
    t = to_utc_naive(at.replace(microsecond=0))
    rows = conn.execute(
        select(warrants.c.arrest_id).where(
            and_(
                warrants.c.reference == reference.strip(),
                warrants.c.agreement_id == agreement_id,
                warrants.c.arrest_id.in_(ids),
                warrants.c.added_utc <= to_utc_naive(at),
                or_(warrants.c.expires_utc.is_(None), warrants.c.expires_utc >= t),
            )
        )
    )
    return frozenset(rows.scalars())
