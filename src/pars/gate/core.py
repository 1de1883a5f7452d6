"""The gate: the one path by which any record reaches an outside party.

    gate = Gate(store, AuditLog.open(), clock)
    principal = gate.authenticate(token)              # Unauthorized if not a live token
    outcome = gate.search(principal, body)            # Outcome(status, body with receipt)

Each partner request runs in ONE write transaction: serving version, rate count,
decide(), the store query with the plan, warrant check, redaction, the audit
entry, the append. Concurrent requests share that transaction, its append and
its commit (``pars.gate.batch``: group commit), never a request's own steps.
Every request that reaches a partner route becomes exactly one entry (allowed,
denied, malformed, rate-limited, not found alike) and its answer carries the
receipt. A read of an arrest outside the scope answers exactly like a read of
one that does not exist (404, rule ``not_found``, the same entry shape).

Rate limits count per agreement AND user over the agreement's window, from the
``gate_requests`` rows written in the same transaction; on PostgreSQL a
transaction advisory lock per (agreement, user) makes the count exact (SQLite's
BEGIN IMMEDIATE already serialises writers). Searches and reads are counted under
versions that set a limit; requests refused by the rate limit itself do not
count, so a client that keeps knocking is let back in after the window.
Malformed requests count like any other (a client cannot probe for free). Every
request still adds exactly one entry, and every entry is bounded
(``pars.audit.entry``: free text committed, at most 16 filters of 20 values,
never over 65,535 bytes), so no request, however large, adds more than that.

Rule: nothing is returned unless its audit entry was appended in the transaction
that read it; if the append fails the request fails (``Unavailable``, HTTP 503).
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from itertools import islice
from typing import Any

from sqlalchemy import Connection, delete, func, insert, select

from pars.agreements.decide import PERIOD_SECONDS, AgreementVersion, Decision, decide
from pars.agreements.ratelimit import RULE_MALFORMED, counts, window_start
from pars.agreements.request import Request
from pars.agreements.warrants import warranted_arrests
from pars.audit import AuditEntry, AuditLog, build_entry
from pars.audit.entry import MAX_FILTERS, MAX_LIST, EntryTooLarge
from pars.audit.entry import Decision as EntryDecision
from pars.clock import Clock, to_utc_naive
from pars.errors import InvalidInput, NotFound
from pars.gate.batch import GroupCommit, Job
from pars.gate.errors import Forbidden, Unauthorized, code_for, error_body
from pars.gate.floors import open_cursor
from pars.gate.tokens import Principal, authenticate, still_live, token_digest
from pars.gate.versions import COUNT_COLUMNS, VersionCache
from pars.gate.view import redact_all, returned_paths, seen_people, store_scope
from pars.store.db import Store
from pars.store.queries import SearchQuery, load_records, search
from pars.store.schema.gate import gate_requests

#: Tokens whose principal ``Gate.identify`` remembers (the cache is emptied when full).
_MAX_IDENTITIES = 4096
#: Results when neither the request nor the agreement sets a limit, and the hard cap.
DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
RULE_NOT_FOUND = "not_found"
RULE_ROLE = "token.role"
_TEXT_KEYS = ("purpose", "case_number", "justification", "warrant")


@dataclass(frozen=True, slots=True)
class Outcome:
    """A logged answer: HTTP status and body (records or error, always with ``receipt``)."""

    status: int
    body: dict[str, Any]
    decision: Decision | None = None
    request: Request | None = None
    version: AgreementVersion | None = None
    #: Feed only: the event ``seq`` the stream continues after.
    cursor: int | None = None


@dataclass(slots=True)
class Draft:
    """What the entry will say; filled in as the request goes through the gate."""

    action: str
    route: str
    request_fields: dict[str, Any] = field(default_factory=dict)
    filters: Mapping[str, object] = field(default_factory=dict)
    sort: Sequence[str] | None = None
    limit: int | None = None


def _raw_text(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The request's text fields as logged when the request itself was malformed."""
    out: dict[str, Any] = {}
    for key in _TEXT_KEYS:
        v = raw.get(key)
        out[key] = v.strip()[:2000] or None if isinstance(v, str) else None
    return out


def _scalar(v: object) -> bool:
    return isinstance(v, str) or (isinstance(v, int | float) and not isinstance(v, bool) and abs(v) < 2**53)


def loggable_filters(raw: object) -> dict[str, object]:
    """Filters of a request as the entry may hold them (the entry hashes personal ones).

    A value that is not a scalar or a list of scalars is logged only as a keyed
    hash (an object is always hashed), so nothing odd is ever logged in clear.
    """
    if not isinstance(raw, Mapping):
        return {}
    out: dict[str, object] = {}
    for name, value in islice(raw.items(), MAX_FILTERS):  # the entry records no more
        if isinstance(value, list):
            value = value[:MAX_LIST]
        ok = _scalar(value) or (isinstance(value, list) and all(_scalar(v) for v in value))
        out[str(name)] = value if ok else {"value": repr(value)[:2000]}
    return out


def _answered(outcome: Outcome) -> Outcome:
    """The job's outcome, or ``Unauthorized`` for a token found dead in the job (not logged)."""
    if outcome.status == 401 and "receipt" not in outcome.body:
        raise Unauthorized("a valid bearer token is required")
    return outcome


def _lock_key(agreement_id: str, user: str) -> int:
    digest = hashlib.sha256(f"pars-gate\x00{agreement_id}\x00{user}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


class Gate:
    """Decides, queries, redacts and logs every partner request (see the module docstring)."""

    def __init__(self, store: Store, log: AuditLog, clock: Clock, *, leaders: int = 1) -> None:
        """``leaders``: concurrent group-commit batches on PostgreSQL. One is best on a
        small host (measured: bigger batches, lower p99); more pay off when round
        trips to a remote database dominate. SQLite always has one writer."""
        self.store = store
        self.log = log
        self.clock = clock
        self.versions = VersionCache()
        # SQLite has one writer at a time: queue this process's requests on a lock
        # rather than in SQLite's busy handler, which sleeps in coarse steps.
        self.writer: AbstractContextManager[object] = threading.Lock() if store.is_sqlite else nullcontext()
        self.commits = GroupCommit(store, log, self.writer, max_leaders=1 if store.is_sqlite else leaders)
        # Token digest -> the principal it named when first authenticated. A token's id,
        # role, user and agreement never change; only whether it is live does, and
        # every partner request checks that in its own transaction (``still_live``).
        self._identities: dict[str, Principal] = {}

    # --- who is asking -------------------------------------------------------

    def authenticate(self, token: str | None) -> Principal:
        with self.store.read() as conn:
            principal = authenticate(conn, token)
        if principal is None:
            raise Unauthorized("a valid bearer token is required")
        return principal

    def known(self, token: str | None) -> Principal | None:
        """``identify``'s answer when it needs no database (a token seen before), else None."""
        return self._identities.get(token_digest(token)) if token else None

    def identify(self, token: str | None) -> Principal:
        """Who a partner route's bearer token names, without a transaction of its own
        once the token has been seen: the request's job checks, in the request's own
        transaction, that the token is still live and names the same principal
        (a revoked token gets the same 401, unlogged). Unknown tokens go through
        ``authenticate``."""
        digest = token_digest(token) if token else None
        known = self._identities.get(digest) if digest is not None else None
        if known is not None:
            return known
        principal = self.authenticate(token)
        if digest is not None:
            if len(self._identities) >= _MAX_IDENTITIES:
                self._identities.clear()
            self._identities[digest] = principal
        return principal

    @staticmethod
    def require_role(principal: Principal, *roles: str) -> None:
        if principal.role not in roles:
            raise Forbidden(f"this route needs a {' or '.join(roles)} token", RULE_ROLE)

    # --- partner requests ----------------------------------------------------

    def search(
        self, principal: Principal, body: Any, route: str = "POST /v1/search", *, malformed: str | None = None
    ) -> Outcome:
        """``POST /v1/search``; ``malformed`` names why the body could not even be read."""
        return _answered(self.commits.submit(self._search_job(principal, body, route, malformed)))

    async def search_async(
        self, principal: Principal, body: Any, route: str = "POST /v1/search", *, malformed: str | None = None
    ) -> Outcome:
        """``search`` from an event loop: the same job in the same batches, awaited."""
        return _answered(await self.commits.submit_async(self._search_job(principal, body, route, malformed)))

    def _search_job(self, principal: Principal, body: Any, route: str, malformed: str | None) -> Job:
        raw = body if isinstance(body, Mapping) else {}
        draft = Draft("search", route, _raw_text(raw))
        draft.filters = loggable_filters(raw.get("filters"))

        def parse() -> Request:
            if malformed is not None:
                raise InvalidInput(malformed)
            if not isinstance(body, Mapping):
                raise InvalidInput("body: must be a JSON object")
            return Request.search(body)

        return self._job(principal, draft, parse)

    def read(
        self, principal: Principal, arrest_id: str, params: Mapping[str, Any], route: str = ""
    ) -> Outcome:
        return _answered(self.commits.submit(self._read_job(principal, arrest_id, params, route)))

    async def read_async(
        self, principal: Principal, arrest_id: str, params: Mapping[str, Any], route: str = ""
    ) -> Outcome:
        """``read`` from an event loop: the same job in the same batches, awaited."""
        return _answered(await self.commits.submit_async(self._read_job(principal, arrest_id, params, route)))

    def _read_job(self, principal: Principal, arrest_id: str, params: Mapping[str, Any], route: str) -> Job:
        draft = Draft("read", route or "GET /v1/arrests/{arrest_id}", _raw_text(params))
        draft.filters = {"arrest_id": arrest_id}
        return self._job(principal, draft, lambda: Request.read(arrest_id, params))

    def open_feed(
        self,
        principal: Principal,
        params: Mapping[str, Any],
        route: str = "GET /v1/feed",
        *,
        malformed: str | None = None,
        last_event_id: int | None = None,
    ) -> Outcome:
        """Subscribe to the feed: decided, counted and logged like any request (action
        ``feed``); an allowed open's ``cursor`` is where its stream starts
        (``pars.gate.floors``: never before the subscriber's own first delivery)."""
        draft = Draft("feed", route, _raw_text(params))

        def parse() -> Request:
            if malformed is not None:
                raise InvalidInput(malformed)
            return Request.feed(params)

        return self._serve(principal, draft, parse, last_event_id)

    def _serve(
        self, principal: Principal, draft: Draft, parse: Callable[[], Request], resume: int | None = None
    ) -> Outcome:
        return _answered(self.commits.submit(self._job(principal, draft, parse, resume)))

    def _job(
        self, principal: Principal, draft: Draft, parse: Callable[[], Request], resume: int | None = None
    ) -> Job:
        # The clock is read when the job runs, inside its batch's transaction and under the
        # log's lock (see GroupCommit): the decision's time is the entry's recorded time,
        # and entry times never go backwards along the log.
        def run(conn: Connection) -> tuple[Outcome, AuditEntry | None]:
            # The token's liveness and the agreement history's counts in one statement.
            live, counts = still_live(conn, principal, COUNT_COLUMNS, (principal.agreement_id or "",) * 3)
            if not live:  # revoked since it was authenticated: a 401, nothing logged
                return Outcome(401, error_body("unauthorized", "a valid bearer token is required")), None
            history = (int(counts[0]), int(counts[1]), int(counts[2]))
            return self._decide_and_fetch(conn, principal, draft, parse, self.clock.now(), resume, history)

        return Job(run, self._lock(principal))

    @staticmethod
    def _lock(principal: Principal) -> int | None:
        if principal.role == "partner" and principal.agreement_id is not None:
            return _lock_key(principal.agreement_id, principal.user)
        return None

    def _serve_job(self, principal: Principal, body: Mapping[str, Any]) -> Job:
        """A search as a job not yet submitted (tests of group commit)."""
        draft = Draft("search", "POST /v1/search", _raw_text(body))
        return self._job(principal, draft, lambda: Request.search(body))

    def _decide_and_fetch(
        self,
        conn: Connection,
        principal: Principal,
        draft: Draft,
        parse: Callable[[], Request],
        now: datetime,
        resume: int | None = None,
        history: tuple[int, int, int] | None = None,
    ) -> tuple[Outcome, AuditEntry]:
        if principal.role != "partner" or principal.agreement_id is None:
            msg = "this route needs a partner token"
            return self._denied(draft, principal, None, now, 403, RULE_ROLE, msg)
        agreement_id = principal.agreement_id
        try:
            version = self.versions.serving(conn, agreement_id, now, history)
        except NotFound:
            return self._denied(draft, principal, None, now, 403, "agreement", "the agreement is not on file")
        # The batch holds this (agreement, user)'s advisory lock on PostgreSQL: the count is exact.
        # Feed opens and deliveries count like searches and reads (CONTRACT section 4).
        limited = version.document.search.rate_limit is not None
        try:
            req = parse()
        except InvalidInput as exc:
            if limited and counts(RULE_MALFORMED):
                self._count(conn, principal, now)
            return self._denied(draft, principal, version, now, 422, RULE_MALFORMED, str(exc))
        draft.request_fields = {k: getattr(req, k) for k in _TEXT_KEYS}
        if req.action == "search":
            draft.filters, draft.sort = loggable_filters(req.filters), list(req.sort)
        in_window = self._in_window(conn, version, principal, now) if limited else 0
        decision = decide(version, req, now, requests_in_window=in_window)
        if limited and counts(decision.rule):
            self._count(conn, principal, now)
        if not decision.allowed:
            return self._denied(
                draft, principal, version, now, decision.status, decision.rule, decision.detail, decision, req
            )
        if req.action == "feed":
            cursor = open_cursor(conn, agreement_id, principal.user, now, resume)
            entry = self.entry_for(draft, principal, version, now, "allow", 200, decision.rule)
            return Outcome(200, {"feed": "open"}, decision, req, version, cursor), entry
        plan = decision.plan
        assert plan is not None  # an allow always carries its plan
        limit = min(decision.limit or DEFAULT_LIMIT, MAX_LIMIT)
        filters = dict(req.filters) if req.action == "search" else {"arrest_id": req.arrest_id}
        draft.limit = limit if req.action == "search" else None
        query = SearchQuery(filters, req.sort, limit, store_scope(plan.scope))
        try:
            ids = search(conn, query)
        except InvalidInput as exc:
            return self._denied(draft, principal, version, now, 422, RULE_MALFORMED, str(exc), decision, req)
        views, entry = self._release(conn, draft, principal, version, now, decision, ids, req.warrant)
        if req.action == "read" and not views:
            # Out of scope and non-existent answer alike: nothing here may tell them apart.
            msg = f"no arrest {req.arrest_id!r}"
            return self._denied(draft, principal, version, now, 404, RULE_NOT_FOUND, msg, decision, req)
        body: dict[str, Any] = (
            {"record": views[0]}
            if req.action == "read"
            else {
                "results": views,
                "count": len(views),
            }
        )
        return Outcome(200, body, decision, req, version), entry

    def _release(
        self,
        conn: Connection,
        draft: Draft,
        principal: Principal,
        version: AgreementVersion,
        now: datetime,
        decision: Decision,
        ids: Sequence[str],
        warrant: str | None,
    ) -> tuple[list[dict[str, Any]], AuditEntry]:
        """Load the arrests the plan's query found, redact, and the allow entry naming
        exactly what would leave.

        Private to the gate: searches, reads and feed deliveries all release records
        here, and only from inside a ``GroupCommit`` job, which returns this entry
        and so always has it appended, in the transaction that read the records,
        before the job's answer is released.
        """
        plan = decision.plan
        assert plan is not None  # an allow always carries its plan
        records = load_records(conn, ids)
        warranted = warranted_arrests(conn, warrant, ids, now, agreement_id=version.agreement_id)
        got, full, views = redact_all(ids, records, plan, warranted, self.log.keys.hmac_key)
        while True:
            try:
                entry = self.entry_for(
                    draft,
                    principal,
                    version,
                    now,
                    "allow",
                    200,
                    decision.rule,
                    arrest_ids=got,
                    person_ids=seen_people(full, plan),
                    fields=returned_paths(views),
                )
            except EntryTooLarge:
                # The entry names everything that leaves and may not pass 65,535 bytes:
                # answer with fewer records (the first ones, in order) rather than fail.
                if len(views) <= 1:
                    raise
                keep = len(views) // 2
                got, full, views = got[:keep], full[:keep], views[:keep]
                continue
            return views, entry

    # --- rate counting -------------------------------------------------------

    @staticmethod
    def _in_window(conn: Connection, version: AgreementVersion, principal: Principal, now: datetime) -> int:
        rl = version.document.search.rate_limit
        if rl is None:
            return 0
        since = to_utc_naive(window_start(now, rl.per))
        q = select(func.count()).where(
            gate_requests.c.agreement_id == version.agreement_id,
            gate_requests.c.user == principal.user,
            # No upper bound: a request committed before this one counts even if its
            # clock read was a moment later (concurrent requests read the clock first).
            gate_requests.c.at_utc > since,
        )
        return int(conn.scalar(q) or 0)

    @staticmethod
    def _count(conn: Connection, principal: Principal, now: datetime) -> None:
        if principal.agreement_id is None:
            return
        result = conn.execute(
            insert(gate_requests).values(
                agreement_id=principal.agreement_id, user=principal.user, at_utc=to_utc_naive(now)
            )
        )
        row_id = result.inserted_primary_key[0] if result.inserted_primary_key else None
        if row_id is not None and row_id % PRUNE_EVERY == 0:
            _prune_counted(conn, now)

    # --- entries -------------------------------------------------------------

    def _denied(
        self,
        draft: Draft,
        principal: Principal,
        version: AgreementVersion | None,
        now: datetime,
        status: int,
        rule: str,
        message: str,
        decision: Decision | None = None,
        req: Request | None = None,
    ) -> tuple[Outcome, AuditEntry]:
        verdict: EntryDecision = "error" if status == 422 else "deny"
        # Every clause the request broke, when decide() is what denied it (CONTRACT 6).
        listed = decision.violations if decision is not None and decision.rule == rule else ()
        entry = self.entry_for(draft, principal, version, now, verdict, status, rule, violations=listed)
        body = error_body(code_for(status), message or rule, rule)
        return Outcome(status, body, decision, req, version), entry

    def entry_for(
        self,
        draft: Draft,
        principal: Principal,
        version: AgreementVersion | None,
        now: datetime,
        decision: EntryDecision,
        status: int,
        rule: str | None,
        *,
        arrest_ids: Sequence[str] = (),
        person_ids: Sequence[str] = (),
        fields: Sequence[str] = (),
        violations: Sequence[str] = (),
    ) -> AuditEntry:
        return build_entry(
            hmac_key=self.log.keys.hmac_key,
            time=now,
            kind="access",
            action=draft.action,
            decision=decision,
            status=status,
            agreement_id=principal.agreement_id,
            agreement_version=version.hash if version else None,
            agency=version.partner if version else None,
            user=principal.user,
            route=draft.route,
            filters=draft.filters,
            sort=draft.sort,
            limit=draft.limit,
            rule=rule,
            arrest_ids=arrest_ids,
            person_ids=person_ids,
            fields=fields,
            violations=violations,
            **draft.request_fields,
        )


#: ``gate_requests`` only counts requests for rate limits (the audit log is the
#: record of them), so rows older than the longest window, plus a margin for clock
#: skew between concurrent requests, are pruned: every ``PRUNE_EVERY``-th counted
#: request deletes up to ``PRUNE_BATCH`` of the oldest such rows, in the request's
#: transaction. The table stays about as small as the traffic of one window.
PRUNE_EVERY = 256
PRUNE_BATCH = 2048
KEEP_COUNTED = timedelta(seconds=max(PERIOD_SECONDS.values()), hours=1)


def _prune_counted(conn: Connection, now: datetime) -> int:
    """Delete up to ``PRUNE_BATCH`` of the oldest counted requests no window can see."""
    oldest = select(gate_requests.c.id).order_by(gate_requests.c.id).limit(PRUNE_BATCH)
    result = conn.execute(
        delete(gate_requests).where(
            gate_requests.c.id.in_(oldest),
            gate_requests.c.at_utc < to_utc_naive(now - KEEP_COUNTED),
        )
    )
    return int(result.rowcount or 0)
