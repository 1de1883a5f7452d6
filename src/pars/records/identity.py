"""Person identity: which ``person_id`` a party of a new arrest gets. Pure.

Rules, in order:
1. Same SSN (and a compatible dob) -> same person.
2. Same SSN but a different dob -> conflicting evidence: kept as a separate
   person and reported as a warning, never merged.
3. No SSN: same normalised name and the same dob -> same person, when exactly one
   known person matches. No dob, or several matches -> a new person (a warning
   for the ambiguous case).
4. An SSN seen for the first time may attach to one earlier person with the same
   name and dob who had no SSN on file.
Arrestees and other parties (victims, witnesses) are separate identity spaces:
a victim is never merged into an arrestee's identity, or the reverse.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

ARRESTEE = "arrestee"
PARTY = "party"


@dataclass(slots=True)
class KnownPerson:
    person_id: str
    kind: str
    ssn: str | None
    name_key: str
    dob: str | None


@dataclass(frozen=True, slots=True)
class Resolution:
    person_id: str
    new: KnownPerson | None = None  # set when a person must be created
    ssn_added: bool = False  # an existing person gets this SSN recorded
    warning: str | None = None
    person: KnownPerson | None = None  # the existing person, when ssn_added


def new_person_id(event_id: str, position: int) -> str:
    """Deterministic: the same stream ingested anywhere gives the same ids."""
    digest = hashlib.sha256(f"{event_id}\x00{position}".encode()).hexdigest()
    return f"P-{digest[:16]}"


@dataclass
class IdentityIndex:
    """Known persons of one kind, indexed by SSN and by (name, dob)."""

    kind: str
    by_ssn: dict[str, list[KnownPerson]] = field(default_factory=dict)
    by_name_dob: dict[tuple[str, str], list[KnownPerson]] = field(default_factory=dict)

    def add(self, p: KnownPerson) -> None:
        if p.ssn:
            self.by_ssn.setdefault(p.ssn, []).append(p)
        if p.dob:
            self.by_name_dob.setdefault((p.name_key, p.dob), []).append(p)

    def resolve(
        self, *, ssn: str | None, name_key: str, dob: str | None, new_id: str, where: str
    ) -> Resolution:
        if ssn:
            same_ssn = self.by_ssn.get(ssn, [])
            for p in same_ssn:
                if p.dob is None or dob is None or p.dob == dob:
                    return Resolution(p.person_id)
            if same_ssn:
                person = KnownPerson(new_id, self.kind, ssn, name_key, dob)
                self.add(person)
                return Resolution(
                    new_id,
                    new=person,
                    warning=(
                        f"{where}.ssn: same SSN as person {same_ssn[0].person_id} but a "
                        f"different dob; kept as a separate person {new_id}"
                    ),
                )
            if dob:
                unnumbered = [p for p in self.by_name_dob.get((name_key, dob), []) if not p.ssn]
                if len(unnumbered) == 1:
                    p = unnumbered[0]
                    p.ssn = ssn
                    self.by_ssn.setdefault(ssn, []).append(p)
                    return Resolution(p.person_id, ssn_added=True, person=p)
        elif dob:
            matches = self.by_name_dob.get((name_key, dob), [])
            if len(matches) == 1:
                return Resolution(matches[0].person_id)
            if len(matches) > 1:
                # Named before the new person joins ``matches`` (the same list).
                ids = ", ".join(m.person_id for m in matches[:3])
                person = KnownPerson(new_id, self.kind, None, name_key, dob)
                self.add(person)
                return Resolution(
                    new_id,
                    new=person,
                    warning=(
                        f"{where}: name and dob match several persons ({ids}) and no SSN "
                        f"was given; recorded as a new person {new_id}"
                    ),
                )
        person = KnownPerson(new_id, self.kind, ssn, name_key, dob)
        self.add(person)
        return Resolution(new_id, new=person)
