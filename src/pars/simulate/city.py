"""A synthetic city to simulate in: a store, a signed log, ICE's demo agreement approved on
the record, and a gate, on a simulated clock (the simulation tests and benchmarks/detection.py).

    with city(tmp_path, seed=11, arrests=2500, days=180) as c:
        team, who, world = detection_world(c.store, c.gate, c.clock, c.record, c.doc.id)
        simulate(c.gate, who, team, world, start, end, c.clock, seed=11)
        report = c.report()
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from pars.agreements.approval_note import SignerKey
from pars.agreements.document import AgreementDocument, parse_document
from pars.agreements.parties import add_party_key
from pars.agreements.service import AdminEventRecorder, apply_document, approval_note_for, approve
from pars.audit import AuditLog, init_log
from pars.clock import FixedClock, parse_instant
from pars.gate import Gate, admin_event_recorder
from pars.oversight.report import build_report
from pars.simulate.runner import CITY_TZ
from pars.store.db import Store
from pars.store.ingest import ingest_lines
from pars.store.migrate import upgrade
from pars.synth import generate


@dataclass
class City:
    store: Store
    log: AuditLog
    clock: FixedClock
    record: AdminEventRecorder
    doc: AgreementDocument
    gate: Gate
    key_dir: str
    #: The synthetic booking events not yet ingested (``ingest_first`` held the rest back).
    held: list[dict[str, Any]]

    def report(self, **kw: Any) -> dict[str, Any]:
        return build_report(
            self.store, hmac_key=self.log.keys.hmac_key, now=self.clock.now(), key_dir=self.key_dir, **kw
        )

    def arrivals(self, start: datetime, end: datetime) -> list[tuple[datetime, Callable[[], None]]]:
        """``simulate`` interludes: each day in [start, end) at 06:00 city time, the held events
        that happened since are ingested (the city's bookings arriving as the days pass)."""
        out: list[tuple[datetime, Callable[[], None]]] = []
        day = start.astimezone(CITY_TZ).date()
        while (at := datetime.combine(day, time(6, 0), CITY_TZ)) < end:
            out.append((at, partial(self._arrive, at)))
            day += timedelta(days=1)
        return out

    def _arrive(self, until: datetime) -> None:
        n = 0
        while n < len(self.held) and parse_instant(self.held[n]["at"]) < until:
            n += 1
        due = self.held[:n]
        if due:
            self.held = self.held[len(due) :]
            ingest_lines(self.store, enumerate((json.dumps(e) for e in due), 1), clock=self.clock)


@contextmanager
def city(
    folder: Path,
    *,
    seed: int,
    arrests: int,
    days: int,
    start: date = date(2017, 6, 1),
    agreement: Mapping[str, Any] | None = None,
    ingest_first: Callable[[dict[str, Any]], bool] | None = None,
) -> Iterator[City]:
    """The city, its agreement (ICE's demo terms, ``agreement`` keys replacing theirs) approved by
    the courts and the police (keys made for the run, registered on the record); with
    ``ingest_first`` only the events it keeps are ingested now, the rest are ``held``."""
    store = Store(f"sqlite:///{folder / 'pars.db'}")
    key_dir = str(folder / "keys")
    clock = FixedClock(parse_instant("2017-08-25T09:00:00-04:00"))
    try:
        upgrade(store)
        init_log(store, key_dir)
        log = AuditLog.open(key_dir, clock=clock)
        events = list(generate(arrests=arrests, seed=seed, start=start, days=days))
        now = [e for e in events if ingest_first is None or ingest_first(e)]
        held = [e for e in events if ingest_first is not None and not ingest_first(e)]
        held.sort(key=lambda e: parse_instant(e["at"]))  # stable: an arrest before what follows it
        ingest_lines(store, ((n, json.dumps(e)) for n, e in enumerate(now, 1)), clock=clock)
        raw = yaml.safe_load((resources.files("pars.demo_data") / "ice-2017.yaml").read_text())
        raw.update(agreement or {})
        doc = parse_document(raw)
        rec = admin_event_recorder(log)
        apply_document(store, clock, doc, by="custodian", record_admin_event=rec)
        for role in ("courts", "police"):  # each party signs its approval with its own key
            signer = SignerKey.generate(role)
            add_party_key(store, clock, role, signer.verifier_key, by="clerk", record_admin_event=rec)
            with store.read() as conn:
                note = approval_note_for(conn, doc.id, signer)
            approve(store, clock, doc.id, note, by=role, record_admin_event=rec)
        yield City(store, log, clock, rec, doc, Gate(store, log, clock), key_dir, held)
    finally:
        store.dispose()
