"""The base rate of a query's own filter: arrests in scope per district and day.

A date-window or district sweep returns that window's or district's own mix of
people, not the agreement's; the per-query view (``pars.oversight.targeting``)
compares what each sweep returned with the rate in the stratum it asked for.
``Strata`` holds, per (district, UTC day) of the arrests in an agreement's scope
(every date, not only the report's period: a sweep may reach back), the people
arrested, how many were born abroad, the arrests and how many were non-criminal,
with running sums per district so any window's rate is two bisections, then
cached per filter: O(1) per query.

    strata = Strata({("7", day): Cell(12, 3, 13, 2), ...})
    key = stratum_key(entry["filters"])      # (districts, first day, last day) or None
    strata.counts(key)                       # Cell summed over the stratum

Rule: pure; ``facts.load_strata`` fills it from the store. Days are UTC calendar
days as ordinals, as the store reads a plain ``arrested_from``/``arrested_to`` date.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Mapping
from datetime import date
from typing import Any, NamedTuple

#: (districts or None for all, first day or None, last day or None), days as ordinals.
StratumKey = tuple[tuple[str, ...] | None, int | None, int | None]
#: The key of all districts together.
_ALL = None


class Cell(NamedTuple):
    """Counts over some arrests in scope: people, foreign-born people, arrests, non-criminal arrests."""

    persons: int
    foreign_born: int
    arrests: int
    non_criminal: int

    def __add__(self, other: Any) -> Cell:
        return Cell(*(a + b for a, b in zip(self, other, strict=True)))

    def __sub__(self, other: Cell) -> Cell:
        return Cell(*(a - b for a, b in zip(self, other, strict=True)))


ZERO = Cell(0, 0, 0, 0)


def _day(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return date.fromisoformat(value[:10]).toordinal()
    except ValueError:
        return None


def stratum_key(filters: Mapping[str, Any]) -> StratumKey | None:
    """The stratum a broad search asked for (district, date window), or None if it names neither."""
    district = filters.get("district")
    districts: tuple[str, ...] | None = None
    if isinstance(district, str):
        districts = (district,)
    elif isinstance(district, list) and district and all(isinstance(d, str) for d in district):
        districts = tuple(sorted(set(district)))
    first, last = _day(filters.get("arrested_from")), _day(filters.get("arrested_to"))
    if districts is None and first is None and last is None:
        return None
    return districts, first, last


class Strata:
    """Per district (and all districts together): days in order and running sums of their cells."""

    def __init__(self, cells: Mapping[tuple[str | None, int], Cell]) -> None:
        by: dict[str | None, dict[int, Cell]] = defaultdict(dict)
        for (district, day), cell in cells.items():
            if district is not None:
                by[district][day] = by[district].get(day, ZERO) + cell
            by[_ALL][day] = by[_ALL].get(day, ZERO) + cell
        self._days: dict[str | None, list[int]] = {}
        self._sums: dict[str | None, list[Cell]] = {}
        for district, days in by.items():
            order = sorted(days)
            sums, total = [ZERO], ZERO
            for d in order:
                total = total + days[d]
                sums.append(total)
            self._days[district], self._sums[district] = order, sums
        self._cache: dict[StratumKey, Cell] = {}

    def _span(self, district: str | None, first: int | None, last: int | None) -> Cell:
        days = self._days.get(district)
        if not days:
            return ZERO
        lo = 0 if first is None else bisect_left(days, first)
        hi = len(days) if last is None else bisect_right(days, last)
        if hi <= lo:
            return ZERO
        sums = self._sums[district]
        return sums[hi] - sums[lo]

    def counts(self, key: StratumKey) -> Cell:
        """The cells of the stratum ``key`` summed (cached: each distinct filter is summed once)."""
        got = self._cache.get(key)
        if got is None:
            districts, first, last = key
            got = ZERO
            for district in districts if districts is not None else (None,):
                got = got + self._span(district, first, last)
            self._cache[key] = got
        return got
