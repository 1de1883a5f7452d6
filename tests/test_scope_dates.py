"""Dates in an agreement's ``scope`` are days in the city's time zone (CONTRACT section 3).

``scope.since: 2017-01-01`` starts at midnight in ``PARS_TIMEZONE`` (America/New_York by
default), not at midnight UTC: an arrest at 2016-12-31T20:30:00-05:00 is 2016 and out
of scope, one at 2017-01-01T00:30:00-05:00 is in. The gate's query and the oversight
facts (the baseline in scope) read it the same way, on SQLite and PostgreSQL, across
both daylight-saving changes.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from pars.agreements.document import parse_document
from pars.agreements.service import apply_document
from pars.audit import AuditLog, create_keys
from pars.clock import FixedClock, city_day_start
from pars.errors import ConfigError
from pars.gate import admin_event_recorder
from pars.oversight.facts import load_facts
from pars.store.db import Store
from pars.store.ingest import ingest_lines
from pars.store.queries import Scope, SearchQuery, search
from tests.test_gate_fixtures import ICE_READ, ICE_SEARCH, NOW, World, agreement, graded, world

__all__ = ["world"]

#: (since, arrested_at, in scope): each side of the city's midnight.
CASES = [
    ("2017-01-01", "2016-12-31T20:30:00-05:00", False),  # 01:30 UTC on Jan 1: still 2016 in the city
    ("2017-01-01", "2016-12-31T23:59:59-05:00", False),
    ("2017-01-01", "2017-01-01T00:00:00-05:00", True),
    ("2017-01-01", "2017-01-01T00:30:00-05:00", True),
    ("2017-03-12", "2017-03-11T23:30:00-05:00", False),  # the night clocks go forward
    ("2017-03-12", "2017-03-12T00:30:00-05:00", True),
    ("2017-03-12", "2017-03-12T03:30:00-04:00", True),
    ("2017-11-05", "2017-11-04T23:30:00-04:00", False),  # the night clocks go back
    ("2017-11-05", "2017-11-05T00:30:00-04:00", True),
    ("2017-11-05", "2017-11-05T01:30:00-05:00", True),
]


def events() -> list[dict[str, Any]]:
    out = []
    for n, (_, at, _) in enumerate(CASES, start=10):
        ev = graded(n, "F1")
        ev["arrest"]["arrested_at"] = at
        out.append(ev)
    return out


def ingest(store: Store, evs: list[dict[str, Any]]) -> None:
    ingest_lines(store, [(i, json.dumps(e)) for i, e in enumerate(evs, 1)], clock=FixedClock(NOW))


def test_city_days_start_at_the_city_midnight(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARS_TIMEZONE", raising=False)
    assert city_day_start(date(2017, 1, 1)).isoformat() == "2017-01-01T05:00:00"
    assert city_day_start(date(2017, 3, 12)).isoformat() == "2017-03-12T05:00:00"  # still EST at 00:00
    assert city_day_start(date(2017, 3, 13)).isoformat() == "2017-03-13T04:00:00"
    assert city_day_start(date(2017, 11, 5)).isoformat() == "2017-11-05T04:00:00"  # still EDT at 00:00
    assert city_day_start(date(2017, 11, 6)).isoformat() == "2017-11-06T05:00:00"
    monkeypatch.setenv("PARS_TIMEZONE", "Europe/Berlin")
    assert city_day_start(date(2017, 1, 1)).isoformat() == "2016-12-31T23:00:00"
    monkeypatch.setenv("PARS_TIMEZONE", "America/Philly")
    with pytest.raises(ConfigError, match=r"^PARS_TIMEZONE: .America/Philly. is not a time zone"):
        city_day_start(date(2017, 1, 1))


def test_the_store_query_reads_since_in_the_city_time_zone(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PARS_TIMEZONE", raising=False)
    ingest(store, events())
    ids = {f"A-2018-{n:06d}": case for n, case in enumerate(CASES, start=10)}
    for since in sorted({c[0] for c in CASES}):
        with store.read() as conn:
            found = set(search(conn, SearchQuery(limit=100, scope=Scope(since=date.fromisoformat(since)))))
        for arrest_id, (case_since, at, inside) in ids.items():
            if case_since == since:
                assert (arrest_id in found) is inside, (since, at)
    # Los Angeles: 2017-01-01T02:30:00-05:00 is 23:30 on Dec 31 there.
    monkeypatch.setenv("PARS_TIMEZONE", "America/Los_Angeles")
    with store.read() as conn:
        found = set(search(conn, SearchQuery(limit=100, scope=Scope(since=date(2017, 1, 1)))))
    assert "A-2018-000012" not in found and "A-2018-000013" not in found


def test_the_gate_and_the_oversight_baseline_agree_on_the_city_day(world: World) -> None:
    """ICE's scope is ``since: 2017-01-01``: the 20:30 EST arrest on Dec 31 does not exist for it."""
    before, after = graded(40, "F1"), graded(41, "F1")
    before["arrest"]["arrested_at"] = "2016-12-31T20:30:00-05:00"
    after["arrest"]["arrested_at"] = "2017-01-01T00:30:00-05:00"
    world.ingest(before, after)
    gone = world.read("ice", "A-2018-000040", **ICE_READ)
    assert gone.status_code == 404, gone.text
    assert world.read("ice", "A-2018-000041", **ICE_READ).status_code == 200
    found = world.search("ice", {**ICE_SEARCH, "filters": {"arrested_to": "2017-01-02"}}).json()
    assert [r["arrest_id"] for r in found["results"]] == ["A-2018-000041"]
    facts = load_facts(world.store, arrest_ids=[], agreement_ids=["ice-2017"], hmac_key=b"k" * 32)
    in_scope = facts.baselines["ice-2017"].arrests
    # The world's three 2018 arrests in ICE's grades (two felonies) plus the Jan 1 one.
    assert in_scope == 3


def test_the_oversight_baseline_moves_with_the_city_time_zone(
    store: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    keys, _ = create_keys(tmp_path / "keys")
    recorder = admin_event_recorder(AuditLog(keys, FixedClock(NOW)))
    doc = parse_document(agreement("ice-2017", scope={"grades": ["F1"], "since": "2017-01-01"}))
    apply_document(store, FixedClock(NOW), doc, by="clerk", record_admin_event=recorder)
    ingest(store, events()[:4])  # the four cases around 2017-01-01

    def baseline() -> int:
        facts = load_facts(store, arrest_ids=[], agreement_ids=["ice-2017"], hmac_key=b"k" * 32)
        return facts.baselines["ice-2017"].arrests

    monkeypatch.delenv("PARS_TIMEZONE", raising=False)
    assert baseline() == 2  # 00:00 and 00:30 on Jan 1 in New York
    monkeypatch.setenv("PARS_TIMEZONE", "UTC")
    assert baseline() == 4  # every one of them is Jan 1 in UTC
