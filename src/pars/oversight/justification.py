"""vague_justification and purpose_mismatch: what users wrote as their reasons.

vague_justification flags a user when most of its requests give no real reason
(missing, a few words, or a boilerplate phrase from ``config.boilerplate``), or
when one reason text (near-duplicates merged by token Jaccard similarity) or one
case number is reused across many distinct, unrelated people.

purpose_mismatch flags reasons that state a purpose the agreement does not
permit: the lexicon of ``pars.oversight.reasons`` (phrases, statute patterns and
weak words per purpose code, from ``OversightConfig``) read on the reason after
normalising it against disguise (NFKC, format characters, case, Unicode
confusables, accents), against the purposes of the agreement version each entry
names; and requests the gate denied under ``purposes`` (a purpose code not
permitted), whatever else they broke.

Both detectors read reasons normalised: a boilerplate reason in fullwidth or
Cyrillic letters is still boilerplate.

Rule: judge a reason only against the version the entry was decided under;
when that version is unknown, say nothing about it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pars.audit.texts import is_commitment
from pars.oversight.config import OversightConfig
from pars.oversight.counted import CountDetector
from pars.oversight.model import (
    Entry,
    Evidence,
    Finding,
    RecordFacts,
    Resolved,
    Subject,
    who,
    worse,
)
from pars.oversight.reasons import Lexicon, normalise

_WORD = re.compile(r"[a-z0-9]+")


@lru_cache(maxsize=4096)
def tokens(text: str | None) -> tuple[str, ...]:
    """Words and numbers of the normalised text (``reasons.normalise``), punctuation dropped.

    Cached: three detectors read each entry's reason, and a log repeats reasons.
    """
    return tuple(_WORD.findall(normalise(text)))


@lru_cache(maxsize=4096)
def words(text: str | None) -> tuple[str, ...]:
    """The alphabetic tokens only: what reasons are compared on (a number added to a
    reused text, "lead 1", "lead 2", does not make it a new reason)."""
    return tuple(t for t in tokens(text) if t.isalpha())


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


@dataclass
class _Cluster:
    words: frozenset[str]
    text: str
    people: set[str] = field(default_factory=set)
    evidence: Evidence = field(default_factory=lambda: Evidence(50))


@dataclass
class _User:
    requests: int = 0
    vague: int = 0
    vague_evidence: Evidence = field(default_factory=lambda: Evidence(50))
    clusters: list[_Cluster] = field(default_factory=list)
    by_text: dict[str, int] = field(default_factory=dict)
    by_word: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    cases: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    case_evidence: dict[str, Evidence] = field(default_factory=dict)
    people: set[str] = field(default_factory=set)


class VagueJustification:
    kind = "vague_justification"

    def __init__(self, facts: RecordFacts, config: OversightConfig) -> None:
        self.facts = facts
        self.config = config
        self.boilerplate = {" ".join(words(b)) for b in config.boilerplate}
        self.users: dict[Subject, _User] = defaultdict(self._new)
        self._reasons: dict[str | None, tuple[bool, tuple[str, ...], str]] = {}

    def _new(self) -> _User:
        return _User(vague_evidence=Evidence(self.config.max_evidence))

    def is_vague(self, text: str | None) -> bool:
        """Missing, fewer than ``justification_min_tokens`` words, or boilerplate (numbers aside)."""
        said = words(text)
        return len(said) < self.config.justification_min_tokens or " ".join(said) in self.boilerplate

    def _read(self, text: str | None) -> tuple[bool, tuple[str, ...], str]:
        """(vague, words, the words joined) of a reason: worked out once per distinct text
        (a log repeats its reasons: a case is looked up many times under one)."""
        got = self._reasons.get(text)
        if got is None:
            if len(self._reasons) > 100_000:
                self._reasons.clear()  # bounded memory on logs of ever-new reasons
            said = words(text)
            got = self._reasons[text] = (self.is_vague(text), said, " ".join(said))
        return got

    def _cluster(self, u: _User, said: tuple[str, ...], key: str | None = None) -> _Cluster | None:
        if key is None:
            key = " ".join(said)
        if key in u.by_text:
            return u.clusters[u.by_text[key]]
        bag = frozenset(said)
        # A cluster at Jaccard >= s holds all but a (1 - s) share of the bag's words, so
        # it holds one of any int((1 - s) * len) + 1 of them: look up only the rarest.
        rarest = sorted(bag, key=lambda w: len(u.by_word.get(w, ())))
        need = int((1.0 - self.config.reuse_similarity) * len(bag) + 1e-9) + 1
        candidates = sorted({i for w in rarest[:need] for i in u.by_word.get(w, ())})
        for i in candidates:
            if jaccard(bag, u.clusters[i].words) >= self.config.reuse_similarity:
                u.by_text[key] = i
                return u.clusters[i]
        if len(u.clusters) >= self.config.reuse_max_texts:
            return None
        u.clusters.append(_Cluster(bag, key, evidence=Evidence(self.config.max_evidence)))
        i = len(u.clusters) - 1
        u.by_text[key] = i
        for w in bag:
            u.by_word[w].append(i)
        return u.clusters[i]

    def observe(self, index: int, entry: Entry) -> None:
        self.observe_resolved(index, entry, Resolved(entry, self.facts))

    def observe_resolved(self, index: int, entry: Entry, r: Resolved) -> None:
        """``observe`` with the entry's ``Resolved`` (shared by the report's detectors)."""
        if r.user is None or not r.chosen:
            return
        subject = (r.agreement, r.user)
        u = self.users[subject]
        u.requests += 1
        text = entry.get("justification")
        # An erased text leaves its commitment: the reason is unknown, neither vague nor reused.
        erased = is_commitment(text)
        vague, said, key = (False, (), "") if erased else self._read(text)
        if vague:
            u.vague += 1
            u.vague_evidence.add(index)
        people = set(r.persons)
        if not people:
            return
        u.people |= people
        if said:
            cluster = self._cluster(u, said, key)
            if cluster is not None and not people <= cluster.people:
                cluster.evidence.add(index, len(people - cluster.people))
                cluster.people |= people
        case = entry.get("case_number")
        if case and not is_commitment(case):
            known = u.cases[str(case)]
            if not people <= known:
                ev = u.case_evidence.setdefault(str(case), Evidence(self.config.max_evidence))
                ev.add(index, len(people - known))
                known |= people

    def findings(self) -> list[Finding]:
        c = self.config
        out = []
        for subject, u in sorted(self.users.items()):
            signs: list[str] = []
            evidence: list[int] = []
            severity = "low"
            share = u.vague / u.requests if u.requests else 0.0
            top = max(u.clusters, key=lambda cl: len(cl.people), default=None)
            case, case_people = max(u.cases.items(), key=lambda kv: len(kv[1]), default=("", set()))
            stat: dict[str, Any] = {
                "test": "counts: vague reasons, reason and case-number reuse across distinct people",
                "requests": u.requests,
                "vague": u.vague,
                "vague_share": share,
                "max_people_per_reason": len(top.people) if top else 0,
                "max_people_per_case": len(case_people),
            }
            if u.vague >= c.vague_min and share >= c.vague_share:
                signs.append(
                    f"gave no real reason (missing, too short or boilerplate) for {u.vague:,} of "
                    f"{u.requests:,} requests ({share:.0%})"
                )
                evidence += u.vague_evidence.indices()
                severity = "high" if share >= c.vague_share_high else "medium"
            reused = len(top.people) if top else 0
            stat["max_people_per_reason_share"] = reused / len(u.people) if u.people else 0.0
            if top is not None and reused >= c.reuse_people and reused >= c.reuse_share * len(u.people):
                signs.append(
                    f"gave the same reason ({top.text[:80]!r}) for {len(top.people):,} distinct people"
                )
                evidence += top.evidence.indices()
                severity = worse(severity, "high" if len(top.people) >= c.reuse_people_high else "medium")
            if len(case_people) >= c.case_reuse_people:
                signs.append(f"cited case number {case!r} for {len(case_people):,} distinct people")
                evidence += u.case_evidence[case].indices()
                severity = worse(severity, "medium")
            if not signs:
                continue
            seen: set[int] = set()
            ordered = []
            for i in evidence:
                if i not in seen:
                    seen.add(i)
                    ordered.append(i)
            seen_as = (
                "the reasons and case numbers of every request it chose (searches and reads), near-identical "
                "reasons merged"
            )
            stat["seen_as"] = seen_as
            summary = (
                f"Seen in {seen_as}. {who(subject, self.facts.partners.get(subject[0]))} "
                + "; ".join(signs)
                + "."
            )
            out.append(
                Finding(self.kind, subject[0], subject[1], severity, summary, stat, ordered[: c.max_evidence])
            )
        return out


class PurposeMismatch(CountDetector):
    kind = "purpose_mismatch"
    what = "whose stated reason is a purpose the agreement does not permit"
    test = (
        "count of requests whose reason states a purpose not permitted "
        "(lexicon per purpose, on text normalised against disguise)"
    )
    seen = (
        "the reasons written, allowed requests and denied alike: each normalised (NFKC, case folding, "
        "format characters removed, confusables mapped) and read against the purpose lexicon"
    )
    tail = (
        "Allowed requests count too: the gate checks the purpose code, not the reason written; "
        "every request is in the audit log at the indices listed."
    )

    def __init__(self, facts: RecordFacts, config: OversightConfig) -> None:
        super().__init__(facts, config)
        self.lexicon = Lexicon.from_config(config)
        self.permitted_seen: dict[str, set[str]] = defaultdict(set)
        # A log repeats its reasons (a case is looked up many times under one): scan each text once.
        self._stated: dict[str | None, frozenset[str]] = {}
        self._versions_seen: set[tuple[str, Any]] = set()

    def thresholds(self) -> tuple[int, int, int]:
        c = self.config
        return c.mismatch_min, c.mismatch_medium, c.mismatch_high

    def match(self, entry: Entry, r: Resolved) -> tuple[str, float] | None:
        agreement = r.agreement
        if "purposes" in r.violations:
            return f"denied: purpose code {entry.get('purpose')!r} not permitted", 1.0
        version = entry.get("agreement_version")
        permitted = self.facts.permitted(agreement, version)
        if permitted is None:
            return None
        if (agreement, version) not in self._versions_seen:  # each version's purposes once, not per entry
            self._versions_seen.add((agreement, version))
            self.permitted_seen[agreement] |= permitted
        text = entry.get("justification")
        stated = self._stated.get(text)
        if stated is None:
            if len(self._stated) > 100_000:
                self._stated.clear()  # bounded memory on logs of ever-new reasons
            stated = self._stated[text] = frozenset(self.lexicon.purposes(text))
        if stated <= permitted:
            return None
        wrong = sorted(stated - permitted)
        names = ", ".join(self.config.purpose_name(code) for code in wrong)
        score = 3.0 if entry.get("decision") == "allow" and entry.get("arrest_ids") else 2.0
        return f"reason states {names}", score

    def detail(self, subject: Subject, t: Any) -> dict[str, Any]:
        codes = sorted(self.permitted_seen.get(subject[0], set()))
        return {"permitted": {code: self.config.purpose_name(code) for code in codes}}
