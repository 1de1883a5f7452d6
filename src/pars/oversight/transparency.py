"""The public transparency report: how much each agency used the records, by purpose and month.

For every partner agency, three tables (months down, purposes across, with totals):
requests made, requests denied, and distinct people whose records were shown.
Every count from 1 to 9 is withheld and shown as "<10" (a small count can point
at a person or a case), and further counts are withheld where the totals would
otherwise give a small one away (complementary suppression, ``suppression.py``);
zeros are shown. People are counted per cell and per total (a person seen in
two months counts once in the year), so those totals are not sums.

    data = build_transparency(store, now=clock.now())
    html = render_transparency(data)

Rule: public output carries agencies, purposes, months and suppressed counts only:
never a user, a person id, an arrest id, an audit index or an unsuppressed count
below the threshold.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pars.audit import format_time, open_log
from pars.oversight.config import PURPOSE_NAMES
from pars.oversight.html import ENV, number
from pars.oversight.model import is_access
from pars.oversight.suppression import BELOW, THRESHOLD, WITHHELD, Suppressed, suppress, suppress_full
from pars.store.db import Store

MEASURES = ("requests", "denials", "people")
MEASURE_TITLES = {
    "requests": "Requests made",
    "denials": "Requests denied",
    "people": "Distinct people whose records were shown",
}
NO_PURPOSE = "none stated"

METHOD = (
    f"Counts from 1 to {THRESHOLD - 1} are withheld and shown as \u201c{BELOW}\u201d, because a small count "
    "can point to one person or one case. Where a row or column total would let a reader work a withheld "
    "count out by subtraction, further counts are withheld as well and shown as \u201c"
    f"{WITHHELD}\u201d (complementary suppression); each withheld count was then checked to be impossible "
    "to recover exactly from everything shown. Zeros are shown. Requests and denials add up across rows "
    "and columns; people are counted once per cell and once per total, so a person seen in two months "
    "counts once in the total and the totals of that table are not sums."
)


@dataclass
class _Agency:
    agreements: set[str] = field(default_factory=set)
    requests: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    denials: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    people: dict[tuple[str, str], set[str]] = field(default_factory=lambda: defaultdict(set))

    def observe(self, entry: dict[str, Any]) -> None:
        cell = (str(entry["time"])[:7], str(entry.get("purpose") or NO_PURPOSE))
        self.agreements.add(str(entry["agreement_id"]))
        self.requests[cell] += 1
        if entry.get("decision") != "allow":
            self.denials[cell] += 1
        else:
            self.people[cell].update(entry.get("person_ids") or ())


def _months(first: str, last: str) -> list[str]:
    y, m = int(first[:4]), int(first[5:7])
    out = []
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _people_table(agency: _Agency, months: list[str], purposes: list[str]) -> Suppressed:
    cells = agency.people
    full = []
    for month in months:
        row = [len(cells.get((month, p), ())) for p in purposes]
        row.append(len(set().union(*(cells.get((month, p), set()) for p in purposes))))
        full.append(row)
    bottom = [len(set().union(*(cells.get((m, p), set()) for m in months))) for p in purposes]
    bottom.append(len(set().union(*cells.values())) if cells else 0)
    full.append(bottom)
    return suppress_full(full)


def _table(grid: Suppressed, months: list[str]) -> dict[str, Any]:
    shown = grid.shown()
    return {
        "rows": [
            {"month": m, "cells": row[:-1], "total": row[-1]} for m, row in zip(months, shown, strict=False)
        ],
        "column_totals": shown[-1][:-1],
        "total": shown[-1][-1],
    }


def _agency_json(name: str, agency: _Agency) -> dict[str, Any]:
    seen = [m for m, _ in agency.requests]
    months = _months(min(seen), max(seen))
    purposes = sorted({p for _, p in agency.requests})
    tables = {}
    for measure in ("requests", "denials"):
        counts: dict[tuple[str, str], int] = getattr(agency, measure)
        tables[measure] = _table(
            suppress([[counts.get((m, p), 0) for p in purposes] for m in months]), months
        )
    tables["people"] = _table(_people_table(agency, months, purposes), months)
    return {
        "agency": name,
        "agreements": sorted(agency.agreements),
        "purposes": [{"code": p, "name": PURPOSE_NAMES.get(p, p)} for p in purposes],
        "months": months,
        "tables": tables,
    }


def build_transparency(
    store: Store, *, now: datetime, start: datetime | None = None, end: datetime | None = None
) -> dict[str, Any]:
    """The public aggregates as a JSON-ready dict (suppressed counts are strings)."""
    agencies: dict[str, _Agency] = defaultdict(_Agency)
    # Checked entry bytes in one snapshot, up to the newest published checkpoint.
    with open_log(store) as view:
        for _, entry in view.entries(kind="access", since=start, until=end):
            if is_access(entry):
                agencies[str(entry.get("agency") or entry["agreement_id"])].observe(entry)
    return {
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


def _cell(value: int | str) -> str:
    return value if isinstance(value, str) else number(value)


def render_transparency(data: dict[str, Any]) -> str:
    """The public report as a standalone HTML5 page."""
    return ENV.get_template("transparency.html").render(data=data, cell=_cell, withheld=WITHHELD)
