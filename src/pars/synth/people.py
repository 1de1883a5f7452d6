"""Synthetic people: arrestees, victims and witnesses of a Philadelphia-like city.

Names and street names come from Faker (several locales, seeded), drawn once into
pools so a stream of any length costs only ``random.Random`` draws afterwards.

Rule: no real person's identifiers. Every SSN is in area 900-999 with group 01-49:
the SSA never issues area 9xx, and IRS ITINs (also 9xx) use only groups 50-65,
70-88, 90-92 and 94-99, so no value produced here is a real SSN or ITIN.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache

from faker import Faker

#: Philadelphia ZIP codes (residential and mixed).
PHILLY_ZIPS: tuple[str, ...] = tuple(
    str(z)
    for z in (
        19102,
        19103,
        19104,
        19106,
        19107,
        19111,
        19114,
        19115,
        19116,
        19118,
        19119,
        19120,
        19121,
        19122,
        19123,
        19124,
        19125,
        19126,
        19127,
        19128,
        19129,
        19130,
        19131,
        19132,
        19133,
        19134,
        19135,
        19136,
        19137,
        19138,
        19139,
        19140,
        19141,
        19142,
        19143,
        19144,
        19145,
        19146,
        19147,
        19148,
        19149,
        19150,
        19151,
        19152,
        19153,
        19154,
    )
)
#: Arrestees living outside the city: (city, state, zip).
OUTSIDE: tuple[tuple[str, str, str], ...] = (
    ("Camden", "NJ", "08102"),
    ("Chester", "PA", "19013"),
    ("Upper Darby", "PA", "19082"),
    ("Norristown", "PA", "19401"),
    ("Bensalem", "PA", "19020"),
    ("Trenton", "NJ", "08611"),
    ("Wilmington", "DE", "19801"),
)

#: Country of birth (ISO 3166-1 alpha-2) for the foreign-born -> (weight, name locale).
#: Puerto Rico is part of the US and so never appears here.
COUNTRIES: dict[str, tuple[float, str]] = {
    "MX": (14, "es_MX"),
    "DO": (14, "es_MX"),
    "JM": (9, "en_US"),
    "VN": (8, "vi_VN"),
    "CN": (8, "zh_CN"),
    "IN": (6, "en_IN"),
    "HT": (6, "fr_FR"),
    "LR": (5, "en_US"),
    "NG": (5, "yo_NG"),
    "GT": (5, "es_MX"),
    "HN": (5, "es_MX"),
    "SV": (4, "es_MX"),
    "CO": (2, "es_CO"),
    "EC": (2, "es_MX"),
    "PH": (2, "fil_PH"),
    "PL": (2, "pl_PL"),
}
_COUNTRY_CODES = tuple(COUNTRIES)
_COUNTRY_CUM = tuple(itertools.accumulate(w for w, _ in COUNTRIES.values()))

#: Name locale of the US-born (Philadelphia's large Puerto Rican community: es_MX).
US_LOCALES: tuple[tuple[str, float], ...] = (
    ("en_US", 82),
    ("es_MX", 14),
    ("vi_VN", 1.2),
    ("zh_CN", 1.2),
    ("en_IN", 0.8),
    ("yo_NG", 0.8),
)
_US_LOCALE_NAMES = tuple(loc for loc, _ in US_LOCALES)
_US_LOCALE_CUM = tuple(itertools.accumulate(w for _, w in US_LOCALES))

#: NIBRS-like race codes by name locale: (codes, cumulative weights).
_RACE_BY_LOCALE: dict[str, tuple[tuple[str, ...], tuple[float, ...]]] = {
    "en_US": (("B", "W", "A", "I", "P", "U"), (64, 96, 97, 97.5, 97.7, 100)),
    "es": (("W", "B", "U"), (80, 92, 100)),
    "asian": (("A", "U"), (95, 100)),
    "black": (("B", "U"), (97, 100)),
    "pl_PL": (("W", "U"), (97, 100)),
}
_RACE_GROUP = {
    "es_MX": "es",
    "es_CO": "es",
    "vi_VN": "asian",
    "zh_CN": "asian",
    "en_IN": "asian",
    "fil_PH": "asian",
    "yo_NG": "black",
    "fr_FR": "black",
}
_LOCALES = ("en_US", "es_MX", "es_CO", "vi_VN", "zh_CN", "en_IN", "fr_FR", "yo_NG", "fil_PH", "pl_PL")

# SSN = 9AA-GG-SSSS with AA in 00-99, GG in 01-49, SSSS in 0001-9999: M values in all.
_SSN_SPACE = 100 * 49 * 9999
_SSN_STRIDE = 15_485_863  # prime, coprime with _SSN_SPACE: n -> n*stride+offset is a bijection


@dataclass(frozen=True, slots=True)
class Pools:
    """Names and streets drawn once from seeded Faker instances."""

    male: dict[str, tuple[str, ...]]
    female: dict[str, tuple[str, ...]]
    last: dict[str, tuple[str, ...]]
    streets: tuple[str, ...]
    commissioners: tuple[str, ...]


@lru_cache(maxsize=8)
def pools(seed: int) -> Pools:
    """The name and street pools for one seed (cached: building takes a few tenths of a s)."""
    male: dict[str, tuple[str, ...]] = {}
    female: dict[str, tuple[str, ...]] = {}
    last: dict[str, tuple[str, ...]] = {}
    for i, loc in enumerate(_LOCALES):
        fake = Faker(loc)
        fake.seed_instance(seed * 1009 + i)
        size = 1200 if loc == "en_US" else 300
        if loc == "zh_CN":  # booking systems hold romanized names
            male[loc] = tuple(fake.first_romanized_name() for _ in range(size))
            female[loc] = male[loc]
            last[loc] = tuple(fake.last_romanized_name() for _ in range(size))
            continue
        male[loc] = tuple(fake.first_name_male() for _ in range(size))
        female[loc] = tuple(fake.first_name_female() for _ in range(size))
        last[loc] = tuple(fake.last_name() for _ in range(size))
    fake = Faker("en_US")
    fake.seed_instance(seed * 1009 + 999)
    streets = tuple(fake.street_name() for _ in range(1500))
    commissioners = tuple(f"{fake.first_name()} {fake.last_name()}" for _ in range(7))
    return Pools(male, female, last, streets, commissioners)


@dataclass(slots=True)
class Person:
    """A person as a booking system holds them; None means the field was not recorded."""

    last_name: str
    first_name: str
    dob: date | None = None
    sex: str | None = None
    race: str | None = None
    ssn: str | None = None
    country_of_origin: str | None = None
    address: str | None = None
    #: Earlier retail-theft arrests in this stream (grades the next one).
    retail_priors: int = field(default=0, compare=False)

    def to_json(self) -> dict[str, str]:
        out = {"last_name": self.last_name, "first_name": self.first_name}
        if self.dob is not None:
            out["dob"] = self.dob.isoformat()
        for key in ("sex", "race", "ssn", "country_of_origin", "address"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        return out


def synthetic_ssn(number: int, seed: int) -> str:
    """The ``number``-th SSN of a stream: unique within it, never a real SSN or ITIN."""
    n = (number * _SSN_STRIDE + seed * 7_919) % _SSN_SPACE
    area, rest = divmod(n, 49 * 9999)
    group, serial = divmod(rest, 9999)
    return f"9{area:02d}-{group + 1:02d}-{serial + 1:04d}"


def is_synthetic_ssn(ssn: str) -> bool:
    """True for the shape ``synthetic_ssn`` produces (area 9xx, group 01-49)."""
    area, group, serial = ssn.split("-")
    return area[0] == "9" and 1 <= int(group) <= 49 and int(serial) >= 1


def address(rng: random.Random, p: Pools) -> str:
    if rng.random() < 0.07:
        city, state, zip_code = rng.choice(OUTSIDE)
        return f"{rng.randint(1, 2999)} {rng.choice(p.streets)}, {city}, {state} {zip_code}"
    zip_code = rng.choice(PHILLY_ZIPS)
    return f"{rng.randint(1, 7999)} {rng.choice(p.streets)}, Philadelphia, PA {zip_code}"


def _name(rng: random.Random, p: Pools, locale: str, sex: str) -> tuple[str, str]:
    firsts = p.female[locale] if sex == "F" else p.male[locale]
    return rng.choice(p.last[locale]), rng.choice(firsts)


def _race(rng: random.Random, locale: str) -> str:
    codes, cum = _RACE_BY_LOCALE[_RACE_GROUP.get(locale, locale)]
    return rng.choices(codes, cum_weights=cum)[0]


def _age(rng: random.Random) -> int:
    """Adult arrestee ages: peak in the mid-20s, long tail to 70."""
    return min(70, 18 + int(rng.gammavariate(2.0, 7.0)))


def new_arrestee(
    rng: random.Random,
    p: Pools,
    on: date,
    number: int,
    seed: int,
    foreign_share: float,
    ssn_share: float,
) -> Person:
    """A first-time arrestee; ``number`` makes the SSN unique in the stream."""
    sex = "M" if rng.random() < 0.78 else "F"
    country: str | None
    if rng.random() < foreign_share:
        country = rng.choices(_COUNTRY_CODES, cum_weights=_COUNTRY_CUM)[0]
        locale = COUNTRIES[country][1]
    else:
        country = "US"
        locale = rng.choices(_US_LOCALE_NAMES, cum_weights=_US_LOCALE_CUM)[0]
    last, first = _name(rng, p, locale, sex)
    age = _age(rng)
    dob = on - timedelta(days=age * 365 + rng.randrange(365))
    ssn = synthetic_ssn(number, seed) if rng.random() < ssn_share else None
    person = Person(last, first, dob, sex, _race(rng, locale), ssn, country, address(rng, p))
    if ssn is not None and rng.random() < 0.03:
        person.dob = None  # identified by SSN; dob not taken
    if rng.random() < 0.04:
        person.race = None
    if rng.random() < 0.08:
        person.country_of_origin = None
    if rng.random() < 0.06:
        person.address = None  # no fixed address
    return person


def entry_error(dob: date, rng: random.Random) -> date:
    """A data-entry slip on a date of birth: a day off, a year off, or day and month swapped."""
    r = rng.random()
    if r < 0.35 and dob.day <= 12 and dob.day != dob.month:
        return dob.replace(month=dob.day, day=dob.month)
    if r < 0.7:
        return dob + timedelta(days=rng.choice((-1, 1)))
    try:
        return dob.replace(year=dob.year + rng.choice((-1, 1)))
    except ValueError:  # 29 February
        return dob + timedelta(days=365)


def other_party(
    rng: random.Random, p: Pools, on: date, arrestee: Person, role: str, domestic: bool = False
) -> Person:
    """A victim or witness: a name always, other fields only sometimes recorded."""
    sex = "F" if rng.random() < (0.55 if role == "victim" else 0.45) else "M"
    locale = rng.choices(_US_LOCALE_NAMES, cum_weights=_US_LOCALE_CUM)[0]
    last, first = _name(rng, p, locale, sex)
    if domestic:
        last = arrestee.last_name
    for _ in range(50):  # never the arrestee: a namesake would read as the same person
        if (last, first) != (arrestee.last_name, arrestee.first_name):
            break
        first = rng.choice(p.female[locale] if sex == "F" else p.male[locale])
    else:
        last = next(n for n in p.last["en_US"] if n != arrestee.last_name)
    person = Person(last, first)
    if rng.random() < (0.6 if role == "victim" else 0.3):
        person.dob = on - timedelta(days=rng.randint(16 * 365, 85 * 365))
    if rng.random() < 0.75:
        person.sex = sex
    if rng.random() < 0.5:
        person.race = _race(rng, locale)
    if domestic and arrestee.address is not None and rng.random() < 0.6:
        person.address = arrestee.address
    elif rng.random() < 0.1:
        person.address = address(rng, p)
    return person
