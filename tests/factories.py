"""Small builders of booking events for tests (synthetic people only)."""

from __future__ import annotations

import copy
import json
from typing import Any

BASE_ARREST: dict[str, Any] = {
    "type": "arrest",
    "event_id": "e-1",
    "at": "2018-06-01T14:03:00-04:00",
    "arrest": {
        "arrest_id": "A-2018-000001",
        "agency": "PPD",
        "district": "24",
        "arrested_at": "2018-06-01T13:10:00-04:00",
        "arrest_type": "T",
        "location": "1900 E Allegheny Ave",
    },
    "parties": [
        {
            "role": "arrestee",
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
        },
        {"role": "victim", "person": {"last_name": "Roe", "first_name": "Ann"}},
        {"role": "witness", "person": {"last_name": "Poe", "first_name": "Sam"}},
    ],
    "charges": [{"seq": 1, "statute": "18 § 2701(a)(1)", "description": "Simple assault", "grade": "M2"}],
}


def arrest(
    n: int = 1,
    *,
    event_id: str | None = None,
    person: dict[str, Any] | None = None,
    drop: tuple[str, ...] = (),
    **arrest_fields: Any,
) -> dict[str, Any]:
    ev = copy.deepcopy(BASE_ARREST)
    ev["event_id"] = event_id or f"e-{n}"
    ev["arrest"]["arrest_id"] = f"A-2018-{n:06d}"
    ev["arrest"].update(arrest_fields)
    if person is not None:
        ev["parties"][0]["person"] = person
    for key in drop:
        ev["parties"][0]["person"].pop(key, None)
    return ev


def person(last: str, first: str, **extra: Any) -> dict[str, Any]:
    return {"last_name": last, "first_name": first, **extra}


def follow(
    kind: str, n: int, event_id: str, at: str = "2018-06-02T10:00:00-04:00", **fields: Any
) -> dict[str, Any]:
    return {"type": kind, "event_id": event_id, "at": at, "arrest_id": f"A-2018-{n:06d}", **fields}


def lines(*events: dict[str, Any] | str) -> list[tuple[int, str]]:
    return [(i, e if isinstance(e, str) else json.dumps(e)) for i, e in enumerate(events, 1)]


def many(count: int, start: int = 1) -> list[str]:
    """``count`` events: arrests with charging and arraignment follow-ups."""
    out: list[str] = []
    n = start
    while len(out) < count:
        ssn = f"9{n % 100:02d}-{1 + (n // 100) % 49:02d}-{1 + n % 9999:04d}"  # 9xx, group 01-49
        out.append(json.dumps(arrest(n, person=person(f"Name{n % 5000}", "Pat", dob="1980-01-01", ssn=ssn))))
        out.append(json.dumps(follow("charging", n, f"c-{n}", decision="approved")))
        out.append(
            json.dumps(
                follow(
                    "arraignment",
                    n,
                    f"g-{n}",
                    held_at="2018-06-01T20:00:00-04:00",
                    bail={"type": "monetary", "amount": 5000},
                    commissioner="Comm. Example",
                )
            )
        )
        n += 1
    return out[:count]


# --- approving parties: signed approvals (CONTRACT 9.1) -------------------------------

PARTIES = ("courts", "police", "district_attorney")


def party_signer(party: str, label: str = "pars-test-party") -> Any:
    """A fixed test signing key for ``party`` (derived from a label: a test key only)."""
    from hashlib import sha256

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from pars.agreements.approval_note import SignerKey

    seed = sha256(f"{label}:{party}".encode()).digest()
    return SignerKey(party, Ed25519PrivateKey.from_private_bytes(seed))


def register_parties(store: Any, clock: Any, record: Any, parties: tuple[str, ...] = PARTIES) -> None:
    """Register each party's test key (``pars parties add``), logged through ``record``."""
    from pars.agreements.parties import add_party_key

    for party in parties:
        add_party_key(
            store, clock, party, party_signer(party).verifier_key, by="clerk", record_admin_event=record
        )


def sign_approval_note(store: Any, agreement_id: str, party: str, version: str | int | None = None) -> str:
    """``party``'s signed approval note of a version (default latest), as ``pars agreements sign``."""
    from pars.agreements.service import approval_note_for

    with store.read() as conn:
        note: str = approval_note_for(conn, agreement_id, party_signer(party), version)
    return note


def approve_as(
    store: Any, clock: Any, agreement_id: str, party: str, record: Any, version: str | int | None = None
) -> Any:
    """Sign as ``party`` and record the approval (the party's key must be registered)."""
    from pars.agreements.service import approve

    note = sign_approval_note(store, agreement_id, party, version)
    return approve(store, clock, agreement_id, note, by=party, record_admin_event=record, version=version)
