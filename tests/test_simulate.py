"""Each kind of misuse, simulated through the real gate, is found; normal analysts are not.

One synthetic city, one agreement (ICE's demo agreement: arrestees only, country of
origin withheld and forbidden as a filter), five normal analysts and one user per
kind of misuse, three months of work on a simulated clock, then the oversight
report over the log they left.
"""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from pars.agreements.document import parse_document
from pars.agreements.service import apply_document
from pars.audit import AuditLog, init_log
from pars.clock import FixedClock, parse_instant
from pars.gate import Gate, admin_event_recorder
from pars.oversight.report import build_report
from pars.simulate import ANALYSTS, EXPECTED, SPLIT, detection_world, simulate
from pars.store.db import Store
from pars.store.ingest import ingest_lines
from pars.store.migrate import upgrade
from pars.synth import generate
from tests.factories import approve_as, register_parties

#: Each seed's three months through the gate take about a minute and a half of CPU: more on a busy machine.
pytestmark = pytest.mark.timeout(900)


def _run(folder: Path, seed: int) -> dict[str, Any]:
    store = Store(f"sqlite:///{folder / 'pars.db'}")
    key_dir = str(folder / "keys")
    clock = FixedClock(parse_instant("2017-08-25T09:00:00-04:00"))
    try:
        upgrade(store)
        init_log(store, key_dir)
        log = AuditLog.open(key_dir, clock=clock)
        events = generate(arrests=2500, seed=seed, start=date(2017, 6, 1), days=180)
        ingest_lines(store, ((n, json.dumps(e)) for n, e in enumerate(events, 1)), clock=clock)
        doc = parse_document((resources.files("pars.demo_data") / "ice-2017.yaml").read_text())
        rec = admin_event_recorder(log)
        register_parties(store, clock, rec)
        apply_document(store, clock, doc, by="custodian", record_admin_event=rec)
        for role in ("courts", "police"):
            approve_as(store, clock, doc.id, role, rec)
        gate = Gate(store, log, clock)
        team, who, world = detection_world(store, gate, clock, rec, doc.id)
        start, end = parse_instant("2017-09-01T00:00:00-04:00"), parse_instant("2017-12-01T00:00:00-05:00")
        simulate(gate, who, team, world, start, end, clock, seed=seed)
        return build_report(store, hmac_key=log.keys.hmac_key, now=clock.now(), key_dir=key_dir)
    finally:
        store.dispose()


@pytest.fixture(scope="module", params=[11, 29], ids=lambda s: f"seed{s}")
def report(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return _run(tmp_path_factory.mktemp("sim"), request.param)


@pytest.mark.parametrize("behaviour", sorted(EXPECTED))
def test_each_misuse_is_found(report: dict[str, Any], behaviour: str) -> None:
    kinds = {f["kind"] for f in report["findings"] if f["user"] == f"mis.{behaviour}"}
    assert EXPECTED[behaviour] in kinds, (behaviour, kinds)


def test_split_accounts_are_found_pooled(report: dict[str, Any]) -> None:
    pooled = [
        f
        for f in report["findings"]
        if f["kind"] == "origin_targeting"
        and f["user"] is None
        and f["statistic"].get("view") == "pooled users"
    ]
    assert pooled, [(f["kind"], f["user"]) for f in report["findings"]]
    assert len(set(SPLIT) & set(pooled[0]["statistic"]["users"])) >= 2, pooled[0]["statistic"]["users"]
    assert not set(ANALYSTS) & set(pooled[0]["statistic"]["users"])


def test_normal_analysts_are_not_flagged(report: dict[str, Any]) -> None:
    flagged = {(f["user"], f["kind"]) for f in report["findings"] if f["user"] in ANALYSTS}
    assert not flagged
    assert report["log"]["verified"] is True
