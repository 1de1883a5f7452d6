"""Differential property: decide() and Cedar agree on every allow/deny, and a
denial's rule is a policy that forbade it. Cedar's filter policies are written
from the agreement document and the filter registry (``pars.agreements.cedar``),
not from decide()'s compiled table, so "no hidden field can be inferred by
filtering" is checked against the contract, not against itself."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pars.agreements.cedar import cedar_request, to_cedar
from pars.agreements.decide import AgreementVersion, decide
from pars.agreements.document import LAST4_FIELDS, YEAR_FIELDS, parse_document
from pars.agreements.request import Request
from pars.records.fields import FILTERS, GROUPS, RECORD_FIELDS, SEARCHABLE_FILTERS, SORTABLE
from tests.test_agreements_decide import filter_value

cedarpy = pytest.importorskip("cedarpy")

EDT = timezone(timedelta(hours=-4))
START = datetime(2017, 9, 1, 0, 0, 0, tzinfo=EDT)
END = datetime(2018, 8, 31, 23, 59, 59, tzinfo=EDT)
GROUP_NAMES = [g for g in GROUPS if g]
NAMES = sorted(FILTERS)
# (An empty name is malformed, refused before decide(): see test_agreements_decide.)
JUNK = ["SSN", "person.ssn", "*", "ssn*", "Last_Name", "role", "-", "+grade"]
SECOND = timedelta(seconds=1)
MICRO = timedelta(microseconds=1)


@st.composite
def versions(draw: st.DrawFn) -> AgreementVersion:
    patterns = draw(
        st.lists(st.sampled_from([*RECORD_FIELDS, *(f"{g}.*" for g in GROUP_NAMES)]), max_size=20)
    )
    mask: dict[str, str] = {}
    for path in draw(st.lists(st.sampled_from(RECORD_FIELDS), max_size=5)):
        kinds = (
            ["hash"] + (["last4"] if path in LAST4_FIELDS else []) + (["year"] if path in YEAR_FIELDS else [])
        )
        mask[path] = draw(st.sampled_from(kinds))
    raw: dict[str, Any] = {
        "id": "p-1",
        "partner": "ICE",
        "term": {"start": START.isoformat(), "end": END.isoformat()},
        "purposes": draw(st.lists(st.sampled_from(["C", "J", "E"]), min_size=1, max_size=3)),
        "roles": draw(st.lists(st.sampled_from(["arrestee", "victim", "witness"]), max_size=3)),
        "fields": {"allow": patterns, "mask": mask},
        "search": {
            "require": draw(st.lists(st.sampled_from(["case_number", "justification"]), max_size=2)),
            "forbid_filters": draw(st.lists(st.sampled_from(NAMES), max_size=4)),
        },
        "feed": {"enabled": draw(st.booleans())},
        "warrant_required": draw(st.lists(st.sampled_from(GROUP_NAMES), max_size=2)),
    }
    if draw(st.booleans()):
        raw["search"]["rate_limit"] = {"requests": draw(st.integers(1, 5)), "per": "day"}
    doc = parse_document(raw)
    terminated = draw(st.none() | st.sampled_from([START + timedelta(days=30), END - SECOND, END + SECOND]))
    return AgreementVersion(
        "p-1", 1, doc.version_hash(), doc, approved=draw(st.booleans()), terminated_at=terminated
    )


instants = st.sampled_from(
    [
        START - SECOND,
        START - MICRO,
        START,
        START + MICRO,
        START + timedelta(days=30),
        START + timedelta(days=30, seconds=1),
        END - SECOND,
        END,
        END + timedelta(microseconds=999_999),
        END + SECOND,
    ]
)


@st.composite
def requests(draw: st.DrawFn) -> tuple[Request, datetime, int]:
    action = draw(st.sampled_from(["search", "search", "search", "read", "feed"]))
    data: dict[str, Any] = {
        "action": action,
        "purpose": draw(st.sampled_from(["C", "J", "E", "X", "c"])),
    }
    if action != "feed":
        data["case_number"] = draw(st.none() | st.just("CN-1"))
        data["justification"] = draw(st.none() | st.just("why"))
    if action == "read":
        data["arrest_id"] = "A-1"
    if action == "search":
        names = st.sampled_from(NAMES) | st.sampled_from(JUNK)
        data["filters"] = {n: filter_value(n) for n in draw(st.lists(names, max_size=3))}
        data["sort"] = [("-" if draw(st.booleans()) else "") + n for n in draw(st.lists(names, max_size=2))]
        data["sort"] = [s for s in data["sort"] if s]
    return Request.parse(data), draw(instants), draw(st.integers(0, 6))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(version=versions(), cases=st.lists(requests(), min_size=1, max_size=25))
def test_decide_and_cedar_agree(
    version: AgreementVersion, cases: list[tuple[Request, datetime, int]]
) -> None:
    policies = cedarpy.PolicySet.from_str(to_cedar(version))
    entities = cedarpy.Entities.from_json_str("[]")
    batch = [cedar_request(version, r, now, requests_in_window=n) for r, now, n in cases]
    results = cedarpy.is_authorized_batch(batch, policies, entities)
    for (req, now, n), result in zip(cases, results, strict=True):
        d = decide(version, req, now, requests_in_window=n)
        assert not result.diagnostics.errors
        assert d.allowed == result.allowed, (d.rule, req, now, n)
        if not d.allowed:
            ids = set(result.diagnostics.id_annotations_by_reason.values())
            assert any(d.rule == i or d.rule.startswith(i + ".") for i in ids), (d.rule, ids)


def test_each_clause_has_one_cedar_policy_with_its_id() -> None:
    doc = parse_document((Path(__file__).parent / "fixtures/agreements/ice-2017.yaml").read_text())
    text = to_cedar(AgreementVersion(doc.id, 1, doc.version_hash(), doc, approved=False))
    for clause, count in (
        ("allow", 1),
        ("term.start", 1),
        ("term.end", 1),
        ("approvals", 1),
        ("purposes", 1),
        ("feed.enabled", 1),
        ("search.require.case_number", 1),
        ("search.require.justification", 1),
        ("search.rate_limit", 1),
        ("search.forbid_filters", 1),
        ("warrant_required.custody", 1),
        ("fields.hidden_filter", 3),  # not allowed; masked; a role not listed
        ("filters.unknown", 1),
        ("sort.unknown", 1),
        ("filters.unsearchable", 1),
        ("sort.unsortable", 1),
    ):
        assert text.count(f'@id("{clause}")') == count, clause
    # The filter policies come from the document: ICE's forbidden filter and withheld fields by name.
    assert '["country_of_origin"].containsAny(context.filters)' in text
    assert '["person.ssn"].containsAny(context.paths)' in text
    cedarpy.PolicySet.from_str(text)


def _doc(**over: Any) -> AgreementVersion:
    raw: dict[str, Any] = {
        "id": "p-1",
        "partner": "ICE",
        "term": {"start": START.isoformat(), "end": END.isoformat()},
        "purposes": ["C"],
        "roles": ["arrestee", "victim", "witness"],
        "fields": {"allow": ["*"]},
        "search": {"require": []},
    }
    for key, value in over.items():
        if key in ("mask", "allow"):
            raw["fields"][key] = value
        elif key == "forbid_filters":
            raw["search"][key] = value
        else:
            raw[key] = value
    doc = parse_document(raw)
    return AgreementVersion("p-1", 1, doc.version_hash(), doc, approved=True)


#: Documents that each hide fields one way the contract names.
DOCS = {
    "everything": _doc(),
    "masked": _doc(
        mask={
            "person.ssn": "last4",
            "person.dob": "year",
            "person.last_name": "hash",
            "arrest.location": "hash",
            "charges.statute": "hash",
            "arraignment.held_at": "year",
        }
    ),
    "withheld": _doc(allow=["arrest_id", "arrest.*", "charges.grade", "person.first_name"]),
    "arrestee only": _doc(roles=["arrestee"]),
    "victims only": _doc(roles=["victim"]),
    "no roles": _doc(roles=[]),
    "forbidden": _doc(forbid_filters=["arrested_at", "country_of_origin", "grade", "decision"]),
    "warrants": _doc(warrant_required=["custody", "arraignment", "person"]),
    "ice": AgreementVersion(
        "ice-2017",
        1,
        "h",
        parse_document((Path(__file__).parent / "fixtures/agreements/ice-2017.yaml").read_text()),
        approved=True,
    ),
}


@pytest.mark.parametrize("name", sorted(DOCS))
def test_every_filter_and_sort_name_alone_agrees_with_cedar(name: str) -> None:
    """Every filter name, and every sort key, alone in an otherwise valid request, under
    documents that hide fields every way the contract names (hypothesis above rarely
    reaches the filter clauses with everything else valid)."""
    version = DOCS[name]
    policies = cedarpy.PolicySet.from_str(to_cedar(version))
    base = {"purpose": "C", "case_number": "CN-1", "justification": "why"}
    reqs = [Request.search({**base, "filters": {n: filter_value(n)}}) for n in NAMES]
    reqs += [Request.search({**base, "sort": [n]}) for n in NAMES]
    reqs.append(Request.read("A-1", base))
    batch = [cedar_request(version, r, START + timedelta(days=1)) for r in reqs]
    results = cedarpy.is_authorized_batch(batch, policies, cedarpy.Entities.from_json_str("[]"))
    allowed = set()
    for req, result in zip(reqs, results, strict=True):
        d = decide(version, req, START + timedelta(days=1))
        assert not result.diagnostics.errors
        assert d.allowed == result.allowed, (name, d.rule, req.filters, req.sort)
        if d.allowed:
            allowed.add((tuple(req.filters), tuple(req.sort)))
        else:
            ids = set(result.diagnostics.id_annotations_by_reason.values())
            assert any(d.rule == i or d.rule.startswith(i + ".") for i in ids), (d.rule, ids)
    if name == "everything":  # not vacuous: the store's whole registry is reachable
        assert len(allowed) == len(SEARCHABLE_FILTERS) + len(SORTABLE) + 1
