"""Applying one batch of fresh, prepared events to the current-state tables.

The ``Applier`` loads what the batch refers to (arrests, their state, known
persons), applies the events in order in memory, then writes everything with the
bulk paths of ``store.bulk``. Follow-ups that arrive out of order never overwrite
newer state: the latest charging decision (by ``at``), the latest hearing (by
``held_at``), the latest release (by ``released_at``) and the latest disposition of
each charge (by ``at``) win, whatever order they came in. Instants are compared as
naive UTC text (``clock.utc_text``), which orders like the instants.

Rule: every accepted event gets its row in ``events`` in the same flush as its
effects; nothing here commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, select, update

from pars.clock import utc_text
from pars.records.identity import ARRESTEE, PARTY, IdentityIndex, KnownPerson
from pars.records.prepared import (
    ArraignmentDetail,
    ArrestDetail,
    ChargeRow,
    ChargingDetail,
    DispositionDetail,
    ExpungementDetail,
    Prepared,
    ReleaseDetail,
)
from pars.store.bulk import insert_rows, number, select_in, timestamp, upsert_rows
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
from pars.store.schema.audit import audit_text_arrests, audit_texts

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
    "person_id",
    "role",  # from here on, the columns of records.prepared.PartyRow, in its order
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


@dataclass(slots=True)
class _Charge:
    statute: str
    description: str | None
    grade: str | None
    disposition: str | None = None
    disposition_utc: str | None = None


def _charge_map(rows: Sequence[ChargeRow]) -> dict[int, _Charge]:
    return {c.seq: _Charge(c.statute, c.description, c.grade) for c in rows}


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
    # kind -> arrest_id -> (ordering instant as UTC text, row)
    state: dict[str, dict[str, tuple[str, tuple[Any, ...]]]] = field(
        default_factory=lambda: {"charging": {}, "arraignment": {}, "custody": {}}
    )
    dispositions: list[tuple[Any, ...]] = field(default_factory=list)
    expunge: list[Prepared] = field(default_factory=list)


_STATE_SQL = {
    "charging": "SELECT arrest_id, at_utc FROM charging WHERE arrest_id IN ({keys})",
    "arraignment": "SELECT arrest_id, held_utc FROM arraignments WHERE arrest_id IN ({keys})",
    "custody": "SELECT arrest_id, released_utc FROM custody WHERE arrest_id IN ({keys})",
}
# ``kind`` leads both person indexes: naming it lets each lookup use its index.
_PERSON_SQL = (
    "SELECT person_id, kind, ssn, name_key, dob FROM persons WHERE kind IN ('arrestee', 'party') AND "
)


class Applier:
    """Applies one batch of fresh events inside an open write transaction."""

    def __init__(self, conn: Connection, now: datetime) -> None:
        self.conn = conn
        self.sqlite = conn.dialect.name == "sqlite"
        self.now = utc_text(now)
        self.p = _Pending()
        self.known: set[str] = set()
        self.expunged: dict[str, str] = {}
        self.stored_state: dict[str, dict[str, str]] = {"charging": {}, "arraignment": {}, "custody": {}}
        self.arrestees = IdentityIndex(ARRESTEE)
        self.others = IdentityIndex(PARTY)

    # -- loading what the batch refers to ----------------------------------------------
    def load(self, fresh: Sequence[Prepared]) -> None:
        """One query per table for the whole batch, whatever its size."""
        c = self.conn
        refs = sorted({p.arrest_id for p in fresh})
        sql = "SELECT arrest_id FROM arrests WHERE arrest_id IN ({keys})"
        self.known.update(r[0] for r in select_in(c, sql, refs))
        sql = "SELECT arrest_id, order_ref FROM expungements WHERE arrest_id IN ({keys})"
        self.expunged.update({aid: order for aid, order in select_in(c, sql, refs)})
        follow = sorted({p.arrest_id for p in fresh if p.type != "arrest"} & self.known)
        if follow:
            for kind, sql in _STATE_SQL.items():
                rows = select_in(c, sql, follow)
                self.stored_state[kind].update({aid: timestamp(when) for aid, when in rows})
        need = sorted({p.arrest_id for p in fresh if p.type in ("charging", "disposition")} & self.known)
        sql = (
            "SELECT arrest_id, seq, statute, description, grade, disposition, disposition_utc "
            "FROM charges WHERE arrest_id IN ({keys})"
        )
        for aid, seq, statute, description, grade, disposition, when in select_in(c, sql, need):
            self.p.charges.setdefault(aid, {})[seq] = _Charge(
                statute, description, grade, disposition, timestamp(when)
            )
        self._load_identities([p.detail for p in fresh if isinstance(p.detail, ArrestDetail)])

    def _load_identities(self, details: list[ArrestDetail]) -> None:
        """The persons a party could resolve to: same SSN, or same name and dob."""
        ssns: set[str] = set()
        pairs: set[tuple[str, str]] = set()
        for d in details:
            for party in d.parties:
                if party.ssn:
                    ssns.add(party.ssn)
                if party.dob:
                    pairs.add((f"{party.last_key} {party.first_key}", party.dob))
        rows = select_in(self.conn, _PERSON_SQL + "ssn IN ({keys})", sorted(ssns))
        rows += select_in(self.conn, _PERSON_SQL + "(name_key, dob) IN ({keys})", sorted(pairs), width=2)
        seen: set[str] = set()
        for person_id, kind, ssn, key, dob in rows:
            if person_id not in seen:
                seen.add(person_id)
                kp = KnownPerson(person_id, kind, ssn, key, dob)
                (self.arrestees if kind == ARRESTEE else self.others).add(kp)

    # -- applying events in order ------------------------------------------------------
    def apply(self, p: Prepared, seq: int) -> tuple[str | None, list[str]]:
        """Apply one event; return (rejection reason or None, warnings)."""
        aid = p.arrest_id
        warnings: list[str] = []
        if aid in self.expunged:
            where = "arrest.arrest_id" if p.type == "arrest" else "arrest_id"
            return f"{where}: arrest {aid} was expunged (order {self.expunged[aid]})", []
        d = p.detail
        if isinstance(d, ArrestDetail):
            if aid in self.known or aid in self.p.new_arrests:
                return (
                    f"arrest.arrest_id: arrest {aid} is already recorded; "
                    "changes to it come as follow-up events"
                ), []
            warnings = self._arrest(aid, d)
        elif aid not in self.known and aid not in self.p.new_arrests:
            return f"arrest_id: unknown arrest {aid}; send its arrest event first", []
        else:
            reason = self._follow_up(p)
            if reason:
                return reason, []
        self.p.events.append((seq, p.event_id, p.type, aid, p.at, p.sha256, p.canonical, self.now))
        return None, warnings

    def _arrest(self, aid: str, d: ArrestDetail) -> list[str]:
        warnings: list[str] = []
        arrestee_id = ""
        for pos, party in enumerate(d.parties):
            index = self.arrestees if party.role == "arrestee" else self.others
            res = index.resolve(
                ssn=party.ssn,
                name_key=f"{party.last_key} {party.first_key}",
                dob=party.dob,
                new_id=party.new_person_id,
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
            self.p.parties.append((aid, pos, res.person_id, *party[:-1]))
        self.p.new_arrests[aid] = (aid, arrestee_id, *d[:6])
        self.p.charges[aid] = _charge_map(d.charges)
        return warnings

    def _set_state(self, kind: str, aid: str, when: str, row: tuple[Any, ...]) -> bool:
        """Record state unless newer state is already known; True if it was newer."""
        pending = self.p.state[kind].get(aid)
        current = pending[0] if pending else self.stored_state[kind].get(aid)
        if current is not None and when < current:
            return False
        self.p.state[kind][aid] = (when, row)
        return True

    def _follow_up(self, p: Prepared) -> str | None:
        aid, d = p.arrest_id, p.detail
        if isinstance(d, ChargingDetail):
            row: tuple[Any, ...] = (aid, d.decision, p.at, p.at_utc)
            if self._set_state("charging", aid, p.at_utc, row) and d.charges is not None:
                self.p.charges[aid] = _charge_map(d.charges)
                self.p.charges_changed.add(aid)
        elif isinstance(d, ArraignmentDetail):
            amount = number(self.sqlite, d.bail_amount)
            row = (aid, d.held_at, d.held_utc, d.bail_type, amount, d.commissioner)
            self._set_state("arraignment", aid, d.held_utc, row)
        elif isinstance(d, ReleaseDetail):
            self._set_state("custody", aid, d.released_utc, (aid, *d))
        elif isinstance(d, DispositionDetail):
            current = self.p.charges.get(aid, {})
            for i, (seq, _) in enumerate(d.charges):
                if seq not in current:
                    return f"charges[{i}].seq: arrest {aid} has no charge {seq}"
            at = p.at_utc
            for seq, disposition in d.charges:
                charge = current[seq]
                if charge.disposition_utc is None or at >= charge.disposition_utc:
                    charge.disposition, charge.disposition_utc = disposition, at
                self.p.dispositions.append((aid, seq, disposition, p.at, at, p.event_id))
            self.p.charges_changed.add(aid)
        elif isinstance(d, ExpungementDetail):
            self.p.expunge.append(p)
            self.expunged[aid] = d.order
        return None

    # -- writing -----------------------------------------------------------------------
    def flush(self) -> None:
        c, p = self.conn, self.p
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
                (aid, seq, ch.statute, ch.description, ch.grade, ch.disposition, ch.disposition_utc)
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
            # Most follow-ups are the first of their kind for the arrest: plain inserts.
            # Only state already stored needs the (slower) upsert.
            stored = self.stored_state[kind]
            rows = p.state[kind]
            insert_rows(c, table, cols, [row for aid, (_, row) in rows.items() if aid not in stored])
            upsert_rows(
                c, table, ("arrest_id",), cols, [row for aid, (_, row) in rows.items() if aid in stored]
            )
        insert_rows(c, dispositions, DISPOSITION_COLS, p.dispositions)
        for ev in p.expunge:
            self._expunge(ev)

    def _expunge(self, ev: Prepared) -> None:
        """Remove the arrest from every view; keep only ids, types, times and hashes.

        The order allows keeping that the events existed (so a re-sent event stays a
        duplicate and never resurrects the arrest), not what they said.
        """
        assert isinstance(ev.detail, ExpungementDetail)
        c, aid, order = self.conn, ev.arrest_id, ev.detail.order
        touched = sorted(set(c.scalars(select(parties.c.person_id).where(parties.c.arrest_id == aid))))
        c.execute(delete(arrests).where(arrests.c.arrest_id == aid))
        c.execute(
            update(events)
            .where(events.c.arrest_id == aid, events.c.type != "expungement")
            .values(body=None, expunged_by=order)
        )
        c.execute(
            expungements.insert().values(arrest_id=aid, order_ref=order, at=ev.at, event_id=ev.event_id)
        )
        # CONTRACT section 5: the free text of every entry naming the arrest goes with it
        # (the leaves keep their commitments, so the log still verifies).
        named = select(audit_text_arrests.c.idx).where(audit_text_arrests.c.arrest_id == aid)
        c.execute(delete(audit_texts).where(audit_texts.c.idx.in_(named)))
        c.execute(delete(audit_text_arrests).where(audit_text_arrests.c.idx.in_(named)))
        for chunk in chunks(touched):
            still_used = set(c.scalars(select(parties.c.person_id).where(parties.c.person_id.in_(chunk))))
            gone = [pid for pid in chunk if pid not in still_used]
            if gone:
                c.execute(delete(persons).where(persons.c.person_id.in_(gone)))
