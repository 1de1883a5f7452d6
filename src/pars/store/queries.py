"""Reading records: the CONTRACT section 2 record view and the search by filter names.

These read for the store's own users. Rule: nothing here may be handed to an
outside party except by the gate, which decides, redacts and logs first.

Both run on the driver connection inside the caller's SQLAlchemy transaction, with
SQL text built once per query shape (filter names and value counts, sort, scope),
not with SQLAlchemy expressions built and compiled per call: on the gate's path that
building was most of a search's cost. The text names only the tables and columns of
``pars.store.schema`` (checked against it at import); every value is a bound parameter.
The drivers keep the statements prepared (sqlite3's statement cache; psycopg prepares
a statement it has run five times).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection

from pars.clock import WINDOW, city_day_start, parse_day, parse_instant, to_utc_naive, utc_text
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


def _amount(value: Decimal | float | None) -> int | float | None:
    """A bail amount as JSON wants it: SQLite hands back a REAL, PostgreSQL a Decimal."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return int(value) if float(value).is_integer() else float(value)


# --- the driver --------------------------------------------------------------


def _driver(conn: Connection) -> Any:
    return conn.connection.driver_connection


def _rows(conn: Connection, sql: tuple[str, str], params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Run the (SQLite, PostgreSQL) text on the driver in the caller's transaction."""
    sqlite = conn.dialect.name == "sqlite"
    cur = _driver(conn).cursor()
    try:
        cur.execute(sql[0] if sqlite else sql[1], params)
        return list(cur.fetchall())
    finally:
        cur.close()


def _both(sql: str) -> tuple[str, str]:
    """SQL written with ``?`` marks, for sqlite3 and for psycopg (``%s``)."""
    return sql, sql.replace("%", "%%").replace("?", "%s")


def _cols(table: Any, names: Sequence[str], alias: str) -> str:
    for n in names:
        table.c[n]  # a KeyError here: the text no longer matches the schema
    return ", ".join(f'{alias}."{n}"' for n in names)


# --- the record view ---------------------------------------------------------

_ARREST_COLS = ("arrest_id", "person_id", "agency", "district", "arrested_at", "arrest_type", "location")
_PARTY_COLS = ("arrest_id", "role", "person_id", *PERSON_FIELDS)
_CHARGE_COLS = ("arrest_id", "seq", "statute", "description", "grade", "disposition")
# The one-per-arrest state (charging decision, hearing, release) comes in the same
# query as the arrest.
_ARRESTS_SQL = (
    f"SELECT {_cols(arrests, _ARREST_COLS, 'a')}, "  # noqa: S608 - schema names and ? marks only
    f"{_cols(charging, ('decision', 'at'), 'cg')}, "
    f"{_cols(arraignments, ('held_at', 'bail_type', 'bail_amount', 'commissioner'), 'ar')}, "
    f"{_cols(custody, ('released_at', 'facility'), 'cu')} "
    "FROM arrests a "
    "LEFT OUTER JOIN charging cg ON cg.arrest_id = a.arrest_id "
    "LEFT OUTER JOIN arraignments ar ON ar.arrest_id = a.arrest_id "
    "LEFT OUTER JOIN custody cu ON cu.arrest_id = a.arrest_id "
    "WHERE a.arrest_id IN ({ids})"
)
_PARTIES_SQL = (
    f"SELECT {_cols(parties, _PARTY_COLS, 'p')} FROM parties p "  # noqa: S608 - schema names and ? marks only
    "WHERE p.arrest_id IN ({ids}) ORDER BY p.arrest_id, p.position"
)
_CHARGES_SQL = (
    f"SELECT {_cols(charges, _CHARGE_COLS, 'c')} FROM charges c "  # noqa: S608 - schema names and ? marks only
    "WHERE c.arrest_id IN ({ids}) ORDER BY c.arrest_id, c.seq"
)
_NP = len(PERSON_FIELDS)


def load_records(conn: Connection, arrest_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The full, unredacted record of each arrest that exists (expunged ones do not)."""
    ids = list(dict.fromkeys(arrest_ids))
    out: dict[str, dict[str, Any]] = {}
    for chunk in chunks(ids):
        out.update(_load_chunk(conn, chunk))
    return out


def _in_list(sql: str, n: int) -> tuple[str, str]:
    return _both(sql.format(ids=", ".join("?" * n)))


def _load_chunk(conn: Connection, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
    recs: dict[str, dict[str, Any]] = {}
    params = list(ids)
    rows = _rows(conn, _in_list(_ARRESTS_SQL, len(ids)), params)
    for (
        aid,
        pid,
        agency,
        district,
        at,
        atype,
        loc,
        decision,
        c_at,
        held,
        b_type,
        b_amt,
        comm,
        rel,
        fac,
    ) in rows:
        recs[aid] = {
            "arrest_id": aid,
            "person_id": pid,
            "person": {},
            "arrest": {
                "agency": agency,
                "district": district,
                "arrested_at": at,
                "arrest_type": atype,
                "location": loc,
            },
            "charges": [],
            "charging": None if decision is None else {"decision": decision, "at": c_at},
            "arraignment": None
            if held is None
            else {"held_at": held, "bail_type": b_type, "bail_amount": _amount(b_amt), "commissioner": comm},
            "custody": None if rel is None else {"released_at": rel, "facility": fac},
            "parties": [],
        }
    if not recs:
        return recs
    # Parties and charges of an arrest that does not exist do not exist either (they
    # cascade with it); rows for an id not found above are skipped all the same.
    # (psycopg's pipeline mode for these measured slower than plain round trips here.)
    for row in _rows(conn, _in_list(_PARTIES_SQL, len(ids)), params):
        rec = recs.get(row[0])
        if rec is None:
            continue
        person = dict(zip(PERSON_FIELDS, row[3 : 3 + _NP], strict=True))
        if row[1] == "arrestee":
            rec["person"] = person
        else:
            rec["parties"].append({"role": row[1], "person_id": row[2], "person": person})
    charge_rows = _rows(conn, _in_list(_CHARGES_SQL, len(ids)), params)
    for aid, seq, statute, description, grade, disposition in charge_rows:
        rec = recs.get(aid)
        if rec is not None:
            rec["charges"].append(
                {
                    "seq": seq,
                    "statute": statute,
                    "description": description,
                    "grade": grade,
                    "disposition": disposition,
                }
            )
    return recs


# --- the search --------------------------------------------------------------

#: Tables a filter may name, with the alias the search's text gives them.
_TABLES = {
    "arrests": (arrests, "a"),
    "parties": (parties, "p"),
    "charges": (charges, "c"),
    "charging": (charging, "cg"),
}


def _column(f: Filter) -> tuple[str, str]:
    """(table, aliased column) of a filter, checked against the schema."""
    table, _, column = (f.column or "").partition(".")
    known = _TABLES.get(table)
    if known is None or column not in known[0].c:
        raise InvalidInput(f"filters.{f.name}: not a filter this store can search")
    return table, f'{known[1]}."{column}"'


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


class _Where:
    """Conditions with ``?`` marks and their values, in order."""

    def __init__(self, sqlite: bool) -> None:
        self.sqlite = sqlite
        self.conds: list[str] = []
        self.params: list[Any] = []

    def instant(self, value: datetime) -> Any:
        # SQLite keeps SQLAlchemy's text form of a DateTime (it orders like the instants).
        return utc_text(value) if self.sqlite else value

    def add(self, table: str, cond: str, params: Sequence[Any]) -> None:
        if table == "charges":
            # Uncorrelated semi-joins: computed once, not once per arrest (a correlated
            # EXISTS on an indexed grade scanned every matching charge for every arrest).
            cond = f"a.arrest_id IN (SELECT c.arrest_id FROM charges c WHERE {cond})"  # noqa: S608 - schema names and ? marks only
        elif table == "charging":
            cond = f"a.arrest_id IN (SELECT cg.arrest_id FROM charging cg WHERE {cond})"  # noqa: S608 - schema names and ? marks only
        self.conds.append(cond)
        self.params.extend(params)

    def filter(self, name: str, value: Any) -> None:
        """One filter, as the registry (``pars.records.fields.REGISTRY``) says, over
        arrests joined to the arrestee party."""
        f = REGISTRY.get(name)
        if f is None or not f.searchable:
            raise InvalidInput(f"filters.{name}: not a filter this store can search")
        table, col = _column(f)
        if f.normaliser in ("from", "to"):
            bound = self.instant(_time_bound(name, value))
            self.add(table, f"{col} >= ?" if f.normaliser == "from" else f"{col} <= ?", [bound])
            return
        vals = _values(name, value)
        if f.normaliser == "prefix":
            self.add(table, f"replace({col}, ' ', '') LIKE ?", [vals[0].replace(" ", "") + "%"])
            return
        if f.normaliser == "address":
            col = f"lower({col})"
        keys = _normalised(f, vals)
        self.add(table, f"{col} IN ({', '.join('?' * len(keys))})", keys)


def _order(sort: Sequence[str]) -> list[str]:
    out: list[str] = []
    for key in sort:
        name = key.removeprefix("-")
        f = REGISTRY.get(name)
        if f is None or not f.sortable:
            raise InvalidInput(f"sort: cannot sort by {name!r}")
        out.append(f"{_column(f)[1]} {'DESC' if key.startswith('-') else 'ASC'}")
    if not any(k.removeprefix("-") == "arrested_at" for k in sort):
        out.append("a.arrested_utc DESC")
    out.append("a.arrest_id ASC")
    return out


def search_sql(query: SearchQuery, *, sqlite: bool) -> tuple[str, list[Any]]:
    """The arrest ids a query matches, in order, at most ``limit``: SQL with ``?``
    marks (sqlite3's) and its values."""
    where = _Where(sqlite)
    for name, value in query.filters.items():
        where.filter(name, value)
    scope = query.scope
    if scope.grades is not None:
        grades = sorted(scope.grades)
        where.add("charges", f"c.grade IN ({', '.join('?' * len(grades))})" if grades else "1 = 0", grades)
    if scope.since is not None:  # a day in the city's time zone (CONTRACT section 3)
        where.add("arrests", "a.arrested_utc >= ?", [where.instant(city_day_start(scope.since))])
    sql = (
        "SELECT a.arrest_id FROM arrests a "  # noqa: S608 - schema names and ? marks only
        "JOIN parties p ON p.arrest_id = a.arrest_id AND p.role = 'arrestee'"
        + (f" WHERE {' AND '.join(where.conds)}" if where.conds else "")
        + f" ORDER BY {', '.join(_order(query.sort))} LIMIT ?"
    )
    return sql, [*where.params, max(0, query.limit)]


def search(conn: Connection, query: SearchQuery) -> list[str]:
    sql, params = search_sql(query, sqlite=conn.dialect.name == "sqlite")
    return [row[0] for row in _rows(conn, _both(sql), params)]


def in_scope(conn: Connection, arrest_id: str, scope: Scope) -> bool:
    """Whether an arrest exists and lies in ``scope`` (out of scope == not found)."""
    q = SearchQuery(filters={"arrest_id": arrest_id}, limit=1, scope=scope)
    return bool(search(conn, q))
