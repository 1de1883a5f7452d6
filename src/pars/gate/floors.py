"""Where a feed stream may start: never before the subscriber's own first delivery.

A subscriber is one (agreement, user). The first time it opens the feed, the
newest event ``seq`` is kept in ``gate_feed_floors``; every later stream starts
after ``max(Last-Event-ID, that floor)``, and never past the newest event. An
agreement serves nothing before its term starts, so a subscriber's first open,
and with it the floor, always lies after the agreement's feed start: no
``Last-Event-ID`` can replay what was booked before either (CONTRACT section 4).

Rule: called only inside the gate's write transaction that logs the open.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, insert, select

from pars.clock import to_utc_naive
from pars.store.schema import events
from pars.store.schema.gate import gate_feed_floors


def head_seq(conn: Connection) -> int:
    """The newest event's ``seq`` (0 when there are none)."""
    return int(conn.scalar(select(func.coalesce(func.max(events.c.seq), 0))) or 0)


def open_cursor(conn: Connection, agreement_id: str, user: str, now: datetime, resume: int | None) -> int:
    """The cursor a stream opened at ``now`` starts after (see the module docstring)."""
    head = head_seq(conn)
    q = select(gate_feed_floors.c.first_seq).where(
        gate_feed_floors.c.agreement_id == agreement_id, gate_feed_floors.c.user == user
    )
    floor = conn.scalar(q)
    if floor is None:
        # The batch holds this (agreement, user)'s lock (advisory on PostgreSQL, the one
        # writer on SQLite), so no concurrent first open can insert the row meanwhile.
        conn.execute(
            insert(gate_feed_floors).values(
                agreement_id=agreement_id, user=user, first_seq=head, first_utc=to_utc_naive(now)
            )
        )
        floor = head
    if resume is None:
        return head
    return min(max(resume, int(floor)), head)
