"""The store adapter: builds ``RecordFacts`` for the arrests an audit period touched.

For each touched arrest: its arrestee's person id, foreign-born, non-criminal.
For each agreement: the baseline among arrests in its scope (grades, since) that
were arrested in the period, its permitted purposes per version, its partner.
For every victim and witness: person id and keyed hashes of name and dob, with
the same hashes for arrestees, so probes can be recognised without un-hashing.

For each agreement too: ``Strata``, its scope's arrests per district and day over
every date (the per-query view's base rate of a sweep's own window or district).

Rule: expunged arrests are read from ``expungements`` by id only; nothing else
about them is ever looked up, and ``RecordFacts`` answers for them as unknown.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, exists, select

from pars.agreements.history import AgreementHistory
from pars.agreements.service import load_history
from pars.audit import keyed_hash
from pars.clock import city_day_start, to_utc_naive
from pars.errors import NotFound
from pars.oversight.model import ArrestFact, Baseline, RecordFacts
from pars.oversight.strata import ZERO, Cell, Strata
from pars.store.db import Store, chunks
from pars.store.schema.records import arrests, charges, charging, expungements, parties

NON_CRIMINAL_DISPOSITIONS = frozenset({"withdrawn", "dismissed"})
CHUNK = 500


def arrest_facts(conn: Connection, where: ColumnElement[bool]) -> dict[str, ArrestFact]:
    """Facts of every arrest matching ``where`` (a condition on ``arrests``)."""
    q = (
        select(arrests.c.arrest_id, arrests.c.person_id, parties.c.country_of_origin)
        .select_from(arrests)
        .outerjoin(parties, and_(parties.c.arrest_id == arrests.c.arrest_id, parties.c.role == "arrestee"))
        .where(where)
    )
    # Rows unpacked as tuples: a report reads every arrest's rows here, often several times.
    rows: dict[str, tuple[str, bool]] = {}
    for aid, person, origin in conn.execute(q):
        country = (origin or "").strip().upper()
        rows[aid] = (person, bool(country) and country != "US")
    declined = set(
        conn.execute(
            select(charging.c.arrest_id)
            .join(arrests, arrests.c.arrest_id == charging.c.arrest_id)
            .where(where, charging.c.decision == "declined")
        ).scalars()
    )
    # An arrest is non-criminal when every one of its charges was dropped, or every one is
    # summary: the arrests with a charge that breaks each rule, then those with any charge.
    charged: set[str] = set()
    kept: set[str] = set()
    graver: set[str] = set()
    for aid, grade, disposition in conn.execute(
        select(charges.c.arrest_id, charges.c.grade, charges.c.disposition)
        .join(arrests, arrests.c.arrest_id == charges.c.arrest_id)
        .where(where)
    ):
        charged.add(aid)
        if disposition not in NON_CRIMINAL_DISPOSITIONS:
            kept.add(aid)
        if grade != "S":
            graver.add(aid)
    return {
        aid: ArrestFact(
            person,
            foreign,
            aid in declined or (aid in charged and (aid not in kept or aid not in graver)),
        )
        for aid, (person, foreign) in rows.items()
    }


def _scope_condition(history: AgreementHistory, start: datetime | None, end: datetime | None) -> Any:
    """Arrests in the scope of the version in force at the period's end, arrested in the period."""
    versions = [v for v in history.versions if end is None or v.applied_at <= end] or [history.latest]
    scope = versions[-1].document.scope
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
    if start is not None:
        conds.append(arrests.c.arrested_utc >= to_utc_naive(start))
    if end is not None:
        conds.append(arrests.c.arrested_utc <= to_utc_naive(end))
    return and_(*conds)


def baseline(facts: dict[str, ArrestFact]) -> Baseline:
    people: dict[str, bool] = {}
    for f in facts.values():
        people[f.person_id] = people.get(f.person_id, False) or f.foreign_born
    return Baseline(
        arrests=len(facts),
        persons=len(people),
        foreign_born_persons=sum(people.values()),
        non_criminal_arrests=sum(f.non_criminal for f in facts.values()),
    )


def load_strata(conn: Connection, history: AgreementHistory) -> Strata:
    """The arrests in the agreement's scope (every date) per district and UTC day."""
    where = _scope_condition(history, None, None)
    facts = arrest_facts(conn, where)
    people: dict[tuple[str | None, int], set[str]] = {}
    cells: dict[tuple[str | None, int], Cell] = {}
    q = select(arrests.c.arrest_id, arrests.c.district, arrests.c.arrested_utc).where(where)
    for r in conn.execute(q):
        fact = facts.get(r.arrest_id)
        if fact is None or r.arrested_utc is None:
            continue
        key = (None if r.district is None else str(r.district), r.arrested_utc.date().toordinal())
        seen = people.setdefault(key, set())
        new = fact.person_id not in seen
        seen.add(fact.person_id)
        cells[key] = cells.get(key, ZERO) + Cell(
            int(new), int(new and fact.foreign_born), 1, int(fact.non_criminal)
        )
    return Strata(cells)


def _party_hashes(conn: Connection, hmac_key: bytes, facts: RecordFacts) -> None:
    protected_ids: set[str] = set()
    names: dict[bool, set[tuple[str, str]]] = {True: set(), False: set()}
    dobs: dict[bool, set[str]] = {True: set(), False: set()}
    q = select(
        parties.c.role, parties.c.person_id, parties.c.last_name, parties.c.first_name, parties.c.dob
    ).where(~exists().where(expungements.c.arrest_id == parties.c.arrest_id))
    for r in conn.execute(q):
        protected = r.role != "arrestee"
        if protected:
            protected_ids.add(r.person_id)
        names[protected].add(
            (keyed_hash("last_name", r.last_name, hmac_key), keyed_hash("first_name", r.first_name, hmac_key))
        )
        if r.dob:
            dobs[protected].add(keyed_hash("dob", r.dob, hmac_key))
    facts.protected_persons = frozenset(protected_ids)
    facts.protected_names, facts.arrestee_names = frozenset(names[True]), frozenset(names[False])
    facts.protected_dobs, facts.arrestee_dobs = frozenset(dobs[True]), frozenset(dobs[False])
    facts.protected_last_names = frozenset(last for last, _ in names[True])
    facts.arrestee_last_names = frozenset(last for last, _ in names[False])
    facts.protected_first_names = frozenset(first for _, first in names[True])
    facts.arrestee_first_names = frozenset(first for _, first in names[False])


def add_arrests(conn: Connection, facts: RecordFacts, arrest_ids: Iterable[str]) -> None:
    """Add these arrests' facts to ``facts``; an expunged one only to ``facts.expunged``.

    The report calls this page by page as it streams the log, so the log is read once.
    """
    expunged: set[str] = set()
    for chunk in chunks(sorted(set(arrest_ids)), CHUNK):
        expunged.update(
            conn.execute(
                select(expungements.c.arrest_id).where(expungements.c.arrest_id.in_(chunk))
            ).scalars()
        )
        facts.arrests.update(arrest_facts(conn, arrests.c.arrest_id.in_(chunk)))
    for aid in expunged:
        facts.arrests.pop(aid, None)
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
    """Everything the detectors may ask, read in one snapshot-free pass per table."""
    facts = RecordFacts()
    strata: dict[Any, Strata] = {}
    with store.read() as conn:
        add_arrests(conn, facts, arrest_ids)
        for agreement in sorted(set(agreement_ids)):
            try:
                history = load_history(conn, agreement)
            except NotFound:
                continue
            facts.partners[agreement] = history.partner
            for v in history.versions:
                permitted = frozenset(v.document.purposes)
                facts.purposes[(agreement, v.hash)] = permitted
                facts.purposes[(agreement, str(v.number))] = permitted
            facts.baselines[agreement] = baseline(arrest_facts(conn, _scope_condition(history, start, end)))
            # Agreements of one scope share their strata (read once).
            scope = history.latest.document.scope
            shared = (scope.grades and tuple(sorted(scope.grades)), scope.since)
            if shared not in strata:
                strata[shared] = load_strata(conn, history)
            facts.strata[agreement] = strata[shared]
        _party_hashes(conn, hmac_key, facts)
    return facts
