"""The detection team: honest analysts, one user per misuse and evasion, split accounts.

    team, who, world = detection_world(store, gate, clock, record, agreement_id)
    simulate(gate, who, team, world, start, end, clock, seed=seed)

``run_feed`` plays the feed world (``FEED_TERMS``: ICE's terms with the feed on) in a
city whose bookings arrive day by day: an honest follower and a replay.

``tests/test_simulate.py`` and ``benchmarks/detection.py`` run this same team, so
the figures the benchmark prints are those of the world the tests check.
``enrol`` issues each persona its partner token (logged as an admin event, as
``pars tokens issue`` would) and authenticates it at the gate.

Rule: every persona reaches records only through the gate, with its own token.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from pars.agreements.service import AdminEventRecorder
from pars.clock import Clock
from pars.gate import Gate, Principal, issue_token
from pars.simulate.behaviour import Behaviour, Persona
from pars.simulate.city import City
from pars.simulate.runner import SimulationStats, simulate
from pars.simulate.world import World, load_world
from pars.store.db import Store

#: Each misuse behaviour -> the finding kind that must name its user.
EXPECTED: dict[str, str] = {
    "origin_targeting": "origin_targeting",
    "non_criminal": "non_criminal_targeting",
    "protected_probe": "protected_role_probe",
    "forbidden_filter": "forbidden_filter",
    "bulk": "bulk_access",
    "vague": "vague_justification",
    "purpose_mismatch": "purpose_mismatch",
    # Evasions (issue 12)
    "dilution": "origin_targeting",
    "slow": "origin_targeting",
    "scrape_search": "bulk_access",
    "disguised_reasons": "purpose_mismatch",
    "misspelt_forbidden": "forbidden_filter",
    "surname_probe": "protected_role_probe",
}
#: Sittings per working day (misusers: 3): a scraper sits rarely, a slow campaign a few times a week.
PER_DAY: dict[str, float] = {"scrape_search": 0.3, "slow": 0.4}
#: Four accounts each seeing a few people: found together, as the agency (pooled users).
SPLIT: tuple[str, ...] = tuple(f"mis.split{i}" for i in range(4))
ANALYSTS: tuple[str, ...] = tuple(f"ice.analyst{i}" for i in range(5))


def detection_team(agreement_id: str, agency: str = "ICE") -> list[Persona]:
    """Five analysts (2 sittings a day), ``mis.<behaviour>`` for each of ``EXPECTED``, the split accounts."""
    team = [Persona(u, agreement_id, agency, per_day=2) for u in ANALYSTS]
    team += [
        Persona(f"mis.{b}", agreement_id, agency, behaviour=cast(Behaviour, b), per_day=PER_DAY.get(b, 3))
        for b in EXPECTED
    ]
    team += [Persona(u, agreement_id, agency, behaviour="split", per_day=0.15) for u in SPLIT]
    return team


def enrol(
    store: Store, gate: Gate, clock: Clock, record: AdminEventRecorder, team: Sequence[Persona]
) -> dict[str, Principal]:
    """A partner token for each persona, issued on the record, authenticated at the gate."""
    who = {}
    for p in team:
        token, _ = issue_token(
            store, clock, role="partner", user=p.user, agreement_id=p.agreement_id, record_admin_event=record
        )
        who[p.user] = gate.authenticate(token)
    return who


def detection_world(
    store: Store, gate: Gate, clock: Clock, record: AdminEventRecorder, agreement_id: str, agency: str = "ICE"
) -> tuple[list[Persona], dict[str, Principal], World]:
    """The detection team enrolled under ``agreement_id``, and the world it knows (read once)."""
    team = detection_team(agreement_id, agency)
    who = enrol(store, gate, clock, record, team)
    with store.read() as conn:
        world = load_world(conn)
    return team, who, world


#: The feed world's honest users: two analysts and a subscriber following the feed.
FEED_HONEST: tuple[str, ...] = ("ice.analyst0", "ice.analyst1", "ice.feed")
#: ICE's terms with the feed enabled.
FEED_TERMS: dict[str, Any] = {"feed": {"enabled": True}}


def feed_team(agreement_id: str, agency: str = "ICE") -> list[Persona]:
    """Two analysts, ``ice.feed`` following the feed, ``mis.feed_replay`` opening it at 0 each time."""
    team = [Persona(u, agreement_id, agency, per_day=2) for u in FEED_HONEST[:2]]
    team.append(Persona("ice.feed", agreement_id, agency, behaviour="feed_follow", per_day=2))
    team.append(Persona("mis.feed_replay", agreement_id, agency, behaviour="feed_replay", per_day=1))
    return team


def run_feed(c: City, seed: int, start: datetime, end: datetime) -> SimulationStats:
    """The feed team through ``c``'s gate in [start, end), the held bookings arriving day by day
    (``c`` made with ``FEED_TERMS`` and the bookings from ``start`` on held)."""
    team = feed_team(c.doc.id)
    who = enrol(c.store, c.gate, c.clock, c.record, team)
    with c.store.read() as conn:
        world = load_world(conn)
    return simulate(
        c.gate, who, team, world, start, end, c.clock, seed=seed, interludes=c.arrivals(start, end)
    )
