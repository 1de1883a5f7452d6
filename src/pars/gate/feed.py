"""Feed deliveries through the gate: new and changed arrests since a cursor.

    step = next_delivery(gate, principal, request, cursor)
    # step.kind: "data" (records + receipt), "idle", "skip" (nothing in scope) or "closed"

A stream starts at the ``cursor`` its open returned (``Gate.open_feed``; never
before the subscriber's own first delivery, see ``pars.gate.floors``). Events
after it name arrests; those in the agreement's feed scope are redacted by the
feed plan and delivered as one audit entry (action ``feed``). Each delivery is a
job on the gate's group commit, exactly like a search: decided again at the
clock's now, counted toward the agreement's rate limit, logged and committed
before it is sent. Over the rate limit, or once the agreement stops serving (a
terminated agreement's stream closes at its last second), the step is a logged
denial and the stream closes with its receipt. A revoked token closes its streams
at the next step.

Rule: a delivery is returned only with the receipt of the entry that logged it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from pars.agreements.decide import decide
from pars.agreements.ratelimit import counts
from pars.agreements.request import Request
from pars.audit import AuditEntry
from pars.gate.batch import Job
from pars.gate.core import Draft, Gate, Outcome
from pars.gate.errors import code_for, error_body
from pars.gate.floors import head_seq
from pars.gate.tokens import Principal, token_live
from pars.gate.view import store_scope
from pars.store.queries import SearchQuery, search
from pars.store.schema import events

#: Events read per delivery; a backlog arrives in several deliveries.
BATCH_EVENTS = 200
_TEXT = ("purpose", "case_number", "justification", "warrant")
#: A step that sent nothing (its ``cursor`` says whether events were passed over).
_NOTHING = 204


@dataclass(frozen=True, slots=True)
class FeedStep:
    kind: str  # data | idle | skip | closed
    cursor: int
    body: dict[str, Any] = field(default_factory=dict)
    #: The instant after which the agreement stops serving (to wake a waiting stream).
    ends_at: datetime | None = None


def next_delivery(gate: Gate, principal: Principal, request: Request, cursor: int) -> FeedStep:
    """One step of a stream: deliver what is new after ``cursor``, or say why not."""
    assert principal.agreement_id is not None
    now = gate.clock.now()
    with gate.store.read() as conn:
        if not token_live(conn, principal.token_id):
            return FeedStep("closed", cursor, error_body("unauthorized", "the token was revoked"))
        version = gate.versions.serving(conn, principal.agreement_id, now)
        serving = decide(version, request, now).allowed
        newest = head_seq(conn)
    if serving and newest <= cursor:
        return FeedStep("idle", cursor, ends_at=version.ends_at)  # nothing new: no write at all
    # Decided and recorded at a time read in the batch, under the log's lock (GroupCommit
    # takes it before any job runs): entry times never go backwards.
    job = Job(lambda conn: _deliver(gate, conn, principal, request, cursor, gate.clock.now()),
              Gate._lock(principal))  # fmt: skip
    outcome = gate.commits.submit(job)  # Unavailable if it could not be logged: the stream stops
    assert outcome.cursor is not None
    ends_at = outcome.version.ends_at if outcome.version is not None else None
    if outcome.status == 200:
        return FeedStep("data", outcome.cursor, outcome.body, ends_at)
    if outcome.status == _NOTHING:
        return FeedStep("idle" if outcome.cursor == cursor else "skip", outcome.cursor, ends_at=ends_at)
    return FeedStep("closed", cursor, outcome.body)


def _deliver(
    gate: Gate, conn: Connection, principal: Principal, request: Request, cursor: int, now: datetime
) -> tuple[Outcome, AuditEntry | None]:
    """The delivery job, in the batch's write transaction (under this user's lock)."""
    assert principal.agreement_id is not None
    version = gate.versions.serving(conn, principal.agreement_id, now)
    draft = Draft("feed", "GET /v1/feed", {k: getattr(request, k) for k in _TEXT})
    limited = version.document.search.rate_limit is not None
    in_window = Gate._in_window(conn, version, principal, now) if limited else 0
    decision = decide(version, request, now, requests_in_window=in_window)
    if not decision.allowed:
        if limited and counts(decision.rule):  # a logged refusal counts, as a search's does
            Gate._count(conn, principal, now)
        broken = decision.violations
        entry = gate.entry_for(
            draft, principal, version, now, "deny", decision.status, decision.rule, violations=broken
        )
        body = error_body(code_for(decision.status), decision.detail or decision.rule, decision.rule)
        return Outcome(decision.status, body, decision, request, version, cursor), entry
    rows = conn.execute(
        select(events.c.seq, events.c.arrest_id)
        .where(events.c.seq > cursor)
        .order_by(events.c.seq)
        .limit(BATCH_EVENTS)
    ).all()
    if not rows:
        return Outcome(_NOTHING, {}, decision, request, version, cursor), None
    last = int(rows[-1].seq)
    wanted = list(dict.fromkeys(str(r.arrest_id) for r in rows))
    plan = decision.plan
    assert plan is not None
    ids = search(conn, SearchQuery({"arrest_id": wanted}, (), len(wanted), store_scope(plan.scope)))
    if not ids:  # nothing in scope: nothing leaves, nothing to log or count
        return Outcome(_NOTHING, {}, decision, request, version, last), None
    views, entry = gate._release(conn, draft, principal, version, now, decision, ids, None)
    if limited:
        Gate._count(conn, principal, now)
    return Outcome(200, {"results": views, "count": len(views)}, decision, request, version, last), entry
