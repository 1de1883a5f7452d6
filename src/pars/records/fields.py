"""The record view's field paths and the names partners filter and sort by.

This is CONTRACT section 2 as data. Every other room (agreements, gate, oversight)
names record fields through these paths, so a path that is not here does not
exist. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

PERSON_FIELDS: tuple[str, ...] = (
    "last_name",
    "first_name",
    "dob",
    "sex",
    "race",
    "ssn",
    "country_of_origin",
    "address",
)

#: Field group -> the leaf names inside it. Top-level leaves have group "".
GROUPS: dict[str, tuple[str, ...]] = {
    "": ("arrest_id", "person_id"),
    "person": PERSON_FIELDS,
    "arrest": ("agency", "district", "arrested_at", "arrest_type", "location"),
    "charges": ("seq", "statute", "description", "grade", "disposition"),
    "charging": ("decision", "at"),
    "arraignment": ("held_at", "bail_type", "bail_amount", "commissioner"),
    "custody": ("released_at", "facility"),
    # Victims and witnesses: one entry per party, each with its own person.
    "parties": ("role", "person_id", *(f"person.{f}" for f in PERSON_FIELDS)),
}

#: Every dotted path of the record view, in display order.
RECORD_FIELDS: tuple[str, ...] = tuple(
    (name if group == "" else f"{group}.{name}") for group, names in GROUPS.items() for name in names
)
_RECORD_FIELD_SET = frozenset(RECORD_FIELDS)

#: Groups that hold a list of entries rather than one object.
LIST_GROUPS = frozenset({"charges", "parties"})


@dataclass(frozen=True, slots=True)
class Filter:
    """One filter (and sort) name of requests: what it reads and how the store serves it.

    ``column`` is ``table.column`` in ``pars.store.schema`` that the store matches
    (and orders by); ``normaliser`` how a value is turned into what that column
    holds (``exact``, ``upper``, ``name``, ``ssn``, ``address``, ``prefix``: a
    statute with its spaces removed matched as a prefix, ``from``/``to``: an
    instant or a date bounding the range). ``personal``: its values identify a
    person, so entries hold them only as keyed hashes. ``searchable``/``sortable``:
    the store can filter/order by it; decide() denies any other use, so an allow
    never turns into a query the store cannot run.
    """

    name: str
    path: str
    column: str | None = None
    normaliser: str = "exact"
    personal: bool = False
    searchable: bool = False
    sortable: bool = False


def _f(name: str, path: str, column: str | None = None, normaliser: str = "exact", *flags: str) -> Filter:
    return Filter(name, path, column, normaliser, "personal" in flags, "search" in flags, "sort" in flags)


#: THE filter registry: decide(), the store's query, the Cedar export, the audit
#: entry and oversight all read it. ``arrested_from``/``arrested_to`` are ranges
#: over ``arrest.arrested_at``.
REGISTRY: dict[str, Filter] = {
    f.name: f
    for f in (
        _f("arrest_id", "arrest_id", "arrests.arrest_id", "exact", "search", "sort"),
        _f("person_id", "person_id", "arrests.person_id", "exact", "search", "sort"),
        _f("last_name", "person.last_name", "parties.last_key", "name", "personal", "search", "sort"),
        _f("first_name", "person.first_name", "parties.first_key", "name", "personal", "search"),
        _f("dob", "person.dob", "parties.dob", "exact", "personal", "search", "sort"),
        _f("sex", "person.sex", "parties.sex", "upper", "search"),
        _f("race", "person.race", "parties.race", "upper", "search"),
        _f("ssn", "person.ssn", "parties.ssn", "ssn", "personal", "search"),
        _f("country_of_origin", "person.country_of_origin", "parties.country_of_origin", "upper", "search"),
        _f("address", "person.address", "parties.address", "address", "personal", "search"),
        _f("agency", "arrest.agency", "arrests.agency", "exact", "search"),
        _f("district", "arrest.district", "arrests.district", "exact", "search", "sort"),
        _f("arrest_type", "arrest.arrest_type", "arrests.arrest_type", "exact", "search"),
        _f("location", "arrest.location", None, "exact", "personal"),
        _f("arrested_at", "arrest.arrested_at", "arrests.arrested_utc", "exact", "sort"),
        _f("arrested_from", "arrest.arrested_at", "arrests.arrested_utc", "from", "search"),
        _f("arrested_to", "arrest.arrested_at", "arrests.arrested_utc", "to", "search"),
        _f("statute", "charges.statute", "charges.statute", "prefix", "search"),
        _f("description", "charges.description"),
        _f("grade", "charges.grade", "charges.grade", "exact", "search"),
        _f("disposition", "charges.disposition", "charges.disposition", "exact", "search"),
        _f("decision", "charging.decision", "charging.decision", "exact", "search"),
        _f("bail_type", "arraignment.bail_type"),
        _f("bail_amount", "arraignment.bail_amount"),
        _f("commissioner", "arraignment.commissioner"),
        _f("held_at", "arraignment.held_at"),
        _f("released_at", "custody.released_at"),
        _f("facility", "custody.facility"),
    )
}

#: Filter (and sort) names of requests -> the record path they read.
FILTERS: dict[str, str] = {name: f.path for name, f in REGISTRY.items()}

#: Filter names whose values identify a person: logged only as keyed hashes.
PERSONAL_FILTERS = frozenset(name for name, f in REGISTRY.items() if f.personal)

#: The store answers these filters; decide() denies the others (``filters.unsearchable``).
SEARCHABLE_FILTERS = frozenset(name for name, f in REGISTRY.items() if f.searchable)

#: Sort keys the store can order by; decide() denies the others (``sort.unsortable``).
SORTABLE = frozenset(name for name, f in REGISTRY.items() if f.sortable)


class UnknownField(ValueError):
    """A field path or pattern that names no field of the record view."""


def group_of(path: str) -> str:
    """``person.ssn`` -> ``person``; ``arrest_id`` -> ``""``."""
    head, sep, _ = path.partition(".")
    return head if sep else ""


def expand(pattern: str) -> frozenset[str]:
    """The record paths a pattern names: an exact path, ``group.*``, or ``*``.

    >>> sorted(expand("custody.*"))
    ['custody.facility', 'custody.released_at']
    """
    if pattern == "*":
        return _RECORD_FIELD_SET
    if pattern.endswith(".*"):
        prefix = pattern[:-1]
        found = frozenset(p for p in RECORD_FIELDS if p.startswith(prefix))
        if not found:
            raise UnknownField(f"{pattern}: no record field group by that name")
        return found
    if pattern in _RECORD_FIELD_SET:
        return frozenset({pattern})
    raise UnknownField(f"{pattern}: not a record field (see CONTRACT section 2)")


def expand_all(patterns: Iterable[str]) -> frozenset[str]:
    out: set[str] = set()
    for p in patterns:
        out |= expand(p)
    return frozenset(out)
