"""The false-positive bound (issue 12): 100 clean agencies, honest broad searches mixed in,
at most 1% of (subject, kind) pairs flagged.

One small synthetic city, 100 agreements (ICE's demo terms under 100 ids, one partner
each), one to four honest users per agency (some of them also running broad district and
date-window searches), a month of work driven through the real gate on a simulated
clock, then one oversight report over the whole log.
"""

from __future__ import annotations

import json
import random
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml

from pars.agreements.document import parse_document
from pars.agreements.service import apply_document
from pars.audit import AuditLog, init_log
from pars.clock import FixedClock, parse_instant
from pars.gate import Gate, admin_event_recorder
from pars.oversight.model import KINDS
from pars.oversight.report import build_report
from pars.simulate import Persona, enrol, load_world, simulate
from pars.store.db import Store
from pars.store.ingest import ingest_lines
from pars.store.migrate import upgrade
from pars.synth import generate
from tests.factories import approve_as, register_parties

AGENCIES = 100


def _run(folder: Path, seed: int) -> tuple[dict[str, Any], list[Persona]]:
    store = Store(f"sqlite:///{folder / 'pars.db'}")
    key_dir = str(folder / "keys")
    clock = FixedClock(parse_instant("2017-08-25T09:00:00-04:00"))
    rng = random.Random(seed)
    try:
        upgrade(store)
        init_log(store, key_dir)
        log = AuditLog.open(key_dir, clock=clock)
        events = generate(arrests=1500, seed=seed, start=date(2017, 5, 1), days=150)
        ingest_lines(store, ((n, json.dumps(e)) for n, e in enumerate(events, 1)), clock=clock)
        record = admin_event_recorder(log)
        register_parties(store, clock, record)
        raw = yaml.safe_load((resources.files("pars.demo_data") / "ice-2017.yaml").read_text())
        team: list[Persona] = []
        for a in range(AGENCIES):
            raw.update(id=f"agency-{a:03d}", partner=f"AG{a:03d}")
            doc = parse_document(raw)
            apply_document(store, clock, doc, by="custodian", record_admin_event=record)
            for role in ("courts", "police"):
                approve_as(store, clock, doc.id, role, record)
            for u in range(rng.choice((1, 1, 2, 3, 4))):
                b = "broad_analyst" if rng.random() < 0.5 else "analyst"
                team.append(Persona(f"u{a:03d}.{u}", doc.id, doc.partner, behaviour=b, per_day=1.0))  # type: ignore[arg-type]
        gate = Gate(store, log, clock)
        who = enrol(store, gate, clock, record, team)
        with store.read() as conn:
            world = load_world(conn)
        start, end = parse_instant("2017-09-01T00:00:00-04:00"), parse_instant("2017-10-01T00:00:00-04:00")
        simulate(gate, who, team, world, start, end, clock, seed=seed)
        report = build_report(store, hmac_key=log.keys.hmac_key, now=clock.now(), key_dir=key_dir)
        return report, team
    finally:
        store.dispose()


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], list[Persona]]:
    return _run(tmp_path_factory.mktemp("clean"), 7)


@pytest.mark.timeout(900)
def test_at_most_one_percent_of_pairs_are_false_positives(
    clean: tuple[dict[str, Any], list[Persona]],
) -> None:
    report, team = clean
    assert report["log"]["verified"] is True
    assert len(report["agreements"]) == AGENCIES
    # Every subject oversight judges: each user and each agency, for each kind.
    pairs = (len(team) + AGENCIES) * len(KINDS)
    flagged = {(f["agreement_id"], f["user"], f["kind"]) for f in report["findings"]}
    # The measured figure (docs/oversight-detectors.md quotes it): run with -s to see it.
    rate = len(flagged) / pairs
    print(f"clean agencies: {len(flagged)} of {pairs} (subject, kind) pairs flagged ({rate:.2%})")
    assert len(flagged) <= 0.01 * pairs, sorted(flagged)
    broad = [p for p in team if p.behaviour == "broad_analyst"]
    assert len(broad) >= 50  # honest broad searches are really mixed in
