"""How simulated partner users behave: normal analysts and each kind of misuse.

A behaviour turns "this user works now" into one or more asks (a search, perhaps
followed by a read of what it found). Pure: choices come from the world and a
seeded ``random.Random``; nothing here touches the store or the clock.

Rule: a behaviour never looks at what the gate would allow; it asks like the
person it models would, and the gate decides.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from pars.clock import to_utc_naive
from pars.simulate.world import Bystander, Target, World

Behaviour = Literal[
    "analyst",
    # An honest analyst who also runs broad district and date-window searches (pattern work).
    "broad_analyst",
    "origin_targeting",
    "non_criminal",
    "protected_probe",
    "forbidden_filter",
    "bulk",
    "vague",
    "purpose_mismatch",
    # Evasions by a partner who knows the detectors (issue 12):
    "dilution",
    "split",
    "slow",
    "scrape_search",
    "disguised_reasons",
    "misspelt_forbidden",
    "surname_probe",
    # Feed subscribers (pars.gate.feed): one follows the feed from where it left off; one opens it
    # with Last-Event-ID: 0 every time, pulling all it can again (the replay of issue 12).
    "feed_follow",
    "feed_replay",
]
BEHAVIOURS: tuple[str, ...] = get_args(Behaviour)

OFFENSES = (
    "armed robbery", "carjacking", "narcotics distribution", "firearms trafficking", "wire fraud",
    "aggravated assault", "burglary series", "homicide", "identity theft", "straw purchase",
    "gang shooting", "bank robbery", "extortion", "human trafficking", "arson",
)  # fmt: skip
LEGIT = (
    "Subject identified as a suspect in the {o} investigation; confirming prior arrests before interview.",
    "Named by a cooperating witness in the {o} case; verifying identity and bail status.",
    "Co-defendant in the {o} case; checking charges approved by the DA.",
    "Vehicle registered to subject linked to the {o} on {d}; reviewing arrest history.",
    "Task force target in the {o} matter; confirming current charges and next court date.",
    "Latent print hit from the {o} scene matches subject; reviewing local arrest record.",
)
IMMIGRATION = (
    "Foreign national; verify immigration status for possible removal.",
    "Possible visa overstay, check whether an ICE detainer should be lodged.",
    "Undocumented subject, deportation review.",
    "Check status for removal proceedings before release from custody.",
    "Immigration enforcement lead: subject born abroad, minor charges.",
)
VAGUE = ("investigation", "routine check", "info", "N/A", "case", "check", "lookup")
OTHER_PURPOSES = (
    "Background check for an employment application.",
    "Tenant screening requested by a housing authority.",
    "Civil lawsuit discovery: looking for prior arrests.",
    "Security clearance re-investigation interview prep.",
)
#: Immigration purposes disguised against a phrase list (issue 12's "Reasons in disguise").
DISGUISED = (
    "ｉｍｍｉｇｒａｔｉｏｎ",
    "Immіgration status check",  # Cyrillic і
    "Im\u200bmigration review",
    "deportación",
    "non-citizen, review priors",
    "287(g) screening: removability",
    "visa-overstayer, confirm identity",
    "8 U.S.C. § 1227 review",
)
FORBIDDEN_TRIES: tuple[dict[str, Any], ...] = (
    {"country_of_origin": "MX"},
    {"country_of_origin": "DO"},
    {"ssn": "900-00-0000"},
    {"address": "1500 Market St"},
)


@dataclass(frozen=True, slots=True)
class Ask:
    """One request a user makes; ``then_read`` reads the first arrest found, as analysts do."""

    kind: Literal["search", "read", "feed"]
    body: dict[str, Any]
    arrest_id: str | None = None
    then_read: bool = False
    #: A feed open's ``Last-Event-ID`` (None: start at the newest event).
    last_event_id: int | None = None


@dataclass
class Persona:
    user: str
    agreement_id: str
    agency: str
    behaviour: Behaviour = "analyst"
    per_day: float = 4.0  # mean asks per working day
    purpose: str = "C"
    _case_seq: int = field(default=0, repr=False)
    _cursor: int = field(default=0, repr=False)

    def case_number(self, rng: random.Random, now: datetime) -> str:
        self._case_seq += 1
        return f"{self.agency}-{now:%y}-{rng.randrange(10_000, 99_999)}"


def _legit(rng: random.Random, now: datetime) -> str:
    day = (now - timedelta(days=rng.randrange(1, 30))).strftime("%B %-d")
    return rng.choice(LEGIT).format(o=rng.choice(OFFENSES), d=day)


def _name_search(t: Target | Bystander) -> dict[str, Any]:
    filters: dict[str, Any] = {"last_name": t.last_name, "first_name": t.first_name}
    if t.dob:
        filters["dob"] = t.dob
    return filters


def _recent(world: World, now: datetime, days: int) -> list[Target]:
    end = to_utc_naive(now)
    return world.arrested_between(end - timedelta(days=days), end)


def _search(p: Persona, filters: dict[str, Any], case: str, why: str, then_read: bool) -> Ask:
    body = {"purpose": p.purpose, "case_number": case, "justification": why, "filters": filters}
    return Ask("search", body, then_read=then_read)


def asks_for(p: Persona, world: World, now: datetime, rng: random.Random) -> list[Ask]:
    """What ``p`` asks when they sit down to work at ``now``."""
    recent = _recent(world, now, 45) or _recent(world, now, 365)
    if not recent:
        return []
    case = p.case_number(rng, now)
    b = p.behaviour
    if b in ("feed_follow", "feed_replay"):
        # A follower resumes where its last stream stopped (``_cursor``, kept by the runner).
        body = {"purpose": p.purpose, "case_number": case, "justification": _legit(rng, now)}
        resume = 0 if b == "feed_replay" else (p._cursor or None)
        return [Ask("feed", body, last_event_id=resume)]
    if b == "bulk":
        if p._cursor == 0:
            p._cursor = min(t.number for t in recent)
        asks = []
        year = recent[0].arrest_id.split("-")[1]
        for _ in range(25):
            aid = f"A-{year}-{p._cursor:06d}"
            p._cursor += 1
            body = {"purpose": p.purpose, "case_number": case, "justification": _legit(rng, now)}
            asks.append(Ask("read", body, arrest_id=aid))
        return asks
    if b == "broad_analyst" and rng.random() < 0.3:
        day = to_utc_naive(now) - timedelta(days=rng.randrange(2, 120))
        filters = {
            "district": str(rng.randrange(1, 25)),
            "arrested_from": day.date().isoformat(),
            "arrested_to": (day + timedelta(days=rng.choice((3, 7, 14)))).date().isoformat(),
        }
        return [_search(p, filters, case, _legit(rng, now), rng.random() < 0.3)]
    if b in ("dilution", "split", "slow"):
        # Aimed at people born abroad with charges minor or dropped, under honest-looking reasons;
        # a diluter pads the log with broad district and date-window searches; a slow campaign
        # (few sittings a week) and split accounts differ only in how often they sit down.
        if b == "dilution" and rng.random() < 0.45:
            day = to_utc_naive(now) - timedelta(days=rng.randrange(2, 300))
            filters = {
                "district": str(rng.randrange(1, 25)),
                "arrested_from": day.date().isoformat(),
                "arrested_to": (day + timedelta(days=7)).date().isoformat(),
            }
            return [_search(p, filters, case, _legit(rng, now), False)]
        pool = [t for t in _recent(world, now, 365) if t.foreign_born and t.minor_or_dropped]
        target = rng.choice(pool) if pool else rng.choice(recent)
        return [_search(p, _name_search(target), case, _legit(rng, now), rng.random() < 0.5)]
    if b == "scrape_search":
        # Consecutive 3-day windows from the start of the records, each with its own case and reason.
        if p._cursor == 0:
            p._cursor = 1
        first = min(t.arrested_utc for t in world.targets)
        asks = []
        for _ in range(40):
            start = first + timedelta(days=3 * (p._cursor - 1))
            p._cursor += 1
            filters = {
                "arrested_from": start.date().isoformat(),
                "arrested_to": (start + timedelta(days=3)).date().isoformat(),
            }
            asks.append(_search(p, filters, p.case_number(rng, now), _legit(rng, now), False))
        return asks
    if b == "disguised_reasons" and rng.random() < 0.6:
        return [_search(p, _name_search(rng.choice(recent)), case, rng.choice(DISGUISED), True)]
    if b == "misspelt_forbidden" and rng.random() < 0.3:
        filters = {"lname": rng.choice(recent).last_name, "country_of_origin": rng.choice(("MX", "DO", "GT"))}
        return [_search(p, filters, case, _legit(rng, now), False)]
    if b == "surname_probe" and world.bystanders and rng.random() < 0.5:
        victim = rng.choice(world.bystanders)
        return [_search(p, {"last_name": victim.last_name}, case, _legit(rng, now), False)]
    if b == "origin_targeting":
        pool = [t for t in _recent(world, now, 365) if t.foreign_born and t.minor_or_dropped]
        if rng.random() < 0.05:
            return [_search(p, dict(rng.choice(FORBIDDEN_TRIES[:2])), case, rng.choice(IMMIGRATION), False)]
        target = rng.choice(pool) if pool else rng.choice(recent)
        why = rng.choice(IMMIGRATION) if rng.random() < 0.7 else _legit(rng, now)
        return [_search(p, _name_search(target), case, why, rng.random() < 0.5)]
    if b == "non_criminal":
        if rng.random() < 0.3:  # fishing for people who were never arrested
            a, c = rng.choice(world.targets), rng.choice(world.targets)
            dob = f"19{rng.randrange(50, 99)}-0{rng.randrange(1, 9)}-1{rng.randrange(0, 9)}"
            filters = {"last_name": a.last_name, "first_name": c.first_name, "dob": dob}
            return [_search(p, filters, case, _legit(rng, now), False)]
        pool = [t for t in _recent(world, now, 365) if t.minor_or_dropped]
        return [
            _search(p, _name_search(rng.choice(pool or recent)), case, _legit(rng, now), rng.random() < 0.5)
        ]
    if b == "protected_probe" and world.bystanders and rng.random() < 0.5:
        victim = rng.choice(world.bystanders)
        return [_search(p, _name_search(victim), case, _legit(rng, now), False)]
    if b == "forbidden_filter" and rng.random() < 0.3:
        return [_search(p, dict(rng.choice(FORBIDDEN_TRIES)), case, _legit(rng, now), False)]
    target = rng.choice(recent)
    why = _legit(rng, now)
    if b == "vague":
        case = f"{p.agency}-{now:%y}-00001"
        why = rng.choice(VAGUE)
    elif b == "purpose_mismatch" and rng.random() < 0.6:
        why = rng.choice(OTHER_PURPOSES + IMMIGRATION)
    return [_search(p, _name_search(target), case, why, rng.random() < 0.6)]
