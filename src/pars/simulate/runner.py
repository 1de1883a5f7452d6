"""Run simulated partner users through the gate on a simulated clock.

    world = load_world(conn)
    stats = simulate(gate, principals, personas, world, start, end, clock, seed=1)

Working days only, 08:00-18:00 city time, a Poisson number of sittings per user
per day. Every ask goes through ``Gate`` exactly as an HTTP request would, so the
audit log the simulation leaves is the log a real deployment would keep.

Rule: the clock only moves forward; entries are appended in time order.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from pars.clock import FixedClock
from pars.gate import Gate, Outcome, Principal, next_delivery
from pars.simulate.behaviour import Ask, Persona, asks_for
from pars.simulate.world import World

CITY_TZ = ZoneInfo("America/New_York")


@dataclass
class SimulationStats:
    asks: int = 0
    by_status: Counter[int] = field(default_factory=Counter)
    by_user: dict[str, Counter[int]] = field(default_factory=dict)

    def count(self, user: str, outcome: Outcome) -> None:
        self.asks += 1
        self.by_status[outcome.status] += 1
        self.by_user.setdefault(user, Counter())[outcome.status] += 1


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method: small means only, which is all a working day needs.
    limit, k, prod = math.exp(-mean), 0, rng.random()
    while prod > limit:
        k += 1
        prod *= rng.random()
    return k


def schedule(
    personas: Sequence[Persona], start: datetime, end: datetime, rng: random.Random
) -> list[tuple[datetime, int]]:
    """(instant, persona index) of every sitting in [start, end), in time order."""
    slots: list[tuple[datetime, int]] = []
    day = start.astimezone(CITY_TZ).date()
    while True:
        opening = datetime.combine(day, time(8, 0), CITY_TZ)
        if opening >= end:
            break
        if day.weekday() < 5:
            for i, p in enumerate(personas):
                for _ in range(_poisson(rng, p.per_day)):
                    at = opening + timedelta(seconds=rng.randrange(0, 10 * 3600))
                    if start <= at < end:
                        slots.append((at, i))
        day += timedelta(days=1)
    slots.sort()
    return slots


#: Most deliveries one feed sitting drains before it hangs up.
MAX_DELIVERIES = 1000


def _feed(gate: Gate, who: Principal, ask: Ask, persona: Persona) -> Outcome:
    """Open the feed (``GET /v1/feed`` with ``Last-Event-ID``) and drain it as the web route's
    stream does, delivery by delivery through the gate's group commit; keep the last cursor."""
    opened = gate.open_feed(who, ask.body, last_event_id=ask.last_event_id)
    if opened.status != 200 or opened.request is None or opened.cursor is None:
        return opened
    cursor = opened.cursor
    for _ in range(MAX_DELIVERIES):
        step = next_delivery(gate, who, opened.request, cursor)
        if step.kind not in ("data", "skip"):
            break
        cursor = step.cursor
    persona._cursor = cursor
    return opened


def _do(gate: Gate, who: Principal, ask: Ask, persona: Persona) -> Outcome:
    if ask.kind == "feed":
        return _feed(gate, who, ask, persona)
    if ask.kind == "read":
        params = {k: v for k, v in ask.body.items() if k != "filters"}
        return gate.read(who, ask.arrest_id or "", params)
    return gate.search(who, ask.body)


def simulate(
    gate: Gate,
    principals: Mapping[str, Principal],
    personas: Sequence[Persona],
    world: World,
    start: datetime,
    end: datetime,
    clock: FixedClock,
    *,
    seed: int,
    progress: Callable[[int, int], None] | None = None,
    interludes: Sequence[tuple[datetime, Callable[[], None]]] = (),
) -> SimulationStats:
    """Drive every persona's sittings in [start, end) through ``gate``.

    ``interludes``: (instant, action) run, on the same clock, before the first sitting
    at or after that instant (an admin event in the middle of the year, logged in
    time order with the requests around it); the schedule is the same with or without.
    """
    rng = random.Random(seed)
    stats = SimulationStats()
    slots = schedule(personas, start, end, rng)
    pending = sorted(interludes, key=lambda item: item[0])

    def interlude_until(limit: datetime | None) -> None:
        while pending and (limit is None or pending[0][0] <= limit):
            when, action = pending.pop(0)
            clock.set(max(when, clock.now()))
            action()

    for n, (at, i) in enumerate(slots, 1):
        interlude_until(at)
        persona = personas[i]
        who = principals[persona.user]
        clock.set(max(at, clock.now()))
        for ask in asks_for(persona, world, clock.now(), rng):
            outcome = _do(gate, who, ask, persona)
            stats.count(persona.user, outcome)
            found = outcome.body.get("results") if outcome.status == 200 else None
            if ask.then_read and found and isinstance(found[0].get("arrest_id"), str):
                clock.advance(timedelta(seconds=rng.randrange(20, 300)))
                read = Ask("read", ask.body, arrest_id=found[0]["arrest_id"])
                stats.count(persona.user, _do(gate, who, read, persona))
            clock.advance(timedelta(seconds=rng.randrange(5, 90)))
        if progress is not None and n % 50 == 0:
            progress(n, len(slots))
    interlude_until(None)
    if progress is not None:
        progress(len(slots), len(slots))
    return stats
