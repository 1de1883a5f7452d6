"""Replay: decide every logged request of a partner again under a draft version.

Input is any iterable of ``LoggedRequest`` (built from audit entries with
``logged_requests``); the CLI feeds it from a fixture file today and from
``pars.audit``'s entry iterator once that is wired. Pure: no I/O, no clock —
each request is re-decided at the time it was logged, with the rate-limit count
rebuilt from the replayed log itself.

Rule: replay never writes anything and never changes a stored decision; it
reports what *would* change.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from pars.agreements.decide import AgreementVersion, decide
from pars.agreements.ratelimit import RULE_MALFORMED, Windows
from pars.agreements.request import Request
from pars.clock import parse_instant
from pars.errors import InvalidInput

_ACTIONS = frozenset({"search", "read", "feed"})


@dataclass(frozen=True)
class MalformedRequest:
    """A partner request the gate answered 422 (``RULE_MALFORMED``): never decided, so
    replay does not decide it either, but it counts toward the rate limit as it did
    at the gate (``pars.agreements.ratelimit.counts``)."""

    index: int
    time: datetime
    agreement_id: str
    agency: str
    user: str


@dataclass(frozen=True)
class LoggedRequest:
    """One partner request as the audit log recorded it, with its original answer."""

    index: int
    time: datetime
    agreement_id: str
    agency: str
    user: str
    request: Request
    decision: str
    rule: str | None

    @classmethod
    def from_entry(cls, index: int, entry: Mapping[str, Any]) -> LoggedRequest | MalformedRequest | None:
        """The partner request an entry records; a ``MalformedRequest`` for one the gate
        answered 422; ``None`` for entries that are not partner requests (admin...)."""
        if entry.get("kind", "request") == "admin" or entry.get("action") not in _ACTIONS:
            return None
        who = {
            "agreement_id": str(entry.get("agreement_id") or ""),
            "agency": str(entry.get("agency") or ""),
            "user": str(entry.get("user") or ""),
        }
        try:
            time = parse_instant(str(entry["time"]))
        except (KeyError, TypeError, ValueError):
            return None
        if entry.get("rule") == RULE_MALFORMED:
            return MalformedRequest(index=index, time=time, **who)
        try:
            body: dict[str, Any] = {
                k: entry.get(k) for k in ("purpose", "case_number", "justification", "warrant")
            }
            body["action"] = entry["action"]
            if entry["action"] == "search":
                # Only names matter to decide(); logged values may be keyed hashes.
                body["filters"] = {name: "" for name in entry.get("filters") or {}}
                body["sort"] = list(entry.get("sort") or [])
                body["limit"] = entry.get("limit")
            elif entry["action"] == "read":
                # The gate logs the requested id as the read's filter (found or not).
                filters = entry.get("filters") or {}
                ids = entry.get("arrest_ids") or []
                requested = filters.get("arrest_id") if isinstance(filters, Mapping) else None
                body["arrest_id"] = requested or entry.get("arrest_id") or (ids[0] if ids else "?")
            request = Request.parse(body)
        except (KeyError, TypeError, ValueError, InvalidInput):
            return None
        return cls(
            index=index,
            time=time,
            request=request,
            decision=str(entry.get("decision") or ""),
            rule=entry.get("rule"),
            **who,
        )


def logged_requests(
    entries: Iterable[tuple[int, Mapping[str, Any]]],
) -> Iterator[LoggedRequest | MalformedRequest]:
    """Audit entries ``(index, entry)`` -> the partner requests among them."""
    for index, entry in entries:
        found = LoggedRequest.from_entry(index, entry)
        if found is not None:
            yield found


@dataclass(frozen=True)
class Change:
    index: int
    time: str
    user: str
    action: str
    before: dict[str, str | None]
    after: dict[str, str | None]


@dataclass
class ReplayReport:
    agreement_id: str
    agreement_version: str
    replayed: int = 0
    changed: int = 0
    allow_to_deny: int = 0
    deny_to_allow: int = 0
    rule_changed: int = 0
    changes: list[Change] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "agreement_id": self.agreement_id,
            "agreement_version": self.agreement_version,
            "replayed": self.replayed,
            "changed": self.changed,
            "allow_to_deny": self.allow_to_deny,
            "deny_to_allow": self.deny_to_allow,
            "rule_changed": self.rule_changed,
            "changes": [c.__dict__ for c in self.changes],
        }


def replay(
    draft: AgreementVersion,
    log: Iterable[LoggedRequest | MalformedRequest],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    ignore_term: bool = False,
) -> ReplayReport:
    """Re-decide the draft partner's logged requests in ``[start, end]`` under ``draft``.

    The draft is taken as approved (it is a what-if). ``ignore_term`` evaluates
    every clause but the term (each request at a time clamped into the draft's
    term), for a renewal whose term has not started yet.
    """
    draft = replace(draft, approved=True)
    report = ReplayReport(draft.agreement_id, draft.hash)
    rl = draft.document.search.rate_limit
    # The gate's own counting rules (pars.agreements.ratelimit): per (agreement, user),
    # a malformed request counts, and a request the limit refused does not. Every
    # replayed request is taken as made under the draft, so the agreement is the draft's.
    windows = Windows(rl.per) if rl else None
    first, last = draft.document.term.start, draft.ends_at
    for item in log:
        if item.agency != draft.partner and item.agreement_id != draft.agreement_id:
            continue
        if (start is not None and item.time < start) or (end is not None and item.time > end):
            continue
        if isinstance(item, MalformedRequest):
            # A 422 under any version: not decided, not reported, but counted as the gate did.
            if windows is not None:
                windows.record(draft.agreement_id, item.user, item.time, RULE_MALFORMED)
            continue
        count = windows.in_window(draft.agreement_id, item.user, item.time) if windows else 0
        now = min(max(item.time, first), last) if ignore_term else item.time
        after = decide(draft, item.request, now, requests_in_window=count)
        if windows is not None:
            windows.record(draft.agreement_id, item.user, item.time, after.rule)
        report.replayed += 1
        if after.decision != item.decision:
            report.changed += 1
            if after.allowed:
                report.deny_to_allow += 1
            else:
                report.allow_to_deny += 1
            report.changes.append(
                Change(
                    index=item.index,
                    time=item.time.isoformat(),
                    user=item.user,
                    action=item.request.action,
                    before={"decision": item.decision, "rule": item.rule},
                    after={"decision": after.decision, "rule": after.rule},
                )
            )
        elif after.rule != item.rule:
            report.rule_changed += 1
    return report
