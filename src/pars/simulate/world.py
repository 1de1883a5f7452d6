"""What simulated partner users know from outside PARS.

A real analyst arrives with names from their own cases; a misusing one arrives
with a list of people to look for. The simulator models that knowledge by
sampling the store once (names, dobs and the facts a misuser would select on).
Nothing here is handed to a partner: every record a simulated user *sees* comes
back through the gate, decided, redacted and logged.

Rule: the world is read once, before the simulation; behaviours only choose
among what it holds, so runs are deterministic for a seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from pars.store.schema import arrests, charges, charging, parties

MINOR_GRADES = frozenset({"S", "M3", "M2", "M", "M1"})
DROPPED = frozenset({"withdrawn", "dismissed"})


@dataclass(frozen=True, slots=True)
class Target:
    """An arrestee as the outside world knows them, with the facts misusers select on."""

    arrest_id: str
    number: int  # the arrest id's running number, for enumeration
    arrested_utc: datetime
    last_name: str
    first_name: str
    dob: str | None
    person_id: str
    foreign_born: bool
    minor_or_dropped: bool
    felony: bool


@dataclass(frozen=True, slots=True)
class Bystander:
    """A victim or witness (never to be sought by a partner unless its agreement says so)."""

    arrest_id: str
    person_id: str
    last_name: str
    first_name: str
    dob: str | None


@dataclass(frozen=True)
class World:
    targets: tuple[Target, ...]
    bystanders: tuple[Bystander, ...]

    def arrested_between(self, start: datetime, end: datetime) -> list[Target]:
        return [t for t in self.targets if start <= t.arrested_utc < end]


def _number(arrest_id: str) -> int:
    digits = arrest_id.rsplit("-", 1)[-1]
    return int(digits) if digits.isdigit() else 0


def load_world(conn: Connection) -> World:
    """Sample the store once: every arrestee and every victim or witness."""
    grades: dict[str, set[str]] = {}
    dispositions: dict[str, set[str | None]] = {}
    for aid, grade, disp in conn.execute(select(charges.c.arrest_id, charges.c.grade, charges.c.disposition)):
        grades.setdefault(aid, set()).add(grade or "")
        dispositions.setdefault(aid, set()).add(disp)
    declined = set(conn.scalars(select(charging.c.arrest_id).where(charging.c.decision == "declined")))
    q = (
        select(
            arrests.c.arrest_id,
            arrests.c.arrested_utc,
            parties.c.role,
            parties.c.person_id,
            parties.c.last_name,
            parties.c.first_name,
            parties.c.dob,
            parties.c.country_of_origin,
        )
        .select_from(arrests.join(parties, parties.c.arrest_id == arrests.c.arrest_id))
        .order_by(arrests.c.arrest_id, parties.c.position)
    )
    targets: list[Target] = []
    bystanders: list[Bystander] = []
    for row in conn.execute(q):
        if row.role != "arrestee":
            bystanders.append(Bystander(row.arrest_id, row.person_id, row.last_name, row.first_name, row.dob))
            continue
        g = grades.get(row.arrest_id, set())
        d = dispositions.get(row.arrest_id, set())
        dropped = bool(d) and d <= DROPPED
        targets.append(
            Target(
                arrest_id=row.arrest_id,
                number=_number(row.arrest_id),
                arrested_utc=row.arrested_utc,
                last_name=row.last_name,
                first_name=row.first_name,
                dob=row.dob,
                person_id=row.person_id,
                foreign_born=row.country_of_origin not in (None, "US"),
                minor_or_dropped=row.arrest_id in declined or dropped or (bool(g) and g <= MINOR_GRADES),
                felony=bool(g & {"F1", "F2", "F3", "F"}),
            )
        )
    return World(tuple(targets), tuple(bystanders))
