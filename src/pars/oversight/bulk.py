"""bulk_access: enumeration, volume far beyond the agency's normal, scraping by case or search.

Signs, per user (one finding that lists whichever apply):
- enumeration: arrest ids read one by one, in sequence, that form a long run of
  consecutive numbers (``A-2018-000101``, ``-000102``, ...), found or not found;
- volume: the user's request count against the other users of the same agreement,
  as a robust z-score (median and MAD, so the outlier cannot hide itself);
- people per case number: many distinct arrestees pulled under one case number;
- people per day: the most distinct people a user chose to see in one day (UTC),
  as a robust z-score against every user-day of every agreement (so an agency
  with a single user is compared with all others), and against its own agency's
  user-days when it has ``volume_min_users`` users; from ``people_per_day_min``;
- coverage: the share of the people in the agreement's scope a user has seen,
  however slowly (scraping by any sweep: date windows, districts, ...), when it
  is also far beyond what the other users of all agreements saw (robust z);
- date-window sweeps: searches whose ``arrested_from``/``arrested_to`` windows
  follow one another (each starting where the last ended), in a long chain;
- feed: feed deliveries are the subscriber's access (CONTRACT 6): more than
  ``feed_people_per_day`` distinct people delivered in a day is a replay.

Rule: memory grows with distinct records and cases per user, never with the
number of entries (each record keeps only the first index that read it).
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from pars.oversight import stats
from pars.oversight.config import OversightConfig
from pars.oversight.model import Entry, Evidence, Finding, RecordFacts, Resolved, Subject, who, worse

_NUMBERED = re.compile(r"^(.*?)(\d+)$")
BULK_SEEN = (
    "every access it chose (searches and reads, narrow and broad alike) and every feed delivery it was "
    "sent, as distinct people per day, per case and in all against every user of every agreement"
)


def _next_day(day: str) -> str:
    try:
        return (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    except ValueError:
        return day


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
    #: Distinct people chosen per day: the day being counted, its people, the finished days.
    day: str = ""
    day_people: set[str] = field(default_factory=set)
    day_counts: list[int] = field(default_factory=list)
    best_day: tuple[int, str] = (0, "")
    day_evidence: Evidence = field(default_factory=lambda: Evidence(50))
    best_day_evidence: list[int] = field(default_factory=list)
    people: set[str] = field(default_factory=set)
    #: Date windows of broad searches: (from, to, index).
    windows: list[tuple[str, str, int]] = field(default_factory=list)
    #: Feed: distinct people delivered per day, the most in a day.
    feed_day: str = ""
    feed_people: set[str] = field(default_factory=set)
    feed_best: tuple[int, str] = (0, "")
    feed_evidence: Evidence = field(default_factory=lambda: Evidence(50))

    def close_day(self) -> None:
        if self.day:
            n = len(self.day_people)
            self.day_counts.append(n)
            if n > self.best_day[0]:
                self.best_day = (n, self.day)
                self.best_day_evidence = self.day_evidence.indices()
        self.day_people = set()


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
        #: Feed subscribers' deliveries, kept apart: a feed is nobody's choice of whom to see.
        self.feeds: dict[Subject, _User] = defaultdict(self._new)

    def _new(self) -> _User:
        return _User(all_evidence=Evidence(self.config.max_evidence))

    def _feed(self, index: int, r: Resolved) -> None:
        if r.user is None or not r.allowed:
            return
        u = self.feeds[(r.agreement, r.user)]
        day = r.time[:10]
        if day != u.feed_day:
            u.feed_day, u.feed_people = day, set()
            u.feed_evidence = Evidence(self.config.max_evidence)
        u.feed_people.update(r.persons)
        u.feed_evidence.add(index)
        if len(u.feed_people) > u.feed_best[0]:
            u.feed_best = (len(u.feed_people), day)

    def _people(self, index: int, u: _User, entry: Entry, r: Resolved) -> None:
        day = r.time[:10]
        if day != u.day:
            u.close_day()
            u.day = day
            u.day_evidence = Evidence(self.config.max_evidence)
        before = len(u.day_people)
        u.day_people.update(r.persons)
        u.people.update(r.persons)
        if len(u.day_people) > before:
            u.day_evidence.add(index, len(u.day_people) - before)
        filters = entry.get("filters") or {}
        start, end = filters.get("arrested_from"), filters.get("arrested_to")
        if entry.get("action") == "search" and isinstance(start, str) and isinstance(end, str):
            u.windows.append((start[:10], end[:10], index))

    def observe(self, index: int, entry: Entry) -> None:
        self.observe_resolved(index, entry, Resolved(entry, self.facts))

    def observe_resolved(self, index: int, entry: Entry, r: Resolved) -> None:
        """``observe`` with the entry's ``Resolved`` (shared by the report's detectors)."""
        if r.action == "feed":
            self._feed(index, r)
            return
        if r.user is None:
            return
        u = self.users[(r.agreement, r.user)]
        if r.allowed:
            self._people(index, u, entry, r)
        u.requests += 1
        u.all_evidence.add(index, 0.0)
        if entry.get("action") == "read":
            for aid in _read_ids(entry):
                m = _NUMBERED.match(aid)
                if m:
                    u.reads[m.group(1)].setdefault(int(m.group(2)), index)
        case = entry.get("case_number")
        if case and r.allowed:
            people = u.cases[str(case)]
            before = len(people)
            people.update(r.persons)
            if len(people) > before:
                ev = u.case_evidence.setdefault(str(case), Evidence(self.config.max_evidence))
                ev.add(index, len(people) - before)

    def _rates(
        self, subject: Subject, u: _User, days: dict[str, list[int]], stat: dict[str, Any]
    ) -> str | None:
        """People per day against all user-days and the agency's own; None if not unusual."""
        c = self.config
        most, day = u.best_day
        stat["max_people_per_day"] = most
        everyone = [n for counts in days.values() for n in counts]
        own = days.get(subject[0], [])
        z_all = stats.robust_z(most, everyone)
        z_own = (
            stats.robust_z(most, own)
            if len({s for s in self.users if s[0] == subject[0]}) >= (c.volume_min_users)
            else None
        )
        stat["people_per_day_z_all"], stat["people_per_day_z_agency"] = z_all, z_own
        stat["median_people_per_day_all"] = stats.median(everyone) if everyone else None
        if most < c.people_per_day_min:
            return None
        zs = [z for z in (z_all, z_own) if z is not None]
        if zs and max(zs) < c.volume_z:
            return None
        return (
            f"chose to see {most:,} distinct people on {day} against a median of "
            f"{stats.median(everyone):,.0f} per user-day across all agreements"
            + (f" (robust z-score {z_all:.1f})" if z_all is not None else "")
        )

    @staticmethod
    def _chain(windows: list[tuple[str, str, int]]) -> list[int]:
        """The longest chain of date windows each starting where the last ended (a sweep)."""
        best: list[int] = []
        run: list[int] = []
        prev_end = ""
        for start, end, index in sorted(set(windows)):
            if run and prev_end <= start <= _next_day(prev_end) and end > prev_end:
                run.append(index)
            elif not run or start > prev_end:
                run = [index]
            else:
                continue
            prev_end = end
            if len(run) > len(best):
                best = list(run)
        return best

    def findings(self) -> list[Finding]:
        c = self.config
        by_agreement: dict[str, list[int]] = defaultdict(list)
        days: dict[str, list[int]] = defaultdict(list)
        for (agreement, _), u in self.users.items():
            by_agreement[agreement].append(u.requests)
            u.close_day()
            days[agreement] += u.day_counts
        # Everyone's distinct people, all agreements: a busy analyst on a small store sees much
        # of it, as do its colleagues; a scraper sees far more than they do.
        seen_by_all = [len(u.people) for s, u in self.users.items() if s[1] is not None]
        out = []
        for subject in sorted(set(self.users) | set(self.feeds)):
            u = self.users[subject] if subject in self.users else self._new()
            fed = self.feeds[subject] if subject in self.feeds else self._new()
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

            rate = self._rates(subject, u, days, stat)
            if rate is not None:
                signs.append(rate)
                evidence += u.best_day_evidence
                severity = worse(severity, "high" if u.best_day[0] >= c.people_per_day_high else "medium")

            base = self.facts.baselines.get(subject[0])
            coverage = len(u.people) / base.persons if base and base.persons else 0.0
            stat["people_seen"], stat["coverage"] = len(u.people), coverage
            seen_z = stats.robust_z(len(u.people), seen_by_all)
            stat["people_seen_z_all"] = seen_z
            unusual = seen_z is None or seen_z >= c.volume_z
            if len(u.people) >= c.coverage_min_people and coverage >= c.coverage_share and unusual:
                in_scope = base.persons if base else 0
                signs.append(
                    f"saw {len(u.people):,} distinct people, {coverage:.0%} of the {in_scope:,} "
                    "in the agreement's scope"
                )
                evidence += u.best_day_evidence
                severity = worse(severity, "high" if coverage >= c.coverage_share_high else "medium")

            chain = self._chain(u.windows)
            stat["longest_date_sweep"] = len(chain)
            if len(chain) >= c.enumeration_min_run:
                signs.append(
                    f"searched {len(chain):,} date windows in sequence, each starting where the last ended"
                )
                evidence += chain[: c.max_evidence]
                severity = worse(severity, "high" if len(chain) >= c.enumeration_high_run else "medium")

            stat["feed_max_people_per_day"] = fed.feed_best[0]
            if fed.feed_best[0] > c.feed_people_per_day:
                signs.append(
                    f"was delivered {fed.feed_best[0]:,} distinct people by the feed on {fed.feed_best[1]} "
                    f"(more than {c.feed_people_per_day:,} a day: a replay, not new arrests)"
                )
                evidence += fed.feed_evidence.indices()
                severity = worse(severity, "high")

            if not signs:
                continue
            seen: set[int] = set()
            ordered = [i for i in evidence if not (i in seen or seen.add(i))]  # type: ignore[func-returns-value]
            stat["seen_as"] = BULK_SEEN
            summary = (
                f"Seen in {BULK_SEEN}. {who(subject, self.facts.partners.get(subject[0]))} "
                + "; ".join(signs)
                + "."
            )
            out.append(
                Finding(self.kind, subject[0], subject[1], severity, summary, stat, ordered[: c.max_evidence])
            )
        return out
