"""Applying one batch of fresh, validated events to the current-state tables.

The ``Applier`` loads what the batch refers to (arrests, their state, known
persons), applies the events in order in memory, then writes everything with the
bulk paths of ``store.bulk``. Follow-ups that arrive out of order never overwrite
newer state: the latest charging decision (by ``at``), the latest hearing (by
``held_at``), the latest release (by ``released_at``) and the latest disposition of
each charge (by ``at``) win, whatever order they came in.

Rule: every accepted event gets its row in ``events`` in the same flush as its
effects; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from pars.clock import to_utc_naive
from pars.records.events import (
    ArraignmentEvent,
    ArrestEvent,
    BookingEvent,
    ChargingEvent,
    DispositionEvent,
    ExpungementEvent,
    ParsedEvent,
    ReleaseEvent,
)
from pars.records.identity import ARRESTEE, PARTY, IdentityIndex, KnownPerson, new_person_id
from pars.records.normalize import name_key
from pars.store.bulk import Values, insert_rows, upsert_rows
from pars.store.db import chunks
from pars.store.schema import (
    arraignments,
    arrests,
    charges,
    charging,
    custody,
    dispositions,
    events,
    expungements,
    parties,
    persons,
)

EVENT_COLS = ("seq", "event_id", "type", "arrest_id", "at", "content_sha256", "body", "received_utc")
PERSON_COLS = ("person_id", "kind", "ssn", "name_key", "dob", "created_event")
ARREST_COLS = (
    "arrest_id",
    "person_id",
    "agency",
    "district",
    "arrested_at",
    "arrested_utc",
    "arrest_type",
    "location",
)
PARTY_COLS = (
    "arrest_id",
    "position",
    "role",
    "person_id",
    "last_name",
    "first_name",
    "last_key",
    "first_key",
    "dob",
    "sex",
    "race",
    "ssn",
    "country_of_origin",
    "address",
)
CHARGE_COLS = ("arrest_id", "seq", "statute", "description", "grade", "disposition", "disposition_utc")
CHARGING_COLS = ("arrest_id", "decision", "at", "at_utc")
ARRAIGN_COLS = ("arrest_id", "held_at", "held_utc", "bail_type", "bail_amount", "commissioner")
CUSTODY_COLS = ("arrest_id", "released_at", "released_utc", "facility")
DISPOSITION_COLS = ("arrest_id", "seq", "disposition", "at", "at_utc", "event_id")


def utc(value: datetime) -> datetime:
    return to_utc_naive(value)


@dataclass
class _Charge:
    statute: str
    description: str | None
    grade: str | None
    disposition: str | None = None
    disposition_utc: datetime | None = None


@dataclass
class _Pending:
    """What the batch will write, accumulated while its events are applied."""

    events: list[tuple[Any, ...]] = field(default_factory=list)
    new_persons: list[KnownPerson] = field(default_factory=list)
    ssn_added: list[KnownPerson] = field(default_factory=list)
    new_arrests: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    parties: list[tuple[Any, ...]] = field(default_factory=list)
    # arrest_id -> {seq: charge}: the final charge list of every arrest touched.
    charges: dict[str, dict[int, _Charge]] = field(default_factory=dict)
    charges_changed: set[str] = field(default_factory=set)
    # kind -> arrest_id -> (ordering instant, row)
    state: dict[str, dict[str, tuple[datetime, tuple[Any, ...]]]] = field(
        default_factory=lambda: {"charging": {}, "arraignment": {}, "custody": {}}
    )
    dispositions: list[tuple[Any, ...]] = field(default_factory=list)
    expunge: list[ExpungementEvent] = field(default_factory=list)


class Applier:
    """Applies one batch of fresh events inside an open write transaction."""

    def __init__(self, conn: Connection, now: datetime) -> None:
        self.conn = conn
        self.v = Values(conn.dialect.name == "sqlite")
        self.now = self.v.ts(to_utc_naive(now))
        self.p = _Pending()
        self.known: set[str] = set()
        self.expunged: dict[str, str] = {}
        self.stored_state: dict[str, dict[str, datetime]] = {"charging": {}, "arraignment": {}, "custody": {}}
        self.arrestees = IdentityIndex(ARRESTEE)
        self.others = IdentityIndex(PARTY)

    # -- loading what the batch refers to ----------------------------------------------
    def load(self, fresh: Sequence[ParsedEvent]) -> None:
        c = self.conn
        refs = sorted({p.arrest_id for p in fresh})
        for chunk in chunks(refs):
            self.known.update(c.scalars(select(arrests.c.arrest_id).where(arrests.c.arrest_id.in_(chunk))))
            q = select(expungements.c.arrest_id, expungements.c.order_ref).where(
                expungements.c.arrest_id.in_(chunk)
            )
            self.expunged.update({aid: order for aid, order in c.execute(q)})
        follow = sorted({p.arrest_id for p in fresh if p.event.type != "arrest"} & self.known)
        for kind, table, col in (
            ("charging", charging, charging.c.at_utc),
            ("arraignment", arraignments, arraignments.c.held_utc),
            ("custody", custody, custody.c.released_utc),
        ):
            for chunk in chunks(follow):
                q = select(table.c.arrest_id, col).where(table.c.arrest_id.in_(chunk))
                self.stored_state[kind].update({aid: when for aid, when in c.execute(q)})
        need = sorted(
            {p.arrest_id for p in fresh if p.event.type in ("charging", "disposition")} & self.known
        )
        for chunk in chunks(need):
            for row in c.execute(select(charges).where(charges.c.arrest_id.in_(chunk))):
                self.p.charges.setdefault(row.arrest_id, {})[row.seq] = _Charge(
                    row.statute, row.description, row.grade, row.disposition, row.disposition_utc
                )
        self._load_identities([p.event for p in fresh if isinstance(p.event, ArrestEvent)])

    def _load_identities(self, arrest_events: list[ArrestEvent]) -> None:
        ssns: set[str] = set()
        keys: set[str] = set()
        for ev in arrest_events:
            for party in ev.parties:
                if party.person.ssn:
                    ssns.add(party.person.ssn)
                keys.add(_person_key(party.person.last_name, party.person.first_name))
        seen: set[str] = set()
        for col, values in ((persons.c.ssn, sorted(ssns)), (persons.c.name_key, sorted(keys))):
            for chunk in chunks(values):
                for row in self.conn.execute(select(persons).where(col.in_(chunk))):
                    if row.person_id not in seen:
                        seen.add(row.person_id)
                        kp = KnownPerson(row.person_id, row.kind, row.ssn, row.name_key, row.dob)
                        (self.arrestees if kp.kind == ARRESTEE else self.others).add(kp)

    # -- applying events in order ------------------------------------------------------
    def apply(self, p: ParsedEvent, seq: int) -> tuple[str | None, list[str]]:
        """Apply one event; return (rejection reason or None, warnings)."""
        ev = p.event
        aid = p.arrest_id
        warnings: list[str] = []
        if aid in self.expunged:
            where = "arrest.arrest_id" if ev.type == "arrest" else "arrest_id"
            return f"{where}: arrest {aid} was expunged (order {self.expunged[aid]})", []
        if isinstance(ev, ArrestEvent):
            if aid in self.known or aid in self.p.new_arrests:
                return (
                    f"arrest.arrest_id: arrest {aid} is already recorded; "
                    "changes to it come as follow-up events"
                ), []
            warnings = self._arrest(ev, p.event_id)
        elif aid not in self.known and aid not in self.p.new_arrests:
            return f"arrest_id: unknown arrest {aid}; send its arrest event first", []
        else:
            reason = self._follow_up(ev)
            if reason:
                return reason, []
        self.p.events.append(
            (seq, p.event_id, ev.type, aid, ev.at.isoformat(), p.sha256, p.canonical, self.now)
        )
        return None, warnings

    def _arrest(self, ev: ArrestEvent, event_id: str) -> list[str]:
        warnings: list[str] = []
        arrestee_id = ""
        aid = ev.arrest.arrest_id
        for pos, party in enumerate(ev.parties):
            person = party.person
            last_key, first_key = name_key(person.last_name), name_key(person.first_name)
            dob = person.dob.isoformat() if person.dob else None
            index = self.arrestees if party.role == "arrestee" else self.others
            res = index.resolve(
                ssn=person.ssn,
                name_key=f"{last_key} {first_key}",
                dob=dob,
                new_id=new_person_id(event_id, pos),
                where=f"parties[{pos}].person",
            )
            if res.new is not None:
                self.p.new_persons.append(res.new)
            elif res.ssn_added and res.person is not None:
                self.p.ssn_added.append(res.person)
            if res.warning:
                warnings.append(res.warning)
            if party.role == "arrestee":
                arrestee_id = res.person_id
            self.p.parties.append(
                (
                    aid,
                    pos,
                    party.role,
                    res.person_id,
                    person.last_name,
                    person.first_name,
                    last_key,
                    first_key,
                    dob,
                    person.sex,
                    person.race,
                    person.ssn,
                    person.country_of_origin,
                    person.address,
                )
            )
        a = ev.arrest
        self.p.new_arrests[aid] = (
            aid,
            arrestee_id,
            a.agency,
            a.district,
            a.arrested_at.isoformat(),
            self.v.ts(utc(a.arrested_at)),
            a.arrest_type,
            a.location,
        )
        self.p.charges[aid] = {c.seq: _Charge(c.statute, c.description, c.grade) for c in ev.charges}
        return warnings

    def _set_state(self, kind: str, aid: str, when: datetime, row: tuple[Any, ...]) -> bool:
        """Record state unless newer state is already known; True if it was newer."""
        pending = self.p.state[kind].get(aid)
        current = pending[0] if pending else self.stored_state[kind].get(aid)
        if current is not None and when < current:
            return False
        self.p.state[kind][aid] = (when, row)
        return True

    def _follow_up(self, ev: BookingEvent) -> str | None:
        aid = ev.arrest_id
        v = self.v
        if isinstance(ev, ChargingEvent):
            at = utc(ev.at)
            row: tuple[Any, ...] = (aid, ev.decision, ev.at.isoformat(), v.ts(at))
            if self._set_state("charging", aid, at, row) and ev.charges is not None:
                self.p.charges[aid] = {c.seq: _Charge(c.statute, c.description, c.grade) for c in ev.charges}
                self.p.charges_changed.add(aid)
        elif isinstance(ev, ArraignmentEvent):
            held = utc(ev.held_at)
            row = (
                aid,
                ev.held_at.isoformat(),
                v.ts(held),
                ev.bail.type,
                v.num(ev.bail.amount),
                ev.commissioner,
            )
            self._set_state("arraignment", aid, held, row)
        elif isinstance(ev, ReleaseEvent):
            released = utc(ev.released_at)
            self._set_state(
                "custody", aid, released, (aid, ev.released_at.isoformat(), v.ts(released), ev.facility)
            )
        elif isinstance(ev, DispositionEvent):
            current = self.p.charges.get(aid, {})
            for i, c in enumerate(ev.charges):
                if c.seq not in current:
                    return f"charges[{i}].seq: arrest {aid} has no charge {c.seq}"
            at = utc(ev.at)
            for c in ev.charges:
                charge = current[c.seq]
                if charge.disposition_utc is None or at >= charge.disposition_utc:
                    charge.disposition, charge.disposition_utc = c.disposition, at
                self.p.dispositions.append(
                    (aid, c.seq, c.disposition, ev.at.isoformat(), v.ts(at), ev.event_id)
                )
            self.p.charges_changed.add(aid)
        elif isinstance(ev, ExpungementEvent):
            self.p.expunge.append(ev)
            self.expunged[aid] = ev.order
        return None

    # -- writing -----------------------------------------------------------------------
    def flush(self) -> None:
        c, p, v = self.conn, self.p, self.v
        insert_rows(c, events, EVENT_COLS, p.events)
        insert_rows(
            c,
            persons,
            PERSON_COLS,
            [(k.person_id, k.kind, k.ssn, k.name_key, k.dob, "") for k in p.new_persons],
        )
        for k in p.ssn_added:
            c.execute(update(persons).where(persons.c.person_id == k.person_id).values(ssn=k.ssn))
        insert_rows(c, arrests, ARREST_COLS, list(p.new_arrests.values()))
        insert_rows(c, parties, PARTY_COLS, p.parties)
        rewritten = sorted(p.charges_changed & self.known)
        for chunk in chunks(rewritten):
            c.execute(delete(charges).where(charges.c.arrest_id.in_(chunk)))
        insert_rows(
            c,
            charges,
            CHARGE_COLS,
            [
                (aid, seq, ch.statute, ch.description, ch.grade, ch.disposition, v.ts(ch.disposition_utc))
                for aid, by_seq in p.charges.items()
                if aid in p.new_arrests or aid in p.charges_changed
                for seq, ch in by_seq.items()
            ],
        )
        for kind, table, cols in (
            ("charging", charging, CHARGING_COLS),
            ("arraignment", arraignments, ARRAIGN_COLS),
            ("custody", custody, CUSTODY_COLS),
        ):
            upsert_rows(c, table, ("arrest_id",), cols, [row for _, row in p.state[kind].values()])
        insert_rows(c, dispositions, DISPOSITION_COLS, p.dispositions)
        for ev in p.expunge:
            self._expunge(ev)

    def _expunge(self, ev: ExpungementEvent) -> None:
        """Remove the arrest from every view; keep only ids, types, times and hashes.

        The order allows keeping that the events existed (so a re-sent event stays a
        duplicate and never resurrects the arrest), not what they said.
        """
        c, aid = self.conn, ev.arrest_id
        touched = sorted(set(c.scalars(select(parties.c.person_id).where(parties.c.arrest_id == aid))))
        c.execute(delete(arrests).where(arrests.c.arrest_id == aid))
        c.execute(
            update(events)
            .where(events.c.arrest_id == aid, events.c.type != "expungement")
            .values(body=None, expunged_by=ev.order)
        )
        c.execute(
            expungements.insert().values(
                arrest_id=aid, order_ref=ev.order, at=ev.at.isoformat(), event_id=ev.event_id
            )
        )
        for chunk in chunks(touched):
            still_used = set(c.scalars(select(parties.c.person_id).where(parties.c.person_id.in_(chunk))))
            gone = [pid for pid in chunk if pid not in still_used]
            if gone:
                c.execute(delete(persons).where(persons.c.person_id.in_(gone)))


def _person_key(last: str, first: str) -> str:
    return f"{name_key(last)} {name_key(first)}"
