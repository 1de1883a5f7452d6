"""decide(): what one agreement version answers to one request at one instant.

Pure: a function of (version, request, now, requests_in_window) with no I/O and
no clock. The gate, ``pars agreements decide`` and ``replay`` all call it.

Clauses are checked in a fixed order and the first that denies names the
decision (deny beats allow; an allow is named ``allow``):

  term.start, term.end (a termination moves term.end), approvals, feed.enabled,
  purposes (then, for the feed, search.rate_limit), search.require.case_number,
  search.require.justification,
  search.rate_limit, then each filter and sort key in request order:
  filters.unknown.<name> / sort.unknown.<name> (names are exact: no case folding,
  no dotted paths, no wildcards), search.forbid_filters.<name> (an alias of a
  forbidden name too: arrested_from when arrested_at is forbidden),
  warrant_required.<group> (a field shown only on warranted records: a search
  spans records without the warrant), fields.hidden_filter.<path> (any other
  field not shown unmasked on every record: withheld, masked, or of a role the
  agreement does not list), then filters.unsearchable.<name> / sort.unsortable.<name>
  (a name the agreement allows but the store cannot serve: the registry in
  ``pars.records.fields``). A read filters by ``arrest_id``; a feed has neither
  filters nor search requirements.

Every violation is listed too (``Decision.violations``, in the same order; the
first is ``rule``, an unknown name's without the name): a request outside the
term that also filters on a forbidden field shows both, so oversight counts
each kind a request shows (CONTRACT 6).
Unknown filter and sort names are listed without the name the partner typed
(``filters.unknown``, ``sort.unknown``): free text never enters a leaf. An
allowed request has none; the full list is worked out only for a denial.

``search.max_results`` clamps (the effective limit is min(limit, max_results));
it never denies. ``roles``, ``scope`` and ``warrant_required`` also shape the
field plan and the query; the gate names ``scope`` when a record is outside it.

Rule: never add I/O or a clock read here; pass what the gate knows as values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Literal

from pars.agreements.document import AgreementDocument
from pars.agreements.plan import FieldPlan, VersionRules, build_rules
from pars.agreements.request import Request
from pars.records.fields import FILTERS, SEARCHABLE_FILTERS, SORTABLE

RULE_ALLOW = "allow"
RULE_SCOPE = "scope"

#: Seconds in each rate-limit period: the gate counts this agreement's requests in
#: the window (now - period, now] before the current one and passes the count in.
PERIOD_SECONDS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}

_SAFE_NAME = re.compile(r"[^A-Za-z0-9_.*+-]")
_ONE_SECOND = timedelta(seconds=1)
_KNOWN = frozenset(FILTERS)


def _floor_second(t: datetime) -> datetime:
    return t.replace(microsecond=0)


@dataclass(frozen=True)
class AgreementVersion:
    """One immutable version of an agreement, with what the store knows about it.

    ``approved``: its approvals met the threshold (as of the instant it was loaded for).
    ``terminated_at``: the agreement's termination that applies to this version, if
    any; it moves the effective end to ``min(term.end, terminated_at)``.
    """

    agreement_id: str
    number: int
    hash: str
    document: AgreementDocument
    approved: bool = False
    approvals: frozenset[str] = frozenset()
    terminated_at: datetime | None = None

    @property
    def partner(self) -> str:
        return self.document.partner

    @property
    def ends_at(self) -> datetime:
        """The last second served (term.end, or the termination if earlier)."""
        end = self.document.term.end
        if self.terminated_at is not None and self.terminated_at < end:
            return self.terminated_at
        return end

    @cached_property
    def rules(self) -> _Compiled:
        return _Compiled(self)


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer: allow or deny, the clause that decided, and (on allow) the plan."""

    allowed: bool
    rule: str
    agreement_id: str
    agreement_version: str
    detail: str = ""
    #: HTTP status the gate answers a denial with (403, or 429 over the rate limit).
    status: int = 200
    plan: FieldPlan | None = None
    #: The effective result limit: min(request limit, search.max_results); None = gate default.
    limit: int | None = None
    warrant: str | None = field(default=None)
    #: Every clause the request breaks, deciding one first (empty on allow).
    violations: tuple[str, ...] = ()

    @property
    def decision(self) -> Literal["allow", "deny"]:
        return "allow" if self.allowed else "deny"


class _Compiled:
    """A version's clauses precomputed, so each decision is a few lookups."""

    __slots__ = (
        "approved",
        "deny",
        "end_excl",
        "feed_enabled",
        "feed_plan",
        "filter_denials",
        "id",
        "max_results",
        "purposes",
        "rate_limit",
        "require_case",
        "require_justification",
        "search_plan",
        "start",
        "version_hash",
    )

    def __init__(self, version: AgreementVersion) -> None:
        doc = version.document
        rules: VersionRules = build_rules(doc)
        self.id = version.agreement_id
        self.version_hash = version.hash
        # Served iff floor(now) is in [start, end], i.e. start' <= now < end' + 1s.
        self.start = _floor_second(doc.term.start)
        self.end_excl = _floor_second(version.ends_at) + _ONE_SECOND
        self.purposes = frozenset(doc.purposes)
        self.require_case = "case_number" in doc.search.require
        self.require_justification = "justification" in doc.search.require
        rl = doc.search.rate_limit
        self.rate_limit = rl.requests if rl is not None else None
        self.max_results = doc.search.max_results
        self.feed_enabled = doc.feed.enabled
        self.search_plan = rules.search_plan
        self.feed_plan = rules.feed_plan
        self.filter_denials = rules.filter_denials
        terminated = version.terminated_at is not None and version.ends_at < doc.term.end
        end_detail = (
            f"the agreement was terminated; its last second served was {version.ends_at.isoformat()}"
            if terminated
            else f"the agreement's term ended at {doc.term.end.isoformat()}"
        )
        self.deny = {
            "term.start": self._deny("term.start", f"the term starts at {doc.term.start.isoformat()}"),
            "term.end": self._deny("term.end", end_detail),
            "approvals": self._deny(
                "approvals",
                f"version {version.number} lacks the approvals its agreement requires "
                f"({doc.approvals.required} of {', '.join(doc.approvals.of)})",
            ),
            "feed.enabled": self._deny("feed.enabled", "the feed is not enabled"),
            "purposes": self._deny(
                "purposes", f"the purpose must be one of {', '.join(sorted(self.purposes))}"
            ),
            "search.require.case_number": self._deny(
                "search.require.case_number", "a case number is required"
            ),
            "search.require.justification": self._deny(
                "search.require.justification", "a justification is required"
            ),
            "search.rate_limit": self._deny(
                "search.rate_limit",
                f"over the rate limit of {rl.requests} requests per {rl.per}" if rl else "",
                status=429,
            ),
        }
        for name, rule in self.filter_denials.items():
            self.deny[rule] = self._deny(rule, f"filtering or sorting by {name!r} is not allowed")
        self.approved = version.approved

    def _deny(self, rule: str, detail: str, status: int = 403) -> Decision:
        return Decision(False, rule, self.id, self.version_hash, detail, status)


def _unknown(c: _Compiled, kind: str, name: str) -> Decision:
    safe = _SAFE_NAME.sub("?", name)[:64]
    return c._deny(f"{kind}.unknown.{safe}", f"{safe!r} is not a filter or sort name")


def decide(
    version: AgreementVersion,
    request: Request,
    now: datetime,
    *,
    requests_in_window: int = 0,
) -> Decision:
    """Allow or deny ``request`` under ``version`` at instant ``now`` (timezone-aware).

    ``requests_in_window``: this agreement's earlier requests in the rate-limit
    window (see ``PERIOD_SECONDS``), counted by the caller. A denial lists every
    clause the request breaks in ``violations`` (its ``rule`` first).
    """
    d = _first(version, request, now, requests_in_window)
    if d.allowed:
        return d
    return replace(d, violations=violations(version, request, now, requests_in_window=requests_in_window))


def violations(
    version: AgreementVersion,
    request: Request,
    now: datetime,
    *,
    requests_in_window: int = 0,
) -> tuple[str, ...]:
    """Every clause ``request`` breaks, in decide()'s order of precedence, each once."""
    c = version.rules
    out: list[str] = []
    if now < c.start:
        out.append("term.start")
    if now >= c.end_excl:
        out.append("term.end")
    if not c.approved:
        out.append("approvals")
    action = request.action
    if action == "feed" and not c.feed_enabled:
        out.append("feed.enabled")
    if request.purpose not in c.purposes:
        out.append("purposes")
    if action != "feed":
        if c.require_case and request.case_number is None:
            out.append("search.require.case_number")
        if c.require_justification and request.justification is None:
            out.append("search.require.justification")
    if c.rate_limit is not None and requests_in_window >= c.rate_limit:
        out.append("search.rate_limit")  # feed opens and deliveries count too
    names: list[tuple[str, str]] = []
    if action == "read":
        names.append(("filters", "arrest_id"))
    elif action == "search":
        names += [("filters", name) for name in request.filters]
        names += [("sort", key[1:] if key[:1] == "-" else key) for key in request.sort]
    for kind, name in names:
        rule = c.filter_denials.get(name)
        if rule is None and name not in _KNOWN:
            rule = f"{kind}.unknown"
        elif rule is None and name not in (SEARCHABLE_FILTERS if kind == "filters" else SORTABLE):
            rule = "filters.unsearchable" if kind == "filters" else "sort.unsortable"
        if rule is not None and rule not in out:
            out.append(rule)
    return tuple(out)


def _first(version: AgreementVersion, request: Request, now: datetime, requests_in_window: int) -> Decision:
    """The deciding clause alone (the hot path: no list is built for an allow)."""
    c = version.rules
    if now < c.start:
        return c.deny["term.start"]
    if now >= c.end_excl:
        return c.deny["term.end"]
    if not c.approved:
        return c.deny["approvals"]
    action = request.action
    if action == "feed":
        if not c.feed_enabled:
            return c.deny["feed.enabled"]
        if request.purpose not in c.purposes:
            return c.deny["purposes"]
        if c.rate_limit is not None and requests_in_window >= c.rate_limit:
            return c.deny["search.rate_limit"]  # feed opens and deliveries count as requests
        return Decision(True, RULE_ALLOW, c.id, c.version_hash, plan=c.feed_plan)
    if request.purpose not in c.purposes:
        return c.deny["purposes"]
    if c.require_case and request.case_number is None:
        return c.deny["search.require.case_number"]
    if c.require_justification and request.justification is None:
        return c.deny["search.require.justification"]
    if c.rate_limit is not None and requests_in_window >= c.rate_limit:
        return c.deny["search.rate_limit"]
    denials = c.filter_denials
    if action == "read":
        rule = denials.get("arrest_id")
        if rule is not None:
            return c.deny[rule]
        return Decision(
            True,
            RULE_ALLOW,
            c.id,
            c.version_hash,
            plan=c.search_plan,
            limit=1,
            warrant=request.warrant,
        )
    for name in request.filters:
        rule = denials.get(name)
        if rule is not None:
            return c.deny[rule]
        if name not in _KNOWN:
            return _unknown(c, "filters", name)
        if name not in SEARCHABLE_FILTERS:
            return c._deny(f"filters.unsearchable.{name}", f"the store cannot search by {name!r}")
    for key in request.sort:
        name = key[1:] if key[:1] == "-" else key
        rule = denials.get(name)
        if rule is not None:
            return c.deny[rule]
        if name not in _KNOWN:
            return _unknown(c, "sort", name)
        if name not in SORTABLE:
            return c._deny(f"sort.unsortable.{name}", f"the store cannot sort by {name!r}")
    limit = request.limit
    if c.max_results is not None and (limit is None or limit > c.max_results):
        limit = c.max_results
    return Decision(
        True,
        RULE_ALLOW,
        c.id,
        c.version_hash,
        plan=c.search_plan,
        limit=limit,
        warrant=request.warrant,
    )
