"""Agreement documents: validation names the key, normalization, version hashes."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
import yaml

from pars.agreements.document import parse_document
from pars.errors import InvalidInput

FIXTURES = Path(__file__).parent / "fixtures" / "agreements"


def raw(name: str = "ice-2017") -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((FIXTURES / f"{name}.yaml").read_text())
    return data


@pytest.mark.parametrize("name", ["ice-2017", "fbi-2017", "atf-2018"])
def test_fixtures_are_valid(name: str) -> None:
    doc = parse_document((FIXTURES / f"{name}.yaml").read_text())
    assert doc.id == name
    assert len(doc.version_hash()) == 64


def test_ice_fixture_limits_to_arrestees_and_forbids_origin() -> None:
    doc = parse_document((FIXTURES / "ice-2017.yaml").read_text())
    assert doc.roles == ["arrestee"]
    assert "country_of_origin" in doc.search.forbid_filters
    assert "person.country_of_origin" not in doc.fields.allow


def test_yaml_and_json_and_key_order_give_the_same_hash() -> None:
    text = (FIXTURES / "ice-2017.yaml").read_text()
    from_yaml = parse_document(text).version_hash()
    data = parse_document(text).normalized()
    as_json = json.dumps(data)
    reordered = json.dumps(dict(reversed(list(data.items()))), indent=3)
    assert parse_document(as_json).version_hash() == from_yaml
    assert parse_document(reordered).version_hash() == from_yaml


def test_defaults_and_set_order_do_not_change_the_hash() -> None:
    a = raw()
    b = copy.deepcopy(a)
    del b["approvals"]  # the default
    b["purposes"] = ["C", "C"]
    b["scope"]["grades"] = ["F", "F3", "F2", "F1"]
    b["fields"]["allow"] = list(reversed(b["fields"]["allow"]))
    assert parse_document(a).version_hash() == parse_document(b).version_hash()


def test_any_meaningful_change_changes_the_hash() -> None:
    a = raw()
    b = copy.deepcopy(a)
    b["search"]["max_results"] = 26
    c = copy.deepcopy(a)
    c["title"] = "amended"
    hashes = {parse_document(x).version_hash() for x in (a, b, c)}
    assert len(hashes) == 3


def test_unknown_keys_are_refused_at_every_level() -> None:
    text = (FIXTURES / "atf-2018.yaml").read_text()
    parse_document(text)
    for extra, key in (
        ("notes: Renewed yearly.", "notes"),
        ("fee: {amount: 1200, currency: USD}", "fee"),
        ("forbid_filters: [country_of_origin]", "forbid_filters"),
    ):
        with pytest.raises(InvalidInput, match=rf"(^|; ){key}: unknown key"):
            parse_document(text + "\n" + extra + "\n")


def test_a_stored_version_with_old_extra_keys_still_reads_and_keeps_its_hash() -> None:
    from pars.agreements.document import document_from_canonical

    doc = parse_document(raw())
    stored = rfc8785.dumps({**doc.normalized(), "notes": "applied before extras were refused"})
    old = document_from_canonical(stored.decode())
    assert old.normalized()["notes"] == "applied before extras were refused"
    assert old.canonical() == stored and old.version_hash() != doc.version_hash()


def test_term_times_keep_their_offset() -> None:
    norm = parse_document(raw()).normalized()
    assert norm["term"] == {"start": "2017-09-01T00:00:00-04:00", "end": "2018-08-31T23:59:59-04:00"}
    assert norm["scope"]["since"] == "2017-01-01"


def bad(mutate: Any) -> str:
    data = raw()
    mutate(data)
    with pytest.raises(InvalidInput) as err:
        parse_document(data)
    return str(err.value)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["search"].update(forbid_filters=["race", "contry"]),
            "search.forbid_filters[1]: unknown filter 'contry'",
        ),
        (lambda d: d["fields"]["allow"].__setitem__(3, "person.sssn"), "fields.allow[3]: not a record field"),
        (lambda d: d["fields"]["allow"].append("nogroup.*"), "fields.allow[9]: not a record field"),
        (
            lambda d: d["fields"].update(mask={"person.sssn": "last4"}),
            "fields.mask.person.sssn: not a record field",
        ),
        (lambda d: d["fields"].update(mask={"person.ssn": "first4"}), "fields.mask.person.ssn:"),
        (
            lambda d: d["fields"].update(mask={"person.dob": "last4"}),
            "fields.mask.person.dob: mask 'last4' applies to ssn fields only",
        ),
        (lambda d: d["fields"].update(mask={"person.sex": "year"}), "fields.mask.person.sex:"),
        (
            lambda d: d["term"].update(start="2017-09-01T00:00:00"),
            "term.start: not an ISO 8601 time with an offset",
        ),
        (lambda d: d["term"].update(end="2017-01-01T00:00:00+00:00"), "term.end: must be after term.start"),
        (lambda d: d["scope"].update(since="2017-01-01T00:00:00-04:00"), "scope.since:"),
        (lambda d: d["scope"].update(grades=["F1", "F9"]), "scope.grades[1]:"),
        (lambda d: d.update(id="ICE 2017"), "id:"),
        (lambda d: d.pop("partner"), "partner: required"),
        (lambda d: d.update(purposes=[]), "purposes:"),
        (lambda d: d.update(roles=["arrestee", "bystander"]), "roles[1]:"),
        (lambda d: d.update(warrant_required=["custodies"]), "warrant_required[0]: not a field group"),
        (
            lambda d: d["search"].update(forbid_filter=["race"]),
            "search.forbid_filter: unknown key; did you mean 'forbid_filters'?",
        ),
        (
            lambda d: d.update(forbid_filters=["race"]),
            "forbid_filters: unknown key here; did you mean 'search.forbid_filters'?",
        ),
        (
            lambda d: d["search"].update(rate_limit={"requests": 5, "per": "day", "burst": 2}),
            "search.rate_limit.burst: unknown key",
        ),
        (lambda d: d["term"].update(timezone="EST"), "term.timezone: unknown key"),
        (lambda d: d["scope"].update(until="2018-01-01"), "scope.until: unknown key"),
        (lambda d: d.update(feed={"enabled": True, "grade": ["F1"]}), "feed.grade: unknown key; did you"),
        (lambda d: d.update(approvals={"required": 2, "by": ["courts"]}), "approvals.by: unknown key"),
        (lambda d: d["fields"].update(deny=["person.ssn"]), "fields.deny: unknown key"),
        (lambda d: d.update(notes="x"), "notes: unknown key"),
        (lambda d: d["search"].update(max_results=0), "search.max_results:"),
        (lambda d: d["search"].update(max_results="25"), "search.max_results:"),
        (lambda d: d["search"].update(rate_limit={"requests": 5, "per": "week"}), "search.rate_limit.per:"),
        (lambda d: d.update(approvals={"required": 4}), "approvals.required:"),
        (lambda d: d.update(approvals={"required": 1, "of": ["mayor"]}), "approvals.of[0]:"),
        (
            lambda d: d.update(warrant_requird=["custody"]),
            "warrant_requird: unknown key; did you mean 'warrant_required'?",
        ),
        (lambda d: d.update(Search={}), "Search: unknown key; did you mean 'search'?"),
        (lambda d: d.update(scop={}), "scop: unknown key; did you mean 'scope'?"),
    ],
)
def test_errors_name_the_bad_key(mutate: Any, message: str) -> None:
    assert message in bad(mutate)


def test_duplicate_keys_are_rejected() -> None:
    text = (FIXTURES / "ice-2017.yaml").read_text() + "\nroles: [arrestee, victim]\n"
    with pytest.raises(InvalidInput, match="roles: key appears twice"):
        parse_document(text)
    with pytest.raises(InvalidInput, match="id: key appears twice"):
        parse_document('{"id": "a", "id": "b"}')


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text", "{unclosed: [", ""])
def test_not_a_mapping_is_rejected(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_document(text)
