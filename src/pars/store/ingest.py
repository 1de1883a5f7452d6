"""Ingestion: apply validated booking events to the store, a batch per transaction.

Each batch is one write transaction holding the records' write lock (SQLite
``BEGIN IMMEDIATE``; a PostgreSQL advisory lock), so event sequence numbers are
dense and ordered, and a result is reported only after its batch committed: a crash
loses nothing reported accepted, and re-running the same input finishes the job
(what was committed comes back as duplicates).

Rule: an event is either fully applied together with its row in ``events`` or not
at all; the current-state tables never run ahead of or behind ``events``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

from sqlalchemy import Connection, bindparam, delete, func, select, update

from pars.clock import SYSTEM_CLOCK, Clock, parse_instant, to_utc_naive
from pars.records.events import (
    ArraignmentEvent,
    ArrestEvent,
    ChargingEvent,
    DispositionEvent,
    ExpungementEvent,
    ParsedEvent,
    Rejection,
    ReleaseEvent,
    parse_event,
)
from pars.records.identity import ARRESTEE, PARTY, IdentityIndex, KnownPerson, new_person_id
from pars.records.normalize import name_key
from pars.store.db import Store
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

#: pg_advisory_xact_lock key serialising record writers ("PARSRECS").
RECORDS_LOCK_KEY = 0x5041525352454353
NOTIFY_CHANNEL = "pars_records"
_IN_CHUNK = 900  # stay under SQLite's bound-parameter limits


@dataclass(slots=True)
class LineResult:
    line: int
    event_id: str | None
    status: str  # accepted | duplicate | rejected
    reason: str | None = None
    warnings: list[str] | None = None
    source: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"line": self.line, "event_id": self.event_id, "status": self.status}
        if self.reason is not None:
            out["reason"] = self.reason
        if self.warnings:
            out["warnings"] = self.warnings
        if self.source is not None:
            out["file"] = self.source
        return out


@dataclass(slots=True)
class Totals:
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0
    warnings: int = 0

    def add(self, results: Iterable[LineResult]) -> None:
        for r in results:
            if r.status == "accepted":
                self.accepted += 1
            elif r.status == "duplicate":
                self.duplicates += 1
            else:
                self.rejected += 1
            self.warnings += len(r.warnings or ())

    def to_json(self) -> dict[str, int]:
        return {
            "accepted": self.accepted,
            "rejected": self.rejected,
            "duplicates": self.duplicates,
            "warnings": self.warnings,
        }


def _chunks(items: Sequence[Any], n: int = _IN_CHUNK) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _utc(text_value: str) -> datetime:
    return to_utc_naive(parse_instant(text_value))


@dataclass
class _Batch:
    """What one batch will write, accumulated while its events are applied in order."""

    event_rows: list[dict[str, Any]] = field(default_factory=list)
    new_persons: list[KnownPerson] = field(default_factory=list)
    ssn_added: list[KnownPerson] = field(default_factory=list)
    new_arrests: dict[str, dict[str, Any]] = field(default_factory=dict)
    party_rows: list[dict[str, Any]] = field(default_factory=list)
    # arrest_id -> {seq: charge row}; the final charge list of every arrest touched
    charges: dict[str, dict[int, dict[str, Any]]] = field(default_factory=dict)
    charges_changed: set[str] = field(default_factory=set)
    charging: dict[str, dict[str, Any]] = field(default_factory=dict)
    arraignment: dict[str, dict[str, Any]] = field(default_factory=dict)
    custody: dict[str, dict[str, Any]] = field(default_factory=dict)
    disposition_rows: list[dict[str, Any]] = field(default_factory=list)
    updated_seq: dict[str, int] = field(default_factory=dict)
    expunge: list[tuple[str, ExpungementEvent]] = field(default_factory=list)


class _Applier:
    """Applies one batch of fresh events inside an open write transaction."""

    def __init__(self, conn: Connection, now: datetime) -> None:
        self.conn = conn
        self.now = to_utc_naive(now)
        self.b = _Batch()
        self.known: set[str] = set()
        self.expunged: dict[str, str] = {}
        self.states: dict[str, dict[str, dict[str, Any]]] = {
            "charging": {},
            "arraignment": {},
            "custody": {},
        }
        self.arrestees = IdentityIndex(ARRESTEE)
        self.others = IdentityIndex(PARTY)

    # -- loading what the batch needs -------------------------------------------------
    def load(self, fresh: list[ParsedEvent]) -> None:
        c = self.conn
        refs = sorted({p.arrest_id for p in fresh})
        for chunk in _chunks(refs):
            self.known.update(c.scalars(select(arrests.c.arrest_id).where(arrests.c.arrest_id.in_(chunk))))
            for aid, order in c.execute(
                select(expungements.c.arrest_id, expungements.c.order_ref).where(
                    expungements.c.arrest_id.in_(chunk)
                )
            ):
                self.expunged[aid] = order
        follow = sorted({p.arrest_id for p in fresh if p.event.type != "arrest"} & self.known)
        for chunk in _chunks(follow):
            for row in c.execute(select(charging).where(charging.c.arrest_id.in_(chunk))).mappings():
                self.states["charging"][row["arrest_id"]] = dict(row)
            for row in c.execute(select(arraignments).where(arraignments.c.arrest_id.in_(chunk))).mappings():
                self.states["arraignment"][row["arrest_id"]] = dict(row)
            for row in c.execute(select(custody).where(custody.c.arrest_id.in_(chunk))).mappings():
                self.states["custody"][row["arrest_id"]] = dict(row)
        need_charges = sorted(
            {p.arrest_id for p in fresh if p.event.type in ("charging", "disposition")} & self.known
        )
        for chunk in _chunks(need_charges):
            for row in c.execute(select(charges).where(charges.c.arrest_id.in_(chunk))).mappings():
                self.b.charges.setdefault(row["arrest_id"], {})[row["seq"]] = dict(row)
        self._load_identities([p.event for p in fresh if isinstance(p.event, ArrestEvent)])

    def _load_identities(self, arrest_events: list[ArrestEvent]) -> None:
        ssns: set[str] = set()
        keys: set[str] = set()
        for ev in arrest_events:
            for party in ev.parties:
                if party.person.ssn:
                    ssns.add(party.person.ssn)
                keys.add(name_key(f"{party.person.last_name}, {party.person.first_name}"))
        seen: set[str] = set()
        for col, values in ((persons.c.ssn, sorted(ssns)), (persons.c.name_key, sorted(keys))):
            for chunk in _chunks(values):
                for row in self.conn.execute(select(persons).where(col.in_(chunk))).mappings():
                    if row["person_id"] in seen:
                        continue
                    seen.add(row["person_id"])
                    kp = KnownPerson(
                        row["person_id"], row["kind"], row["ssn"], row["name_key"], row["dob"]
                    )
                    (self.arrestees if kp.kind == ARRESTEE else self.others).add(kp)

    # -- applying events in order ----------------------------------------------------
    def apply(self, p: ParsedEvent, seq: int) -> tuple[str | None, list[str]]:
        """Apply one event; return (rejection reason or None, warnings)."""
        ev = p.event
        aid = p.arrest_id
        warnings: list[str] = []
        if aid in self.expunged:
            field_name = "arrest.arrest_id" if ev.type == "arrest" else "arrest_id"
            return f"{field_name}: arrest {aid} was expunged (order {self.expunged[aid]})", []
        if isinstance(ev, ArrestEvent):
            if aid in self.known or aid in self.b.new_arrests:
                return (
                    f"arrest.arrest_id: arrest {aid} is already recorded; "
                    "changes to it come as follow-up events",
                    [],
                )
            warnings = self._arrest(ev, p, seq)
        else:
            if aid not in self.known and aid not in self.b.new_arrests:
                return f"arrest_id: unknown arrest {aid}; send its arrest event first", []
            reason = self._follow_up(ev, seq)
            if reason:
                return reason, []
        self.b.updated_seq[aid] = seq
        self.b.event_rows.append(
            {
                "seq": seq,
                "event_id": p.event_id,
                "type": ev.type,
                "arrest_id": aid,
                "at": ev.at,
                "content_sha256": p.sha256,
                "body": p.canonical,
                "expunged_by": None,
                "received_utc": self.now,
            }
        )
        return None, warnings

    def _arrest(self, ev: ArrestEvent, p: ParsedEvent, seq: int) -> list[str]:
        warnings: list[str] = []
        arrestee_id = ""
        for pos, party in enumerate(ev.parties):
            person = party.person
            key = name_key(f"{person.last_name}, {person.first_name}")
            dob = person.dob.isoformat() if person.dob else None
            index = self.arrestees if party.role == "arrestee" else self.others
            res = index.resolve(
                ssn=person.ssn,
                name_key=key,
                dob=dob,
                new_id=new_person_id(p.event_id, pos),
                where=f"parties[{pos}].person",
            )
            if res.new is not None:
                self.b.new_persons.append(res.new)
            if res.ssn_added:
                self.b.ssn_added.append(
                    next(kp for kp in index.by_ssn[person.ssn or ""] if kp.person_id == res.person_id)
                )
            if res.warning:
                warnings.append(res.warning)
            if party.role == "arrestee":
                arrestee_id = res.person_id
            self.b.party_rows.append(
                {
                    "arrest_id": ev.arrest.arrest_id,
                    "position": pos,
                    "role": party.role,
                    "person_id": res.person_id,
                    "last_name": person.last_name,
                    "first_name": person.first_name,
                    "last_key": name_key(person.last_name),
                    "first_key": name_key(person.first_name),
                    "dob": dob,
                    "sex": person.sex,
                    "race": person.race,
                    "ssn": person.ssn,
                    "country_of_origin": person.country_of_origin,
                    "address": person.address,
                }
            )
        a = ev.arrest
        self.b.new_arrests[a.arrest_id] = {
            "arrest_id": a.arrest_id,
            "person_id": arrestee_id,
            "agency": a.agency,
            "district": a.district,
            "arrested_at": a.arrested_at,
            "arrested_utc": _utc(a.arrested_at),
            "arrest_type": a.arrest_type,
            "location": a.location,
            "updated_seq": seq,
        }
        self.b.charges[a.arrest_id] = {
            c.seq: _charge_row(a.arrest_id, c.seq, c.statute, c.description, c.grade)
            for c in ev.charges
        }
        return warnings

    def _newer(self, kind: str, aid: str, col: str, when: datetime) -> bool:
        current = self.b_state(kind).get(aid) or self.states[kind].get(aid)
        return current is None or when >= current[col]

    def b_state(self, kind: str) -> dict[str, dict[str, Any]]:
        return {"charging": self.b.charging, "arraignment": self.b.arraignment, "custody": self.b.custody}[
            kind
        ]

    def _follow_up(self, ev: Any, seq: int) -> str | None:
        aid: str = ev.arrest_id
        if isinstance(ev, ChargingEvent):
            at = _utc(ev.at)
            if self._newer("charging", aid, "at_utc", at):
                self.b.charging[aid] = {"arrest_id": aid, "decision": ev.decision, "at": ev.at, "at_utc": at}
                if ev.decision == "modified" and ev.charges is not None:
                    self.b.charges[aid] = {
                        c.seq: _charge_row(aid, c.seq, c.statute, c.description, c.grade)
                        for c in ev.charges
                    }
                    self.b.charges_changed.add(aid)
        elif isinstance(ev, ArraignmentEvent):
            held = _utc(ev.held_at)
            if self._newer("arraignment", aid, "held_utc", held):
                self.b.arraignment[aid] = {
                    "arrest_id": aid,
                    "held_at": ev.held_at,
                    "held_utc": held,
                    "bail_type": ev.bail.type,
                    "bail_amount": ev.bail.amount,
                    "commissioner": ev.commissioner,
                }
        elif isinstance(ev, ReleaseEvent):
            released = _utc(ev.released_at)
            if self._newer("custody", aid, "released_utc", released):
                self.b.custody[aid] = {
                    "arrest_id": aid,
                    "released_at": ev.released_at,
                    "released_utc": released,
                    "facility": ev.facility,
                }
        elif isinstance(ev, DispositionEvent):
            current = self.b.charges.get(aid, {})
            for i, c in enumerate(ev.charges):
                if c.seq not in current:
                    return f"charges[{i}].seq: arrest {aid} has no charge {c.seq}"
            at = _utc(ev.at)
            for c in ev.charges:
                row = current[c.seq]
                if row["disposition_utc"] is None or at >= row["disposition_utc"]:
                    row["disposition"] = c.disposition
                    row["disposition_utc"] = at
                self.b.disposition_rows.append(
                    {
                        "arrest_id": aid,
                        "seq": c.seq,
                        "disposition": c.disposition,
                        "at": ev.at,
                        "at_utc": at,
                        "event_id": ev.event_id,
                    }
                )
            self.b.charges_changed.add(aid)
        elif isinstance(ev, ExpungementEvent):
            self.b.expunge.append((aid, ev))
            self.expunged[aid] = ev.order
        return None

    # -- writing -----------------------------------------------------------------------
    def flush(self) -> None:
        c, b = self.conn, self.b
        if b.event_rows:
            c.execute(events.insert(), b.event_rows)
        if b.new_persons:
            c.execute(
                persons.insert(),
                [
                    {
                        "person_id": p.person_id,
                        "kind": p.kind,
                        "ssn": p.ssn,
                        "name_key": p.name_key,
                        "dob": p.dob,
                        "created_event": "",
                    }
                    for p in b.new_persons
                ],
            )
        for p in b.ssn_added:
            c.execute(update(persons).where(persons.c.person_id == p.person_id).values(ssn=p.ssn))
        if b.new_arrests:
            for aid, row in b.new_arrests.items():
                row["updated_seq"] = b.updated_seq[aid]
            c.execute(arrests.insert(), list(b.new_arrests.values()))
        if b.party_rows:
            c.execute(parties.insert(), b.party_rows)
        existing_changed = sorted(b.charges_changed & self.known)
        for chunk in _chunks(existing_changed):
            c.execute(delete(charges).where(charges.c.arrest_id.in_(chunk)))
        charge_rows = [
            row
            for aid, by_seq in b.charges.items()
            if aid in b.new_arrests or aid in b.charges_changed
            for row in by_seq.values()
        ]
        if charge_rows:
            c.execute(charges.insert(), charge_rows)
        for table, rows in ((charging, b.charging), (arraignments, b.arraignment), (custody, b.custody)):
            if rows:
                for chunk in _chunks(sorted(rows)):
                    c.execute(delete(table).where(table.c.arrest_id.in_(chunk)))
                c.execute(table.insert(), list(rows.values()))
        if b.disposition_rows:
            c.execute(dispositions.insert(), b.disposition_rows)
        changed = [
            {"aid": aid, "seq": seq} for aid, seq in b.updated_seq.items() if aid not in b.new_arrests
        ]
        if changed:
            c.execute(
                update(arrests)
                .where(arrests.c.arrest_id == bindparam("aid"))
                .values(updated_seq=bindparam("seq")),
                changed,
            )
        for aid, ev in b.expunge:
            self._expunge(aid, ev)

    def _expunge(self, aid: str, ev: ExpungementEvent) -> None:
        """Remove the arrest from every view; keep only ids, types, times and hashes.

        The order allows keeping that the events existed (so a re-sent event stays a
        duplicate and never resurrects the arrest), not what they said.
        """
        c = self.conn
        touched = list(c.scalars(select(parties.c.person_id).where(parties.c.arrest_id == aid)))
        c.execute(delete(arrests).where(arrests.c.arrest_id == aid))
        c.execute(
            update(events)
            .where(events.c.arrest_id == aid, events.c.type != "expungement")
            .values(body=None, expunged_by=ev.order)
        )
        c.execute(
            expungements.insert().values(
                arrest_id=aid, order_ref=ev.order, at=ev.at, event_id=ev.event_id
            )
        )
        for chunk in _chunks(sorted(set(touched))):
            still_used = set(c.scalars(select(parties.c.person_id).where(parties.c.person_id.in_(chunk))))
            gone = [pid for pid in chunk if pid not in still_used]
            if gone:
                c.execute(delete(persons).where(persons.c.person_id.in_(gone)))


def _charge_row(
    aid: str, seq: int, statute: str, description: str | None, grade: str | None
) -> dict[str, Any]:
    return {
        "arrest_id": aid,
        "seq": seq,
        "statute": statute,
        "description": description,
        "grade": grade,
        "disposition": None,
        "disposition_utc": None,
    }


def apply_batch(
    store: Store, items: Sequence[tuple[int, ParsedEvent | Rejection]], clock: Clock = SYSTEM_CLOCK
) -> list[LineResult]:
    """Apply one batch in one transaction; results are final once this returns."""
    results: list[LineResult | None] = [None] * len(items)
    candidates: list[tuple[int, ParsedEvent]] = []
    for i, (line, item) in enumerate(items):
        if isinstance(item, Rejection):
            results[i] = LineResult(line, item.event_id, "rejected", item.reason)
        else:
            candidates.append((i, item))
    if candidates:
        with store.write() as conn:
            if not store.is_sqlite:
                conn.execute(select(func.pg_advisory_xact_lock(RECORDS_LOCK_KEY)))
            fresh = _dedupe(conn, items, candidates, results)
            if fresh:
                applier = _Applier(conn, clock.now())
                applier.load([p for _, p in fresh])
                seq = conn.scalar(select(func.coalesce(func.max(events.c.seq), 0))) or 0
                for i, p in fresh:
                    reason, warnings = applier.apply(p, seq + 1)
                    line = items[i][0]
                    if reason:
                        results[i] = LineResult(line, p.event_id, "rejected", reason)
                    else:
                        seq += 1
                        results[i] = LineResult(line, p.event_id, "accepted", None, warnings or None)
                applier.flush()
                if not store.is_sqlite and applier.b.event_rows:
                    conn.execute(select(func.pg_notify(NOTIFY_CHANNEL, str(seq))))
    return [r for r in results if r is not None]


def _dedupe(
    conn: Connection,
    items: Sequence[tuple[int, ParsedEvent | Rejection]],
    candidates: list[tuple[int, ParsedEvent]],
    results: list[LineResult | None],
) -> list[tuple[int, ParsedEvent]]:
    """Mark re-sent events as duplicates (same content) or conflicts (different)."""
    ids = sorted({p.event_id for _, p in candidates})
    stored: dict[str, str] = {}
    for chunk in _chunks(ids):
        for event_id, sha in conn.execute(
            select(events.c.event_id, events.c.content_sha256).where(events.c.event_id.in_(chunk))
        ):
            stored[event_id] = sha
    fresh: list[tuple[int, ParsedEvent]] = []
    in_batch: dict[str, str] = {}
    for i, p in candidates:
        line = items[i][0]
        earlier = stored.get(p.event_id) or in_batch.get(p.event_id)
        if earlier is None:
            in_batch[p.event_id] = p.sha256
            fresh.append((i, p))
        elif earlier == p.sha256:
            results[i] = LineResult(line, p.event_id, "duplicate")
        else:
            results[i] = LineResult(
                line,
                p.event_id,
                "rejected",
                f"event_id: {p.event_id} was already accepted with different content (conflict)",
            )
    return fresh


def ingest_lines(
    store: Store,
    lines: Iterable[tuple[int, bytes | str]],
    *,
    batch_size: int = 2000,
    on_batch: Callable[[list[LineResult]], None] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> Totals:
    """Validate and apply (line number, JSON line) pairs; blank lines are skipped.

    ``on_batch`` sees each batch's results after its transaction committed.
    """
    totals = Totals()
    it = iter(lines)
    while True:
        raw = list(islice(it, batch_size))
        if not raw:
            return totals
        parsed = [(n, parse_event(line)) for n, line in raw if line.strip()]
        results = apply_batch(store, parsed, clock)
        totals.add(results)
        if on_batch is not None:
            on_batch(results)
