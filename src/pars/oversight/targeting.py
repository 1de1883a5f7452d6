"""origin_targeting and non_criminal_targeting: whom a user looks at, against scope.

For each user and each agency, the share of the distinct people (origin) or
arrests (non-criminal) it was shown that have the trait is compared with the share
among all arrests in the agreement's scope and period, by an exact one-sided
binomial test; p-values are adjusted by Benjamini–Hochberg across every subject
tested for the kind, and a finding needs q <= alpha and a ratio >= min_ratio.
Non-criminal targeting also counts searches that named a person and matched no
arrest at all (fishing for people never arrested), by Fisher's exact test of the
user's empty-search share against the rest of its agency.

Evasion (issue 12) is met three ways:

- aimed access tested alone: what a user aimed at (searches by name, dob, ssn,
  address or id, and reads of records they picked) is tested apart from the whole,
  so broad district or date-window sweeps, which return the scope's own mix,
  cannot dilute a skew in whom they sought. A subject that never swept is tested
  on the whole of its access; one that also swept broadly on its aimed part and,
  for the whole, query by query (below); every test joins one Benjamini–Hochberg
  family, and a finding says which view showed it;
- users pooled: per agreement, users are ordered by how far their aimed share
  exceeds the scope's (one-sided z), and the top 2, 3, ... users are pooled; the
  smallest binomial p over these groups, times the number of groups (Bonferroni:
  valid whatever the order), is the agency's scan test. Splitting the work over
  accounts, each below ``min_people``, puts them together again; honest users
  joining the agency do not dilute it, since the scan picks the skewed group;
- time: each user's aimed access is also tested in sliding windows of
  ``window_days`` (30 and 90 days, each stepping half its length, on a grid fixed
  from 2000-01-01), every window one more test in the same BH family, so a burst
  inside a long period stands out. A report for [from, to) also reads a lookback
  of the log before ``from`` (``OversightConfig.lookback``: the longest window) into
  the windows alone (``observe_before``), so the windows that hold the period's
  requests see the weeks before it too and a slow campaign is found by monthly
  reports; a window is tested only if it holds a request of the period. A flagged
  user's finding states where its conduct changed most (the change point maximising the two-share binomial
  likelihood ratio over the people it aimed at, in the order first seen);
- per query: each person a user was shown is counted once, at the first query that
  showed it, against the base rate of that query's own filter: a search naming a
  person or a read against the agreement's scope in the period, a date-window or
  district sweep against the people in scope arrested in that window or district
  (``pars.oversight.strata``, every date, cached per filter). The observed count k
  of n people, each with its own expected rate p_i, is a sum of independent
  Bernoulli trials (Poisson-binomial); its tail beyond the mean is bounded by the
  binomial with the same mean (Hoeffding 1956, Theorem 4: P(S >= k) <= P(B >= k) for
  k >= sum p_i + 1), so the exact binomial test at the mean share is a valid,
  conservative p-value. It is tested for every subject that also swept broadly, in
  the same Benjamini–Hochberg family; the finding states k - E, the variance and z.
  A sweep that selects on a proxy (a race, a statute) returns more foreign-born
  people than its window holds, which the whole view dilutes and the aimed view
  never sees;
- no per-user minimum to stay under: ``min_people`` only spares a lone user a test
  it has no power for; small users are still tested in the pooled scan.

Rule: expunged and unknown records are excluded from numerator and denominator
alike and only counted; a finding never names one.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from pars.oversight import stats
from pars.oversight.config import OversightConfig
from pars.oversight.model import (
    AIMED_FILTERS,
    ArrestFact,
    Baseline,
    Entry,
    Evidence,
    Finding,
    RecordFacts,
    Resolved,
    Subject,
    p_words,
    who,
)
from pars.oversight.strata import Cell, stratum_key
from pars.records.fields import PERSONAL_FILTERS

BINOMIAL = "exact binomial test, one-sided (greater), against the share in scope"
FISHER = "Fisher's exact test, one-sided (greater), against the rest of the agency"
_PERSON_FILTERS = frozenset(PERSONAL_FILTERS) | {"person_id"}
QUERY_TEST = (
    "exact binomial test, one-sided (greater), at the mean of each query's own base rate "
    "(a conservative bound on the Poisson-binomial tail, Hoeffding 1956)"
)
WHOLE, AIMED, POOLED, WINDOW = "all access", "aimed access", "pooled users", "window"
QUERY = "per query"
VIEW_WORDS = {
    QUERY: "each query against the base rate of its own filter (targeted searches and reads against the "
    "scope, date-window and district sweeps against the people in scope arrested in that window or district)",
    WHOLE: "all records it chose to see",
    AIMED: "targeted searches and reads (broad searches excluded)",
    POOLED: "targeted searches and reads of the agreement's most skewed users, pooled",
    WINDOW: "targeted searches and reads within one window of time",
}
#: Days are counted from this day, so window grids agree between reports.
_EPOCH = date(2000, 1, 1).toordinal()


def windows_of(day: int, days: int) -> range:
    """The windows of ``days`` days (stepping ``days // 2``) that hold day number ``day``."""
    step = max(1, days // 2)
    return range((day - days) // step + 1, day // step + 1)


def window_span(days: int, j: int) -> tuple[str, str]:
    """First and last day of window ``j`` of ``days`` days, ISO dates."""
    step = max(1, days // 2)
    first = date.fromordinal(_EPOCH + j * step)
    return first.isoformat(), (first + timedelta(days=days - 1)).isoformat()


def aimed(entry: Entry) -> bool:
    """A read of a picked record, or a search that names a person or a record."""
    if entry.get("action") == "read":
        return True
    return bool(AIMED_FILTERS & set(entry.get("filters") or {}))


@dataclass
class _Tally:
    units: set[str] = field(default_factory=set)
    hits: set[str] = field(default_factory=set)
    excluded: set[str] = field(default_factory=set)
    evidence: Evidence = field(default_factory=lambda: Evidence(50))
    searches: int = 0
    empty: int = 0
    empty_evidence: Evidence = field(default_factory=lambda: Evidence(50))


@dataclass
class _Queried:
    """The per-query view of one subject: people counted once, each at its own query's base rate."""

    n: int = 0
    k: int = 0
    #: Sum of the expected rates and of their Bernoulli variances.
    expected: float = 0.0
    variance: float = 0.0
    evidence: Evidence = field(default_factory=lambda: Evidence(50))


@dataclass(frozen=True)
class _Test:
    subject: Subject
    n: int
    k: int
    p0: float
    p: float
    view: str = WHOLE
    users: tuple[str, ...] = ()
    #: Candidate groups the p-value was adjusted over (the pooled scan).
    groups: int = 1
    #: (days, window number) for a window test.
    window: tuple[int, int] | None = None


class _ShareDetector:
    """Shared machinery: tally units per subject, test each against its baseline."""

    kind = ""
    trait = ""
    unit = "people"

    def __init__(self, facts: RecordFacts, config: OversightConfig) -> None:
        self.facts = facts
        self.config = config
        self.tallies: dict[Subject, _Tally] = defaultdict(self._new_tally)
        #: The aimed part of each user's access (searches naming a person, reads).
        self.aimed: dict[Subject, _Tally] = defaultdict(self._new_tally)
        self.broad: set[Subject] = set()
        #: A user's aimed access per sliding window: (subject, days, window number) -> tally.
        self.windows: dict[tuple[Subject, int, int], _Tally] = {}
        #: (subject, day, in the lookback) -> the tallies of the windows holding that day.
        self._slots: dict[tuple[Subject, str, bool], tuple[_Tally, ...]] = {}
        #: Per user, each aimed unit in the order first seen: (index, has the trait), for the change point.
        self.sequence: dict[Subject, list[tuple[int, bool]]] = defaultdict(list)
        #: Windows holding a request of the period (only these are tested), and those that also
        #: hold the lookback's (read before the period, for the windows alone).
        self.live: set[tuple[Subject, int, int]] = set()
        self.reached: set[tuple[Subject, int, int]] = set()
        #: The per-query view of each subject.
        self.queried: dict[Subject, _Queried] = defaultdict(
            lambda: _Queried(evidence=Evidence(config.max_evidence))
        )

    def _new_tally(self) -> _Tally:
        cap = self.config.max_evidence
        return _Tally(evidence=Evidence(cap), empty_evidence=Evidence(cap))

    # --- what differs between the two kinds ---
    def _unit(self, arrest_id: str, fact: ArrestFact) -> str:
        raise NotImplementedError

    def _has(self, fact: ArrestFact) -> bool:
        raise NotImplementedError

    def _baseline(self, b: Baseline) -> tuple[int, float]:
        raise NotImplementedError

    def _cell(self, c: Cell) -> tuple[int, int]:
        """(units, units with the trait) of a stratum's counts."""
        raise NotImplementedError

    def _query_rate(self, entry: Entry, is_aimed: bool) -> float | None:
        """The base rate of this query's own filter (None: no base rate to compare with)."""
        agreement = str(entry["agreement_id"])
        p0 = self._p0(agreement)
        if is_aimed:
            return p0
        strata = self.facts.strata.get(agreement)
        key = stratum_key(entry.get("filters") or {})
        if strata is None or key is None:
            return p0
        n, k = self._cell(strata.counts(key))
        # A stratum with no one in scope (a value logged only as its commitment): the scope's rate.
        return k / n if n else p0

    def _units(self, r: Resolved) -> tuple[set[str], set[str]]:
        """(units, units with the trait) of the entry's known arrests."""
        units: set[str] = set()
        hits: set[str] = set()
        for aid, fact in r.known:
            unit = self._unit(aid, fact)
            units.add(unit)
            if self._has(fact):
                hits.add(unit)
        return units, hits

    def _per_query(
        self, index: int, entry: Entry, r: Resolved, units: set[str], hits: set[str], is_aimed: bool
    ) -> None:
        rate = self._query_rate(entry, is_aimed)
        if rate is None:
            return
        for subject in r.subjects:
            new = units - self.tallies[subject].units
            if not new:
                continue
            q = self.queried[subject]
            found = len(new & hits)
            q.n += len(new)
            q.k += found
            q.expected += len(new) * rate
            q.variance += len(new) * rate * (1.0 - rate)
            if found:
                q.evidence.add(index, found - len(new) * rate)

    def observe_before(self, index: int, entry: Entry) -> None:
        """An entry of the lookback, before the report's period: it feeds the sliding windows only."""
        self.observe_before_resolved(index, entry, Resolved(entry, self.facts))

    def observe_before_resolved(self, index: int, entry: Entry, r: Resolved) -> None:
        """``observe_before`` with the entry's ``Resolved`` (shared by the report's detectors)."""
        if not r.allowed or not r.chosen or not r.aimed or r.user is None:
            return
        units, hits = self._units(r)
        if units:
            self._windows(index, r, units, hits, before=True)

    def observe(self, index: int, entry: Entry) -> None:
        self.observe_resolved(index, entry, Resolved(entry, self.facts))

    def observe_resolved(self, index: int, entry: Entry, r: Resolved) -> None:
        """``observe`` with the entry's ``Resolved`` (shared by the report's detectors)."""
        # A feed delivers the agreement's scope unasked: it says nothing of whom a user seeks.
        if not r.allowed or not r.chosen:
            return
        units, hits = self._units(r)
        excluded = r.excluded
        is_aimed = r.aimed
        if is_aimed and r.user is not None and units:
            self._windows(index, r, units, hits)
        if units:
            self._per_query(index, entry, r, units, hits, is_aimed)
        for subject in r.subjects:
            views = (self.tallies[subject], self.aimed[subject]) if is_aimed else (self.tallies[subject],)
            if not is_aimed:
                self.broad.add(subject)
            for t in views:
                if excluded:
                    t.excluded.update(excluded)
                t.units |= units
                if hits:
                    t.hits |= hits
                    t.evidence.add(index, len(hits))
        self._observe_search(index, entry, r)

    def _windows(
        self, index: int, r: Resolved, units: set[str], hits: set[str], *, before: bool = False
    ) -> None:
        subject: Subject = (r.agreement, str(r.user))
        if not before:
            new = units - self.aimed[subject].units
            if new:
                seq = self.sequence[subject]
                for unit in sorted(new):  # sorted: the same JSON whatever PYTHONHASHSEED
                    seq.append((index, unit in hits))
        time = r.time[:10]
        # The tallies of the windows holding this user's day, looked up once per user, day and side
        # of the period's start (the windows are marked live or reached then; marking is idempotent).
        slot = (subject, time, before)
        tallies = self._slots.get(slot)
        if tallies is None:
            tallies = self._slots[slot] = self._window_tallies(subject, time, before)
        for t in tallies:
            t.units |= units
            if hits:
                t.hits |= hits
                t.evidence.add(index, len(hits))

    def _window_tallies(self, subject: Subject, time: str, before: bool) -> tuple[_Tally, ...]:
        """The tallies of ``subject``'s windows holding day ``time`` (none if it is not a date),
        each marked live (or reached, for the lookback)."""
        try:
            day = date.fromisoformat(time).toordinal() - _EPOCH
        except ValueError:
            return ()
        marked = self.reached if before else self.live
        out = []
        for days in self.config.window_days:
            for j in windows_of(day, days):
                key = (subject, days, j)
                marked.add(key)
                t = self.windows.get(key)
                if t is None:
                    t = self.windows[key] = self._new_tally()
                out.append(t)
        return tuple(out)

    def _observe_search(self, index: int, entry: Entry, r: Resolved) -> None:
        """Hook for non-criminal targeting's empty searches."""

    def _p0(self, agreement: str) -> float | None:
        base = self.facts.baselines.get(agreement)
        if base is None:
            return None
        _, p0 = self._baseline(base)
        return p0 if 0.0 < p0 < 1.0 else None

    def _tests(self) -> list[_Test]:
        tests = []
        for subject, t in sorted(self.tallies.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
            p0 = self._p0(subject[0])
            if p0 is None:
                continue
            # A subject that swept broadly: its whole access is measured query by query (a sweep
            # returns its own window's and district's mix, not the scope's), its aimed part alone.
            views = [(AIMED, self.aimed[subject])] if subject in self.broad else [(WHOLE, t)]
            for view, tally in views:
                n, k = len(tally.units), len(tally.hits)
                if n >= self.config.min_people:
                    tests.append(_Test(subject, n, k, p0, stats.binomial_test(k, n, p0), view))
            q = self.queried.get(subject)
            if subject in self.broad and q is not None and q.n >= self.config.min_people:
                mean = q.expected / q.n
                # Hoeffding's bound holds from the mean plus one: below it there is no skew to test.
                p = stats.binomial_test(q.k, q.n, mean) if q.k >= q.expected + 1.0 and 0 < mean < 1 else 1.0
                tests.append(_Test(subject, q.n, q.k, mean, p, QUERY))
        tests += self._pooled()
        for (subject, days, j), t in sorted(
            self.windows.items(), key=lambda kv: (kv[0][0][0], kv[0][0][1] or "", kv[0][1], kv[0][2])
        ):
            p0 = self._p0(subject[0])
            n, k = len(t.units), len(t.hits)
            if p0 is None or n < self.config.min_people or (subject, days, j) not in self.live:
                continue
            # A window holding all the user's aimed access (and nothing from the lookback) says
            # nothing the aimed view does not.
            if n == len(self.aimed[subject].units) and (subject, days, j) not in self.reached:
                continue
            tests.append(_Test(subject, n, k, p0, stats.binomial_test(k, n, p0), WINDOW, window=(days, j)))
        return tests

    def _pooled(self) -> list[_Test]:
        """Per agreement, the scan over pooled groups of its most skewed users (aimed access)."""
        by_agreement: dict[str, list[tuple[float, str, int, int]]] = defaultdict(list)
        for (agreement, user), t in self.aimed.items():
            p0 = self._p0(agreement)
            if user is None or p0 is None or not t.units:
                continue
            n, k = len(t.units), len(t.hits)
            z = (k - n * p0) / (n * p0 * (1.0 - p0)) ** 0.5
            by_agreement[agreement].append((z, user, n, k))
        out = []
        for agreement, rows in sorted(by_agreement.items()):
            if len(rows) < 2:
                continue
            p0 = self._p0(agreement)
            assert p0 is not None
            rows.sort(key=lambda r: (-r[0], r[1]))
            best: tuple[float, int, int, int] | None = None
            n = k = 0
            for m, (_, _, nu, ku) in enumerate(rows, 1):
                n, k = n + nu, k + ku
                if m >= 2:
                    p = stats.binomial_test(k, n, p0)
                    if best is None or p < best[0]:
                        best = (p, m, n, k)
            assert best is not None
            p, m, n, k = best
            groups = len(rows) - 1
            users = tuple(sorted(r[1] for r in rows[:m]))
            out.append(_Test((agreement, None), n, k, p0, min(1.0, p * groups), POOLED, users, groups))
        return out

    def _tally(self, test: _Test) -> _Tally:
        if test.view == WHOLE:
            return self.tallies[test.subject]
        if test.view == WINDOW and test.window is not None:
            return self.windows[(test.subject, *test.window)]
        if test.view == AIMED:
            return self.aimed[test.subject]
        if test.view == QUERY:
            t = self._new_tally()
            t.excluded = self.tallies[test.subject].excluded
            t.evidence = self.queried[test.subject].evidence
            return t
        pooled = self._new_tally()
        for user in test.users:
            t = self.aimed[(test.subject[0], user)]
            pooled.excluded |= t.excluded
            for i in t.evidence.indices():
                pooled.evidence.add(i)
        return pooled

    def _statistic(self, test: _Test, q: float, tested: int) -> dict[str, Any]:
        base = self.facts.baselines[test.subject[0]]
        ratio = stats.share_ratio(test.k, test.n, test.p0, self.config.confidence)
        t = self._tally(test)
        extra: dict[str, Any] = {}
        if test.view == POOLED:
            extra = {
                "users": list(test.users),
                "groups_scanned": test.groups,
                "per_user": {
                    u: {
                        "n": len(self.aimed[(test.subject[0], u)].units),
                        "k": len(self.aimed[(test.subject[0], u)].hits),
                    }
                    for u in test.users
                },
            }
        seen_as = VIEW_WORDS[test.view]
        if test.window is not None:
            first, last = window_span(*test.window)
            extra["window"] = {"days": test.window[0], "from": first, "to": last}
            seen_as = f"targeted searches and reads from {first} to {last} (a {test.window[0]}-day window)"
        if test.view == QUERY:
            per = self.queried[test.subject]
            extra["expected"] = per.expected
            extra["variance"] = per.variance
            extra["z"] = (per.k - per.expected) / per.variance**0.5 if per.variance > 0 else None
        if test.subject[1] is not None:
            change = self._change_point(test.subject)
            if change is not None:
                extra["change_point"] = change
        return {
            "view": test.view,
            "seen_as": seen_as,
            **extra,
            "test": QUERY_TEST
            if test.view == QUERY
            else BINOMIAL
            if test.view != POOLED
            else f"{BINOMIAL}; Bonferroni over {test.groups} pooled groups",
            "n": test.n,
            "k": test.k,
            "share": test.k / test.n,
            "baseline_share": test.p0,
            "baseline_n": self._baseline(base)[0],
            "ratio": ratio.ratio,
            "ratio_ci": [ratio.low, ratio.high],
            "confidence": self.config.confidence,
            "p_value": test.p,
            "q_value": q,
            "alpha": self.config.alpha,
            "subjects_tested": tested,
            "excluded_expunged": sum(1 for a in t.excluded if self.facts.is_expunged(a)),
            "excluded_unknown": sum(1 for a in t.excluded if not self.facts.is_expunged(a)),
        }

    def _flagged(self) -> dict[Subject, dict[str, Any]]:
        """Each subject's most significant flagged view (a subject appears once per kind)."""
        tests = self._tests()
        qs = stats.benjamini_hochberg([t.p for t in tests])
        out: dict[Subject, dict[str, Any]] = {}
        for test, q in sorted(zip(tests, qs, strict=True), key=lambda tq: tq[0].p):
            if test.subject in out or q > self.config.alpha:
                continue
            stat = self._statistic(test, q, len(tests))
            if stat["ratio"] >= self.config.min_ratio:
                out[test.subject] = stat
        return out

    def _summary(self, subject: Subject, s: dict[str, Any]) -> str:
        lo, hi = s["ratio_ci"]
        excluded = s["excluded_expunged"]
        tail = f" {excluded} expunged record(s) were left out of the count." if excluded else ""
        seen = f"Seen in {s['seen_as']}: {s['share']:.0%} against {s['baseline_share']:.0%} in scope. "
        if s["view"] == QUERY:
            z = "" if s["z"] is None else f", z = {s['z']:.1f}"
            seen = (
                f"Seen query by query, each query against the base rate of its own filter (targeted "
                f"searches against the scope's {self._p0(subject[0]) or 0.0:.0%}, sweeps against the window "
                f"or district they asked for): {s['share']:.0%} against {s['baseline_share']:.0%} expected "
                f"({s['k']:,} of {s['n']:,} against {s['expected']:.1f} expected{z}). "
            )
        change = s.get("change_point")
        if change is not None and change["share_after"] > change["share_before"]:
            seen += (
                f"Its conduct changed at audit entry {change['index']}: {change['share_before']:.0%} of the "
                f"{change['people_before']:,} people it aimed at before, {change['share_after']:.0%} of the "
                f"{change['people_after']:,} after. "
            )
        if s["view"] == POOLED:
            users = ", ".join(s["users"])
            return seen + (
                f"{who(subject, self.facts.partners.get(subject[0]))}: its users {users} together aimed at "
                f"{s['n']:,} distinct {self.unit}; {s['k']:,} of them ({s['share']:.1%}) {self.trait}, "
                f"against {s['baseline_share']:.1%} of the {s['baseline_n']:,} in the agreement's scope: "
                f"{s['ratio']:.1f} times as often ({s['confidence']:.0%} interval {lo:.1f} to {hi:.1f}). "
                f"Pooling its users from the most skewed down, this group stands out by chance "
                f"{p_words(s['p_value'])} (exact binomial test, p = {s['p_value']:.2g} after Bonferroni over "
                f"{s['groups_scanned']} groups; q = {s['q_value']:.2g}).{tail}"
            )
        return seen + (
            f"{who(subject, self.facts.partners.get(subject[0]))} was shown {s['n']:,} distinct "
            f"{self.unit} in the period; {s['k']:,} of them ({s['share']:.1%}) {self.trait}, against "
            f"{s['baseline_share']:.1%} of the {s['baseline_n']:,} {self.unit} in the agreement's scope: "
            f"{s['ratio']:.1f} times as often ({s['confidence']:.0%} interval {lo:.1f} to {hi:.1f}). "
            f"Had these searches followed the records in scope, a share this high would arise by chance "
            f"{p_words(s['p_value'])} (exact binomial test, p = {s['p_value']:.2g}; "
            f"q = {s['q_value']:.2g} after adjusting for the {s['subjects_tested']} users and agencies "
            f"tested).{tail}"
        )

    def findings(self) -> list[Finding]:
        out = []
        for subject, stat in self._flagged().items():
            t = self._tally_for(subject, stat)
            severity = self.config.band(stat["ratio"], self.config.ratio_medium, self.config.ratio_high)
            out.append(
                Finding(
                    self.kind,
                    subject[0],
                    subject[1],
                    severity,
                    self._summary(subject, stat),
                    stat,
                    t.evidence.indices(),
                )
            )
        return out

    def _change_point(self, subject: Subject) -> dict[str, Any] | None:
        """Where the user's aimed share changed most (the split maximising the binomial likelihood
        ratio of two shares against one), in one pass over its people in the order first seen."""
        seq = self.sequence.get(subject) or []
        n = len(seq)
        total = sum(h for _, h in seq)
        if n < 2 * self.config.min_people or total in (0, n):
            return None

        def ll(k: int, m: int) -> float:
            return sum(x * math.log(x / m) for x in (k, m - k) if x)

        best, at, before = 0.0, 0, 0
        k = 0
        for i, (_, h) in enumerate(seq[:-1], 1):
            k += h
            if i < self.config.min_people or n - i < self.config.min_people:
                continue
            gain = ll(k, i) + ll(total - k, n - i) - ll(total, n)
            if gain > best:
                best, at, before = gain, i, k
        if at == 0:
            return None
        return {
            "index": seq[at][0],
            "share_before": before / at,
            "share_after": (total - before) / (n - at),
            "people_before": at,
            "people_after": n - at,
            "log_likelihood_ratio": best,
        }

    def _tally_for(self, subject: Subject, stat: dict[str, Any]) -> _Tally:
        view = stat["view"]
        if view == WINDOW:
            w = stat["window"]
            first = date.fromisoformat(w["from"]).toordinal() - _EPOCH
            return self.windows[(subject, w["days"], first // max(1, w["days"] // 2))]
        if view == POOLED:
            return self._tally(_Test(subject, 0, 0, 0.0, 1.0, POOLED, tuple(stat["users"])))
        if view == QUERY:
            return self._tally(_Test(subject, 0, 0, 0.0, 1.0, QUERY))
        return self.aimed[subject] if view == AIMED else self.tallies[subject]

    def power(self) -> list[dict[str, Any]]:
        """Per agreement: the smallest ratio the test would have detected (agency and median user)."""
        out = []
        for agreement in sorted({s[0] for s in self.tallies}):
            base = self.facts.baselines.get(agreement)
            if base is None:
                continue
            n_base, p0 = self._baseline(base)
            agency_n = len(self.tallies[(agreement, None)].units)
            users = [len(t.units) for s, t in self.tallies.items() if s[0] == agreement and s[1] is not None]
            user_n = int(stats.median(users)) if users else 0
            m = max(1, len(self.tallies))
            out.append(
                {
                    "kind": self.kind,
                    "agreement_id": agreement,
                    "test": BINOMIAL,
                    "baseline_share": p0,
                    "baseline_n": n_base,
                    "alpha": self.config.alpha,
                    "power": self.config.power,
                    "agency": self._power_at(agency_n, p0, self.config.alpha),
                    # BH's strictest step is alpha/m: the bound for a single skewed user.
                    "median_user": self._power_at(user_n, p0, self.config.alpha / m),
                }
            )
        return out

    def _power_at(self, n: int, p0: float, alpha: float) -> dict[str, Any]:
        """``test_min_ratio``: what the test alone detects; ``min_ratio``: with the effect floor."""
        r = None
        if n >= self.config.min_people and 0.0 < p0 < 1.0:
            r = stats.min_detectable_ratio(n, p0, alpha, self.config.power)
        return {
            "n": n,
            "test_min_ratio": r,
            "min_ratio": None if r is None else max(r, self.config.min_ratio),
        }


class OriginTargeting(_ShareDetector):
    kind = "origin_targeting"
    trait = "were born outside the United States"
    unit = "people"

    def _unit(self, arrest_id: str, fact: ArrestFact) -> str:
        return fact.person_id

    def _units(self, r: Resolved) -> tuple[set[str], set[str]]:
        known = r.known
        return {f.person_id for _, f in known}, {f.person_id for _, f in known if f.foreign_born}

    def _has(self, fact: ArrestFact) -> bool:
        return fact.foreign_born

    def _baseline(self, b: Baseline) -> tuple[int, float]:
        return b.persons, b.foreign_born_share

    def _cell(self, c: Cell) -> tuple[int, int]:
        return c.persons, c.foreign_born


class NonCriminalTargeting(_ShareDetector):
    kind = "non_criminal_targeting"
    trait = "ended with charges declined, withdrawn or dismissed, or were summary offences only"
    unit = "arrests"

    def _unit(self, arrest_id: str, fact: ArrestFact) -> str:
        return arrest_id

    def _units(self, r: Resolved) -> tuple[set[str], set[str]]:
        known = r.known
        return {a for a, _ in known}, {a for a, f in known if f.non_criminal}

    def _has(self, fact: ArrestFact) -> bool:
        return fact.non_criminal

    def _baseline(self, b: Baseline) -> tuple[int, float]:
        return b.arrests, b.non_criminal_share

    def _cell(self, c: Cell) -> tuple[int, int]:
        return c.arrests, c.non_criminal

    def _observe_search(self, index: int, entry: Entry, r: Resolved) -> None:
        if r.action != "search" or not (_PERSON_FILTERS & set(entry.get("filters") or {})):
            return
        empty = not entry.get("arrest_ids")
        for subject in r.subjects:
            t = self.tallies[subject]
            t.searches += 1
            if empty:
                t.empty += 1
                t.empty_evidence.add(index)

    def _empty_flags(self) -> dict[Subject, dict[str, Any]]:
        rows = []
        # Every user with searches is in the family: choosing the family by the outcome
        # (only users with many empty searches) would make the adjustment too lenient.
        for subject, t in list(self.tallies.items()):
            if subject[1] is None or t.searches == 0:
                continue
            agency = self.tallies[(subject[0], None)]
            rest_n, rest_e = agency.searches - t.searches, agency.empty - t.empty
            p = stats.fisher_greater(t.empty, t.searches - t.empty, rest_e, rest_n - rest_e)
            rest_share = rest_e / rest_n if rest_n else 0.0
            share = t.empty / t.searches
            ratio = share / rest_share if rest_share else float("inf")
            rows.append((subject, p, share, rest_share, ratio, rest_n))
        qs = stats.benjamini_hochberg([r[1] for r in rows])
        out = {}
        for (subject, p, share, rest_share, ratio, rest_n), q in zip(rows, qs, strict=True):
            t = self.tallies[subject]
            big = t.empty >= self.config.empty_search_min and ratio >= self.config.empty_search_ratio
            if q <= self.config.alpha and big:
                out[subject] = {
                    "test": FISHER,
                    "searches": t.searches,
                    "empty": t.empty,
                    "share": share,
                    "rest_searches": rest_n,
                    "rest_share": rest_share,
                    "ratio": ratio if rest_share else None,
                    "p_value": p,
                    "q_value": q,
                }
        return out

    def findings(self) -> list[Finding]:
        by_subject = {(f.agreement_id, f.user): f for f in super().findings()}
        for subject, empty in self._empty_flags().items():
            t = self.tallies[subject]
            text = (
                f"Seen in its searches naming a person, against the rest of the agency's: "
                f"{who(subject)} ran {empty['searches']:,} searches naming a person, of which "
                f"{empty['empty']:,} ({empty['share']:.0%}) matched no arrest at all, against "
                f"{empty['rest_share']:.0%} for the rest of the agency: searches for people never "
                f"arrested. By chance this would happen {p_words(empty['p_value'])} "
                f"(Fisher's exact test, p = {empty['p_value']:.2g}, q = {empty['q_value']:.2g})."
            )
            f = by_subject.get(subject)
            if f is None:
                severity = "medium" if empty["share"] >= self.config.empty_share_medium else "low"
                seen_as = "searches naming a person that matched no arrest, against the rest of the agency's"
                stat: dict[str, Any] = {"test": FISHER, "seen_as": seen_as, "empty_searches": empty}
                by_subject[subject] = Finding(
                    self.kind, subject[0], subject[1], severity, text, stat, t.empty_evidence.indices()
                )
            else:
                merged = sorted(set(f.evidence) | set(t.empty_evidence.indices()))[: self.config.max_evidence]
                evidence = f.evidence + [i for i in merged if i not in f.evidence]
                stat = {**f.statistic, "empty_searches": empty}
                by_subject[subject] = Finding(
                    f.kind,
                    f.agreement_id,
                    f.user,
                    f.severity,
                    f"{f.summary} {text}",
                    stat,
                    evidence[: self.config.max_evidence],
                )
        return list(by_subject.values())
