"""Reading records: the CONTRACT section 2 record view and the search by filter names.

These read for the store's own users. Rule: nothing here may be handed to an
outside party except by the gate, which decides, redacts and logs first.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Connection, RowMapping, Select, and_, func, select
from sqlalchemy.sql.elements import UnaryExpression

from pars.clock import WINDOW, city_day_start, parse_day, parse_instant, to_utc_naive
from pars.errors import InvalidInput
from pars.records.fields import PERSON_FIELDS, REGISTRY, Filter
from pars.records.normalize import address_key, name_key, ssn_key
from pars.store.db import chunks
from pars.store.schema import arraignments, arrests, charges, charging, custody, parties


@dataclass(frozen=True)
class Scope:
    """Arrests an agreement may see at all: any charge in ``grades``, arrested from the day ``since``.

    ``since`` is a day in the city's time zone (``pars.clock.city_day_start``).
    """

    grades: frozenset[str] | None = None
    since: date | None = None


@dataclass(frozen=True)
class SearchQuery:
    filters: Mapping[str, Any] = field(default_factory=dict)
    sort: Sequence[str] = ()
    limit: int = 25
    scope: Scope = Scope()


def _amount(value: Decimal | None) -> int | float | None:
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _person(row: RowMapping) -> dict[str, Any]:
    return {f: row[f] for f in PERSON_FIELDS}


def load_records(conn: Connection, arrest_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The full, unredacted record of each arrest that exists (expunged ones do not)."""
    ids = list(dict.fromkeys(arrest_ids))
    out: dict[str, dict[str, Any]] = {}
    for chunk in chunks(ids):
        out.update(_load_chunk(conn, chunk))
    return out


def _load_chunk(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    recs: dict[str, dict[str, Any]] = {}
    # The one-per-arrest state (charging decision, hearing, release) comes in the
    # same query as the arrest: one round trip instead of four.
    q = (
        select(
            arrests,
            charging.c.decision,
            charging.c.at.label("charging_at"),
            arraignments.c.held_at,
            arraignments.c.bail_type,
            arraignments.c.bail_amount,
            arraignments.c.commissioner,
            custody.c.released_at,
            custody.c.facility,
        )
        .select_from(
            arrests.outerjoin(charging, charging.c.arrest_id == arrests.c.arrest_id)
            .outerjoin(arraignments, arraignments.c.arrest_id == arrests.c.arrest_id)
            .outerjoin(custody, custody.c.arrest_id == arrests.c.arrest_id)
        )
        .where(arrests.c.arrest_id.in_(ids))
    )
    for a in conn.execute(q).mappings():
        recs[a["arrest_id"]] = {
            "arrest_id": a["arrest_id"],
            "person_id": a["person_id"],
            "person": {},
            "arrest": {
                "agency": a["agency"],
                "district": a["district"],
                "arrested_at": a["arrested_at"],
                "arrest_type": a["arrest_type"],
                "location": a["location"],
            },
            "charges": [],
            "charging": None
            if a["decision"] is None
            else {"decision": a["decision"], "at": a["charging_at"]},
            "arraignment": None
            if a["held_at"] is None
            else {
                "held_at": a["held_at"],
                "bail_type": a["bail_type"],
                "bail_amount": _amount(a["bail_amount"]),
                "commissioner": a["commissioner"],
            },
            "custody": None
            if a["released_at"] is None
            else {"released_at": a["released_at"], "facility": a["facility"]},
            "parties": [],
        }
    if not recs:
        return recs
    found = list(recs)
    q = (
        select(parties)
        .where(parties.c.arrest_id.in_(found))
        .order_by(parties.c.arrest_id, parties.c.position)
    )
    for p in conn.execute(q).mappings():
        rec = recs[p["arrest_id"]]
        if p["role"] == "arrestee":
            rec["person"] = _person(p)
        else:
            rec["parties"].append({"role": p["role"], "person_id": p["person_id"], "person": _person(p)})
    q = select(charges).where(charges.c.arrest_id.in_(found)).order_by(charges.c.arrest_id, charges.c.seq)
    for c in conn.execute(q).mappings():
        recs[c["arrest_id"]]["charges"].append(
            {
                "seq": c["seq"],
                "statute": c["statute"],
                "description": c["description"],
                "grade": c["grade"],
                "disposition": c["disposition"],
            }
        )
    return recs


def _time_bound(name: str, value: Any) -> datetime:
    text = str(value)
    try:
        if len(text) == 10:  # a plain date: the whole day, in UTC
            d = parse_day(text)
            if name == "arrested_to":
                return datetime(d.year, d.month, d.day, 23, 59, 59)
            return datetime(d.year, d.month, d.day)
        return to_utc_naive(parse_instant(text))
    except ValueError:
        raise InvalidInput(
            f"filters.{name}: not a date (YYYY-MM-DD) or an ISO 8601 time with an offset, {WINDOW}"
        ) from None


def _values(name: str, value: Any) -> list[str]:
    raw = value if isinstance(value, list) else [value]
    if not raw or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in raw):
        raise InvalidInput(f"filters.{name}: must be a string or a list of strings")
    return [str(v) for v in raw]


def _charges_where(cond: ColumnElement[bool]) -> ColumnElement[bool]:
    return arrests.c.arrest_id.in_(select(charges.c.arrest_id).where(cond))


_TABLES = {"arrests": arrests, "parties": parties, "charges": charges, "charging": charging}


def _column(f: Filter) -> ColumnElement[Any]:
    table, _, column = (f.column or "").partition(".")
    if table not in _TABLES:
        raise InvalidInput(f"filters.{f.name}: not a filter this store can search")
    col: ColumnElement[Any] = _TABLES[table].c[column]
    return col


def _normalised(f: Filter, vals: list[str]) -> list[str]:
    if f.normaliser == "name":
        return [name_key(v) for v in vals]
    if f.normaliser == "ssn":
        return [ssn_key(v) or v for v in vals]
    if f.normaliser == "address":
        return [address_key(v) for v in vals]
    if f.normaliser == "upper":
        return [v.upper() for v in vals]
    return vals


def _filter_clause(name: str, value: Any) -> ColumnElement[bool]:
    """One filter, as the registry (``pars.records.fields.REGISTRY``) says, as SQL over
    arrests joined to the arrestee party."""
    f = REGISTRY.get(name)
    if f is None or not f.searchable:
        raise InvalidInput(f"filters.{name}: not a filter this store can search")
    col = _column(f)
    if f.normaliser in ("from", "to"):
        bound = _time_bound(name, value)
        return col >= bound if f.normaliser == "from" else col <= bound
    vals = _values(name, value)
    if f.normaliser == "address":
        col = func.lower(col)
    if f.normaliser == "prefix":
        cond: ColumnElement[bool] = func.replace(col, " ", "").like(vals[0].replace(" ", "") + "%")
    else:
        cond = col.in_(_normalised(f, vals))
    table = (f.column or "").partition(".")[0]
    if table == "charges":
        # Uncorrelated semi-joins: computed once, not once per arrest (a correlated
        # EXISTS on an indexed grade scanned every matching charge for every arrest).
        return _charges_where(cond)
    if table == "charging":
        return arrests.c.arrest_id.in_(select(charging.c.arrest_id).where(cond))
    return cond


def _order(sort: Iterable[str]) -> list[UnaryExpression[Any]]:
    out: list[UnaryExpression[Any]] = []
    for key in sort:
        name = key.removeprefix("-")
        f = REGISTRY.get(name)
        if f is None or not f.sortable:
            raise InvalidInput(f"sort: cannot sort by {name!r}")
        col = _column(f)
        out.append(col.desc() if key.startswith("-") else col.asc())
    if not any(k.removeprefix("-") == "arrested_at" for k in sort):
        out.append(arrests.c.arrested_utc.desc())
    out.append(arrests.c.arrest_id.asc())
    return out


def search_statement(query: SearchQuery) -> Select[tuple[str]]:
    """The arrest ids a query matches, in order, at most ``limit``."""
    conds: list[ColumnElement[bool]] = []
    for name, value in query.filters.items():
        conds.append(_filter_clause(name, value))
    scope = query.scope
    if scope.grades is not None:
        conds.append(_charges_where(charges.c.grade.in_(sorted(scope.grades))))
    if scope.since is not None:  # a day in the city's time zone (CONTRACT section 3)
        conds.append(arrests.c.arrested_utc >= city_day_start(scope.since))
    stmt = (
        select(arrests.c.arrest_id)
        .select_from(
            arrests.join(
                parties, and_(parties.c.arrest_id == arrests.c.arrest_id, parties.c.role == "arrestee")
            )
        )
        .where(*conds)
        .order_by(*_order(query.sort))
        .limit(max(0, query.limit))
    )
    return stmt


def search(conn: Connection, query: SearchQuery) -> list[str]:
    return list(conn.scalars(search_statement(query)))


def in_scope(conn: Connection, arrest_id: str, scope: Scope) -> bool:
    """Whether an arrest exists and lies in ``scope`` (out of scope == not found)."""
    q = SearchQuery(filters={"arrest_id": arrest_id}, limit=1, scope=scope)
    return bool(search(conn, q))
