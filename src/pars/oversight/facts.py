"""The store adapter: builds ``RecordFacts`` for the arrests an audit period touched.

For each touched arrest: its arrestee's person id, foreign-born, non-criminal.
For each agreement: the baseline among arrests in its scope (grades, since) that
were arrested in the period, its permitted purposes per version, its partner.
For every victim and witness: person id and keyed hashes of name and dob, with
the same hashes for arrestees, so probes can be recognised without un-hashing.

For each agreement too: ``Strata``, its scope's arrests per district and day over
every date (the per-query view's base rate of a sweep's own window or district).

What is read when. ``load_facts`` reads, in one connection: each agreement's
history; then, if any agreement was found, every arrest not expunged once
(``read_arrests``: arrestee, origin, district, arrested time, charging, charges,
and which arrests meet each scope's grades), and each scope is a filter of that
read in Python (``StoreArrests.scope``, as ``_in_scope`` selects in SQL): the
latest version's scope gives the strata (scopes selecting the same arrests share
them), the scope of the version in force at the period's end gives the baseline,
its arrests filtered to the period as ``_scope_condition`` does (at or after the
start, at or before the end, as naive UTC); then every party once (the hashes,
each distinct value hashed once). The arrests read are kept in
``RecordFacts.read_ahead``, so ``add_arrests``, which the report calls page by
page as it streams the log, reads ``expungements`` for every id it is given (an
arrest expunged since is never answered for) and the store only for the arrests
not read ahead. ``read_scope``/``load_strata`` read one scope in SQL (benchmarks).

Rule: expunged arrests are read from ``expungements`` by id only; nothing else
about them is ever looked up, and ``RecordFacts`` answers for them as unknown.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, exists, select

from pars.agreements.document import ScopeRules
from pars.agreements.history import AgreementHistory
from pars.agreements.service import load_history
from pars.audit import keyed_hash
from pars.clock import city_day_start, to_utc_naive
from pars.errors import NotFound
from pars.oversight.model import ArrestFact, Baseline, RecordFacts
from pars.oversight.strata import Cell, Strata
from pars.store.db import Store, chunks
from pars.store.schema.records import arrests, charges, charging, expungements, parties

NON_CRIMINAL_DISPOSITIONS = frozenset({"withdrawn", "dismissed"})
CHUNK = 500

#: A scope as a key: (grades sorted, or None for every grade; since). Equal keys, equal arrests.
ScopeKey = tuple[tuple[str, ...] | None, date | None]


def _charges(
    conn: Connection, where: ColumnElement[bool], grade_sets: Iterable[frozenset[str]] = ()
) -> tuple[set[str], dict[frozenset[str], set[str]]]:
    """Of the arrests matching ``where``: the non-criminal ones (``ArrestFact.non_criminal``),
    and for each grade set, those with a charge of one of its grades (a scope's ``grades``)."""
    declined = set(
        conn.execute(
            select(charging.c.arrest_id)
            .join(arrests, arrests.c.arrest_id == charging.c.arrest_id)
            .where(where, charging.c.decision == "declined")
        )
        .scalars()
        .all()
    )
    # An arrest is non-criminal when every one of its charges was dropped, or every one is
    # summary: the arrests with a charge that breaks each rule, then those with any charge.
    charged: set[str] = set()
    kept: set[str] = set()
    graver: set[str] = set()
    graded: dict[frozenset[str], set[str]] = {g: set() for g in grade_sets}
    for aid, grade, disposition in conn.execute(
        select(charges.c.arrest_id, charges.c.grade, charges.c.disposition)
        .join(arrests, arrests.c.arrest_id == charges.c.arrest_id)
        .where(where)
    ).all():
        charged.add(aid)
        if disposition not in NON_CRIMINAL_DISPOSITIONS:
            kept.add(aid)
        if grade != "S":
            graver.add(aid)
        for g, having in graded.items():
            if grade in g:
                having.add(aid)
    return declined | {aid for aid in charged if aid not in kept or aid not in graver}, graded


def _non_criminal(conn: Connection, where: ColumnElement[bool]) -> set[str]:
    """The arrests matching ``where`` that are non-criminal (``ArrestFact.non_criminal``)."""
    return _charges(conn, where)[0]


def _arrestee_rows(conn: Connection, where: ColumnElement[bool], *columns: Any) -> list[Any]:
    """(arrest_id, person_id, country_of_origin, *columns) of every arrest matching ``where``."""
    q = (
        select(arrests.c.arrest_id, arrests.c.person_id, parties.c.country_of_origin, *columns)
        .select_from(arrests)
        .outerjoin(parties, and_(parties.c.arrest_id == arrests.c.arrest_id, parties.c.role == "arrestee"))
        .where(where)
    )
    return list(conn.execute(q).all())


def _fact(person: str, origin: str | None, non_criminal: bool) -> ArrestFact:
    country = (origin or "").strip().upper()
    return ArrestFact(person, bool(country) and country != "US", non_criminal)


def arrest_facts(conn: Connection, where: ColumnElement[bool]) -> dict[str, ArrestFact]:
    """Facts of every arrest matching ``where`` (a condition on ``arrests``)."""
    rows = _arrestee_rows(conn, where)
    dropped = _non_criminal(conn, where)
    return {aid: _fact(person, origin, aid in dropped) for aid, person, origin in rows}


@dataclass(frozen=True, slots=True)
class ScopeArrests:
    """Every arrest in one scope over every date (none expunged): its facts, district, time."""

    #: The facts of (at least) every arrest in ``placed``.
    facts: dict[str, ArrestFact]
    #: (arrest_id, district, arrested_utc) of each arrest in the scope.
    placed: list[tuple[str, str, datetime]]


@dataclass(frozen=True, slots=True)
class StoreArrests:
    """Every arrest not expunged, read once (``read_arrests``); each scope is a filter of it."""

    facts: dict[str, ArrestFact]
    placed: list[tuple[str, str, datetime]]
    #: Per grade set asked for: the arrests with a charge of one of its grades.
    graded: dict[frozenset[str], set[str]]

    def scope(self, scope: ScopeRules) -> ScopeArrests:
        """The arrests in ``scope``, as ``_in_scope`` selects them in SQL.

        A charge of one of its grades (a NULL grade is none), arrested at or after the
        city's midnight of ``since``; expunged arrests were never read.
        """
        since = None if scope.since is None else city_day_start(scope.since)
        having = None if scope.grades is None else self.graded[frozenset(scope.grades)]
        return ScopeArrests(
            self.facts,
            [
                p
                for p in self.placed
                if (since is None or p[2] >= since) and (having is None or p[0] in having)
            ],
        )


def _scope_of(history: AgreementHistory, end: datetime | None) -> ScopeRules:
    """The scope of the version in force at ``end`` (the latest's if ``end`` is None or none was yet)."""
    versions = [v for v in history.versions if end is None or v.applied_at <= end] or [history.latest]
    return versions[-1].document.scope


def scope_key(scope: ScopeRules) -> ScopeKey:
    """What makes two scopes read the same arrests."""
    return (None if scope.grades is None else tuple(sorted(scope.grades)), scope.since)


def _in_scope(scope: ScopeRules) -> list[ColumnElement[bool]]:
    """Arrests in ``scope`` (grades, since), not expunged, over every date."""
    conds: list[ColumnElement[bool]] = [~exists().where(expungements.c.arrest_id == arrests.c.arrest_id)]
    if scope.grades is not None:
        # An alias: the charges query this condition joins to must not swallow the subquery.
        graded = charges.alias("scope_charges")
        conds.append(
            exists().where(
                graded.c.arrest_id == arrests.c.arrest_id, graded.c.grade.in_(sorted(scope.grades))
            )
        )
    if scope.since is not None:  # a day in the city's time zone, as the gate reads it
        conds.append(arrests.c.arrested_utc >= city_day_start(scope.since))
    return conds


def _scope_condition(history: AgreementHistory, start: datetime | None, end: datetime | None) -> Any:
    """Arrests in the scope of the version in force at the period's end, arrested in the period."""
    conds = _in_scope(_scope_of(history, end))
    if start is not None:
        conds.append(arrests.c.arrested_utc >= to_utc_naive(start))
    if end is not None:
        conds.append(arrests.c.arrested_utc <= to_utc_naive(end))
    return and_(*conds)


def read_scope(conn: Connection, scope: ScopeRules) -> ScopeArrests:
    """Every arrest in ``scope`` over every date, with its facts, district and arrested time (one read)."""
    where = and_(*_in_scope(scope))
    rows = _arrestee_rows(conn, where, arrests.c.district, arrests.c.arrested_utc)
    dropped = _non_criminal(conn, where)
    return ScopeArrests(
        {aid: _fact(person, origin, aid in dropped) for aid, person, origin, _, _ in rows},
        [(aid, district, at) for aid, _, _, district, at in rows],
    )


def read_arrests(conn: Connection, grade_sets: Iterable[frozenset[str]]) -> StoreArrests:
    """Every arrest not expunged, with its facts, district, arrested time, and which of these
    grade sets its charges meet: every scope's arrests in one read of each table."""
    where = ~exists().where(expungements.c.arrest_id == arrests.c.arrest_id)
    rows = _arrestee_rows(conn, where, arrests.c.district, arrests.c.arrested_utc)
    dropped, graded = _charges(conn, where, grade_sets)
    return StoreArrests(
        {aid: _fact(person, origin, aid in dropped) for aid, person, origin, _, _ in rows},
        [(aid, district, at) for aid, _, _, district, at in rows],
        graded,
    )


def baseline(facts: dict[str, ArrestFact]) -> Baseline:
    """The counts of these arrests (``Baseline``)."""
    return _counted(facts.values())


def _counted(facts: Iterable[ArrestFact]) -> Baseline:
    people: dict[str, bool] = {}
    arrests_n = non_criminal = 0
    for f in facts:
        arrests_n += 1
        non_criminal += f.non_criminal
        people[f.person_id] = people.get(f.person_id, False) or f.foreign_born
    return Baseline(
        arrests=arrests_n,
        persons=len(people),
        foreign_born_persons=sum(people.values()),
        non_criminal_arrests=non_criminal,
    )


def period_baseline(scoped: ScopeArrests, start: datetime | None, end: datetime | None) -> Baseline:
    """The baseline of the scope's arrests arrested in the period (both ends included, as in SQL)."""
    lo = None if start is None else to_utc_naive(start)
    hi = None if end is None else to_utc_naive(end)
    return _counted(
        scoped.facts[aid]
        for aid, _, at in scoped.placed
        if (lo is None or at >= lo) and (hi is None or at <= hi)
    )


def strata_of(scoped: ScopeArrests) -> Strata:
    """The scope's arrests per district and UTC day."""
    facts = scoped.facts
    people: dict[tuple[str | None, int], set[str]] = {}
    # Per cell, [persons, foreign-born persons, arrests, non-criminal arrests]: summed as ints,
    # made ``Cell`` once at the end (a Cell added per arrest cost a second at 10^5 arrests).
    counts: dict[tuple[str | None, int], list[int]] = {}
    for aid, district, at in scoped.placed:
        fact = facts[aid]
        key = (None if district is None else str(district), at.toordinal())
        c = counts.get(key)
        if c is None:
            c = counts[key] = [0, 0, 0, 0]
            people[key] = seen = set()
        else:
            seen = people[key]
        if fact.person_id not in seen:
            seen.add(fact.person_id)
            c[0] += 1
            c[1] += fact.foreign_born
        c[2] += 1
        c[3] += fact.non_criminal
    return Strata({key: Cell(*c) for key, c in counts.items()})


def load_strata(conn: Connection, history: AgreementHistory) -> Strata:
    """The arrests in the agreement's scope (every date) per district and UTC day."""
    return strata_of(read_scope(conn, history.latest.document.scope))


def _party_hashes(conn: Connection, hmac_key: bytes, facts: RecordFacts) -> None:
    """Every party's keyed name and dob hashes (victims'/witnesses' apart), expunged arrests' left out."""
    q = select(
        parties.c.role, parties.c.person_id, parties.c.last_name, parties.c.first_name, parties.c.dob
    ).where(~exists().where(expungements.c.arrest_id == parties.c.arrest_id))
    # Many parties share a name or a dob: each distinct value is hashed once.
    protected_ids: set[str] = set()
    names: dict[bool, set[tuple[str, str]]] = {True: set(), False: set()}
    dobs: dict[bool, set[str]] = {True: set(), False: set()}
    for role, person, last, first, dob in conn.execute(q).all():
        protected = role != "arrestee"
        if protected:
            protected_ids.add(person)
        names[protected].add((last, first))
        if dob:
            dobs[protected].add(dob)
    lasts = {last for pairs in names.values() for last, _ in pairs}
    firsts = {first for pairs in names.values() for _, first in pairs}
    last_hash = {v: keyed_hash("last_name", v, hmac_key) for v in lasts}
    first_hash = {v: keyed_hash("first_name", v, hmac_key) for v in firsts}
    dob_hash = {v: keyed_hash("dob", v, hmac_key) for v in dobs[True] | dobs[False]}
    name_hashes = {
        p: frozenset((last_hash[last], first_hash[first]) for last, first in names[p]) for p in (True, False)
    }
    facts.protected_persons = frozenset(protected_ids)
    facts.protected_names, facts.arrestee_names = name_hashes[True], name_hashes[False]
    facts.protected_dobs = frozenset(dob_hash[d] for d in dobs[True])
    facts.arrestee_dobs = frozenset(dob_hash[d] for d in dobs[False])
    facts.protected_last_names = frozenset(last_hash[last] for last, _ in names[True])
    facts.arrestee_last_names = frozenset(last_hash[last] for last, _ in names[False])
    facts.protected_first_names = frozenset(first_hash[first] for _, first in names[True])
    facts.arrestee_first_names = frozenset(first_hash[first] for _, first in names[False])


def add_arrests(conn: Connection, facts: RecordFacts, arrest_ids: Iterable[str]) -> None:
    """Add these arrests' facts to ``facts``; an expunged one only to ``facts.expunged``.

    The report calls this page by page as it streams the log, so the log is read once.
    Every id is looked up in ``expungements`` now; of the others, those already known
    (in ``facts.arrests``, or read with a scope: ``facts.read_ahead``) are not read again,
    the rest are read from the store.
    """
    ids = sorted(set(arrest_ids))
    expunged = expunged_among(conn, ids)
    # Nothing but the id is looked up for an expunged arrest; a known one is not read again.
    rest: list[str] = []
    for aid in ids:
        if aid in expunged or aid in facts.arrests:
            continue
        fact = facts.read_ahead.pop(aid, None)
        if fact is None:
            rest.append(aid)
        else:
            facts.arrests[aid] = fact
    for chunk in chunks(rest, CHUNK):
        facts.arrests.update(arrest_facts(conn, arrests.c.arrest_id.in_(chunk)))
    # Fail closed: one known before and expunged since is forgotten.
    for aid in expunged:
        facts.arrests.pop(aid, None)
        facts.read_ahead.pop(aid, None)
    if expunged:
        facts.expunged = facts.expunged | expunged


def load_facts(
    store: Store,
    *,
    arrest_ids: Iterable[str],
    agreement_ids: Iterable[str],
    hmac_key: bytes,
    start: datetime | None = None,
    end: datetime | None = None,
) -> RecordFacts:
    """Everything the detectors may ask, every table read once (module docstring)."""
    facts = RecordFacts()
    histories: dict[str, AgreementHistory] = {}
    with store.read() as conn:
        for agreement in sorted(set(agreement_ids)):
            try:
                histories[agreement] = history = load_history(conn, agreement)
            except NotFound:
                continue
            facts.partners[agreement] = history.partner
            for v in history.versions:
                permitted = frozenset(v.document.purposes)
                facts.purposes[(agreement, v.hash)] = permitted
                facts.purposes[(agreement, str(v.number))] = permitted
        # The strata: the latest version's scope; the baseline: the version in force at the
        # period's end. Every scope is a filter of one read; one scope's strata are shared.
        wanted = {a: (h.latest.document.scope, _scope_of(h, end)) for a, h in histories.items()}
        if wanted:
            grade_sets = {
                frozenset(s.grades) for pair in wanted.values() for s in pair if s.grades is not None
            }
            read = read_arrests(conn, grade_sets)
            scopes: dict[ScopeKey, ScopeArrests] = {}
            # Scopes that select the same arrests (e.g. a ``since`` before the first) share strata.
            strata: dict[frozenset[str], Strata] = {}

            def scoped(scope: ScopeRules) -> ScopeArrests:
                key = scope_key(scope)
                if key not in scopes:
                    scopes[key] = read.scope(scope)
                return scopes[key]

            for agreement, (latest, at_end) in wanted.items():
                members = frozenset(aid for aid, _, _ in scoped(latest).placed)
                if members not in strata:
                    strata[members] = strata_of(scoped(latest))
                facts.strata[agreement] = strata[members]
                facts.baselines[agreement] = period_baseline(scoped(at_end), start, end)
            facts.read_ahead = read.facts
        add_arrests(conn, facts, arrest_ids)
        _party_hashes(conn, hmac_key, facts)
    return facts


def expunged_among(conn: Connection, ids: Iterable[str]) -> set[str]:
    """Which of ``ids`` are expunged (read from ``expungements`` by id only)."""
    out: set[str] = set()
    for chunk in chunks(sorted(set(ids)), CHUNK):
        found = conn.execute(select(expungements.c.arrest_id).where(expungements.c.arrest_id.in_(chunk)))
        out.update(found.scalars())
    return out
