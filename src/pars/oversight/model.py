"""The values oversight works on: findings, record facts, and the detector shape.

Detectors see audit entries as plain ``(index, dict)`` pairs and ask a
``RecordFacts`` about the records those entries name; ``facts.py`` builds the
facts from the store, tests build them by hand.

Rule: nothing here reveals an expunged record: an expunged arrest id answers
``None`` from ``RecordFacts.arrest`` exactly like an unknown one, and is only
ever counted.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pars.oversight.strata import Strata

KINDS: tuple[str, ...] = (
    "forbidden_filter",
    "origin_targeting",
    "non_criminal_targeting",
    "protected_role_probe",
    "bulk_access",
    "vague_justification",
    "purpose_mismatch",
    "out_of_term_access",
)

Entry = Mapping[str, Any]
Subject = tuple[str, str | None]
"""(agreement_id, user); user None means the agency as a whole."""


@dataclass(frozen=True)
class Finding:
    """One kind of misuse by one user (or agency), with the log indices that show it."""

    kind: str
    agreement_id: str
    user: str | None
    severity: str
    summary: str
    statistic: dict[str, Any]
    evidence: list[int]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "agreement_id": self.agreement_id,
            "user": self.user,
            "severity": self.severity,
            "summary": self.summary,
            "statistic": self.statistic,
            "evidence": list(self.evidence),
        }


@dataclass(frozen=True, slots=True)
class ArrestFact:
    """What oversight may know of one arrest: its arrestee and two yes/no facts.

    ``foreign_born``: the arrestee's country of origin is present and not US
    (unknown counts as not foreign-born). ``non_criminal``: charging declined, or
    every charge withdrawn or dismissed, or every charge graded S (summary only).
    """

    person_id: str
    foreign_born: bool
    non_criminal: bool


@dataclass(frozen=True, slots=True)
class Baseline:
    """Arrests in an agreement's scope and period: how many, how many of each kind."""

    arrests: int
    persons: int
    foreign_born_persons: int
    non_criminal_arrests: int

    @property
    def foreign_born_share(self) -> float:
        return self.foreign_born_persons / self.persons if self.persons else 0.0

    @property
    def non_criminal_share(self) -> float:
        return self.non_criminal_arrests / self.arrests if self.arrests else 0.0


@dataclass
class RecordFacts:
    """A lookup of what the audited entries touched. Build with ``facts.load_facts``."""

    arrests: dict[str, ArrestFact] = field(default_factory=dict)
    expunged: frozenset[str] = frozenset()
    baselines: dict[str, Baseline] = field(default_factory=dict)
    #: Victims' and witnesses' person ids.
    protected_persons: frozenset[str] = frozenset()
    #: Keyed hashes (as logged) of victims'/witnesses' (last_name, first_name) and dob,
    #: and the same for arrestees: a probe matches the first and not the second.
    protected_names: frozenset[tuple[str, str]] = frozenset()
    arrestee_names: frozenset[tuple[str, str]] = frozenset()
    protected_dobs: frozenset[str] = frozenset()
    arrestee_dobs: frozenset[str] = frozenset()
    #: The same for one name alone: a search by surname (or first name) only.
    protected_last_names: frozenset[str] = frozenset()
    arrestee_last_names: frozenset[str] = frozenset()
    protected_first_names: frozenset[str] = frozenset()
    arrestee_first_names: frozenset[str] = frozenset()
    #: (agreement_id, version as logged) -> permitted purpose codes.
    purposes: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    partners: dict[str, str] = field(default_factory=dict)
    #: Per agreement: its scope's arrests per district and day (``pars.oversight.strata``).
    strata: dict[str, Strata] = field(default_factory=dict)
    #: Arrests read with the agreements' scopes (none expunged when read), not yet touched:
    #: ``facts.add_arrests`` moves one into ``arrests`` when an entry names it, after checking
    #: it is still not expunged, instead of reading it again. Never answered from directly.
    read_ahead: dict[str, ArrestFact] = field(default_factory=dict)

    def arrest(self, arrest_id: str) -> ArrestFact | None:
        """The arrest's facts; None if expunged or unknown (never say which)."""
        if arrest_id in self.expunged:
            return None
        return self.arrests.get(arrest_id)

    def is_expunged(self, arrest_id: str) -> bool:
        return arrest_id in self.expunged

    def permitted(self, agreement_id: str, version: str | None) -> frozenset[str] | None:
        if version is None:
            return None
        return self.purposes.get((agreement_id, version))


#: Filters that aim at a person or a record (not ``location``: a place is a sweep).
AIMED_FILTERS = frozenset({"last_name", "first_name", "dob", "ssn", "address", "person_id", "arrest_id"})


class Resolved:
    """What every detector derives from one access entry, derived once (``resolve``).

    The report's stream hands each entry's ``Resolved`` to every detector that takes one
    (``observe_resolved``), instead of each re-reading the raw dict: the subjects, the
    arrests' facts (``RecordFacts.arrest``: None if expunged or unknown) and the people.
    The values are exactly what the detectors computed from the entry themselves.
    """

    __slots__ = (
        "action",
        "agreement",
        "aimed",
        "allowed",
        "chosen",
        "excluded",
        "known",
        "persons",
        "subjects",
        "time",
        "user",
        "violations",
    )

    def __init__(self, entry: Entry, facts: RecordFacts) -> None:
        agreement = str(entry["agreement_id"])
        raw_user = entry.get("user")
        user = None if raw_user is None else str(raw_user)
        self.agreement = agreement
        self.user = user
        self.subjects: tuple[Subject, ...] = (
            ((agreement, None),) if user is None else ((agreement, user), (agreement, None))
        )
        action = entry.get("action")
        self.action = action
        self.chosen = action != "feed"
        decision = entry.get("decision")
        self.allowed = decision == "allow"
        self.aimed = action == "read" or not AIMED_FILTERS.isdisjoint(entry.get("filters") or ())
        self.time = str(entry.get("time", ""))
        #: Every clause a denied entry broke (``violations``).
        self.violations = violations(entry) if decision == "deny" else ()
        #: (arrest id, facts) of each arrest named whose facts are known, in the order named.
        known: list[tuple[str, ArrestFact]] = []
        #: Arrest ids named that are expunged or unknown, in the order named.
        excluded: list[str] = []
        arrest = facts.arrest
        for aid in entry.get("arrest_ids") or ():
            fact = arrest(aid)
            if fact is None:
                excluded.append(aid)
            else:
                known.append((aid, fact))
        self.known = known
        self.excluded = excluded
        #: The person ids of ``known``, in the order named (repeats kept).
        self.persons = [f.person_id for _, f in known]


def resolve(entry: Entry, facts: RecordFacts) -> Resolved:
    return Resolved(entry, facts)


class Detector(Protocol):
    """Sees every access entry once, in index order, then states its findings."""

    kind: str

    def observe(self, index: int, entry: Entry) -> None: ...

    def findings(self) -> list[Finding]: ...


def run(detector: Detector, entries: Iterable[tuple[int, Entry]]) -> list[Finding]:
    """Feed a detector a stream of ``(index, entry)`` and return its findings."""
    for index, entry in entries:
        if is_access(entry):
            detector.observe(index, entry)
    return detector.findings()


def is_access(entry: Entry) -> bool:
    return entry.get("kind") == "access" and entry.get("agreement_id") is not None


def subjects(entry: Entry) -> tuple[Subject, ...]:
    """The subjects an entry counts for: its user and its agency (the agency alone if no user)."""
    agreement = str(entry["agreement_id"])
    user = entry.get("user")
    if user is None:
        return ((agreement, None),)
    return (agreement, str(user)), (agreement, None)


def violations(entry: Entry) -> tuple[str, ...]:
    """Every clause a denied entry broke: its ``violations`` list, or its ``rule`` alone
    (entries written before the list existed, and allows)."""
    if entry.get("decision") != "deny":
        return ()
    listed = entry.get("violations")
    rule = entry.get("rule")
    if isinstance(listed, list) and listed:
        out = [str(v) for v in listed]
        if isinstance(rule, str) and rule not in out:
            out.insert(0, rule)  # the deciding rule with its name, as logged
        return tuple(out)
    return (str(rule),) if rule else ()


def chosen(entry: Entry) -> bool:
    """Whether a person chose what this entry shows (a search or a read, not a feed delivery)."""
    return entry.get("action") != "feed"


def chooser(entry: Entry) -> Subject | None:
    """The (agreement, user) who chose what this entry shows; None for a feed delivery or no user."""
    user = entry.get("user")
    if user is None or not chosen(entry):
        return None
    return str(entry["agreement_id"]), str(user)


class Evidence:
    """The ``cap`` most telling indices seen so far (highest score, then earliest)."""

    __slots__ = ("_cap", "_heap")

    def __init__(self, cap: int) -> None:
        self._cap = cap
        self._heap: list[tuple[float, int]] = []

    def add(self, index: int, score: float = 1.0) -> None:
        item = (score, -index)
        if len(self._heap) < self._cap:
            heapq.heappush(self._heap, item)
        elif item > self._heap[0]:
            heapq.heapreplace(self._heap, item)

    def indices(self) -> list[int]:
        return [-neg for _, neg in sorted(self._heap, key=lambda t: (-t[0], -t[1]))]

    def __len__(self) -> int:
        return len(self._heap)


_SEVERITY_RANK = {"low": 0, "medium": 1, "high": 2}


def worse(a: str, b: str) -> str:
    """The more severe of two severities."""
    return a if _SEVERITY_RANK[a] >= _SEVERITY_RANK[b] else b


def who(subject: Subject, partner: str | None = None) -> str:
    """A subject as a sentence's grammatical subject."""
    agreement, user = subject
    if user is None:
        return f"The partner agency under agreement {agreement}" + (f" ({partner})" if partner else "")
    return f"User {user!r} under agreement {agreement}"


def p_words(p: float) -> str:
    """A p-value in words a solicitor can read."""
    if p <= 0.0:
        return "less than one in a billion"
    if p < 1e-9:
        return "less than one in a billion"
    odds = 1.0 / p
    if odds >= 1e6:
        return f"about one in {odds / 1e6:,.0f} million"
    return f"about one in {odds:,.0f}"
