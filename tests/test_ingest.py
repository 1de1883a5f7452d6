"""Ingestion per CONTRACT section 1, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select

from pars.store.db import Store
from pars.store.ingest import LineResult, Totals, ingest_lines
from pars.store.queries import SearchQuery, load_records, search
from pars.store.schema import arrests, events, expungements, persons
from tests.factories import arrest, follow, lines, person


def run(store: Store, *evs: dict[str, Any] | str) -> tuple[Totals, list[LineResult]]:
    seen: list[LineResult] = []
    totals = ingest_lines(store, lines(*evs), on_batch=seen.extend)
    return totals, seen


def reasons(results: list[LineResult]) -> list[str | None]:
    return [r.reason for r in results]


def test_contract_example_is_accepted_and_viewable(store: Store) -> None:
    totals, results = run(store, arrest(1))
    assert (totals.accepted, totals.rejected, totals.duplicates) == (1, 0, 0)
    assert results[0].to_json() == {"line": 1, "event_id": "e-1", "status": "accepted"}
    with store.read() as conn:
        rec = load_records(conn, ["A-2018-000001"])["A-2018-000001"]
    assert rec["person"]["last_name"] == "Doe"
    assert rec["person"]["ssn"] == "923-45-6789"
    assert rec["arrest"] == {
        "agency": "PPD",
        "district": "24",
        "arrested_at": "2018-06-01T13:10:00-04:00",
        "arrest_type": "T",
        "location": "1900 E Allegheny Ave",
    }
    assert rec["charges"] == [
        {
            "seq": 1,
            "statute": "18 § 2701(a)(1)",
            "description": "Simple assault",
            "grade": "M2",
            "disposition": None,
        }
    ]
    assert [p["role"] for p in rec["parties"]] == ["victim", "witness"]
    assert rec["charging"] is None and rec["arraignment"] is None and rec["custody"] is None


BAD_EVENTS: list[tuple[str, Any, str]] = [
    ("invalid json", "{not json", "event: invalid JSON"),
    ("not an object", "[1, 2]", "event: must be an object"),
    ("unknown type", {**arrest(1), "type": "sighting"}, "type: must be one of arrest, charging"),
    ("missing type", {k: v for k, v in arrest(1).items() if k != "type"}, "type: required"),
    ("missing event_id", {k: v for k, v in arrest(1).items() if k != "event_id"}, "event_id: required"),
    (
        "time without offset",
        arrest(1, arrested_at="2018-06-01T13:10:00"),
        "arrest.arrested_at: not an ISO 8601 time with an offset",
    ),
    ("bad at", {**arrest(1), "at": "yesterday"}, "at: not an ISO 8601 time with an offset"),
    ("bad arrest type", arrest(1, arrest_type="X"), "arrest.arrest_type: must be one of 'O', 'S' or 'T'"),
    (
        "immigration status smuggled in",
        arrest(1, person=person("Doe", "Jan", immigration_status="x")),
        "parties[0].person.immigration_status: unknown field",
    ),
    (
        "bad country",
        arrest(1, person=person("Doe", "Jan", country_of_origin="Mexico")),
        "parties[0].person.country_of_origin: not an ISO 3166-1 alpha-2",
    ),
    ("bad ssn", arrest(1, person=person("Doe", "Jan", ssn="12-34")), "parties[0].person.ssn: not an SSN"),
    (
        "bad dob",
        arrest(1, person=person("Doe", "Jan", dob="1990-02-30")),
        "parties[0].person.dob: not a date",
    ),
    ("empty name", arrest(1, person=person("", "Jan")), "parties[0].person.last_name: must not be empty"),
]


@pytest.mark.parametrize(("label", "event", "reason"), BAD_EVENTS, ids=[b[0] for b in BAD_EVENTS])
def test_each_rejection_names_the_field_and_the_rest_goes_in(
    sqlite_store: Store, label: str, event: Any, reason: str
) -> None:
    _, results = run(
        sqlite_store, arrest(7), event if isinstance(event, str) else json.dumps(event), arrest(8)
    )
    assert [r.status for r in results] == ["accepted", "rejected", "accepted"], label
    assert results[1].reason is not None and results[1].reason.startswith(reason), results[1].reason
    assert results[1].line == 2


def test_semantic_rejections(store: Store) -> None:
    two_arrestees = arrest(2)
    two_arrestees["parties"][1]["role"] = "arrestee"
    dup_seq = arrest(3)
    dup_seq["charges"].append({"seq": 1, "statute": "18 § 5503", "grade": "M3"})
    totals, results = run(
        store,
        arrest(1),
        two_arrestees,
        dup_seq,
        follow("charging", 1, "c-1", decision="modified"),
        follow("arraignment", 1, "g-1", held_at="2018-06-01T20:00:00-04:00", bail={"type": "monetary"}),
        follow("disposition", 1, "d-1", charges=[{"seq": 9, "disposition": "withdrawn"}]),
        follow("release", 99, "r-99", released_at="2018-06-02T10:00:00-04:00"),
        {**arrest(1), "event_id": "e-other"},
    )
    assert reasons(results) == [
        None,
        "parties: an arrest has exactly one arrestee, found 2",
        "charges: charge seq 1 appears twice",
        "charges: required when decision is 'modified' (the full new list)",
        "bail.amount: required for monetary bail",
        "charges[0].seq: arrest A-2018-000001 has no charge 9",
        "arrest_id: unknown arrest A-2018-000099; send its arrest event first",
        "arrest.arrest_id: arrest A-2018-000001 is already recorded; changes to it come as follow-up events",
    ]
    assert totals.accepted == 1 and totals.rejected == 7


def test_same_event_twice_is_a_noop_and_different_content_a_conflict(store: Store) -> None:
    run(store, arrest(1))
    reordered = json.dumps(dict(reversed(list(arrest(1).items()))))
    _, results = run(store, reordered, arrest(1, district="25"))
    assert [r.status for r in results] == ["duplicate", "rejected"]
    assert results[1].reason == "event_id: e-1 was already accepted with different content (conflict)"
    with store.read() as conn:
        assert conn.scalar(select(func.count()).select_from(events)) == 1
        assert load_records(conn, ["A-2018-000001"])["A-2018-000001"]["arrest"]["district"] == "24"


def test_duplicates_and_conflicts_within_one_batch(store: Store) -> None:
    _, results = run(store, arrest(1), arrest(1), arrest(1, district="9"))
    assert [r.status for r in results] == ["accepted", "duplicate", "rejected"]


def test_follow_up_before_its_arrest_is_rejected_then_accepted_on_resend(store: Store) -> None:
    charge = follow("charging", 1, "c-1", decision="declined")
    _, first = run(store, charge, arrest(1))
    assert [r.status for r in first] == ["rejected", "accepted"]
    _, second = run(store, charge, arrest(1))
    assert [r.status for r in second] == ["accepted", "duplicate"]
    with store.read() as conn:
        assert load_records(conn, ["A-2018-000001"])["A-2018-000001"]["charging"]["decision"] == "declined"


def test_out_of_order_follow_ups_keep_the_latest_state(store: Store) -> None:
    late = follow(
        "arraignment",
        1,
        "g-2",
        at="2018-06-03T09:00:00-04:00",
        held_at="2018-06-03T08:00:00-04:00",
        bail={"type": "ROR"},
        commissioner="B",
    )
    early = follow(
        "arraignment",
        1,
        "g-1",
        at="2018-06-01T21:00:00-04:00",
        held_at="2018-06-01T20:00:00-04:00",
        bail={"type": "monetary", "amount": 2500},
        commissioner="A",
    )
    modified = follow(
        "charging",
        1,
        "c-2",
        at="2018-06-02T12:00:00-04:00",
        decision="modified",
        charges=[{"seq": 1, "statute": "18 § 2709(a)(1)", "description": "Harassment", "grade": "S"}],
    )
    approved_earlier = follow("charging", 1, "c-1", at="2018-06-01T18:00:00-04:00", decision="approved")
    run(store, arrest(1), late, modified)
    _, results = run(store, early, approved_earlier)
    assert [r.status for r in results] == ["accepted", "accepted"]
    with store.read() as conn:
        rec = load_records(conn, ["A-2018-000001"])["A-2018-000001"]
        assert conn.scalar(select(func.max(events.c.seq)).where(events.c.arrest_id == "A-2018-000001")) == 5
    assert rec["arraignment"] == {
        "held_at": "2018-06-03T08:00:00-04:00",
        "bail_type": "ROR",
        "bail_amount": None,
        "commissioner": "B",
    }
    assert rec["charging"] == {"decision": "modified", "at": "2018-06-02T12:00:00-04:00"}
    assert [c["statute"] for c in rec["charges"]] == ["18 § 2709(a)(1)"]


def test_dispositions_release_and_bail_amount(store: Store) -> None:
    run(
        store,
        arrest(1),
        follow(
            "arraignment",
            1,
            "g-1",
            held_at="2018-06-01T20:00:00-04:00",
            bail={"type": "monetary", "amount": 2500.5},
            commissioner="A",
        ),
        follow("release", 1, "r-1", released_at="2018-06-02T01:00:00-04:00", facility="CFCF"),
        follow(
            "disposition",
            1,
            "d-1",
            at="2018-08-01T10:00:00-04:00",
            charges=[{"seq": 1, "disposition": "withdrawn"}],
        ),
    )
    with store.read() as conn:
        rec = load_records(conn, ["A-2018-000001"])["A-2018-000001"]
    assert rec["arraignment"]["bail_amount"] == 2500.5
    assert rec["custody"] == {"released_at": "2018-06-02T01:00:00-04:00", "facility": "CFCF"}
    assert rec["charges"][0]["disposition"] == "withdrawn"


def test_person_identity(store: Store) -> None:
    ssn_a = person("Doe", "Jan", dob="1990-02-03", ssn="923-45-6789")
    evs = [
        arrest(1, person=ssn_a),
        arrest(2, person=person("DOE", "jan", dob="1990-02-03", ssn="923456789")),  # same SSN
        arrest(3, person=person("Smith", "Al", dob="1985-05-05")),  # no SSN
        arrest(4, person=person(" smith ", "AL", dob="1985-05-05")),  # same name + dob
        arrest(5, person=person("Doe", "Jan", dob="1991-01-01", ssn="923-45-6789")),  # conflict
        arrest(6, person=person("Doe", "Jan", dob="1991-01-01", ssn="923-45-6789")),  # follows the conflict
        arrest(7, person=person("Smith", "Al", dob="1985-05-05", ssn="955-35-5555")),  # SSN attaches
        arrest(8, person=person("Lee", "Kim")),  # no dob, no SSN: always new
        arrest(9, person=person("Lee", "Kim")),
    ]
    _, results = run(store, *evs)
    assert all(r.status == "accepted" for r in results)
    with store.read() as conn:
        recs = load_records(conn, [f"A-2018-{n:06d}" for n in range(1, 10)])
    pid = {n: recs[f"A-2018-{n:06d}"]["person_id"] for n in range(1, 10)}
    assert pid[1] == pid[2]
    assert pid[3] == pid[4] == pid[7]
    assert pid[5] != pid[1] and pid[6] == pid[5]
    assert pid[8] != pid[9]
    assert results[4].warnings is not None
    assert results[4].warnings[0].startswith(f"parties[0].person.ssn: same SSN as person {pid[1]}")
    assert results[4].to_json()["warnings"] == results[4].warnings
    assert not results[5].warnings


def test_victims_are_never_merged_into_an_arrestee(store: Store) -> None:
    victim_like_arrestee = arrest(2)
    victim_like_arrestee["parties"][0]["person"] = person("Roe", "Ann", dob="1970-01-01")
    first = arrest(1)
    first["parties"][1]["person"] = person("Roe", "Ann", dob="1970-01-01")
    again = arrest(3)
    again["parties"][1]["person"] = person("Roe", "Ann", dob="1970-01-01")
    run(store, first, victim_like_arrestee, again)
    with store.read() as conn:
        recs = load_records(conn, ["A-2018-000001", "A-2018-000002", "A-2018-000003"])
    victim_1 = recs["A-2018-000001"]["parties"][0]["person_id"]
    victim_3 = recs["A-2018-000003"]["parties"][0]["person_id"]
    assert recs["A-2018-000002"]["person_id"] != victim_1
    assert victim_1 == victim_3


def test_expungement_removes_the_arrest_everywhere_and_cannot_be_undone_by_resending(store: Store) -> None:
    run(
        store,
        arrest(1),
        arrest(2, person=person("Other", "Person", dob="1970-01-01")),
        follow("charging", 1, "c-1", decision="declined"),
    )
    order = follow("expungement", 1, "x-1", at="2018-12-01T10:00:00-05:00", order="CP-51-MD-0001234-2018")
    _, results = run(store, order)
    assert results[0].status == "accepted"
    with store.read() as conn:
        assert load_records(conn, ["A-2018-000001"]) == {}
        assert search(conn, SearchQuery(filters={"last_name": "Doe"})) == []
        assert search(conn, SearchQuery(filters={"ssn": "923-45-6789"})) == []
        assert search(conn, SearchQuery(filters={"last_name": "Other"})) == ["A-2018-000002"]
        bodies = {r[0]: r[1] for r in conn.execute(select(events.c.event_id, events.c.body))}
        assert bodies["e-1"] is None and bodies["c-1"] is None and bodies["x-1"] is not None
        assert conn.scalar(select(expungements.c.order_ref)) == "CP-51-MD-0001234-2018"
        # Doe's identity, the victim and the witness had no other arrest: gone too.
        assert conn.scalar(select(func.count()).select_from(persons)) == 3
    _, again = run(store, arrest(1), follow("release", 1, "r-1", released_at="2018-06-02T01:00:00-04:00"))
    assert again[0].status == "duplicate"
    assert again[1].reason == "arrest_id: arrest A-2018-000001 was expunged (order CP-51-MD-0001234-2018)"
    _, fresh_id = run(store, {**arrest(1), "event_id": "e-resurrect"})
    assert fresh_id[0].reason is not None and "was expunged" in fresh_id[0].reason


def test_expunged_in_the_same_batch_as_its_arrest(store: Store) -> None:
    _, results = run(
        store,
        arrest(1),
        follow("expungement", 1, "x-1", order="ORDER-1"),
        follow("charging", 1, "c-1", decision="approved"),
    )
    assert [r.status for r in results] == ["accepted", "accepted", "rejected"]
    with store.read() as conn:
        assert conn.scalar(select(func.count()).select_from(arrests)) == 0


def test_batches_split_anywhere_give_the_same_store(store: Store) -> None:
    from tests.factories import many

    data = many(300)
    seen: list[LineResult] = []
    ingest_lines(store, list(enumerate(data, 1)), batch_size=7, on_batch=seen.extend)
    assert [r.line for r in seen] == list(range(1, 301))
    assert all(r.status == "accepted" for r in seen)
    with store.read() as conn:
        assert conn.scalar(select(func.max(events.c.seq))) == 300
        assert conn.scalar(select(func.count()).select_from(arrests)) == 100


def _snapshot(store: Store) -> str:
    with store.read() as conn:
        ids = list(conn.scalars(select(arrests.c.arrest_id).order_by(arrests.c.arrest_id)))
        recs = load_records(conn, ids)
        stored = sorted(conn.execute(select(events.c.seq, events.c.event_id, events.c.content_sha256)))
        people = sorted(conn.execute(select(persons.c.person_id, persons.c.ssn, persons.c.dob)))
    return json.dumps([[recs[i] for i in ids], stored, people], sort_keys=True, default=str)


def test_validating_in_worker_processes_changes_nothing(store: Store, tmp_path: Any) -> None:
    """The process pool of ``pars ingest`` gives the results and store of one process."""
    from datetime import date

    from pars.store.migrate import upgrade
    from pars.synth import generate

    good = [json.dumps(e) for e in generate(arrests=400, seed=11, start=date(2018, 1, 1), days=60)]
    conflict = json.loads(good[0])
    conflict["at"] = "2018-01-01T00:00:01-05:00"
    bad = ["{not json", json.dumps({"type": "arrest"}), "", good[3], json.dumps(conflict)]
    data = [*good[:700], *bad, *good[700:]]
    pooled: list[LineResult] = []
    ingest_lines(store, list(enumerate(data, 1)), batch_size=300, workers=2, on_batch=pooled.extend)

    reference = Store(f"sqlite:///{tmp_path / 'ref.db'}")
    upgrade(reference)
    alone: list[LineResult] = []
    ingest_lines(reference, list(enumerate(data, 1)), batch_size=300, on_batch=alone.extend)

    assert [r.to_json() for r in pooled] == [r.to_json() for r in alone]
    assert {r.status for r in pooled} == {"accepted", "rejected", "duplicate"}
    assert _snapshot(store) == _snapshot(reference)
    reference.dispose()


def test_postgresql_reads_fresh_statistics_after_a_large_run(store: Store, monkeypatch: Any) -> None:
    """Without statistics PostgreSQL plans record loads as sequential scans."""
    if store.is_sqlite:
        pytest.skip("PostgreSQL's planner statistics")
    from sqlalchemy import text

    import pars.store.ingest as ingest

    monkeypatch.setattr(ingest, "ANALYZE_AFTER", 2)
    run(store, arrest(1), arrest(2))
    with store.read() as conn:
        q = "SELECT count(*) FROM pg_stat_user_tables WHERE relname = 'arrests' AND last_analyze IS NOT NULL"
        analyzed = conn.execute(text(q)).scalar()
    assert analyzed == 1
