"""Small-count suppression for published tables: primary below a threshold, then complementary.

A table is a grid of counts ending in its margins (last row: column totals; last
column: row totals). Publishing it must not reveal any count from 1 to
``threshold - 1``, nor any count withheld to protect one:

1. primary suppression: every cell, margin or total whose count is 1..9 (for the
   default threshold of 10) is withheld and shown as "<10"; 0 is shown, since a
   zero identifies nobody;
2. complementary suppression: in an additive table a line (row or column, with
   its total) with exactly one withheld cell gives it away by subtraction, so it
   gets a second one (the smallest non-zero count on the line, else its margin,
   else a zero). Then the exact audit of ``disclosure.py`` looks for a withheld
   cell that a reader knowing the bounds (1..9 for "<10"; 0 or 10 and more for
   "withheld") and every stated total, in every table of the agency at once,
   could pin to one value; while there is one, a further count beside it is
   withheld.
3. the published tables are audited again from what they show alone; a table
   that fails is never returned (``DisclosureRisk``: fail closed).

    grid = suppress([[12, 3], [40, 25]])
    grid.shown()  # [[12, "<10", "withheld"...], ...] with margins

Rule: a published table comes from ``Suppressed.shown()`` of a table that passed
``protect``, never from the raw counts; complementary cells show "withheld",
never "<10" (they may be large).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pars.oversight.disclosure import (
    BELOW,
    THRESHOLD,
    WITHHELD,
    DisclosureRisk,
    Published,
    Sheet,
    audit,
    build_model,
    exposed,
)

__all__ = ["BELOW", "THRESHOLD", "WITHHELD", "DisclosureRisk", "Suppressed", "Table", "protect", "suppress"]

Cell = tuple[int, int]


@dataclass
class Suppressed:
    """A grid with its margins (last row: column totals; last column: row totals) and what is withheld."""

    full: list[list[int]]
    primary: set[Cell]
    complementary: set[Cell]
    threshold: int = THRESHOLD

    def shown(self) -> list[list[int | str]]:
        """The grid as published: counts, "<10" or "withheld"; margins last in each row and column."""
        out: list[list[int | str]] = []
        for i, row in enumerate(self.full):
            line: list[int | str] = []
            for j, v in enumerate(row):
                line.append(
                    f"<{self.threshold}"
                    if (i, j) in self.primary
                    else WITHHELD
                    if (i, j) in self.complementary
                    else v
                )
            out.append(line)
        return out


@dataclass(frozen=True)
class Table:
    """True counts with margins; ``additive`` False where margins count distinct people (not sums)."""

    full: list[list[int]]
    additive: bool = True


def _lines(rows: int, cols: int) -> list[list[Cell]]:
    """Every known sum as the cells on it: each row (with its total) and each column (with its total)."""
    return [[(i, j) for j in range(cols)] for i in range(rows)] + [
        [(i, j) for i in range(rows)] for j in range(cols)
    ]


def _cost(full: list[list[int]], c: Cell) -> tuple[bool, bool, int]:
    """Cheapest to withhold first: non-zero before zero, an inner cell before a margin, small first."""
    v = full[c[0]][c[1]]
    return (v == 0, c[0] == len(full) - 1 or c[1] == len(full[0]) - 1, v)


def _pair_lines(table: Table, hidden: set[Cell], shown: set[Cell]) -> None:
    """Give every additive line with exactly one withheld cell a second one (subtraction gives it away)."""
    if not table.additive:
        return
    lines = _lines(len(table.full), len(table.full[0]))
    changed = True
    while changed:
        changed = False
        for line in lines:
            if sum(1 for c in line if c in hidden) == 1:
                free = [c for c in line if c not in hidden and c not in shown]
                if free:
                    hidden.add(min(free, key=lambda c: _cost(table.full, c)))
                    changed = True


def _beside(
    key: tuple[str, int, int],
    tables: Mapping[str, Table],
    hidden: Mapping[str, set[Cell]],
    shown: Mapping[str, set[Cell]],
) -> tuple[str, Cell] | None:
    """One more count to withhold for an exposed cell: on its lines, else in its table, else anywhere."""
    name, i, j = key
    full = tables[name].full
    near = [c for line in _lines(len(full), len(full[0])) if (i, j) in line for c in line]
    everywhere = [(r, c) for r in range(len(full)) for c in range(len(full[0]))]
    for pool in (near, everywhere):
        free = [c for c in pool if c not in hidden[name] and c not in shown[name]]
        if free:
            return name, min(free, key=lambda c: _cost(full, c))
    for other, table in tables.items():
        free = [
            (r, c)
            for r in range(len(table.full))
            for c in range(len(table.full[0]))
            if (r, c) not in hidden[other] and (r, c) not in shown[other]
        ]
        if free:
            return other, min(free, key=lambda c: _cost(table.full, c))
    return None


def _published(
    tables: Mapping[str, Table],
    primary: Mapping[str, set[Cell]],
    hidden: Mapping[str, set[Cell]],
    at_most: Sequence[tuple[str, str]],
    needs: Sequence[tuple[str, str, str]],
    threshold: int,
) -> tuple[dict[str, Suppressed], Published]:
    grids = {
        name: Suppressed(t.full, set(primary[name]), hidden[name] - primary[name], threshold)
        for name, t in tables.items()
    }
    sheets = {name: Sheet(grids[name].shown(), tables[name].additive) for name in tables}
    return grids, Published(sheets, tuple(at_most), tuple(needs), threshold)


def protect(
    tables: Mapping[str, Table],
    *,
    at_most: Sequence[tuple[str, str]] = (),
    needs: Sequence[tuple[str, str, str]] = (),
    threshold: int = THRESHOLD,
) -> dict[str, Suppressed]:
    """Suppress the tables of one publication together (same shape), audited against their links.

    ``at_most`` and ``needs`` are the links a reader knows (see ``disclosure.Published``).
    Raises ``DisclosureRisk`` rather than return tables from which a reader could
    work out a withheld count.
    """
    primary = {
        name: {(i, j) for i, row in enumerate(t.full) for j, v in enumerate(row) if 0 < v < threshold}
        for name, t in tables.items()
    }
    hidden = {name: set(cells) for name, cells in primary.items()}
    # Complementary cells found to be implied by the rest: shown, since showing them adds nothing.
    implied: dict[str, set[Cell]] = {name: set() for name in tables}
    for name, table in tables.items():
        _pair_lines(table, hidden[name], implied[name])
    safe: set[tuple[str, int, int]] = set()
    while True:
        _, published = _published(tables, primary, hidden, at_most, needs, threshold)
        model = build_model(published)
        truth = [tables[name].full[i][j] for name, i, j in model.keys]
        key = exposed(model, truth, safe)
        if key is None:
            break
        name, i, j = key
        if (i, j) not in primary[name]:
            # Pinned by what is shown, a complementary count protects nothing: show it (the
            # tables a reader cannot rule out stay exactly the same), and never withhold it again.
            hidden[name].discard((i, j))
            implied[name].add((i, j))
            continue
        extra = _beside(key, tables, hidden, implied)
        if extra is None:
            raise DisclosureRisk(f"{name}[{i}][{j}]: cannot be protected even with every count withheld")
        hidden[extra[0]].add(extra[1])
        _pair_lines(tables[extra[0]], hidden[extra[0]], implied[extra[0]])
    grids, published = _published(tables, primary, hidden, at_most, needs, threshold)
    audit(published)  # from what is shown alone, as a reader would: fail closed
    return grids


def suppress(grid: list[list[int]], threshold: int = THRESHOLD) -> Suppressed:
    """Suppress one additive table of counts (rows x columns, no margins); margins are added and protected."""
    if not grid or not grid[0]:
        return Suppressed([[0]], set(), set(), threshold)
    full = [[*row, sum(row)] for row in grid]
    full.append([sum(col) for col in zip(*full, strict=True)])
    return protect({"counts": Table(full)}, threshold=threshold)["counts"]
