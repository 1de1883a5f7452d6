"""Person identity rules, on the pure index (the store's end-to-end run is in test_ingest)."""

from __future__ import annotations

import re

from pars.records.identity import ARRESTEE, IdentityIndex, KnownPerson, Resolution, new_person_id

SSN = "923-45-6789"
DOB = "1990-02-03"


class Arrests:
    """Resolves arrestees one after another, as ingest does, with fresh ids."""

    def __init__(self) -> None:
        self.index = IdentityIndex(ARRESTEE)
        self.n = 0

    def __call__(self, name: str = "doe jan", *, ssn: str | None = None, dob: str | None = DOB) -> Resolution:
        self.n += 1
        return self.index.resolve(
            ssn=ssn, name_key=name, dob=dob, new_id=f"P-{self.n}", where=f"arrest[{self.n}].person"
        )


def test_new_person_ids_are_deterministic_and_distinct() -> None:
    pid = new_person_id("ev-1", 0)
    assert re.fullmatch(r"P-[0-9a-f]{16}", pid)
    assert new_person_id("ev-1", 0) == pid
    assert len({pid, new_person_id("ev-1", 1), new_person_id("ev-2", 0)}) == 3
    # The separator keeps ("ev-1", 10) apart from ("ev-11", 0).
    assert new_person_id("ev-1", 10) != new_person_id("ev-11", 0)


def test_a_new_person_carries_everything_later_arrests_match_on() -> None:
    arrests = Arrests()
    first = arrests(ssn=SSN)
    assert first == Resolution("P-1", new=KnownPerson("P-1", ARRESTEE, SSN, "doe jan", DOB))
    # Found again by SSN under another spelling of the name, and by name and dob without one.
    assert arrests("doe janet", ssn=SSN) == Resolution("P-1")
    assert arrests() == Resolution("P-1")


def test_same_ssn_matches_when_either_dob_is_unknown() -> None:
    arrests = Arrests()
    assert arrests(ssn=SSN, dob=None).person_id == "P-1"
    assert arrests(ssn=SSN, dob=DOB).person_id == "P-1"  # known person has no dob
    assert arrests(ssn="923-45-6780").person_id == "P-3"
    assert arrests(ssn="923-45-6780", dob=None).person_id == "P-3"  # this arrest has no dob


def test_same_ssn_different_dob_is_a_separate_person_with_a_warning() -> None:
    arrests = Arrests()
    arrests(ssn=SSN, dob="1990-02-03")
    second = arrests(ssn=SSN, dob="1991-01-01")
    assert second.person_id == "P-2"
    assert second.new == KnownPerson("P-2", ARRESTEE, SSN, "doe jan", "1991-01-01")
    assert second.warning == (
        "arrest[2].person.ssn: same SSN as person P-1 but a different dob; kept as a separate person P-2"
    )
    # Each conflicting person keeps its own dob: a third dob is a third person,
    # and each earlier dob finds its own person again.
    assert arrests(ssn=SSN, dob="1992-03-04").person_id == "P-3"
    assert arrests(ssn=SSN, dob="1991-01-01") == Resolution("P-2")
    assert arrests(ssn=SSN, dob="1990-02-03") == Resolution("P-1")


def test_a_first_ssn_attaches_to_the_one_person_without_one() -> None:
    arrests = Arrests()
    arrests()  # P-1: no SSN on file
    attached = arrests(ssn=SSN)
    person = KnownPerson("P-1", ARRESTEE, SSN, "doe jan", DOB)
    assert attached == Resolution("P-1", ssn_added=True, person=person)
    # The SSN is on file from now on: found by it under another name ...
    assert arrests("doe janet", ssn=SSN) == Resolution("P-1")
    # ... and a different SSN for the same name and dob no longer attaches.
    other = arrests(ssn="923-45-6780")
    assert other.person_id == "P-4" and other.new is not None and not other.ssn_added


def test_a_first_ssn_does_not_attach_without_a_dob_or_to_a_numbered_person() -> None:
    arrests = Arrests()
    arrests(dob=None)  # P-1: no dob, so no name-and-dob entry
    assert arrests(ssn=SSN, dob=None).person_id == "P-2"
    numbered = Arrests()
    numbered(ssn=SSN)
    assert numbered(ssn="923-45-6780").person_id == "P-2"


def test_without_ssn_name_and_dob_match_exactly_one_person() -> None:
    arrests = Arrests()
    arrests()
    assert arrests() == Resolution("P-1")
    assert arrests(dob="1991-01-01").person_id == "P-3"  # another dob
    assert arrests("roe ann").person_id == "P-4"  # another name
    # No dob: never matched, always a new person.
    assert arrests(dob=None).person_id == "P-5"
    assert arrests(dob=None).person_id == "P-6"


def test_several_name_and_dob_matches_give_a_new_person_and_a_warning() -> None:
    arrests = Arrests()
    arrests(ssn=SSN)
    arrests(ssn=SSN, dob="1991-01-01")  # P-2 (conflict), another dob
    arrests(ssn="923-45-6780")  # P-3: same name and dob as P-1, another SSN
    two = arrests()
    assert two == Resolution(
        "P-4",
        new=KnownPerson("P-4", ARRESTEE, None, "doe jan", DOB),
        warning=(
            "arrest[4].person: name and dob match several persons (P-1, P-3) and no SSN "
            "was given; recorded as a new person P-4"
        ),
    )
    # The ambiguous person is indexed too: one more match next time; the warning
    # names at most three of them.
    assert arrests().warning == (
        "arrest[5].person: name and dob match several persons (P-1, P-3, P-4) and no SSN "
        "was given; recorded as a new person P-5"
    )
    four = arrests()
    assert four.person_id == "P-6"
    assert four.warning is not None and "(P-1, P-3, P-4) and no SSN" in four.warning


def test_ssn_conflict_and_attach_warn_only_when_they_should() -> None:
    arrests = Arrests()
    assert arrests(ssn=SSN).warning is None
    assert arrests(ssn=SSN).warning is None
    assert arrests("roe ann").warning is None
