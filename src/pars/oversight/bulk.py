"""bulk_access: enumeration, volume far beyond the agency's normal, scraping by case.

Three signs, per user (one finding that lists whichever apply):
- enumeration: arrest ids read one by one, in sequence, that form a long run of
  consecutive numbers (``A-2018-000101``, ``-000102``, ...), found or not found;
- volume: the user's request count against the other users of the same agreement,
  as a robust z-score (median and MAD, so the outlier cannot hide itself);
- people per case number: many distinct arrestees pulled under one case number.

Rule: memory grows with distinct records and cases per user, never with the
number of entries (each record keeps only the first index that read it).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from pars.oversight import stats
from pars.oversight.config import OversightConfig
from pars.oversight.model import Entry, Evidence, Finding, RecordFacts, Subject, chooser, who, worse

_NUMBERED = re.compile(r"^(.*?)(\d+)$")


@dataclass
class _User:
    requests: int = 0
    first_index: int = -1
    #: id prefix -> arrest number -> first index that read it.
    reads: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    #: case number -> distinct people, and the evidence under it.
    cases: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    case_evidence: dict[str, Evidence] = field(default_factory=dict)
    all_evidence: Evidence = field(default_factory=lambda: Evidence(50))


def _read_ids(entry: Entry) -> list[str]:
    ids = [str(a) for a in entry.get("arrest_ids") or ()]
    wanted = (entry.get("filters") or {}).get("arrest_id")
    if isinstance(wanted, str) and wanted not in ids:
        ids.append(wanted)
    return ids


def longest_run(numbers: dict[int, int]) -> list[int]:
    """The longest run of consecutive numbers first read in order (up or down), as indices.

    Both conditions matter: a busy analyst reading half of a small store at random
    touches consecutive numbers by chance, but not one after another in sequence.
    """
    best: list[int] = []
    up: list[int] = []
    down: list[int] = []
    prev: int | None = None
    for n in sorted(numbers):
        index = numbers[n]
        if prev is not None and n == prev + 1:
            up = [*up, index] if index > numbers[prev] else [index]
            down = [*down, index] if index < numbers[prev] else [index]
        else:
            up, down = [index], [index]
        prev = n
        for run in (up, down):
            if len(run) > len(best):
                best = run
    return best


class BulkAccess:
    kind = "bulk_access"

    def __init__(self, facts: RecordFacts, config: OversightConfig) -> None:
        self.facts = facts
        self.config = config
        self.users: dict[Subject, _User] = defaultdict(self._new)

    def _new(self) -> _User:
        return _User(all_evidence=Evidence(self.config.max_evidence))

    def observe(self, index: int, entry: Entry) -> None:
        subject = chooser(entry)
        if subject is None:
            return
        u = self.users[subject]
        u.requests += 1
        u.all_evidence.add(index, 0.0)
        if entry.get("action") == "read":
            for aid in _read_ids(entry):
                m = _NUMBERED.match(aid)
                if m:
                    u.reads[m.group(1)].setdefault(int(m.group(2)), index)
        case = entry.get("case_number")
        if case and entry.get("decision") == "allow":
            people = u.cases[str(case)]
            before = len(people)
            for aid in entry.get("arrest_ids") or ():
                fact = self.facts.arrest(aid)
                if fact is not None:
                    people.add(fact.person_id)
            if len(people) > before:
                ev = u.case_evidence.setdefault(str(case), Evidence(self.config.max_evidence))
                ev.add(index, len(people) - before)

    def findings(self) -> list[Finding]:
        c = self.config
        by_agreement: dict[str, list[int]] = defaultdict(list)
        for (agreement, _), u in self.users.items():
            by_agreement[agreement].append(u.requests)
        out = []
        for subject, u in sorted(self.users.items()):
            signs: list[str] = []
            stat: dict[str, Any] = {"test": "enumeration runs, robust z-score of volume, people per case"}
            evidence: list[int] = []
            severity = "low"

            run = max((longest_run(nums) for nums in u.reads.values()), key=len, default=[])
            stat["longest_run"] = len(run)
            if len(run) >= c.enumeration_min_run:
                signs.append(f"read {len(run):,} arrests with consecutive numbers one after another")
                evidence += sorted(run)[: c.max_evidence]
                severity = worse(severity, "high" if len(run) >= c.enumeration_high_run else "medium")

            counts = by_agreement[subject[0]]
            stat["requests"] = u.requests
            stat["agency_median_requests"] = stats.median(counts)
            z = stats.robust_z(u.requests, counts) if len(counts) >= c.volume_min_users else None
            stat["volume_robust_z"] = z
            if z is not None and z >= c.volume_z and u.requests >= c.volume_min_requests:
                signs.append(
                    f"made {u.requests:,} requests against a median of {stats.median(counts):,.0f} for "
                    f"the agreement's {len(counts)} users (robust z-score {z:.1f})"
                )
                evidence += u.all_evidence.indices()
                severity = worse(severity, "high" if z >= c.volume_z_high else "medium")

            case, people = max(u.cases.items(), key=lambda kv: len(kv[1]), default=("", set()))
            stat["max_people_per_case"] = len(people)
            if len(people) >= c.people_per_case:
                signs.append(f"pulled {len(people):,} distinct people under the single case number {case!r}")
                evidence += u.case_evidence[case].indices()
                severity = worse(severity, "high" if len(people) >= c.people_per_case_high else "medium")

            if not signs:
                continue
            seen: set[int] = set()
            ordered = [i for i in evidence if not (i in seen or seen.add(i))]  # type: ignore[func-returns-value]
            summary = f"{who(subject, self.facts.partners.get(subject[0]))} " + "; ".join(signs) + "."
            out.append(
                Finding(self.kind, subject[0], subject[1], severity, summary, stat, ordered[: c.max_evidence])
            )
        return out
