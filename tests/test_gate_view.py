"""The gate's pure view helpers: what leaves, and what the entry says left."""

from __future__ import annotations

from datetime import date
from typing import Any

from pars.agreements.document import parse_document
from pars.agreements.plan import FieldPlan, RecordScope, build_rules
from pars.gate.view import redact_all, returned_paths, seen_people, store_scope
from pars.store.queries import Scope

KEY = b"k" * 32


def plan(**doc: Any) -> FieldPlan:
    raw: dict[str, Any] = {
        "id": "view-test",
        "partner": "P",
        "term": {"start": "2018-01-01T00:00:00-05:00", "end": "2018-12-31T23:59:59-05:00"},
        "purposes": ["C"],
        "fields": {"allow": ["*"]},
    }
    raw.update(doc)
    return build_rules(parse_document(raw)).search_plan


def record(n: int, person: str, *parties: tuple[str, str]) -> dict[str, Any]:
    return {
        "arrest_id": f"A-{n}",
        "person_id": person,
        "person": {"last_name": f"Doe{n}", "ssn": "923-45-6789"},
        "arrest": {"agency": "PPD", "district": "24"},
        "charges": [{"seq": 1, "grade": "M2"}, {"seq": 2, "grade": "F3", "statute": "18 § 3502"}],
        "custody": {"facility": "CFCF"},
        "parties": [
            {"role": r, "person_id": p, "person": {"last_name": "Roe", "dob": None}} for r, p in parties
        ],
    }


def test_store_scope_carries_grades_and_since() -> None:
    assert store_scope(RecordScope(frozenset({"F1"}), date(2017, 1, 1))) == Scope(
        frozenset({"F1"}), date(2017, 1, 1)
    )
    assert store_scope(RecordScope()) == Scope(None, None)


def test_returned_paths_are_the_dotted_paths_present_in_any_view() -> None:
    views = [
        {
            "arrest_id": "A-1",
            "person": {"last_name": "x", "ssn": None},
            "charges": [{"seq": 1}, {"grade": "F3"}],
        },
        {
            "person_id": "P-2",
            "arrest": {"district": "24"},
            "parties": [{"role": "witness"}, {"person_id": "P-9", "person": {"last_name": "y", "dob": None}}],
        },
        {},
    ]
    assert returned_paths(views) == [
        "arrest.district",
        "arrest_id",
        "charges.grade",
        "charges.seq",
        "parties.person.dob",
        "parties.person.last_name",
        "parties.person_id",
        "parties.role",
        "person.last_name",
        "person.ssn",
        "person_id",
    ]
    assert returned_paths([]) == []


def test_returned_paths_of_redacted_records_are_what_the_plan_lets_out() -> None:
    p = plan(
        roles=["arrestee", "witness"],
        fields={
            "allow": ["arrest_id", "charges.grade", "parties.person.last_name"],
            "mask": {"person.ssn": "last4"},
        },
    )
    _, _, views = redact_all(["A-1"], {"A-1": record(1, "P-1", ("witness", "P-2"))}, p, frozenset(), KEY)
    assert returned_paths(views) == ["arrest_id", "charges.grade", "parties.person.last_name", "person.ssn"]


def test_seen_people_are_arrestees_and_parties_of_visible_roles_once_in_order() -> None:
    recs = [
        record(1, "P-1", ("victim", "P-5"), ("witness", "P-6")),
        record(2, "P-2", ("witness", "P-1"), ("witness", "P-6")),
        record(3, "P-1"),
    ]
    assert seen_people(recs, plan(roles=["arrestee", "witness"])) == ["P-1", "P-6", "P-2"]
    assert seen_people(recs, plan(roles=["victim"])) == ["P-5"]
    assert seen_people(recs, plan(roles=["arrestee"])) == ["P-1", "P-2"]
    assert seen_people(recs, plan(roles=[])) == []


def test_seen_people_skip_missing_ids_and_name_them_as_text() -> None:
    recs: list[dict[str, Any]] = [
        {
            "arrest_id": "A-1",
            "person_id": None,
            "parties": [{"role": "witness"}, {"role": "witness", "person_id": ""}],
        },
        {"arrest_id": "A-2", "person_id": 7, "parties": [{"role": "witness", "person_id": 8}]},
        {"arrest_id": "A-3"},
    ]
    assert seen_people(recs, plan(roles=["arrestee", "witness"])) == ["7", "8"]


def test_redact_all_keeps_query_order_drops_missing_and_applies_warrants_per_record() -> None:
    p = plan(fields={"allow": ["arrest_id", "custody.*"]}, warrant_required=["custody"])
    records = {f"A-{n}": record(n, f"P-{n}") for n in (1, 2, 3)}
    ids, full, views = redact_all(["A-3", "A-9", "A-1", "A-2"], records, p, frozenset({"A-1"}), KEY)
    assert ids == ["A-3", "A-1", "A-2"]
    assert full == [records["A-3"], records["A-1"], records["A-2"]]
    assert views == [
        {"arrest_id": "A-3"},
        {"arrest_id": "A-1", "custody": {"facility": "CFCF"}},
        {"arrest_id": "A-2"},
    ]


def test_redact_all_hashes_with_the_given_key() -> None:
    p = plan(fields={"allow": [], "mask": {"person_id": "hash"}})
    records = {"A-1": record(1, "P-1")}
    one = redact_all(["A-1"], records, p, frozenset(), KEY)[2]
    other = redact_all(["A-1"], records, p, frozenset(), b"o" * 32)[2]
    assert one != other
    assert len(one[0]["person_id"]) == 64
