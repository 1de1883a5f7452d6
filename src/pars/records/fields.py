"""The record view's field paths and the names partners filter and sort by.

This is CONTRACT section 2 as data. Every other room (agreements, gate, oversight)
names record fields through these paths, so a path that is not here does not
exist. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

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

#: Filter (and sort) names of requests -> the record path they read.
#: ``arrested_from``/``arrested_to`` are ranges over ``arrest.arrested_at``.
FILTERS: dict[str, str] = {
    "arrest_id": "arrest_id",
    "person_id": "person_id",
    **{name: f"person.{name}" for name in PERSON_FIELDS},
    "agency": "arrest.agency",
    "district": "arrest.district",
    "arrest_type": "arrest.arrest_type",
    "location": "arrest.location",
    "arrested_at": "arrest.arrested_at",
    "arrested_from": "arrest.arrested_at",
    "arrested_to": "arrest.arrested_at",
    "statute": "charges.statute",
    "description": "charges.description",
    "grade": "charges.grade",
    "disposition": "charges.disposition",
    "decision": "charging.decision",
    "bail_type": "arraignment.bail_type",
    "bail_amount": "arraignment.bail_amount",
    "commissioner": "arraignment.commissioner",
    "held_at": "arraignment.held_at",
    "released_at": "custody.released_at",
    "facility": "custody.facility",
}

#: Filter names whose values identify a person: logged only as keyed hashes.
PERSONAL_FILTERS = frozenset({"last_name", "first_name", "dob", "ssn", "address", "location"})

#: The search engine answers these filters (the others are decided but not served).
SEARCHABLE_FILTERS = frozenset(
    {
        "arrest_id",
        "person_id",
        "last_name",
        "first_name",
        "dob",
        "ssn",
        "sex",
        "race",
        "country_of_origin",
        "address",
        "agency",
        "district",
        "arrest_type",
        "statute",
        "grade",
        "disposition",
        "decision",
        "arrested_from",
        "arrested_to",
    }
)

#: Sort keys the search engine can order by.
SORTABLE = frozenset({"arrested_at", "arrest_id", "person_id", "district", "last_name", "dob"})


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
