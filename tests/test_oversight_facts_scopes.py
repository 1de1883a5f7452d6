"""``load_facts`` reads each scope once and derives the baseline and strata from it.

Checked against an independent reading: every table read row by row here and the
facts, scopes, baselines, strata and hashes worked out in plain Python, for a store
with expunged arrests, a graded scope with a ``since``, an agreement whose scope
changed (the baseline reads the version in force at the period's end, the strata
the latest), and periods whose ends fall on an arrest's very instant.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert, select

from pars.agreements.document import parse_document
from pars.agreements.service import apply_document
from pars.audit import AuditLog, create_keys, keyed_hash
from pars.clock import FixedClock, city_day_start, to_utc_naive
from pars.gate import admin_event_recorder
from pars.oversight import facts as F
from pars.oversight.model import ArrestFact, Baseline, RecordFacts
from pars.oversight.strata import ZERO, Cell, Strata
from pars.store.db import Store
from pars.store.ingest import ingest_lines
from pars.store.schema.records import arrests, charges, charging, expungements, parties
from tests.factories import arrest, follow, lines, person

KEY = b"k" * 32
FIXTURES = Path(__file__).parent / "fixtures" / "agreements"
N = 60
GRADES = ["F1", "F2", "F3", "F", "M1", "M2", "S", None]
#: An arrest's instant, exactly: a period may end (or start) on it.
EDGE = datetime(2018, 3, 31, 12, 0, tzinfo=UTC)


def aid(n: int) -> str:
    return f"A-2018-{n:06d}"


def events(rng: random.Random) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    follows: list[dict[str, Any]] = []
    for n in range(1, N + 1):
        k = rng.randrange(N // 3)  # people arrested more than once
        who = person(
            f"Last{k % 7}", f"First{k % 5}", dob=f"1980-01-{1 + k % 3:02d}", ssn=f"9{k:02d}-12-{k:04d}"
        )
        if n == 3:  # a first name that is someone's last name: hashed apart, by field
            who = person("Last1", "Last2", dob="1980-01-01", ssn="988-12-0003")
        country = rng.choice(["US", "MX", "GT", None])
        if country is not None:
            who["country_of_origin"] = country
        when = datetime(2016, 6, 1, tzinfo=UTC) + timedelta(hours=rng.randrange(2 * 365 * 24))
        if n == 1:
            when = EDGE
        district = rng.choice(["1", "24", "7"])
        if n in (4, 5, 6):  # one person arrested twice in one district on one day (once in another)
            who = person("Twice", "Pat", dob="1970-05-05", ssn="987-12-0045", country_of_origin="MX")
            when, district = datetime(2017, 9, 5, 10 + n, tzinfo=UTC), "7" if n == 6 else "24"
        ev = arrest(n, person=who, arrested_at=when.isoformat(), district=district)
        ev["charges"] = []
        for seq in range(1, rng.randint(1, 3) + 1):
            charge: dict[str, Any] = {"seq": seq, "statute": f"18 § {seq}", "description": "x"}
            grade = rng.choice(GRADES)
            if grade is not None:
                charge["grade"] = grade
            ev["charges"].append(charge)
        if n in (4, 5, 6):
            ev["charges"][0]["grade"] = "F1"
        out.append(ev)
        if rng.random() < 0.2:
            follows.append(follow("charging", n, f"c-{n}", decision=rng.choice(["declined", "approved"])))
        if rng.random() < 0.4:
            done = [
                {"seq": c["seq"], "disposition": rng.choice(["withdrawn", "dismissed", "guilty"])}
                for c in ev["charges"]
                if rng.random() < 0.7
            ]
            if done:
                follows.append(follow("disposition", n, f"d-{n}", charges=done))
        if (n > 5 and rng.random() < 0.15) or n == 2:
            follows.append(follow("expungement", n, f"x-{n}", order=f"CP-51-MD-{n:04d}-2018"))
    return out + follows


def ice(scope: str) -> Any:
    text = (FIXTURES / "ice-2017.yaml").read_text()
    return parse_document(text.replace("scope: {grades: [F1, F2, F3, F], since: 2017-01-01}", scope))


@pytest.fixture
def world(store: Store, tmp_path: Path) -> Store:
    assert ingest_lines(store, lines(*events(random.Random(7)))).rejected == 0
    log = AuditLog(create_keys(tmp_path / "keys")[0], FixedClock(datetime(2017, 8, 1, tzinfo=UTC)))
    record = admin_event_recorder(log)

    def apply(doc: Any, when: datetime) -> None:
        apply_document(store, FixedClock(when), doc, by="clerk", record_admin_event=record)

    apply(parse_document((FIXTURES / "atf-2018.yaml").read_text()), datetime(2017, 8, 1, tzinfo=UTC))
    apply(parse_document((FIXTURES / "fbi-2017.yaml").read_text()), datetime(2017, 8, 1, tzinfo=UTC))
    apply(ice("scope: {grades: [F1, F2, F3, F], since: 2017-01-01}"), datetime(2017, 8, 1, tzinfo=UTC))
    # ICE's scope widened on 2018-05-01: a period ending before reads the old one.
    apply(ice("scope: {grades: [F1, F2, F3, F, M1], since: 2017-06-01}"), datetime(2018, 5, 1, tzinfo=UTC))
    return store


# --- the independent reading ---------------------------------------------------------------


def reference(store: Store) -> dict[str, Any]:
    with store.read() as conn:
        gone = set(conn.execute(select(expungements.c.arrest_id)).scalars())
        rows = {r.arrest_id: r for r in conn.execute(select(arrests))}
        party_rows = list(conn.execute(select(parties)))
        grades: dict[str, list[tuple[str | None, str | None]]] = {}
        for r in conn.execute(select(charges)):
            grades.setdefault(r.arrest_id, []).append((r.grade, r.disposition))
        declined = {r.arrest_id for r in conn.execute(select(charging)) if r.decision == "declined"}
    facts: dict[str, ArrestFact] = {}
    for a, r in rows.items():
        [origin] = [p.country_of_origin for p in party_rows if p.arrest_id == a and p.role == "arrestee"]
        country = (origin or "").strip().upper()
        cs = grades.get(a, [])
        dropped = bool(cs) and all(d in ("withdrawn", "dismissed") for _, d in cs)
        summary = bool(cs) and all(g == "S" for g, _ in cs)
        facts[a] = ArrestFact(r.person_id, country not in ("", "US"), a in declined or dropped or summary)
    return {"gone": gone, "rows": rows, "grades": grades, "facts": facts, "parties": party_rows}


def in_scope(ref: dict[str, Any], scope: Any) -> list[str]:
    out = []
    for a, r in ref["rows"].items():
        if a in ref["gone"]:
            continue
        if scope.grades is not None and not any(g in scope.grades for g, _ in ref["grades"].get(a, [])):
            continue
        if scope.since is not None and r.arrested_utc < city_day_start(scope.since):
            continue
        out.append(a)
    return out


def ref_baseline(ref: dict[str, Any], ids: list[str]) -> Baseline:
    people: dict[str, bool] = {}
    for a in ids:
        f = ref["facts"][a]
        people[f.person_id] = people.get(f.person_id, False) or f.foreign_born
    noncrim = sum(ref["facts"][a].non_criminal for a in ids)
    return Baseline(len(ids), len(people), sum(people.values()), noncrim)


def ref_cells(ref: dict[str, Any], ids: list[str]) -> dict[tuple[str | None, int], Cell]:
    cells: dict[tuple[str | None, int], Cell] = {}
    by: dict[tuple[str | None, int], list[str]] = {}
    for a in ids:
        r = ref["rows"][a]
        by.setdefault((r.district, r.arrested_utc.date().toordinal()), []).append(a)
    for key, group in by.items():
        fs = [ref["facts"][a] for a in group]
        people = {f.person_id for f in fs}
        abroad = {f.person_id for f in fs if f.foreign_born}
        cells[key] = Cell(len(people), len(abroad), len(fs), sum(f.non_criminal for f in fs))
    return cells


def strata_keys() -> Iterator[Any]:
    days = [None] + [date(2016, 6, 1).toordinal() + d for d in range(0, 800, 37)]
    for districts in (None, ("1",), ("24",), ("1", "7"), ("9",)):
        for first in days[::2]:
            for last in days[1::2]:
                yield districts, first, last


def same_strata(got: Strata, cells: dict[tuple[str | None, int], Cell]) -> None:
    want = Strata(cells)
    for key in strata_keys():
        assert got.counts(key) == want.counts(key), key
    assert got.counts((None, None, None)) != ZERO or not cells


# --- the tests ----------------------------------------------------------------------------

PERIODS = [
    (None, None),
    (datetime(2018, 1, 1, tzinfo=UTC), EDGE),  # before ICE's change; ends on arrest 1's instant
    (EDGE, datetime(2018, 8, 31, tzinfo=UTC)),  # starts on it; after the change
    (datetime(2017, 3, 1, tzinfo=UTC), None),
    (None, datetime(2017, 12, 31, tzinfo=UTC)),
]


@pytest.mark.parametrize(("start", "end"), PERIODS)
def test_baselines_and_strata_match_an_independent_reading(
    world: Store, start: datetime | None, end: datetime | None
) -> None:
    check(world, start, end)


@pytest.mark.parametrize(("start", "end"), PERIODS[:2])
def test_an_expungement_whose_rows_remain_still_hides_the_arrest(
    world: Store, start: datetime | None, end: datetime | None
) -> None:
    """An ``expungements`` row alone (the arrest's rows not yet gone) keeps it out of every count."""
    with world.read() as conn:
        [living] = conn.execute(select(arrests.c.arrest_id).where(arrests.c.arrest_id == aid(4))).scalars()
    with world.write() as conn:
        conn.execute(
            insert(expungements).values(arrest_id=living, order_ref="o", at="2018-09-01", event_id="x")
        )
    facts = check(world, start, end)
    assert living not in facts.read_ahead


def check(world: Store, start: datetime | None, end: datetime | None) -> RecordFacts:
    """load_facts' baselines and strata for ``world`` and the period, against the reference."""
    ref = reference(world)
    facts = F.load_facts(
        world,
        arrest_ids=[],
        agreement_ids=["atf-2018", "fbi-2017", "ice-2017", "nope"],
        hmac_key=KEY,
        start=start,
        end=end,
    )
    assert set(facts.baselines) == set(facts.strata) == {"atf-2018", "fbi-2017", "ice-2017"}
    lo = None if start is None else to_utc_naive(start)
    hi = None if end is None else to_utc_naive(end)
    with world.read() as conn:
        from pars.agreements.service import load_history

        histories = {a: load_history(conn, a) for a in facts.baselines}
    for agreement, history in histories.items():
        at_end = [v for v in history.versions if end is None or v.applied_at <= end] or [history.latest]
        ids = [
            a
            for a in in_scope(ref, at_end[-1].document.scope)
            if (lo is None or ref["rows"][a].arrested_utc >= lo)
            and (hi is None or ref["rows"][a].arrested_utc <= hi)
        ]
        assert facts.baselines[agreement] == ref_baseline(ref, ids), agreement
        same_strata(facts.strata[agreement], ref_cells(ref, in_scope(ref, history.latest.document.scope)))
        with world.read() as conn:  # the SQL reading of one scope agrees (benchmarks use it)
            same_strata(
                F.load_strata(conn, history), ref_cells(ref, in_scope(ref, history.latest.document.scope))
            )
    # Nothing is answered before an entry names it.
    assert facts.arrests == {} and facts.expunged == frozenset()
    assert all(facts.arrest(a) is None for a in ref["rows"])
    return facts


def test_the_baseline_reads_the_version_in_force_at_the_periods_end(world: Store) -> None:
    """ICE's scope changed: the period's end picks the version (and the arrest on the edge counts)."""
    ref = reference(world)
    assert ref["rows"][aid(1)].arrested_utc == to_utc_naive(EDGE)
    old = in_scope(ref, ice("scope: {grades: [F1, F2, F3, F], since: 2017-01-01}").scope)
    new = in_scope(ref, ice("scope: {grades: [F1, F2, F3, F, M1], since: 2017-06-01}").scope)
    assert set(old) != set(new)  # the data tell the two apart
    facts = F.load_facts(world, arrest_ids=[], agreement_ids=["ice-2017"], hmac_key=KEY, end=EDGE)
    assert facts.baselines["ice-2017"] == ref_baseline(
        ref, [a for a in old if ref["rows"][a].arrested_utc <= to_utc_naive(EDGE)]
    )


def test_arrests_answer_as_an_independent_reading_page_by_page(world: Store) -> None:
    ref = reference(world)
    facts = F.load_facts(
        world, arrest_ids=[aid(3), aid(2)], agreement_ids=["atf-2018", "ice-2017"], hmac_key=KEY
    )
    # Expunged arrests' rows are gone from the store; their ids are named all the same.
    everything = [*sorted(set(ref["rows"]) | ref["gone"]), "A-2018-999999"]
    rng = random.Random(3)
    rng.shuffle(everything)
    for i in range(0, len(everything), 9):
        with world.read() as conn:
            F.add_arrests(conn, facts, everything[i : i + 9] + everything[:3])
    for a in everything:
        want = None if a in ref["gone"] or a not in ref["facts"] else ref["facts"][a]
        assert facts.arrest(a) == want, a
    assert facts.expunged == ref["gone"] and not (set(facts.arrests) & ref["gone"])
    assert set(facts.arrests) == set(ref["facts"]) - ref["gone"]
    assert facts.read_ahead == {}  # every arrest read with a scope was handed over


def test_arrests_read_with_a_scope_are_not_read_again(world: Store) -> None:
    facts = F.load_facts(world, arrest_ids=[], agreement_ids=["fbi-2017"], hmac_key=KEY)
    assert facts.read_ahead  # FBI's scope reads arrests; none of them expunged
    ahead = sorted(facts.read_ahead)
    statements: list[str] = []

    def seen(conn: Any, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append(statement)

    engine = world.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        with world.read() as conn:
            F.add_arrests(conn, facts, ahead)
        n = len(statements)
        with world.read() as conn:  # and named again: known, not read again either
            F.add_arrests(conn, facts, ahead)
        assert len(statements) > n
        with world.read() as conn:  # expunged: looked up by id, and nothing else
            gone = list(conn.execute(select(expungements.c.arrest_id)).scalars())
            F.add_arrests(conn, facts, gone)
        assert gone and set(gone) <= facts.expunged
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    # Only the expungement check: no arrest, party or charge is read again.
    assert all("FROM expungements" in s and "parties" not in s for s in statements)
    assert all(facts.arrest(a) is not None for a in ahead)


def test_an_arrest_expunged_after_its_scope_was_read_is_never_answered(world: Store) -> None:
    facts = F.load_facts(world, arrest_ids=[], agreement_ids=["fbi-2017"], hmac_key=KEY)
    a, b = sorted(facts.read_ahead)[:2]
    with world.read() as conn:
        F.add_arrests(conn, facts, [b])  # b is named (and answered) before it is expunged
    assert facts.arrest(b) is not None
    with world.write() as conn:
        for x in (a, b):
            conn.execute(
                insert(expungements).values(arrest_id=x, order_ref="late", at="2018-09-01", event_id=f"x-{x}")
            )
    with world.read() as conn:
        F.add_arrests(conn, facts, [a, b])
    for x in (a, b):
        assert facts.arrest(x) is None and x in facts.expunged and x not in facts.arrests


def test_party_hashes_match_an_independent_reading(world: Store) -> None:
    ref = reference(world)
    facts = F.load_facts(world, arrest_ids=[], agreement_ids=[], hmac_key=KEY)
    names: dict[bool, set[tuple[str, str]]] = {True: set(), False: set()}
    dobs: dict[bool, set[str]] = {True: set(), False: set()}
    for p in ref["parties"]:
        if p.arrest_id in ref["gone"]:
            continue
        protected = p.role != "arrestee"
        names[protected].add(
            (keyed_hash("last_name", p.last_name, KEY), keyed_hash("first_name", p.first_name, KEY))
        )
        if p.dob:
            dobs[protected].add(keyed_hash("dob", p.dob, KEY))
    want_protected = {
        p.person_id for p in ref["parties"] if p.arrest_id not in ref["gone"] and p.role != "arrestee"
    }
    assert facts.protected_persons == want_protected
    assert facts.protected_names == names[True] and facts.arrestee_names == names[False]
    assert facts.protected_dobs == dobs[True] and facts.arrestee_dobs == dobs[False]
    assert facts.protected_last_names == {x for x, _ in names[True]}
    assert facts.arrestee_last_names == {x for x, _ in names[False]}
    assert facts.protected_first_names == {y for _, y in names[True]}
    assert facts.arrestee_first_names == {y for _, y in names[False]}
    assert (keyed_hash("last_name", "Last1", KEY), keyed_hash("first_name", "Last2", KEY)) in names[False]


def test_each_scope_filtered_from_one_read_is_the_scope_read_in_sql(world: Store) -> None:
    scopes = [
        ice("scope: {grades: [F1, F2, F3, F], since: 2017-01-01}").scope,
        ice("scope: {grades: [F1, F2, F3, F, M1], since: 2017-06-01}").scope,
        ice("scope: {grades: [S]}").scope,
        ice("scope: {since: 2017-11-05}").scope,
        ice("scope: {}").scope,
    ]
    with world.read() as conn:
        read = F.read_arrests(conn, {frozenset(s.grades) for s in scopes if s.grades is not None})
        for scope in scopes:
            sql = F.read_scope(conn, scope)
            assert sorted(read.scope(scope).placed) == sorted(sql.placed), scope
            assert all(read.facts[a] == sql.facts[a] for a, _, _ in sql.placed)
