"""The internal search by the contract's filter names, and the record view."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from pars.errors import InvalidInput
from pars.store.db import Store
from pars.store.ingest import ingest_lines
from pars.store.queries import Scope, SearchQuery, in_scope, search
from tests.factories import arrest, follow, lines, person


@pytest.fixture
def populated(store: Store) -> Store:
    felony = arrest(
        2,
        person=person("Núñez", "José", dob="1980-05-05", country_of_origin="MX"),
        district="9",
        arrested_at="2018-03-01T10:00:00-05:00",
    )
    felony["charges"] = [{"seq": 1, "statute": "18 § 3502(a)(1)", "description": "Burglary", "grade": "F1"}]
    ingest_lines(
        store,
        lines(
            arrest(1),
            felony,
            arrest(
                3,
                person=person("O'Brien", "Pat", dob="1975-01-01", ssn="955-12-3456"),
                arrested_at="2017-10-01T10:00:00-04:00",
            ),
            follow("charging", 1, "c-1", decision="declined"),
            follow("disposition", 3, "d-3", charges=[{"seq": 1, "disposition": "withdrawn"}]),
        ),
    )
    return store


def ids(store: Store, **kw: object) -> list[str]:
    with store.read() as conn:
        return search(conn, SearchQuery(**kw))  # type: ignore[arg-type]


def test_each_filter(populated: Store) -> None:
    assert ids(populated, filters={"last_name": "nunez"}) == ["A-2018-000002"]
    assert ids(populated, filters={"last_name": "NÚÑEZ", "first_name": "jose"}) == ["A-2018-000002"]
    assert ids(populated, filters={"last_name": "obrien"}) == ["A-2018-000003"]
    assert ids(populated, filters={"ssn": "955123456"}) == ["A-2018-000003"]
    assert ids(populated, filters={"dob": "1990-02-03"}) == ["A-2018-000001"]
    assert ids(populated, filters={"country_of_origin": "mx"}) == ["A-2018-000002"]
    assert ids(populated, filters={"district": ["9", "24"]}, sort=["arrest_id"]) == [
        "A-2018-000001",
        "A-2018-000002",
        "A-2018-000003",
    ]
    assert ids(populated, filters={"statute": "18 § 3502"}) == ["A-2018-000002"]
    assert ids(populated, filters={"grade": "F1"}) == ["A-2018-000002"]
    assert ids(populated, filters={"disposition": "withdrawn"}) == ["A-2018-000003"]
    assert ids(populated, filters={"decision": "declined"}) == ["A-2018-000001"]
    assert ids(populated, filters={"address": "12 n 5TH st"}) == ["A-2018-000001"]
    assert ids(populated, filters={"arrested_from": "2018-01-01", "arrested_to": "2018-03-31"}) == [
        "A-2018-000002"
    ]
    assert ids(populated, filters={"arrested_to": "2017-10-01T09:59:59-04:00"}) == []


def test_victims_and_witnesses_are_not_searched_as_arrestees(populated: Store) -> None:
    assert ids(populated, filters={"last_name": "Roe"}) == []


def test_sort_limit_and_scope(populated: Store) -> None:
    assert ids(populated) == ["A-2018-000001", "A-2018-000002", "A-2018-000003"]  # newest first
    assert ids(populated, sort=["arrested_at"], limit=2) == ["A-2018-000003", "A-2018-000002"]
    assert ids(populated, sort=["-last_name"], limit=1) == ["A-2018-000003"]
    felonies = Scope(grades=frozenset({"F1", "F2", "F3", "F"}))
    assert ids(populated, scope=felonies) == ["A-2018-000002"]
    assert ids(populated, scope=Scope(since=date(2018, 1, 1))) == ["A-2018-000001", "A-2018-000002"]
    with populated.read() as conn:
        assert in_scope(conn, "A-2018-000002", felonies)
        assert not in_scope(conn, "A-2018-000001", felonies)
        assert not in_scope(conn, "A-NOPE", Scope())


def test_bad_filters_are_named(populated: Store) -> None:
    with pytest.raises(InvalidInput, match=r"filters\.immigration_status"):
        ids(populated, filters={"immigration_status": "x"})
    with pytest.raises(InvalidInput, match=r"filters\.arrested_from: not a date"):
        ids(populated, filters={"arrested_from": "last week"})
    with pytest.raises(InvalidInput, match=r"sort: cannot sort by 'ssn'"):
        ids(populated, sort=["-ssn"])
    with pytest.raises(InvalidInput, match=r"filters\.last_name: must be a string"):
        ids(populated, filters={"last_name": {"$ne": ""}})


def test_every_filter_and_sort_decide_allows_the_store_can_run(populated: Store) -> None:
    """decide() and the store read one registry: under an agreement that shows every
    field to every role, each filter and sort key decide() allows runs here, and each
    one it denies as unsearchable/unsortable the store would refuse too."""
    from datetime import UTC, datetime

    from pars.agreements.decide import AgreementVersion, decide
    from pars.agreements.document import parse_document
    from pars.agreements.request import Request
    from pars.records.fields import FILTERS, REGISTRY

    doc = parse_document({
        "id": "all", "partner": "X", "purposes": ["C"], "roles": ["arrestee", "victim", "witness"],
        "term": {"start": "2017-01-01T00:00:00+00:00", "end": "2019-01-01T00:00:00+00:00"},
        "fields": {"allow": ["*"]}, "search": {"require": []},
    })  # fmt: skip
    version = AgreementVersion("all", 1, doc.version_hash(), doc, approved=True)
    now = datetime(2018, 6, 1, tzinfo=UTC)
    served = refused = 0
    with populated.read() as conn:
        for name in FILTERS:
            value = "2018-01-01" if REGISTRY[name].normaliser in ("from", "to") else "F1"
            bodies: list[dict[str, Any]] = [
                {"filters": {name: value}},
                {"sort": [name]},
                {"sort": [f"-{name}"]},
            ]
            for body in bodies:
                d = decide(version, Request.search({"purpose": "C", **body}), now)
                query = SearchQuery(filters=body.get("filters", {}), sort=body.get("sort", ()))
                if d.allowed:
                    search(conn, query)  # raises InvalidInput if the store cannot serve it
                    served += 1
                else:
                    assert d.rule.startswith(("filters.unsearchable.", "sort.unsortable.")), d.rule
                    with pytest.raises(InvalidInput):
                        search(conn, query)
                    refused += 1
    assert served == 19 + 2 * 6 and refused == 3 * len(FILTERS) - served
