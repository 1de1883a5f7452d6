"""The public transparency report: how much each agency used the records, by purpose and month.

For every partner agency, three tables (months down, purposes across, with totals):
requests made, requests denied, and distinct people whose records were shown.
Every count from 1 to 9 is withheld and shown as "<10" (a small count can point
at a person or a case), and further counts are withheld where the totals would
otherwise give a small one away (complementary suppression, ``suppression.py``);
zeros are shown. People are counted per cell and per total (a person seen in
two months counts once in the year), so those totals are not sums. Before
anything is returned, the three tables of each agency are audited together from
what they show (``disclosure.py``): a reader who knows every total, the bounds
of each withheld count and that denials never exceed requests cannot pin any
withheld count to one value, or the report is refused.

Every label is from a fixed vocabulary: purposes are NCIC purpose codes (the
closed list below; anything else a request said is counted as "other"), agencies
are the partner codes of agreements on file, months are the log's own times.

    data = build_transparency(store, now=clock.now())
    html = render_transparency(data)

Rule: public output carries agencies, purposes, months and suppressed counts only:
never a user, a person id, an arrest id, an audit index, an unsuppressed count
below the threshold, or any text a partner typed.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from pars.audit import format_time, open_log
from pars.oversight.disclosure import Published, Sheet, audit
from pars.oversight.html import ENV, number
from pars.oversight.model import is_access
from pars.oversight.suppression import BELOW, THRESHOLD, WITHHELD, Suppressed, Table, protect
from pars.store.db import Store
from pars.store.schema.agreements import agreements

MEASURES = ("requests", "denials", "people")
MEASURE_TITLES = {
    "requests": "Requests made",
    "denials": "Requests denied",
    "people": "Distinct people whose records were shown",
}

#: The NCIC purpose codes (the FBI's Interstate Identification Index; NIEM's
#: ``j:RapSheetPurposeCodeType`` lists the same eleven). A request whose purpose
#: is not exactly one of these is counted under OTHER, whatever it said.
NCIC_PURPOSES: dict[str, str] = {
    "A": "administrative file maintenance",
    "C": "criminal justice",
    "D": "domestic violence and stalking (civil and criminal court cases)",
    "F": "firearms-related background checks",
    "H": "public housing background checks",
    "I": "interstate approved non-criminal justice licensing and employment checks",
    "J": "criminal justice employment background checks",
    "R": "FBI requests to National Fingerprint File states",
    "S": "national security background checks",
    "V": "visa applications initiated by the U.S. Department of State",
    "X": "caregiver background checks in exigent circumstances",
}
OTHER = "other"
OTHER_NAME = "any other or unstated purpose"
#: The label of requests whose agreement is not on file (or whose partner code is not a plain code).
OTHER_AGENCY = "other agencies"
_PARTNER_CODE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
_AGREEMENT_ID = re.compile(r"^[a-z0-9-]{1,64}$")

METHOD = (
    f"Counts from 1 to {THRESHOLD - 1} are withheld and shown as \u201c{BELOW}\u201d, because a small "
    "count can point to one person or one case. Where the totals would let a reader work a withheld "
    f"count out, further counts are withheld as well and shown as \u201c{WITHHELD}\u201d (complementary "
    "suppression). Before publication each agency's three tables were audited together with an exact "
    "integer program: knowing every count shown, every total, that a "
    f"\u201c{BELOW}\u201d count is 1 to {THRESHOLD - 1}, that a \u201c{WITHHELD}\u201d count is 0 or "
    f"at least {THRESHOLD}, and that denials never exceed requests, every withheld count can still take "
    "at least two values. Zeros are shown. Requests and denials add up across rows and columns; people "
    "are counted once per cell and once per total, so a person seen in two months counts once in the "
    "total and the totals of that table are not sums. Purposes are NCIC purpose codes; any other "
    f"purpose a request stated is counted as \u201c{OTHER}\u201d."
)


def purpose_code(value: object) -> str:
    """The NCIC code a request stated, or OTHER: the report never shows what a partner typed."""
    return value if isinstance(value, str) and value in NCIC_PURPOSES else OTHER


@dataclass
class _Agency:
    agreements: set[str] = field(default_factory=set)
    requests: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    denials: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    people: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))

    def observe(self, entry: dict[str, Any], agreement: str | None) -> None:
        # The month of the log's own time (written by the log, never by a partner).
        cell = (str(entry["time"])[:7], purpose_code(entry.get("purpose")))
        if agreement is not None:
            self.agreements.add(agreement)
        self.requests[cell] += 1
        if entry.get("decision") != "allow":
            self.denials[cell] += 1
        else:
            self.people[cell].update(str(p) for p in entry.get("person_ids") or ())


def _months(first: str, last: str) -> list[str]:
    y, m = int(first[:4]), int(first[5:7])
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _sums(grid: list[list[int]]) -> list[list[int]]:
    full = [[*row, sum(row)] for row in grid]
    full.append([sum(col) for col in zip(*full, strict=True)])
    return full


def _people_table(agency: _Agency, months: list[str], purposes: list[str]) -> list[list[int]]:
    cells = agency.people
    full = []
    for month in months:
        row = [len(cells.get((month, p), ())) for p in purposes]
        row.append(len(set().union(*(cells.get((month, p), set()) for p in purposes))))
        full.append(row)
    bottom = [len(set().union(*(cells.get((m, p), set()) for m in months))) for p in purposes]
    bottom.append(len(set().union(*cells.values())) if cells else 0)
    full.append(bottom)
    return full


def _table(grid: Suppressed, months: list[str]) -> dict[str, Any]:
    shown = grid.shown()
    return {
        "rows": [
            {"month": m, "cells": row[:-1], "total": row[-1]} for m, row in zip(months, shown, strict=False)
        ],
        "column_totals": shown[-1][:-1],
        "total": shown[-1][-1],
    }


#: What a reader knows links an agency's tables: denials never exceed requests, and
#: people were shown in a cell only if a request there was allowed.
AT_MOST = (("denials", "requests"),)
NEEDS = (("people", "requests", "denials"),)


def _agency_json(name: str, agency: _Agency) -> dict[str, Any]:
    seen = [m for m, _ in agency.requests]
    months = _months(min(seen), max(seen))
    present = {p for _, p in agency.requests}
    purposes = [p for p in [*NCIC_PURPOSES, OTHER] if p in present]
    tables = {
        measure: Table(_sums([[getattr(agency, measure).get((m, p), 0) for p in purposes] for m in months]))
        for measure in ("requests", "denials")
    }
    tables["people"] = Table(_people_table(agency, months, purposes), additive=False)
    grids = protect(tables, at_most=AT_MOST, needs=NEEDS)
    return {
        "agency": name,
        "agreements": sorted(agency.agreements),
        "purposes": [{"code": p, "name": NCIC_PURPOSES.get(p, OTHER_NAME)} for p in purposes],
        "months": months,
        "tables": {measure: _table(grids[measure], months) for measure in MEASURES},
    }


def _partners(store: Store) -> dict[str, str]:
    """Agreement id -> partner code, for agreements on file whose id and code are plain codes."""
    with store.read() as conn:
        rows = conn.execute(select(agreements.c.agreement_id, agreements.c.partner)).all()
    return {
        r.agreement_id: r.partner
        for r in rows
        if _AGREEMENT_ID.match(r.agreement_id) and _PARTNER_CODE.match(r.partner)
    }


def audit_published(data: dict[str, Any]) -> None:
    """Re-audit every agency's tables from the published dict alone; ``DisclosureRisk`` if any fails."""
    for agency in data["agencies"]:
        sheets = {}
        for measure in MEASURES:
            t = agency["tables"][measure]
            shown = [[*r["cells"], r["total"]] for r in t["rows"]]
            shown.append([*t["column_totals"], t["total"]])
            sheets[measure] = Sheet(shown, additive=measure != "people")
        audit(Published(sheets, AT_MOST, NEEDS, data["threshold"]))


def build_transparency(
    store: Store, *, now: datetime, start: datetime | None = None, end: datetime | None = None
) -> dict[str, Any]:
    """The public aggregates as a JSON-ready dict (suppressed counts are strings), audited."""
    partners = _partners(store)
    agencies: dict[str, _Agency] = defaultdict(_Agency)
    # Checked entry bytes in one snapshot, up to the newest published checkpoint.
    with open_log(store) as view:
        for _, entry in view.entries(kind="access", since=start, until=end):
            if is_access(entry):
                agreement = str(entry["agreement_id"])
                partner = partners.get(agreement)
                agencies[partner or OTHER_AGENCY].observe(entry, agreement if partner else None)
    data = {
        "generated_at": format_time(now),
        "period": {
            "from": None if start is None else start.isoformat(),
            "to": None if end is None else end.isoformat(),
        },
        "threshold": THRESHOLD,
        "method": METHOD,
        "measures": {m: MEASURE_TITLES[m] for m in MEASURES},
        "agencies": [_agency_json(name, agencies[name]) for name in sorted(agencies)],
    }
    audit_published(data)
    return data


def _cell(value: int | str) -> str:
    return value if isinstance(value, str) else number(value)


def render_transparency(data: dict[str, Any]) -> str:
    """The public report as a standalone HTML5 page; ``DisclosureRisk`` for tables that fail the audit."""
    audit_published(data)
    return ENV.get_template("transparency.html").render(data=data, cell=_cell, withheld=WITHHELD)
