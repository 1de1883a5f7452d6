"""Feed deliveries through the gate: new and changed arrests since a cursor.

    step = next_delivery(gate, principal, request, cursor)
    # step.kind: "data" (records + receipt), "idle", "skip" (nothing in scope) or "closed"

A cursor is an event ``seq``. Events after it name arrests; those in the
agreement's feed scope are redacted by the feed plan and delivered as one audit
entry (action ``feed``) in the same write transaction. Each step decides again at
the clock's now, so a terminated agreement's stream closes at its last second;
the closing denial is logged too (its receipt is the stream's last event). A
revoked token closes its streams at the next step.

Rule: a delivery is returned only with the receipt of the entry that logged it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import SQLAlchemyError

from pars.agreements.decide import AgreementVersion, decide
from pars.agreements.request import Request
from pars.audit import AuditWriteError
from pars.errors import ConfigError
from pars.gate.core import Draft, Gate
from pars.gate.errors import Unavailable, error_body
from pars.gate.tokens import Principal, token_live
from pars.gate.view import store_scope
from pars.store.queries import SearchQuery
from pars.store.schema import events

#: Events read per delivery; a backlog arrives in several deliveries.
BATCH_EVENTS = 200


@dataclass(frozen=True, slots=True)
class FeedStep:
    kind: str  # data | idle | skip | closed
    cursor: int
    body: dict[str, Any] = field(default_factory=dict)
    #: The instant after which the agreement stops serving (to wake a waiting stream).
    ends_at: datetime | None = None


def head_seq(conn: Connection) -> int:
    return int(conn.scalar(select(func.coalesce(func.max(events.c.seq), 0))) or 0)


def start_cursor(gate: Gate, last_event_id: str | None) -> int:
    """Where a stream starts: after ``Last-Event-ID`` if given, else after the newest event."""
    if last_event_id is not None:
        return int(last_event_id)
    with gate.store.read() as conn:
        return head_seq(conn)


def next_delivery(gate: Gate, principal: Principal, request: Request, cursor: int) -> FeedStep:
    """One step of a stream: deliver what is new after ``cursor``, or say why not."""
    assert principal.agreement_id is not None
    now = gate.clock.now()
    with gate.store.read() as conn:
        if not token_live(conn, principal.token_id):
            return FeedStep("closed", cursor, error_body("unauthorized", "the token was revoked"))
        version = gate.versions.serving(conn, principal.agreement_id, now)
        decision = decide(version, request, now)
        newest = head_seq(conn)
    if decision.allowed and newest <= cursor:
        return FeedStep("idle", cursor, ends_at=version.ends_at)
    try:
        with gate.writer, gate.store.write() as conn:
            # Decided and recorded at a time read under the log's lock: times never go backwards.
            gate.log.lock(conn)
            return _deliver(gate, conn, principal, request, cursor, gate.clock.now())
    except (AuditWriteError, SQLAlchemyError, OSError, ConfigError) as exc:
        raise Unavailable("the audit log could not record a feed delivery; the stream stops") from exc


def _deliver(
    gate: Gate, conn: Connection, principal: Principal, request: Request, cursor: int, now: datetime
) -> FeedStep:
    assert principal.agreement_id is not None
    version: AgreementVersion = gate.versions.serving(conn, principal.agreement_id, now)
    decision = decide(version, request, now)
    draft = Draft("feed", "GET /v1/feed", {k: getattr(request, k) for k in _TEXT})
    if not decision.allowed:
        broken = decision.violations
        entry = gate.entry_for(
            draft, principal, version, now, "deny", decision.status, decision.rule, violations=broken
        )
        appended = gate.log.append(conn, [entry])
        body = error_body("forbidden", decision.detail or decision.rule, decision.rule)
        body["receipt"] = appended.receipts()[0]
        return FeedStep("closed", cursor, body)
    rows = conn.execute(
        select(events.c.seq, events.c.arrest_id)
        .where(events.c.seq > cursor)
        .order_by(events.c.seq)
        .limit(BATCH_EVENTS)
    ).all()
    if not rows:
        return FeedStep("idle", cursor, ends_at=version.ends_at)
    last = int(rows[-1].seq)
    wanted = list(dict.fromkeys(str(r.arrest_id) for r in rows))
    plan = decision.plan
    assert plan is not None
    query = SearchQuery({"arrest_id": wanted}, (), len(wanted), store_scope(plan.scope))
    views, entry = gate.release(conn, draft, principal, version, now, decision, query, None)
    if not views:
        return FeedStep("skip", last, ends_at=version.ends_at)
    appended = gate.log.append(conn, [entry])
    body = {"results": views, "count": len(views), "receipt": appended.receipts()[0]}
    return FeedStep("data", last, body, ends_at=version.ends_at)


_TEXT = ("purpose", "case_number", "justification", "warrant")
