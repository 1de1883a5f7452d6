"""Counted conduct: forbidden_filter and out_of_term_access (and the base they share).

These kinds need no statistics: the agreement itself says the request should not
have been made, the gate denied it, and the log names the clause. A user is
flagged from a minimum number of such requests; the agency as a whole is flagged
only when its total crosses the minimum while no single user does (misuse spread
thin across accounts), so no conduct is reported twice.

A request counts for every kind it shows: a denial's ``violations`` (every clause
it broke, see ``decide``) are read, not only the ``rule`` that decided it.

Rule: count only what the entry's own ``decision``, ``rule`` and ``violations``
say; never infer a denial the gate did not make.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from pars.oversight.config import OversightConfig
from pars.oversight.model import Entry, Evidence, Finding, RecordFacts, Resolved, Subject, who

FORBIDDEN_PREFIXES = (
    "search.forbid_filters.",
    "fields.hidden_filter.",
    "warrant_required.",
)
TYPO_PREFIXES = ("filters.unknown.", "sort.unknown.")
#: As ``violations`` lists an unknown name (without the name).
TYPO_RULES = frozenset({"filters.unknown", "sort.unknown"})
TERM_RULES = frozenset({"term.start", "term.end", "approvals"})


@dataclass
class Tally:
    count: int = 0
    rules: Counter[str] = field(default_factory=Counter)
    evidence: Evidence = field(default_factory=lambda: Evidence(50))
    #: Minor matches (typos) kept apart: they count only when there are many.
    minor_rules: Counter[str] = field(default_factory=Counter)
    minor_evidence: Evidence = field(default_factory=lambda: Evidence(50))


class CountDetector:
    """Counts matching entries per subject; subclasses say what matches and how to word it."""

    kind = ""
    what = ""
    test = "count of denied requests"
    #: How the conduct was seen, for the finding's "Seen in ..." sentence.
    seen = "the gate's denials: every clause each denied request broke"
    tail = (
        "The gate denied each one and named the clause; every attempt is in the audit log "
        "at the indices listed."
    )

    def __init__(self, facts: RecordFacts, config: OversightConfig) -> None:
        self.facts = facts
        self.config = config
        self.tallies: dict[Subject, Tally] = defaultdict(
            lambda: Tally(
                evidence=Evidence(config.max_evidence), minor_evidence=Evidence(config.max_evidence)
            )
        )
        #: Every request per subject, matching or not (for shares).
        self.totals: dict[Subject, int] = defaultdict(int)

    def match(self, entry: Entry, r: Resolved) -> tuple[str, float] | None:
        """(label, evidence score) when the entry counts, else None (``r``: the entry resolved)."""
        raise NotImplementedError

    def thresholds(self) -> tuple[int, int, int]:
        raise NotImplementedError

    def minor(self, label: str) -> bool:
        """Whether a match counts only in numbers (see ``counts_minor``)."""
        return False

    def counts_minor(self, subject: Subject, t: Tally) -> bool:
        return False

    def observe(self, index: int, entry: Entry) -> None:
        self.observe_resolved(index, entry, Resolved(entry, self.facts))

    def observe_resolved(self, index: int, entry: Entry, r: Resolved) -> None:
        """``observe`` with the entry's ``Resolved`` (shared by the report's detectors)."""
        subs = r.subjects
        for subject in subs:
            self.totals[subject] += 1
        hit = self.match(entry, r)
        if hit is None:
            return
        label, score = hit
        for subject in subs:
            t = self.tallies[subject]
            if self.minor(label):
                t.minor_rules[label] += 1
                t.minor_evidence.add(index, score)
            else:
                t.count += 1
                t.rules[label] += 1
                t.evidence.add(index, score)

    def detail(self, subject: Subject, t: Tally) -> dict[str, Any]:
        return {}

    def seen_as(self, subject: Subject, with_minor: bool) -> str:
        """How the conduct was seen, in words (the finding's first sentence)."""
        return self.seen

    def _compared(self, subject: Subject, t: Tally, minimum: int) -> str:
        """The same conduct by the rest of the agreement's users, in words."""
        agreement, user = subject
        users = sum(1 for s in self.totals if s[0] == agreement and s[1] is not None)
        if user is None:
            return f"They were spread over its {users} user(s), none reaching {minimum} alone."
        others = self.tallies[(agreement, None)].count - t.count
        if users <= 1:
            return "No other user of the agreement made any request in the period."
        return f"The agreement's {users - 1} other user(s) made {others:,} such request(s) between them."

    def findings(self) -> list[Finding]:
        minimum, medium, high = self.thresholds()
        flagged_users: set[str] = set()
        out = []
        for subject, t in sorted(self.tallies.items(), key=lambda kv: (kv[0][0], kv[0][1] is None, kv[0][1])):
            with_minor = self.counts_minor(subject, t)
            counted = t.rules + t.minor_rules if with_minor else t.rules
            n = sum(counted.values())
            if subject[1] is not None:
                if n >= minimum:
                    flagged_users.add(subject[0])
                else:
                    continue
            elif n < minimum or subject[0] in flagged_users:
                continue
            rules = dict(counted.most_common())
            evidence = t.evidence.indices()
            if with_minor:
                evidence = (evidence + t.minor_evidence.indices())[: self.config.max_evidence]
            listed = ", ".join(f"{rule} ×{c}" for rule, c in list(rules.items())[:5])
            seen = self.seen_as(subject, with_minor)
            summary = (
                f"Seen in {seen}. {who(subject, self.facts.partners.get(subject[0]))} made {n:,} request(s) "
                f"{self.what} ({listed}). {self._compared(subject, t, minimum)} {self.tail}"
            )
            stat = {"test": self.test, "seen_as": seen, "count": n, "rules": rules, **self.detail(subject, t)}
            out.append(
                Finding(
                    self.kind,
                    subject[0],
                    subject[1],
                    self.config.band(n, medium, high),
                    summary,
                    stat,
                    evidence,
                )
            )
        return out


class ForbiddenFilter(CountDetector):
    """Requests denied for filtering or sorting on a forbidden, hidden or warrant-only field.

    Rules ``filters.unknown.*``/``sort.unknown.*`` (a name PARS does not know) count
    only for a user with ``typo_min`` of them making ``typo_share`` of its requests: one
    misspelling is not a probe, dozens in a row are.
    """

    kind = "forbidden_filter"
    what = "that filtered or sorted on a field the agreement forbids, hides or reserves for warrants"
    seen = (
        "the gate's denials: every clause each denied request broke (its violations, so a forbidden "
        "filter behind a misspelt one counts), not only the clause that decided it"
    )

    def seen_as(self, subject: Subject, with_minor: bool) -> str:
        c = self.config
        if with_minor:
            return (
                f"{self.seen}; unknown field names counted too, being {c.typo_min} or more and at least "
                f"{c.typo_share:.0%} of the user's requests"
            )
        return f"{self.seen}; misspelt field names alone left out"

    def match(self, entry: Entry, r: Resolved) -> tuple[str, float] | None:
        # A forbidden filter counts whatever else was wrong (a typo beside it, the term, ...).
        broken = r.violations
        for rule in broken:
            if rule.startswith(FORBIDDEN_PREFIXES):
                return rule, 1.0
        for rule in broken:
            if rule.startswith(TYPO_PREFIXES) or rule in TYPO_RULES:
                return rule, 1.0
        return None

    def minor(self, label: str) -> bool:
        return label.startswith(TYPO_PREFIXES) or label in TYPO_RULES

    def thresholds(self) -> tuple[int, int, int]:
        c = self.config
        return c.forbidden_min, c.forbidden_medium, c.forbidden_high

    def counts_minor(self, subject: Subject, t: Tally) -> bool:
        # Typos are one person's habit: an agency's many users each misspelling once is no probe.
        typos = sum(t.minor_rules.values())
        share = typos / max(1, self.totals[subject])
        return subject[1] is not None and typos >= self.config.typo_min and share >= self.config.typo_share


class OutOfTermAccess(CountDetector):
    """Requests denied because the agreement had not started, had ended (or been
    terminated), or its version was not yet approved."""

    kind = "out_of_term_access"
    what = "outside the agreement's term or before its approval"
    seen = "the gate's denials by the agreement's term (start, end or termination) or missing approvals"

    def match(self, entry: Entry, r: Resolved) -> tuple[str, float] | None:
        for rule in r.violations:
            if rule in TERM_RULES:
                return rule, 2.0 if rule == "term.end" else 1.0
        return None

    def thresholds(self) -> tuple[int, int, int]:
        c = self.config
        return c.out_of_term_min, c.out_of_term_medium, c.out_of_term_high
