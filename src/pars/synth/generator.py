"""The synthetic booking stream: arrests in time order, each followed by its
charging, arraignment, release, disposition and expungement events.

Arrests are drawn in ascending time; each one's follow-ups wait in a heap and are
flushed once no later arrest can precede them, so the stream is sorted by ``at`` and
memory holds only pending follow-ups (compact tuples) and a capped pool of earlier
arrestees (``Profile.person_pool``), never the stream. Follow-ups dated after
start + days + ``Profile.horizon_days`` are not emitted (the "future" of the window).

Rule: the output is a pure function of (arrests, seed, start, days, profile):
byte-identical for the same inputs. Never read a clock or global randomness here.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from pars.synth import followups as fu
from pars.synth import people, statutes
from pars.synth.people import Person
from pars.synth.statutes import Charge
from pars.synth.timeline import arrival_times, iso, local_midnight

#: Police districts and their relative share of arrests (77 is the airport).
DISTRICTS: dict[str, float] = {
    "24": 9,
    "25": 9,
    "22": 7,
    "39": 7,
    "35": 6,
    "15": 6,
    "19": 6,
    "12": 6,
    "18": 5,
    "14": 5,
    "26": 4,
    "17": 4,
    "16": 3,
    "2": 4,
    "3": 4,
    "9": 4,
    "7": 2,
    "8": 2,
    "1": 2,
    "5": 1.5,
    "77": 0.8,
}
#: Philadelphia Police, and the transit, housing and university forces.
AGENCIES: dict[str, float] = {"PPD": 90, "SEPTA": 5, "PHA": 2.5, "TUPD": 2.5}
SEPTA_STATIONS = (
    "15th St Station",
    "City Hall Station",
    "Kensington & Allegheny Station",
    "Somerset Station",
    "Huntingdon Station",
    "Erie Station",
    "Olney Transportation Center",
    "Frankford Transportation Center",
    "52nd St Station",
    "30th St Station",
    "Girard Station",
)
TUPD_STREETS = ("N Broad St", "Cecil B Moore Ave", "W Montgomery Ave", "N 12th St", "W Diamond St")
ARREST_TYPES = ("O", "S", "T")
ROLES = ("arrestee", "victim", "witness")


@dataclass(frozen=True)
class ArrestSpec:
    """One arrest to place in the stream exactly as given; None fields are drawn.

    ``ArrestSpec(datetime(2018, 3, 1, 14, tzinfo=CITY_TZ), decision="declined",
    charges=(charge("retail_theft", "S"),))`` books a retail theft the DA declines.
    Injected arrests draw from their own random stream, so the rest is unchanged
    (but arrest numbers and event ids after them shift).
    """

    arrested_at: datetime
    person: Person | None = None
    charges: tuple[Charge, ...] = ()
    decision: str | None = None
    agency: str | None = None
    district: str | None = None
    arrest_type: str | None = None
    arrest_id: str | None = None
    victims: tuple[Person, ...] | None = None
    #: Expunge the arrest this many days after it (None: drawn like any other).
    expunge_after_days: int | None = None

    def __post_init__(self) -> None:
        if self.arrested_at.tzinfo is None:
            raise ValueError("arrested_at: needs a timezone-aware datetime")
        if self.decision is not None and self.decision not in fu.DECISIONS:
            raise ValueError(f"decision: {self.decision!r} is not one of {fu.DECISIONS}")
        if self.arrest_type is not None and self.arrest_type not in ARREST_TYPES:
            raise ValueError(f"arrest_type: {self.arrest_type!r} is not one of O S T")


@dataclass(frozen=True)
class Profile:
    """The knobs of a synthetic city; the defaults are the realistic mix."""

    repeat_share: float = 0.25  # arrests of someone arrested earlier in the stream
    foreign_share: float = 0.07  # foreign-born, among arrestees with a recorded country
    ssn_share: float = 0.8
    conflict_share: float = 0.01  # repeat arrests (with SSN) whose dob is mistyped
    address_change_share: float = 0.15  # repeat arrests with a new address
    horizon_days: int = 90  # follow-ups later than start+days+horizon are not emitted
    person_pool: int = 50_000  # earlier arrestees kept for repeats (bounds memory)
    extra: tuple[ArrestSpec, ...] = field(default=())


@dataclass(slots=True)
class _Booked:
    """One arrest as drawn, before it becomes events."""

    arrest_id: str
    ts: int
    agency: str
    district: str
    arrest_type: str
    location: str
    person: Person
    parties: list[tuple[str, Person]]
    charges: tuple[Charge, ...]
    family: str
    decision: str | None = None
    expunge_after_days: int | None = None


def _weighted(d: dict[str, float]) -> tuple[tuple[str, ...], tuple[float, ...]]:
    keys = tuple(d)
    cum: list[float] = []
    total = 0.0
    for w in d.values():
        total += w
        cum.append(total)
    return keys, tuple(cum)


_DISTRICT_KEYS, _DISTRICT_CUM = _weighted(DISTRICTS)
_AGENCY_KEYS, _AGENCY_CUM = _weighted(AGENCIES)


class _Stream:
    def __init__(self, arrests: int, seed: int, start: date, days: int, profile: Profile) -> None:
        self.n, self.seed, self.start, self.days, self.profile = arrests, seed, start, days, profile
        self.rng = random.Random(seed)
        self.pools = people.pools(seed)
        self.horizon = local_midnight(start + timedelta(days=days + profile.horizon_days))
        self.heap: list[tuple[int, int, str, Any]] = []
        self.order = 0  # heap tie-breaker: insertion order
        self.emitted = 0
        self.per_year: dict[int, int] = {}
        self.people_drawn = 0
        self.pool: list[Person] = []

    # -- output ------------------------------------------------------------------
    def _push(self, ts: int, kind: str, payload: Any) -> None:
        if ts <= self.horizon:
            self.order += 1
            heapq.heappush(self.heap, (ts, self.order, kind, payload))

    def _flush(self, until: int | None) -> Iterator[dict[str, Any]]:
        heap = self.heap
        while heap and (until is None or heap[0][0] <= until):
            ts, _, kind, payload = heapq.heappop(heap)
            self.emitted += 1
            event_id = f"syn-{self.seed}-{self.emitted:07d}"
            event: dict[str, Any] = {"type": kind, "event_id": event_id, "at": iso(ts)}
            event.update(_body(kind, payload))
            yield event

    # -- drawing -----------------------------------------------------------------
    def _arrest_id(self, ts: int) -> str:
        year = int(iso(ts)[:4])
        n = self.per_year.get(year, 0) + 1
        self.per_year[year] = n
        return f"A-{year}-{n:06d}"

    def _arrestee(self, rng: random.Random, on: date, family: str) -> Person:
        p = self.profile
        pool = self.pool
        if len(pool) >= 50 and rng.random() < p.repeat_share:
            known = pool[rng.randrange(len(pool))]
            if rng.random() < p.address_change_share:
                known.address = people.address(rng, self.pools)
            if family == "retail_theft":
                known.retail_priors += 1
            person = replace(known)
            if person.ssn and person.dob and rng.random() < p.conflict_share:
                person.dob = people.entry_error(person.dob, rng)
            return person
        self.people_drawn += 1
        person = people.new_arrestee(
            rng, self.pools, on, self.people_drawn, self.seed, p.foreign_share, p.ssn_share
        )
        if len(pool) < p.person_pool:
            pool.append(person)
        else:
            pool[rng.randrange(len(pool))] = person
        return replace(person)

    def _location(self, rng: random.Random, agency: str, district: str) -> str:
        if district == "77":
            return f"Philadelphia International Airport, Terminal {rng.choice('ABCDEF')}"
        if agency == "SEPTA":
            return rng.choice(SEPTA_STATIONS)
        if agency == "TUPD":
            return f"{rng.randint(12, 21)}00 {rng.choice(TUPD_STREETS)}"
        return f"{rng.randint(1, 79)}00 {rng.choice(self.pools.streets)}"

    def _draw(self, rng: random.Random, ts: int, spec: ArrestSpec | None) -> _Booked:
        on = date.fromisoformat(iso(ts)[:10])
        family = statutes.draw_family(rng)
        agency = rng.choices(_AGENCY_KEYS, cum_weights=_AGENCY_CUM)[0]
        district = rng.choices(_DISTRICT_KEYS, cum_weights=_DISTRICT_CUM)[0]
        if agency == "TUPD":  # Temple's campus lies in the 22nd district
            district = "22"
        person = replace(spec.person) if spec and spec.person is not None else self._arrestee(rng, on, family)
        charges = (
            spec.charges
            if spec and spec.charges
            else tuple(statutes.draw_charges(family, rng, person.retail_priors))
        )
        summary = statutes.top_grade(charges) == "S"
        r = rng.random()
        if summary:
            arrest_type = "S" if r < 0.6 else "O" if r < 0.8 else "T"
        else:
            arrest_type = "T" if r < 0.72 else "O" if r < 0.92 else "S"
        parties: list[tuple[str, Person]] = []
        if spec and spec.victims is not None:
            parties += [("victim", replace(v)) for v in spec.victims]
        elif family in statutes.VICTIM_FAMILIES and rng.random() < 0.8:
            domestic = family in ("simple_assault", "threats", "harassment") and rng.random() < 0.3
            for i in range(2 if rng.random() < 0.15 else 1):
                at_home = domestic and i == 0
                victim = people.other_party(rng, self.pools, on, person, "victim", at_home)
                parties.append(("victim", victim))
        if rng.random() < 0.22:
            for _ in range(2 if rng.random() < 0.2 else 1):
                witness = people.other_party(rng, self.pools, on, person, "witness")
                parties.append(("witness", witness))
        if spec:
            agency = spec.agency or agency
            district = spec.district or district
            arrest_type = spec.arrest_type or arrest_type
        arrest_id = spec.arrest_id if spec and spec.arrest_id else self._arrest_id(ts)
        return _Booked(
            arrest_id,
            ts,
            agency,
            district,
            arrest_type,
            self._location(rng, agency, district),
            person,
            parties,
            charges,
            family,
            spec.decision if spec else None,
            spec.expunge_after_days if spec else None,
        )

    def _schedule(self, rng: random.Random, b: _Booked) -> None:
        booked_at = b.ts + 20 * 60 + int(rng.random() * 4 * fu.HOUR)
        self._push(booked_at, "arrest", b)
        custodial = b.arrest_type in ("O", "T")
        last = booked_at
        charges = b.charges
        cleared = declined = False
        # A citation for a summary offense goes straight to court, without the DA.
        cited = b.arrest_type == "S" and statutes.top_grade(charges) == "S"
        if b.decision is not None or not cited:
            ch = fu.charging(rng, booked_at, charges, b.decision)
            self._push(ch.at, "charging", (b.arrest_id, ch.decision, ch.charges))
            last, charges = ch.at, ch.charges
            if ch.decision == "declined":
                cleared = declined = True
                if custodial:
                    self._push_release(rng, b.arrest_id, fu.release_declined(rng, ch.at))
        if not cleared:
            if custodial:
                held_at = last + fu.HOUR + int(rng.random() * 7 * fu.HOUR)
                bail_type, amount = fu.bail(rng, charges)
                commissioner = rng.choice(self.pools.commissioners)
                self._push(
                    held_at + 300 + int(rng.random() * 2400),
                    "arraignment",
                    (b.arrest_id, held_at, bail_type, amount, commissioner),
                )
                released = fu.release_after_bail(rng, held_at, bail_type)
                if released is not None:
                    self._push_release(rng, b.arrest_id, released)
            if rng.random() < 0.65:
                disposed_at = b.ts + fu.disposition_delay(rng)
                outcome = fu.disposition(rng, charges)
                self._push(disposed_at, "disposition", (b.arrest_id, outcome))
                last = disposed_at
                cleared = fu.cleared(outcome)
        if b.expunge_after_days is not None:
            at = max(last + fu.DAY, b.ts + b.expunge_after_days * fu.DAY)
            self._push_expungement(rng, b.arrest_id, at)
        elif rng.random() < (0.2 if declined else 0.06 if cleared else 0.003):
            at = last + 60 * fu.DAY + int(rng.random() * 340 * fu.DAY)
            self._push_expungement(rng, b.arrest_id, at)

    def _push_release(self, rng: random.Random, arrest_id: str, released: tuple[int, str]) -> None:
        released_at, facility = released
        self._push(
            released_at + 60 + int(rng.random() * 90 * 60), "release", (arrest_id, released_at, facility)
        )

    def _push_expungement(self, rng: random.Random, arrest_id: str, at: int) -> None:
        self._push(at, "expungement", (arrest_id, fu.expungement_order(rng, int(iso(at)[:4]))))

    # -- the stream --------------------------------------------------------------
    def events(self) -> Iterator[dict[str, Any]]:
        extra = sorted(enumerate(self.profile.extra), key=lambda e: (e[1].arrested_at, e[0]))
        extra_ts = [(int(s.arrested_at.timestamp()), i, s) for i, s in extra]
        k = 0
        times_rng = random.Random(self.seed ^ 0x5EED)
        for ts in arrival_times(self.n, times_rng, self.start, self.days):
            while k < len(extra_ts) and extra_ts[k][0] <= ts:
                yield from self._arrest(*extra_ts[k])
                k += 1
            yield from self._flush(ts)
            self._schedule(self.rng, self._draw(self.rng, ts, None))
        for item in extra_ts[k:]:
            yield from self._arrest(*item)
        yield from self._flush(None)

    def _arrest(self, ts: int, index: int, spec: ArrestSpec) -> Iterator[dict[str, Any]]:
        yield from self._flush(ts)
        rng = random.Random(f"{self.seed}:extra:{index}")  # keeps the background stream unchanged
        self._schedule(rng, self._draw(rng, ts, spec))


def _body(kind: str, payload: Any) -> dict[str, Any]:
    if kind == "arrest":
        b: _Booked = payload
        return {
            "arrest": {
                "arrest_id": b.arrest_id,
                "agency": b.agency,
                "district": b.district,
                "arrested_at": iso(b.ts),
                "arrest_type": b.arrest_type,
                "location": b.location,
            },
            "parties": [{"role": "arrestee", "person": b.person.to_json()}]
            + [{"role": role, "person": p.to_json()} for role, p in b.parties],
            "charges": [c.to_json(i) for i, c in enumerate(b.charges, 1)],
        }
    if kind == "charging":
        arrest_id, decision, charges = payload
        body: dict[str, Any] = {"arrest_id": arrest_id, "decision": decision}
        if decision == "modified":
            body["charges"] = [c.to_json(i) for i, c in enumerate(charges, 1)]
        return body
    if kind == "arraignment":
        arrest_id, held_at, bail_type, amount, commissioner = payload
        return {
            "arrest_id": arrest_id,
            "held_at": iso(held_at),
            "bail": {"type": bail_type, "amount": amount},
            "commissioner": commissioner,
        }
    if kind == "release":
        arrest_id, released_at, facility = payload
        return {"arrest_id": arrest_id, "released_at": iso(released_at), "facility": facility}
    if kind == "disposition":
        arrest_id, outcome = payload
        return {
            "arrest_id": arrest_id,
            "charges": [{"seq": i, "disposition": d} for i, d in enumerate(outcome, 1)],
        }
    arrest_id, order = payload
    return {"arrest_id": arrest_id, "order": order}


def generate(
    arrests: int, seed: int, start: date, days: int, profile: Profile | None = None
) -> Iterator[dict[str, Any]]:
    """Synthetic booking events (CONTRACT section 1), sorted by ``at``.

    >>> events = list(generate(100, seed=7, start=date(2017, 9, 1), days=30))
    >>> events[0]["type"]
    'arrest'
    """
    if arrests < 0 or days <= 0:
        raise ValueError("arrests must be >= 0 and days > 0")
    return _Stream(arrests, seed, start, days, profile or Profile()).events()
