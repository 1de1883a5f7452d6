"""Redaction: withheld keys are absent, masks applied, parties filtered by role."""

from __future__ import annotations

import copy
import hashlib
import hmac
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from pars.agreements.decide import AgreementVersion, decide
from pars.agreements.document import parse_document
from pars.agreements.plan import FieldPlan
from pars.agreements.redact import mask_value, redact
from pars.agreements.request import Request

FIXTURES = Path(__file__).parent / "fixtures" / "agreements"
KEY = b"k" * 32

RECORD: dict[str, Any] = {
    "arrest_id": "A-2018-000001",
    "person_id": "P-1",
    "person": {
        "last_name": "Doe",
        "first_name": "Jan",
        "dob": "1990-02-03",
        "sex": "F",
        "race": "W",
        "ssn": "923-45-6789",
        "country_of_origin": "US",
        "address": "12 N 5th St",
    },
    "arrest": {
        "agency": "PPD",
        "district": "24",
        "arrested_at": "2018-06-01T13:10:00-04:00",
        "arrest_type": "T",
        "location": "1900 E Allegheny Ave",
    },
    "charges": [
        {
            "seq": 1,
            "statute": "18 § 2701(a)(1)",
            "description": "Simple assault",
            "grade": "M2",
            "disposition": None,
        }
    ],
    "arraignment": {
        "held_at": "2018-06-02T09:00:00-04:00",
        "bail_type": "ROR",
        "bail_amount": None,
        "commissioner": "Smith",
    },
    "custody": {"released_at": "2018-06-02T12:00:00-04:00", "facility": "CFCF"},
    "parties": [
        {"role": "victim", "person_id": "P-2", "person": {"last_name": "Roe", "first_name": "Ann"}},
        {"role": "witness", "person_id": "P-3", "person": {"last_name": "Poe", "first_name": "Sam"}},
    ],
    "secret_future_field": "never leaves",
}


def plan_for(mutate: Any = None, warrant: str | None = None) -> FieldPlan:
    raw = yaml.safe_load((FIXTURES / "ice-2017.yaml").read_text())
    if mutate:
        mutate(raw)
    doc = parse_document(raw)
    v = AgreementVersion(doc.id, 1, doc.version_hash(), doc, approved=True)
    body = {"purpose": "C", "case_number": "c", "justification": "j", "warrant": warrant}
    d = decide(v, Request.search(body), datetime(2018, 3, 1, tzinfo=UTC))
    assert d.plan is not None
    return d.plan


def test_ice_view_withholds_and_masks() -> None:
    out = redact(copy.deepcopy(RECORD), plan_for(), hash_key=KEY)
    assert out["person"] == {
        "last_name": "Doe",
        "first_name": "Jan",
        "dob": "1990-02-03",
        "sex": "F",
        "ssn": "***-**-6789",
    }
    assert "country_of_origin" not in out["person"]
    assert "race" not in out["person"]
    assert "custody" not in out
    assert "charging" not in out
    assert "parties" not in out  # arrestees only
    assert "secret_future_field" not in out
    assert out["charges"][0]["grade"] == "M2"
    assert out["arraignment"]["commissioner"] == "Smith"


def test_year_and_hash_masks() -> None:
    def m(raw: dict[str, Any]) -> None:
        raw["fields"]["allow"].remove("person.dob")
        raw["fields"]["mask"] = {"person.dob": "year", "person.ssn": "hash", "person.address": "hash"}

    out = redact(RECORD, plan_for(m), hash_key=KEY)
    assert out["person"]["dob"] == "1990"
    assert len(out["person"]["ssn"]) == 64
    assert "6789" not in out["person"]["ssn"]
    other = redact(RECORD, plan_for(m), hash_key=b"other")
    assert other["person"]["ssn"] != out["person"]["ssn"]  # keyed
    # The hash is of the canonical value: spacing and case do not change it.
    variant = copy.deepcopy(RECORD)
    variant["person"]["address"] = "12  n 5TH st"
    assert redact(variant, plan_for(m), hash_key=KEY)["person"]["address"] == out["person"]["address"]


def test_empty_groups_are_absent_and_nulls_stay_null() -> None:
    def m(raw: dict[str, Any]) -> None:
        raw["fields"] = {"allow": ["arrest_id"], "mask": {"person.ssn": "last4"}}

    out = redact(RECORD, plan_for(m), hash_key=KEY)
    assert out == {"arrest_id": "A-2018-000001", "person": {"ssn": "***-**-6789"}}
    rec = copy.deepcopy(RECORD)
    rec["person"]["ssn"] = None
    assert redact(rec, plan_for(m), hash_key=KEY)["person"] == {"ssn": None}


def test_parties_by_role() -> None:
    def m(raw: dict[str, Any]) -> None:
        raw["roles"] = ["arrestee", "witness"]
        raw["fields"]["allow"] += ["parties.role", "parties.person.last_name"]

    out = redact(RECORD, plan_for(m), hash_key=KEY)
    assert out["parties"] == [{"role": "witness", "person": {"last_name": "Poe"}}]


def test_custody_only_with_a_valid_warrant() -> None:
    def m(raw: dict[str, Any]) -> None:
        raw["fields"]["allow"].append("custody.*")

    plan = plan_for(m, warrant="W-1")
    assert "custody" not in redact(RECORD, plan, hash_key=KEY)
    assert redact(RECORD, plan, hash_key=KEY, warrant_valid=True)["custody"] == RECORD["custody"]


def test_input_record_is_not_modified() -> None:
    rec = copy.deepcopy(RECORD)
    redact(rec, plan_for(), hash_key=KEY)
    assert rec == RECORD


def _hmac(key: bytes, text: str) -> str:
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def test_last4_keeps_the_last_four_digits_or_stars() -> None:
    assert mask_value("last4", "ssn", "923-45-6789", KEY) == "***-**-6789"
    assert mask_value("last4", "ssn", "6789", KEY) == "***-**-6789"  # exactly four digits
    # Only digits count: a trailing space or letter is not part of the last four.
    assert mask_value("last4", "ssn", "923456789 ", KEY) == "***-**-6789"
    assert mask_value("last4", "ssn", "923-45-678x", KEY) == "***-**-5678"
    # Fewer than four digits: nothing of the value shows.
    assert mask_value("last4", "ssn", "12-3", KEY) == "***-**-****"
    assert mask_value("last4", "ssn", "", KEY) == "***-**-****"


def test_year_of_a_value_that_has_none_is_null() -> None:
    assert mask_value("year", "dob", "2018-06-01T13:10:00-04:00", KEY) == "2018"
    assert mask_value("year", "dob", "unknown", KEY) is None
    assert mask_value("year", "dob", "18-06-01", KEY) is None


def test_hash_is_the_keyed_hmac_of_the_canonical_value() -> None:
    # CONTRACT: keyed HMAC-SHA-256 hex of the value's canonical form.
    assert mask_value("hash", "person_id", " P-1 ", KEY) == _hmac(KEY, "P-1")
    assert mask_value("hash", "ssn", "923456789", KEY) == _hmac(KEY, "923-45-6789")
    assert mask_value("hash", "last_name", "O'Brien", KEY) == _hmac(KEY, "obrien")
    # Different values hash differently; the same value under another key too.
    assert mask_value("hash", "ssn", "923-45-6780", KEY) != mask_value("hash", "ssn", "923-45-6789", KEY)
    assert mask_value("hash", "ssn", "923-45-6789", b"other") != mask_value("hash", "ssn", "923-45-6789", KEY)


def test_unknown_mask_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="unknown mask 'rot13'"):
        mask_value("rot13", "ssn", "923-45-6789", KEY)


def test_hash_masks_apply_in_every_part_of_the_record() -> None:
    def m(raw: dict[str, Any]) -> None:
        raw["roles"] = ["arrestee", "victim", "witness"]
        raw["fields"]["allow"] = ["arrest_id", "parties.role"]
        raw["fields"]["mask"] = {
            "person_id": "hash",
            "person.last_name": "hash",
            "arrest.agency": "hash",
            "charges.statute": "hash",
            "parties.person_id": "hash",
            "parties.person.last_name": "hash",
        }

    out = redact(RECORD, plan_for(m), hash_key=KEY)
    assert out == {
        "arrest_id": "A-2018-000001",
        "person_id": _hmac(KEY, "P-1"),
        "person": {"last_name": _hmac(KEY, "doe")},
        "arrest": {"agency": _hmac(KEY, "PPD")},
        "charges": [{"statute": _hmac(KEY, "18 § 2701(a)(1)")}],
        "parties": [
            {"role": "victim", "person_id": _hmac(KEY, "P-2"), "person": {"last_name": _hmac(KEY, "roe")}},
            {"role": "witness", "person_id": _hmac(KEY, "P-3"), "person": {"last_name": _hmac(KEY, "poe")}},
        ],
    }


def test_ids_are_shown_when_allowed_at_the_top_and_in_parties() -> None:
    def m(raw: dict[str, Any]) -> None:
        raw["roles"] = ["arrestee", "victim"]
        raw["fields"] = {"allow": ["person_id", "parties.person_id"]}

    out = redact(RECORD, plan_for(m), hash_key=KEY)
    assert out == {"person_id": "P-1", "parties": [{"person_id": "P-2"}]}


def test_a_party_listed_as_arrestee_or_malformed_is_skipped_not_the_rest() -> None:
    def m(raw: dict[str, Any]) -> None:
        raw["roles"] = ["arrestee", "witness"]
        raw["fields"]["allow"] += ["parties.role", "parties.person.last_name"]

    rec = copy.deepcopy(RECORD)
    # The arrestee is the record's own person, never a party entry, even when
    # the agreement shows arrestees; a malformed entry hides nothing after it.
    rec["parties"] = [
        "not a party",
        {"role": "arrestee", "person_id": "P-1", "person": {"last_name": "Doe"}},
        *RECORD["parties"],
    ]
    out = redact(rec, plan_for(m), hash_key=KEY)
    assert out["parties"] == [{"role": "witness", "person": {"last_name": "Poe"}}]
