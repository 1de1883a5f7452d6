"""What happens after a synthetic arrest: charging, arraignment, release,
disposition and expungement, each drawn with its own delay.

Pure: functions take a ``random.Random`` and plain values and return plain values.
Rule: every follow-up happens strictly after the event it follows.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pars.synth.statutes import GRAVITY, Charge, modify, top_grade

HOUR = 3600
DAY = 24 * HOUR

DECISIONS = ("approved", "declined", "modified")
BAIL_TYPES = ("ROR", "unsecured", "monetary", "nonmonetary", "denied")
DISPOSITIONS = ("withdrawn", "dismissed", "held_for_court", "guilty", "not_guilty")
#: Where people leave custody: the Police Detention Unit (same-day releases) and the
#: city's jails (Curran-Fromhold, Detention Center, PICC, Riverside).
FACILITIES = ("PDU", "CFCF", "DC", "PICC", "RCF")
_JAILS = ("CFCF", "DC", "PICC", "RCF")
_JAIL_CUM = (45, 65, 88, 100)


@dataclass(frozen=True, slots=True)
class Charging:
    at: int
    decision: str
    charges: tuple[Charge, ...]  # the charges in force afterwards


def charging(
    rng: random.Random, after: int, charges: tuple[Charge, ...], decision: str | None = None
) -> Charging:
    """The DA's charging decision, typically 2 to 24 hours after booking."""
    if decision is None:
        r = rng.random()
        decision = "approved" if r < 0.80 else "declined" if r < 0.88 else "modified"
    at = after + 2 * HOUR + min(22 * HOUR, int(rng.gammavariate(1.6, 3.5 * HOUR)))
    if decision == "modified":
        return Charging(at, decision, tuple(modify(list(charges), rng)))
    return Charging(at, decision, charges)


_ROUND = (
    250,
    500,
    1000,
    1500,
    2500,
    5000,
    7500,
    10_000,
    15_000,
    20_000,
    25_000,
    35_000,
    50_000,
    75_000,
    100_000,
    150_000,
    250_000,
    500_000,
    1_000_000,
)


def _round_amount(value: float) -> int:
    return min(_ROUND, key=lambda r: abs(r - value))


def bail(rng: random.Random, charges: tuple[Charge, ...]) -> tuple[str, int | None]:
    """Bail set at preliminary arraignment, by the gravest charge."""
    g = GRAVITY[top_grade(charges)]
    r = rng.random()
    if g <= GRAVITY["F1"]:
        if r < 0.08:
            return "denied", None
        if r < 0.92:
            return "monetary", _round_amount(rng.lognormvariate(11.3, 0.9))  # ~ $80k median
        return "unsecured", _round_amount(rng.lognormvariate(9.5, 0.6))
    if g <= GRAVITY["F"]:  # F2, F3, ungraded felony
        if r < 0.55:
            return "monetary", _round_amount(rng.lognormvariate(9.6, 0.9))  # ~ $15k
        if r < 0.75:
            return "unsecured", _round_amount(rng.lognormvariate(8.5, 0.7))
        if r < 0.85:
            return "nonmonetary", None
        return "ROR", None
    if g <= GRAVITY["M"]:
        if r < 0.5:
            return "ROR", None
        if r < 0.78:
            return "unsecured", _round_amount(rng.lognormvariate(7.6, 0.6))
        if r < 0.9:
            return "nonmonetary", None
        return "monetary", _round_amount(rng.lognormvariate(7.3, 0.7))
    return "ROR", None


def release_after_bail(rng: random.Random, held_at: int, bail_type: str) -> tuple[int, str] | None:
    """(released_at, facility) once bail is met, or None if the person stays in."""
    if bail_type in ("ROR", "unsecured", "nonmonetary"):
        facility = "PDU" if rng.random() < 0.7 else "CFCF"
        return held_at + HOUR + int(rng.random() * 6 * HOUR), facility
    jail = rng.choices(_JAILS, cum_weights=_JAIL_CUM)[0]
    if bail_type == "monetary" and rng.random() < 0.55:
        return held_at + 2 * HOUR + int(rng.expovariate(1 / (3 * DAY))), jail
    if bail_type == "denied" and rng.random() < 0.1:
        return held_at + 14 * DAY + int(rng.expovariate(1 / (40 * DAY))), jail
    return None


def release_declined(rng: random.Random, decided_at: int) -> tuple[int, str]:
    """Released without charges once the DA declines."""
    return decided_at + HOUR // 2 + int(rng.random() * 4 * HOUR), "PDU"


_FELONY_ODDS = (
    ("held_for_court", 40),
    ("withdrawn", 62),
    ("dismissed", 80),
    ("guilty", 95),
    ("not_guilty", 100),
)
_MISD_ODDS = (
    ("withdrawn", 35),
    ("dismissed", 55),
    ("guilty", 85),
    ("not_guilty", 95),
    ("held_for_court", 100),
)
_SUMMARY_ODDS = (("withdrawn", 30), ("dismissed", 55), ("guilty", 90), ("not_guilty", 100))


def _pick(rng: random.Random, odds: tuple[tuple[str, int], ...]) -> str:
    r = rng.random() * 100
    return next(name for name, cum in odds if r < cum)


def _odds(grade: str) -> tuple[tuple[str, int], ...]:
    g = GRAVITY[grade]
    return _FELONY_ODDS if g <= GRAVITY["F"] else _MISD_ODDS if g <= GRAVITY["M"] else _SUMMARY_ODDS


def disposition(rng: random.Random, charges: tuple[Charge, ...]) -> tuple[str, ...]:
    """One disposition per charge (in ``seq`` order): lesser charges follow the top one."""
    top = _pick(rng, _odds(charges[0].grade))
    out = [top]
    for c in charges[1:]:
        if top in ("withdrawn", "dismissed", "held_for_court") and rng.random() < 0.85:
            out.append(top)
        elif top == "guilty" and rng.random() < 0.5:
            out.append("withdrawn")
        else:
            own = _pick(rng, _odds(c.grade))
            out.append("withdrawn" if own == "held_for_court" and top != own else own)
    return tuple(out)


def disposition_delay(rng: random.Random) -> int:
    """Weeks to months: two weeks plus a long tail (median about two months)."""
    return 14 * DAY + int(rng.gammavariate(2.0, 22 * DAY))


def cleared(dispositions: tuple[str, ...]) -> bool:
    """No conviction and nothing pending: the arrests people petition to expunge."""
    return all(d in ("withdrawn", "dismissed", "not_guilty") for d in dispositions)


def expungement_order(rng: random.Random, year: int) -> str:
    """A Philadelphia Court of Common Pleas miscellaneous-docket reference."""
    return f"CP-51-MD-{rng.randint(1, 9_999_999):07d}-{year}"
