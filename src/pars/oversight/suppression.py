"""Small-count suppression for published tables: primary below a threshold, then complementary.

A table is a grid of counts with its row totals, column totals and grand total
(the margins). Publishing it must not reveal any count from 1 to ``threshold - 1``:

1. primary suppression: every cell, margin or total whose count is 1..9 (for the
   default threshold of 10) is withheld and shown as "<10"; 0 is shown, since a
   zero identifies nobody;
2. complementary suppression: a withheld count must not be recoverable from what
   is shown. Every row and column (margins included) is a sum the reader knows,
   so a line with exactly one withheld cell gives that cell away; each such line
   gets a second withheld cell (the smallest non-zero interior count, else its
   margin, else a zero). Then, for the patterns that rule misses (withheld cells
   whose equations still pin one down), each suppressed count is tested exactly:
   it is recoverable iff its unit vector lies in the row space of the sums
   restricted to the withheld cells; while one is, a further cell is withheld.

    grid = suppress([[12, 3], [40, 25]])
    grid.shown()  # [[12, "<10", "withheld"...], ...] with margins

Rule: a published table comes from ``Suppressed.shown()``, never from the raw
counts; complementary cells show "withheld", never "<10" (they may be large).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

THRESHOLD = 10
BELOW = f"<{THRESHOLD}"
WITHHELD = "withheld"
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


def _lines(rows: int, cols: int) -> list[list[Cell]]:
    """Every known sum as the cells on it: each row (with its total) and each column (with its total)."""
    return [[(i, j) for j in range(cols)] for i in range(rows)] + [
        [(i, j) for i in range(rows)] for j in range(cols)
    ]


def _is_margin(cell: Cell, rows: int, cols: int) -> bool:
    return cell[0] == rows - 1 or cell[1] == cols - 1


def _complement(line: list[Cell], full: list[list[int]], hidden: set[Cell]) -> Cell | None:
    rows, cols = len(full), len(full[0])
    free = [c for c in line if c not in hidden]
    if not free:
        return None

    def cost(c: Cell) -> tuple[int, int, int]:
        v = full[c[0]][c[1]]
        return (v == 0, _is_margin(c, rows, cols), v)

    return min(free, key=cost)


def _beside(cell: Cell, lines: list[list[Cell]], full: list[list[int]], hidden: set[Cell]) -> Cell | None:
    """One more count to withhold for an exposed cell: in its row or column if any is free, else anywhere."""
    near = [c for line in lines if cell in line for c in [_complement(line, full, hidden)] if c is not None]
    if not near:
        near = [c for line in lines for c in [_complement(line, full, hidden)] if c is not None]
    return min(near, key=lambda c: (full[c[0]][c[1]] == 0, full[c[0]][c[1]])) if near else None


def _equations(rows: int, cols: int) -> list[dict[Cell, int]]:
    """Each line as coefficients: interior cells +1, the line's margin cell -1 (the sum is 0)."""
    eqs = []
    for line in _lines(rows, cols):
        total = line[-1]
        eqs.append({c: (-1 if c == total else 1) for c in line})
    return eqs


def recoverable(full: list[list[int]], hidden: set[Cell]) -> list[Cell]:
    """Withheld cells whose value the shown counts and the known sums determine exactly."""
    if not hidden:
        return []
    order = sorted(hidden)
    where = {c: k for k, c in enumerate(order)}
    matrix = np.array(
        [[eq.get(c, 0) for c in order] for eq in _equations(len(full), len(full[0]))], dtype=float
    )
    rank = np.linalg.matrix_rank(matrix)
    out = []
    for c in order:
        unit = np.zeros(len(order))
        unit[where[c]] = 1.0
        if np.linalg.matrix_rank(np.vstack([matrix, unit])) == rank:
            out.append(c)
    return out


def suppress(grid: list[list[int]], threshold: int = THRESHOLD) -> Suppressed:
    """Suppress a table of counts (rows x columns, no margins): margins are added and protected too."""
    if not grid or not grid[0]:
        return Suppressed([[0]], set(), set(), threshold)
    full = [[*row, sum(row)] for row in grid]
    full.append([sum(col) for col in zip(*full, strict=True)])
    return suppress_full(full, threshold)


def suppress_full(full: list[list[int]], threshold: int = THRESHOLD) -> Suppressed:
    """As ``suppress`` for a grid that already ends in its margins (which need not be sums)."""
    rows, cols = len(full), len(full[0])
    primary = {(i, j) for i in range(rows) for j in range(cols) if 0 < full[i][j] < threshold}
    hidden = set(primary)
    lines = _lines(rows, cols)
    changed = True
    while changed:
        changed = False
        for line in lines:
            if sum(1 for c in line if c in hidden) == 1:
                extra = _complement(line, full, hidden)
                if extra is not None:
                    hidden.add(extra)
                    changed = True
        if not changed:
            exposed = recoverable(full, hidden)
            if exposed:
                extra = _beside(exposed[0], lines, full, hidden)
                if extra is not None:
                    hidden.add(extra)
                    changed = True
    return Suppressed(full, primary, hidden - primary, threshold)
