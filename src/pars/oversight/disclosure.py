"""What a reader can work out from published tables: an exact integer-programming audit.

A published sheet is a grid ending in its margins (last row: column totals, last
column: row totals; the corner is the grand total). Each cell is a count, "<10"
or "withheld". A reader who knows how the tables were made knows:

- "<10" is a whole number from 1 to 9 (every count from 1 to 9 is shown so);
- "withheld" is 0 or at least 10 (a count from 1 to 9 would have said "<10");
- in an additive sheet (requests, denials) each margin is the sum of its line;
- in a distinct-count sheet (people) each margin lies between the largest count
  on its line and the sum of them (a person seen twice counts once);
- links between the sheets of one agency: ``at_most`` (denials never exceed
  requests, cell by cell) and ``needs`` (people were shown in a cell only if at
  least one request there was allowed: requests - denials >= 1).

``audit`` minimises and maximises every withheld cell over all integer tables
consistent with that (HiGHS, through ``scipy.optimize.milp``), and passes only
when each has at least two feasible values. A solver's optimum counts only once
its solution checks out exactly in integer arithmetic, so rounding inside the
solver can make the audit stricter, never looser.

    ranges = audit(Published({"requests": Sheet(shown)}))   # {("requests", 0, 1): (1, 9), ...}

Rule: the audit reads published values only, never the true counts; a table
whose audit fails is not published (``DisclosureRisk``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pars.errors import ParsError

THRESHOLD = 10
BELOW = f"<{THRESHOLD}"
WITHHELD = "withheld"
#: Solver time per optimisation, in seconds (the report's tables solve in milliseconds).
TIME_LIMIT = 10.0
#: Random directions tried first, each minimised and maximised (see ``_spread``).
SPREAD = 2

Key = tuple[str, int, int]
Value = int | str


class DisclosureRisk(ParsError):
    """A published table would let a reader work out a withheld count (or cannot be checked)."""

    code = "disclosure"


@dataclass(frozen=True)
class Sheet:
    """One published grid with its margins; ``additive`` False for distinct counts (people)."""

    shown: Sequence[Sequence[Value]]
    additive: bool = True


@dataclass(frozen=True)
class Published:
    """The sheets of one agency and what links them (names of sheets of one shape)."""

    sheets: Mapping[str, Sheet]
    #: (low, high): low <= high in every cell.
    at_most: Sequence[tuple[str, str]] = ()
    #: (shown, total, denied): a positive ``shown`` cell needs total - denied >= 1.
    needs: Sequence[tuple[str, str, str]] = ()
    threshold: int = THRESHOLD


@dataclass
class _Row:
    """lo <= sum(coef * x) + const <= hi over variables by index; None is unbounded."""

    coefs: dict[int, int]
    const: int
    lo: int | None
    hi: int | None


@dataclass
class Model:
    """The reader's knowledge as integer constraints over the withheld cells."""

    keys: list[Key]
    lower: list[int]
    upper: list[int]
    semi: list[bool]
    rows: list[_Row] = field(default_factory=list)
    arrays: tuple[Any, ...] | None = None

    def check(self, values: Sequence[int]) -> bool:
        """Whether integer ``values`` (one per key) satisfy every bound and constraint exactly."""
        for v, lo, hi, semi in zip(values, self.lower, self.upper, self.semi, strict=True):
            if not (lo <= v <= hi or (semi and v == 0)):
                return False
        for row in self.rows:
            total = row.const + sum(c * values[k] for k, c in row.coefs.items())
            if (row.lo is not None and total < row.lo) or (row.hi is not None and total > row.hi):
                return False
        return True


def _lines(rows: int, cols: int) -> list[list[tuple[int, int]]]:
    """Every stated sum as its cells, the margin last: each row, then each column."""
    return [[(i, j) for j in range(cols)] for i in range(rows)] + [
        [(i, j) for i in range(rows)] for j in range(cols)
    ]


def _cap(published: Published) -> int:
    """An upper bound for any withheld count, from the published numbers alone.

    Restricting the reader to counts below it can only shrink what they could
    believe, so two values found under the cap are two values without it.
    """
    shown = 0
    for sheet in published.sheets.values():
        for row in sheet.shown:
            for v in row:
                shown += v if isinstance(v, int) else published.threshold - 1
    return max(1_000, 10 * shown)


def build_model(published: Published) -> Model:
    """The reader's constraints; raises ``DisclosureRisk`` on a cell that is neither count nor mark."""
    t = published.threshold
    below = f"<{t}"
    cap = _cap(published)
    model = Model([], [], [], [])
    index: dict[Key, int] = {}
    for name, sheet in published.sheets.items():
        for i, row in enumerate(sheet.shown):
            for j, v in enumerate(row):
                if isinstance(v, bool) or not isinstance(v, int | str):
                    raise DisclosureRisk(f"{name}[{i}][{j}]: not a count")
                if isinstance(v, int):
                    if v < 0:
                        raise DisclosureRisk(f"{name}[{i}][{j}]: a negative count")
                    continue
                if v not in (below, WITHHELD):
                    raise DisclosureRisk(
                        f"{name}[{i}][{j}]: {v!r} is neither a count, {below!r} nor {WITHHELD!r}"
                    )
                index[(name, i, j)] = len(model.keys)
                model.keys.append((name, i, j))
                model.lower.append(1 if v == below else t)
                model.upper.append(t - 1 if v == below else cap)
                model.semi.append(v == WITHHELD)

    def term(name: str, i: int, j: int) -> tuple[int | None, int]:
        k = index.get((name, i, j))
        if k is not None:
            return k, 0
        return None, int(published.sheets[name].shown[i][j])

    def add(parts: Sequence[tuple[int, Key]], lo: int | None, hi: int | None) -> None:
        coefs: dict[int, int] = {}
        const = 0
        for coef, key in parts:
            k, value = term(*key)
            if k is None:
                const += coef * value
            else:
                coefs[k] = coefs.get(k, 0) + coef
        model.rows.append(_Row({k: c for k, c in coefs.items() if c}, const, lo, hi))

    shapes = {(len(sh.shown), len(row)) for sh in published.sheets.values() for row in sh.shown}
    if len(shapes) > 1:
        raise DisclosureRisk(f"the sheets are not grids of one shape ({', '.join(map(str, sorted(shapes)))})")
    for name, sheet in published.sheets.items():
        rows, cols = len(sheet.shown), len(sheet.shown[0]) if sheet.shown else 0
        for line in _lines(rows, cols):
            margin, inner = (name, *line[-1]), [(name, *c) for c in line[:-1]]
            if sheet.additive:
                add([(1, c) for c in inner] + [(-1, margin)], 0, 0)
            else:
                for c in inner:
                    add([(1, margin), (-1, c)], 0, None)
                add([(1, c) for c in inner] + [(-1, margin)], 0, None)
    rows, cols = next(iter(shapes), (0, 0))
    cells = [(i, j) for i in range(rows) for j in range(cols)]
    for low, high in published.at_most:
        for i, j in cells:
            add([(1, (high, i, j)), (-1, (low, i, j))], 0, None)
    for shown, total, denied in published.needs:
        big = max([cap, *model.upper])
        for i, j in cells:
            # shown <= big * (total - denied): nothing allowed, nobody shown.
            add([(big, (total, i, j)), (-big, (denied, i, j)), (-1, (shown, i, j))], 0, None)
    return model


def _arrays(model: Model) -> tuple[Any, ...]:
    """The model as HiGHS takes it (built once per model)."""
    import numpy as np
    from scipy.optimize import Bounds, LinearConstraint

    if model.arrays is None:
        n = len(model.keys)
        live = [r for r in model.rows if r.coefs]
        constraints = []
        if live:
            a = np.zeros((len(live), n))
            lo = np.full(len(live), -np.inf)
            hi = np.full(len(live), np.inf)
            for r, row in enumerate(live):
                for var, coef in row.coefs.items():
                    a[r, var] = coef
                if row.lo is not None:
                    lo[r] = row.lo - row.const
                if row.hi is not None:
                    hi[r] = row.hi - row.const
            constraints.append(LinearConstraint(a, lo, hi))
        upper = np.array(model.upper, float)
        # The relaxation: a "withheld" cell anywhere from 0 to the cap (its hull).
        relaxed = Bounds(
            np.array([0 if s else lo for lo, s in zip(model.lower, model.semi, strict=True)], float), upper
        )
        exact = Bounds(np.array(model.lower, float), upper)
        integrality = np.array([3 if s else 1 for s in model.semi])
        model.arrays = (constraints, relaxed, exact, integrality)
    return model.arrays


def _solve(model: Model, k: int, sense: int) -> list[int] | None:
    """An optimal table for ``sense * x_k`` (1 minimise, -1 maximise), if one checks out exactly."""
    import numpy as np

    c = np.zeros(len(model.keys))
    c[k] = sense
    return _optimum(model, c)


def _spread(model: Model) -> list[list[int]]:
    """A few tables far apart (minimise and maximise random mixtures of the cells), checked exactly.

    Each moves many cells at once, so most cells are proven before any has to
    be optimised on its own. Seeded: the audit is reproducible.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    out = []
    for _ in range(SPREAD):
        c = rng.uniform(0.5, 1.5, len(model.keys)) * rng.choice([-1.0, 1.0], len(model.keys))
        for sense in (1, -1):
            table = _optimum(model, sense * c)
            if table is not None:
                out.append(table)
    return out


def _optimum(model: Model, c: Any) -> list[int] | None:
    """An optimal table for the objective ``c`` (minimised), if one checks out exactly.

    The linear relaxation first (row and column sums make its optima whole
    numbers as a rule): an optimum of the relaxation that satisfies the integer
    model exactly is an optimum of the integer model too. Otherwise the integer
    programme itself (semi-integer cells for "withheld").
    """
    import numpy as np
    from scipy.optimize import milp

    constraints, relaxed, exact, integrality = _arrays(model)
    for bounds, kinds in ((relaxed, np.zeros(len(c))), (exact, integrality)):
        result = milp(
            c, integrality=kinds, bounds=bounds, constraints=constraints, options={"time_limit": TIME_LIMIT}
        )
        if result.x is not None:
            values = [round(float(v)) for v in result.x]
            if model.check(values):
                return values
    return None


def feasible(model: Model) -> bool:
    """Whether the constant constraints hold (a published table must agree with itself)."""
    return all(
        (r.lo is None or r.const >= r.lo) and (r.hi is None or r.const <= r.hi)
        for r in model.rows
        if not r.coefs
    )


def ranges(model: Model) -> dict[Key, tuple[int, int]]:
    """Each withheld cell's smallest and largest value over the tables a reader cannot rule out.

    Raises ``DisclosureRisk`` if no table fits what is published (it contradicts itself).
    """
    if not feasible(model):
        raise DisclosureRisk("the published tables contradict their own totals")
    out: dict[Key, tuple[int, int]] = {}
    for k, key in enumerate(model.keys):
        low, high = _solve(model, k, 1), _solve(model, k, -1)
        if low is None and high is None:
            raise DisclosureRisk(f"{key[0]}[{key[1]}][{key[2]}]: no table fits what is published")
        seen = [v[k] for v in (low, high) if v is not None]
        out[key] = (min(seen), max(seen))
    return out


def audit(published: Published) -> dict[Key, tuple[int, int]]:
    """Two feasible values for every withheld cell, or ``DisclosureRisk`` naming one a reader could work out.

    Each cell is maximised, then minimised, until two different values of it
    have been seen in optimal tables that check out exactly; a cell that earlier
    optima already moved needs no solve of its own (the verdict is the same as
    comparing its exact minimum and maximum, which ``ranges`` computes).
    Returns, per cell, the smallest and largest value seen.
    """
    model = build_model(published)
    if not feasible(model):
        raise DisclosureRisk("the published tables contradict their own totals")
    seen: list[set[int]] = [set() for _ in model.keys]
    for table in _spread(model) if model.keys else ():
        for values, v in zip(seen, table, strict=True):
            values.add(v)
    for k, (name, i, j) in enumerate(model.keys):
        for sense in (-1, 1):
            if len(seen[k]) > 1:
                break
            best = _solve(model, k, sense)
            for values, v in zip(seen, best or (), strict=False):
                values.add(v)
        if not seen[k]:
            raise DisclosureRisk(f"{name}[{i}][{j}]: no table fits what is published")
        if len(seen[k]) < 2:
            raise DisclosureRisk(
                f"{name}[{i}][{j}]: a reader could work this withheld count out from the published totals"
            )
    return {key: (min(v), max(v)) for key, v in zip(model.keys, seen, strict=True)}


def exposed(model: Model, truth: Sequence[int], safe: set[Key]) -> Key | None:
    """The first withheld cell with no feasible value but the true one; ``safe`` grows as cells are proven.

    Knowing the true table (itself feasible), one optimum that differs from it
    proves a cell safe; every cell another optimum moves is proven with it.
    """
    if not model.check(truth):
        raise DisclosureRisk(
            "the true counts do not fit their published tables (a withheld count above the audit's "
            "cap of ten times everything shown, or a bug); nothing is published"
        )
    if any(key not in safe for key in model.keys):
        for other in _spread(model):
            safe.update(model.keys[v] for v in range(len(truth)) if other[v] != truth[v])
    for k, key in enumerate(model.keys):
        if key in safe:
            continue
        for sense in (-1, 1):
            best = _solve(model, k, sense)
            if best is not None:
                safe.update(model.keys[v] for v in range(len(truth)) if best[v] != truth[v])
            if key in safe:
                break
        if key not in safe:
            return key
    return None
