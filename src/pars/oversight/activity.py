"""What each agreement's users did, for the report's plots: the numbers behind the pictures.

``Activity`` sees the same stream as the detectors (one ``observe`` per access
entry) and keeps, per agreement: requests per user per ISO week (weeks start on
Monday, UTC), denials per rule, and per user the distinct people a person chose to
see (searches and reads, as ``origin_targeting`` counts them) and how many of them
were born abroad, with an exact (Clopper–Pearson) interval for that share.

    activity = Activity(facts, config); find(stream, facts, config, also=[activity])
    activity.to_json()  # -> report["activity"]

Rule: counts only, by user name and agreement; an expunged or unknown record is
left out exactly as the detectors leave it out, never described.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import date, timedelta
from typing import Any

from pars.oversight import stats
from pars.oversight.config import OversightConfig
from pars.oversight.model import Entry, RecordFacts, Resolved

#: How a request with no user (a system request under an agreement) is listed.
NO_USER = "(no user)"
#: How a denial whose entry names no rule is listed.
NO_RULE = "(no rule)"


class Activity:
    """Per agreement: weekly requests per user, denials per rule, foreign-born share per user."""

    def __init__(self, facts: RecordFacts, config: OversightConfig) -> None:
        self.facts = facts
        self.config = config
        self._weeks: dict[str, str] = {}
        self.weekly: dict[str, dict[str, Counter[str]]] = defaultdict(lambda: defaultdict(Counter))
        self.denials: dict[str, Counter[str]] = defaultdict(Counter)
        self.people: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.abroad: dict[tuple[str, str], set[str]] = defaultdict(set)

    def _week(self, time: str) -> str:
        day = time[:10]
        week = self._weeks.get(day)
        if week is None:
            d = date.fromisoformat(day)
            week = self._weeks[day] = (d - timedelta(days=d.weekday())).isoformat()
        return week

    def observe(self, index: int, entry: Entry) -> None:
        self.observe_resolved(index, entry, Resolved(entry, self.facts))

    def observe_resolved(self, index: int, entry: Entry, r: Resolved) -> None:
        """``observe`` with the entry's ``Resolved`` (shared with the report's detectors)."""
        agreement = str(entry["agreement_id"])
        user = str(entry.get("user") or NO_USER)
        self.weekly[agreement][user][self._week(str(entry["time"]))] += 1
        if entry.get("decision") != "allow":
            self.denials[agreement][str(entry.get("rule") or NO_RULE)] += 1
            return
        if not r.chosen:
            return
        key = (agreement, user)
        for _, fact in r.known:
            self.people[key].add(fact.person_id)
            if fact.foreign_born:
                self.abroad[key].add(fact.person_id)

    def _origin(self, agreement: str) -> dict[str, Any]:
        base = self.facts.baselines.get(agreement)
        users = []
        for (aid, user), people in sorted(self.people.items()):
            if aid != agreement or not people:
                continue
            n, k = len(people), len(self.abroad.get((aid, user), ()))
            low, high = stats.clopper_pearson(k, n, self.config.confidence)
            users.append(
                {
                    "user": user,
                    "n": n,
                    "k": k,
                    "share": k / n,
                    "ci": [low, high],
                    "tested": n >= self.config.min_people,
                }
            )
        return {
            "baseline_share": None if base is None else base.foreign_born_share,
            "baseline_n": None if base is None else base.persons,
            "confidence": self.config.confidence,
            "users": users,
        }

    def to_json(self) -> list[dict[str, Any]]:
        """One item per agreement with requests, sorted by agreement id."""
        out = []
        for agreement in sorted(self.weekly):
            by_user = self.weekly[agreement]
            seen = sorted({w for c in by_user.values() for w in c})
            first, last = date.fromisoformat(seen[0]), date.fromisoformat(seen[-1])
            weeks = [(first + timedelta(weeks=i)).isoformat() for i in range((last - first).days // 7 + 1)]
            out.append(
                {
                    "agreement_id": agreement,
                    "weeks": weeks,
                    "requests": {u: [c.get(w, 0) for w in weeks] for u, c in sorted(by_user.items())},
                    "denials": dict(self.denials[agreement].most_common()),
                    "origin": self._origin(agreement),
                }
            )
        return out
