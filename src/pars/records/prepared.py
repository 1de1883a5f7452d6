"""Validated booking events flattened into plain tuples: what the store needs. Pure.

``prepare`` = ``parse_event`` (Pydantic validation, canonical JSON, its SHA-256)
followed by the work that does not depend on the store: normalised name keys, UTC
instants, the ids a new person would get. The result is made of tuples and
strings only, so a batch pickles in about a microsecond per event and can be
prepared in another process while the writer applies the previous batch (a
validated Pydantic model costs 20-30 times as much to move between processes).

Instants are carried twice: as the sender wrote them (``*_at``, ISO 8601 with
offset) and as naive UTC text ``YYYY-MM-DD HH:MM:SS.ffffff`` (``*_utc``), the form
SQLite stores for a DateTime column and PostgreSQL parses for a timestamp. Equal
length and fixed fields make that text order like the instants it names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from pars.clock import utc_text
from pars.records.events import (
    ArraignmentEvent,
    ArrestEvent,
    Charge,
    ChargingEvent,
    DispositionEvent,
    ExpungementEvent,
    ParsedEvent,
    Rejection,
    ReleaseEvent,
    parse_event,
)
from pars.records.identity import new_person_id
from pars.records.normalize import name_key


class PartyRow(NamedTuple):
    role: str
    last_name: str
    first_name: str
    last_key: str
    first_key: str
    dob: str | None
    sex: str | None
    race: str | None
    ssn: str | None
    country_of_origin: str | None
    address: str | None
    new_person_id: str  # the id this party gets if it turns out to be a new person


class ChargeRow(NamedTuple):
    seq: int
    statute: str
    description: str | None
    grade: str | None


class ArrestDetail(NamedTuple):
    agency: str
    district: str
    arrested_at: str
    arrested_utc: str
    arrest_type: str
    location: str | None
    parties: tuple[PartyRow, ...]
    charges: tuple[ChargeRow, ...]


class ChargingDetail(NamedTuple):
    decision: str
    charges: tuple[ChargeRow, ...] | None


class ArraignmentDetail(NamedTuple):
    held_at: str
    held_utc: str
    bail_type: str
    bail_amount: str | None  # decimal text, exact
    commissioner: str | None


class ReleaseDetail(NamedTuple):
    released_at: str
    released_utc: str
    facility: str | None


class DispositionDetail(NamedTuple):
    charges: tuple[tuple[int, str], ...]  # (charge seq, disposition)


class ExpungementDetail(NamedTuple):
    order: str


Detail = (
    ArrestDetail | ChargingDetail | ArraignmentDetail | ReleaseDetail | DispositionDetail | ExpungementDetail
)


class Prepared(NamedTuple):
    """One valid event, ready to apply."""

    event_id: str
    type: str
    arrest_id: str
    at: str
    at_utc: str
    sha256: str
    canonical: str
    detail: Detail


def _charges(charges: Iterable[Charge]) -> tuple[ChargeRow, ...]:
    return tuple(ChargeRow(c.seq, c.statute, c.description, c.grade) for c in charges)


def flatten(parsed: ParsedEvent) -> Prepared:
    """The plain form of a validated event."""
    ev = parsed.event
    detail: Detail
    if isinstance(ev, ArrestEvent):
        a = ev.arrest
        parties = []
        for pos, party in enumerate(ev.parties):
            p = party.person
            parties.append(
                PartyRow(
                    party.role,
                    p.last_name,
                    p.first_name,
                    name_key(p.last_name),
                    name_key(p.first_name),
                    p.dob.isoformat() if p.dob else None,
                    p.sex,
                    p.race,
                    p.ssn,
                    p.country_of_origin,
                    p.address,
                    new_person_id(ev.event_id, pos),
                )
            )
        detail = ArrestDetail(
            a.agency,
            a.district,
            a.arrested_at.isoformat(),
            utc_text(a.arrested_at),
            a.arrest_type,
            a.location,
            tuple(parties),
            _charges(ev.charges),
        )
    elif isinstance(ev, ChargingEvent):
        detail = ChargingDetail(ev.decision, None if ev.charges is None else _charges(ev.charges))
    elif isinstance(ev, ArraignmentEvent):
        amount = ev.bail.amount
        detail = ArraignmentDetail(
            ev.held_at.isoformat(),
            utc_text(ev.held_at),
            ev.bail.type,
            None if amount is None else str(amount),
            ev.commissioner,
        )
    elif isinstance(ev, ReleaseEvent):
        detail = ReleaseDetail(ev.released_at.isoformat(), utc_text(ev.released_at), ev.facility)
    elif isinstance(ev, DispositionEvent):
        detail = DispositionDetail(tuple((c.seq, c.disposition) for c in ev.charges))
    else:
        assert isinstance(ev, ExpungementEvent)
        detail = ExpungementDetail(ev.order)
    return Prepared(
        ev.event_id,
        ev.type,
        ev.arrest_id,
        ev.at.isoformat(),
        utc_text(ev.at),
        parsed.sha256,
        parsed.canonical,
        detail,
    )


def prepare(line: str | bytes) -> Prepared | Rejection:
    """Validate one JSON line of CONTRACT section 1 and flatten it."""
    parsed = parse_event(line)
    return parsed if isinstance(parsed, Rejection) else flatten(parsed)


def prepare_lines(lines: list[tuple[int, bytes | str]]) -> list[tuple[int, Prepared | Rejection]]:
    """``prepare`` over (line number, line) pairs; blank lines are skipped.

    A top-level function so a process pool can run it.
    """
    return [(n, prepare(line)) for n, line in lines if line.strip()]
