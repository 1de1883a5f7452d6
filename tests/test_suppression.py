"""Fast unit tests of ``pars.oversight.suppression``: each function by behaviour, on tiny tables.

Expected grids are worked out by hand in the comments (a reader's equations over the
withheld cells), never produced by the code under test. The protection checks use
``disclosure.audit`` as the independent judge of what a reader can work out.
"""

from __future__ import annotations

import pytest

from pars.oversight.disclosure import Published, Sheet, audit
from pars.oversight.suppression import (
    BELOW,
    THRESHOLD,
    WITHHELD,
    DisclosureRisk,
    Suppressed,
    Table,
    _beside,
    _cost,
    _lines,
    _pair_lines,
    _published,
    protect,
    suppress,
)

Cell = tuple[int, int]


def test_the_exports_are_the_disclosure_marks() -> None:
    assert (THRESHOLD, BELOW, WITHHELD) == (10, "<10", "withheld")


def test_shown_marks_primary_below_the_threshold_and_complementary_as_withheld() -> None:
    full = [[1, 20, 21], [30, 40, 70], [31, 60, 91]]
    # (0, 0) is in both sets: the primary mark wins.
    grid = Suppressed(full, {(0, 0)}, {(0, 0), (0, 1), (2, 2)}, 7)
    assert grid.shown() == [["<7", WITHHELD, 21], [30, 40, 70], [31, 60, WITHHELD]]
    assert Suppressed(full, {(1, 2)}, set()).shown()[1] == [30, 40, "<10"]
    assert Suppressed([[5]], set(), set()).threshold == 10


def test_a_table_is_additive_unless_told() -> None:
    assert Table([[1]]).additive is True
    assert Table([[1]], additive=False).additive is False


def test_lines_are_every_row_then_every_column() -> None:
    assert _lines(2, 3) == [
        [(0, 0), (0, 1), (0, 2)],
        [(1, 0), (1, 1), (1, 2)],
        [(0, 0), (1, 0)],
        [(0, 1), (1, 1)],
        [(0, 2), (1, 2)],
    ]
    assert _lines(0, 0) == []


def test_the_cost_puts_non_zero_before_zero_inner_before_margin_small_first() -> None:
    full = [[7, 0, 30, 37], [0, 5, 2, 7], [7, 5, 32, 44]]
    assert _cost(full, (0, 0)) == (False, False, 7)
    assert _cost(full, (0, 1)) == (True, False, 0)
    assert _cost(full, (1, 2)) == (False, False, 2)
    assert _cost(full, (0, 3)) == (False, True, 37)  # last column: a row total
    assert _cost(full, (2, 0)) == (False, True, 7)  # last row: a column total
    assert _cost(full, (2, 3)) == (False, True, 44)  # the grand total
    assert _cost(full, (1, 3)) == (False, True, 7)
    assert _cost([[0, 0], [0, 0]], (1, 1)) == (True, True, 0)


def test_a_line_with_one_withheld_cell_gets_the_cheapest_second_and_chains_until_stable() -> None:
    # Inner 3x3 with margins. Pass 1: row 0 pairs (0,0) with (0,1)=20 (cheaper than 30 and
    # the margin 51); column 0 pairs it with (1,0)=15; column 1 pairs (0,1) with (2,1)=11.
    # Rows 1 and 2 now hold one each, so pass 2: row 1 takes (1,1)=40, row 2 takes (2,0)=16.
    full = [[1, 20, 30, 51], [15, 40, 50, 105], [16, 11, 60, 87], [32, 71, 140, 243]]
    hidden = {(0, 0)}
    _pair_lines(Table(full), hidden, set())
    assert hidden == {(0, 0), (0, 1), (1, 0), (2, 1), (1, 1), (2, 0)}


def test_pairing_follows_the_cost_and_skips_shown_cells() -> None:
    full = [[12, 3, 15], [40, 25, 65], [52, 28, 80]]
    hidden = {(0, 1)}
    # Row 0: 12 inside before the margin 15; column 0 then takes 40, column 1 takes 25.
    _pair_lines(Table(full), hidden, set())
    assert hidden == {(0, 1), (0, 0), (1, 0), (1, 1)}
    # (0,0) and (1,1) known to be shown. Pass 1: row 0 falls back to its margin (0,2);
    # column 1 to its total (2,1)=28; column 2 pairs (0,2) with (1,2)=65 before 80.
    # Pass 2: row 1 holds (1,2) alone -> (1,0)=40; row 2 holds (2,1) alone -> (2,0)=52.
    hidden = {(0, 1)}
    _pair_lines(Table(full), hidden, {(0, 0), (1, 1)})
    assert hidden == {(0, 1), (0, 2), (1, 2), (1, 0), (2, 0), (2, 1)}


def test_pairing_prefers_a_non_zero_margin_to_a_zero_count() -> None:
    full = [[5, 0, 5], [5, 0, 5], [10, 0, 10]]
    hidden = {(0, 0)}
    # Row 0: (0,1)=0 inside vs (0,2)=5 margin: the margin. Column 0: (1,0)=5 before (2,0)=10.
    # Then column 2 holds (0,2) alone: (1,2)=5 before (2,2)=10; row 1 holds (1,0), (1,2).
    _pair_lines(Table(full), hidden, set())
    assert hidden == {(0, 0), (0, 2), (1, 0), (1, 2)}


def test_pairing_leaves_distinct_counts_and_lines_with_nothing_free_alone() -> None:
    full = [[12, 3, 15], [40, 25, 65], [52, 28, 80]]
    hidden = {(0, 1)}
    _pair_lines(Table(full, additive=False), hidden, set())
    assert hidden == {(0, 1)}
    everything_else = {(i, j) for i in range(3) for j in range(3)} - {(0, 1)}
    _pair_lines(Table(full), hidden, everything_else)
    assert hidden == {(0, 1)}
    two = {(0, 0), (0, 1), (1, 0), (1, 1)}  # every line holds 0 or 2
    _pair_lines(Table(full), two, set())
    assert two == {(0, 0), (0, 1), (1, 0), (1, 1)}


# Inner counts 2 x 3 with margins; the smallest inner count 2 is on neither line of (0, 0).
T = [[1, 50, 30, 81], [4, 2, 30, 36], [5, 52, 60, 117]]
# Same shape, other counts: its cheapest differs from T's cheapest at the same cells.
U = [[40, 0, 7, 47], [6, 9, 0, 15], [46, 9, 7, 62]]
ALL = {(i, j) for i in range(3) for j in range(4)}


def _none() -> dict[str, set[Cell]]:
    return {"t": set(), "u": set()}


def test_beside_takes_the_cheapest_on_the_exposed_cells_row_or_column() -> None:
    tables = {"t": Table(T), "u": Table(U)}
    hidden = {"t": {(0, 0)}, "u": set[Cell]()}
    # Row 0: 50, 30, margin 81; column 0: 4, margin 5. 4 is the cheapest (2 is not on them).
    assert _beside(("t", 0, 0), tables, hidden, _none()) == ("t", (1, 0))
    # Without 4: 30 inside beats the margin 5, whether 4 is withheld or shown.
    assert _beside(("t", 0, 0), tables, {**hidden, "t": {(0, 0), (1, 0)}}, _none()) == ("t", (0, 2))
    assert _beside(("t", 0, 0), tables, hidden, {**_none(), "t": {(1, 0)}}) == ("t", (0, 2))
    # From (1, 1): row 1 has 4, 30, 36 and column 1 has 50, 52: 4.
    assert _beside(("t", 1, 1), tables, {**hidden, "t": {(1, 1)}}, _none()) == ("t", (1, 0))
    # Only margins left on the lines: the smallest margin.
    inner = {(0, 1), (0, 2), (1, 0)}
    assert _beside(("t", 0, 0), tables, {**hidden, "t": {(0, 0)} | inner}, _none()) == ("t", (2, 0))


def test_beside_falls_back_to_its_table_then_another_then_none() -> None:
    tables = {"t": Table(T), "u": Table(U)}
    on_lines = {(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (2, 0)}
    # Every count on its lines withheld or shown: the cheapest elsewhere in its table, 2.
    assert _beside(("t", 0, 0), tables, {"t": on_lines, "u": set()}, _none()) == ("t", (1, 1))
    assert _beside(("t", 0, 0), tables, {"t": {(0, 0)}, "u": set()}, {**_none(), "t": on_lines}) == (
        "t",
        (1, 1),
    )
    # Nothing left in its table: another table's cheapest by that table's counts (6, not 40).
    assert _beside(("t", 0, 0), tables, {"t": ALL, "u": set()}, _none()) == ("u", (1, 0))
    assert _beside(("t", 0, 0), tables, {"t": ALL, "u": {(1, 0)}}, _none()) == ("u", (0, 2))
    assert _beside(("t", 0, 0), tables, {"t": ALL, "u": set()}, {"t": set(), "u": {(1, 0)}}) == ("u", (0, 2))
    assert _beside(("t", 0, 0), tables, {"t": ALL, "u": set(ALL)}, _none()) is None
    assert _beside(("t", 0, 0), tables, {"t": ALL, "u": set()}, {"t": set(), "u": set(ALL)}) is None


def test_published_splits_primary_from_complementary_and_carries_the_links() -> None:
    full = [[1, 20, 21], [30, 40, 70], [31, 60, 91]]
    people = [[1, 2, 2], [3, 0, 3], [3, 2, 4]]
    tables = {"a": Table(full), "p": Table(people, additive=False)}
    primary = {"a": {(0, 0)}, "p": {(0, 0)}}
    hidden = {"a": {(0, 0), (0, 1)}, "p": {(0, 0), (1, 1)}}
    grids, published = _published(tables, primary, hidden, [("a", "p")], [("p", "a", "a")], 7)
    assert grids["a"] == Suppressed(full, {(0, 0)}, {(0, 1)}, 7)
    assert grids["p"] == Suppressed(people, {(0, 0)}, {(1, 1)}, 7)
    assert published.sheets["a"] == Sheet([["<7", WITHHELD, 21], [30, 40, 70], [31, 60, 91]], True)
    assert published.sheets["p"] == Sheet([["<7", 2, 2], [3, WITHHELD, 3], [3, 2, 4]], False)
    assert published.at_most == (("a", "p"),) and published.needs == (("p", "a", "a"),)
    assert published.threshold == 7
    assert hidden == {"a": {(0, 0), (0, 1)}, "p": {(0, 0), (1, 1)}}  # not consumed


def test_suppress_adds_margins_and_pairs_a_lone_small_count() -> None:
    grid = suppress([[12, 3], [40, 25]])
    assert grid.full == [[12, 3, 15], [40, 25, 65], [52, 28, 80]]
    # Paired: 3 with 12 (row 0), 12 with 40 (column 0), 3 with 25 (column 1). A reader has
    # a + 3' = 15, c + d = 65, a + c = 52, 3' + d = 28: 3' = 4 gives 11, 41, 24, all >= 10.
    assert grid.primary == {(0, 1)} and grid.complementary == {(0, 0), (1, 0), (1, 1)}
    assert grid.shown() == [[WITHHELD, "<10", 15], [WITHHELD, WITHHELD, 65], [52, 28, 80]]
    assert grid.threshold == 10


def test_zeros_and_counts_at_the_threshold_are_shown() -> None:
    grid = suppress([[0, 40], [30, 10]])
    assert grid.shown() == [[0, 40, 40], [30, 10, 40], [30, 50, 80]]
    assert grid.primary == set() and grid.complementary == set()


def test_primary_is_exactly_the_counts_from_one_to_threshold_minus_one() -> None:
    # Margins: rows 10 and 21, columns 11 and 20, total 31.
    g = [[1, 9], [10, 11]]
    assert suppress(g).primary == {(0, 0), (0, 1)}
    at_11 = suppress(g, threshold=11)
    assert at_11.primary == {(0, 0), (0, 1), (0, 2), (1, 0)}
    assert at_11.threshold == 11 and at_11.shown()[0][:3] == ["<11", "<11", "<11"]
    assert suppress(g, threshold=1).primary == set()
    assert suppress(g, threshold=1).shown() == [[1, 9, 10], [10, 11, 21], [11, 20, 31]]


def test_a_count_pinned_after_pairing_gets_one_more_beside_it() -> None:
    # [[1, 10]]: full [[1, 10, 11], [1, 10, 11]]. Pairing withholds 1 | 10 in both rows; then
    # a + b = 11 with a in 1..9 and b = 0 or >= 10 pins a = 1. The cheapest free on its
    # lines is the row total 11, and column 2 then pairs it with the grand total.
    grid = suppress([[1, 10]])
    assert grid.primary == {(0, 0), (1, 0)}
    assert grid.complementary == {(0, 1), (0, 2), (1, 1), (1, 2)}
    assert grid.shown() == [["<10", WITHHELD, WITHHELD], ["<10", WITHHELD, WITHHELD]]


def test_a_complementary_count_pinned_by_what_is_shown_is_shown() -> None:
    # [[10, 1]]: pairing withholds all four counts of [[10, 1], [10, 1]] (margins 11). A reader
    # has a + b = 11, b in 1..9, a = 0 or >= 10: a = 10 is pinned, complementary, so shown.
    # Then b = 1 is pinned: the row total 11 is withheld beside it (column 2 pairs the grand
    # total); the column-0 total 10 is pinned by the shown 10 above it, so it is shown too.
    grid = suppress([[10, 1]])
    assert grid.primary == {(0, 1), (1, 1)}
    assert grid.complementary == {(0, 2), (1, 2)}
    assert grid.shown() == [[10, "<10", WITHHELD], [10, "<10", WITHHELD]]


def test_a_table_that_cannot_be_protected_is_refused() -> None:
    # Threshold 2: "<2" means exactly 1, whatever else is withheld.
    with pytest.raises(
        DisclosureRisk, match=r"^counts\[0\]\[0\]: cannot be protected even with every count withheld$"
    ):
        suppress([[1]], threshold=2)
    with pytest.raises(DisclosureRisk, match=r"^a\[0\]\[1\]: cannot be protected"):
        protect({"a": Table([[0, 1, 1], [0, 1, 1]]), "b": Table([[5, 0, 5], [5, 0, 5]])}, threshold=2)


def test_an_empty_grid_publishes_a_zero_total() -> None:
    empties: list[list[list[int]]] = [[], [[]]]
    for empty in empties:
        grid = suppress(empty, threshold=5)
        assert grid == Suppressed([[0]], set(), set(), 5)
        assert grid.shown() == [[0]]


def test_protect_honours_the_at_most_link() -> None:
    # Each table alone is safe, but with denials <= requests the denials table pins d[0][0].
    tables = {
        "requests": Table(suppress([[12, 12], [25, 40]]).full),
        "denials": Table(suppress([[9, 1], [25, 27]]).full),
    }
    link = [("denials", "requests")]

    def sheets(grids: dict[str, Suppressed]) -> dict[str, Sheet]:
        return {n: Sheet(g.shown()) for n, g in grids.items()}

    unaware = protect(tables)
    with pytest.raises(DisclosureRisk, match="work this withheld count out"):
        audit(Published(sheets(unaware), link))
    aware = protect(tables, at_most=link)
    assert all(lo < hi for lo, hi in audit(Published(sheets(aware), link)).values())


def test_protect_honours_the_needs_link() -> None:
    at_most, needs = [("denials", "requests")], [("people", "requests", "denials")]
    tables = {
        "requests": Table([[1, 5, 6], [5, 30, 35], [6, 35, 41]]),
        "denials": Table([[0, 4, 4], [5, 30, 35], [5, 34, 39]]),
        "people": Table([[2, 3, 5], [0, 0, 0], [2, 3, 5]], additive=False),
    }

    def published(grids: dict[str, Suppressed], links: list[tuple[str, str, str]]) -> Published:
        return Published({n: Sheet(g.shown(), n != "people") for n, g in grids.items()}, at_most, links)

    unaware = protect(tables, at_most=at_most)
    with pytest.raises(DisclosureRisk, match=r"^requests\[0\]\[0\]: a reader could work"):
        audit(published(unaware, needs))
    aware = protect(tables, at_most=at_most, needs=needs)
    assert all(lo < hi for lo, hi in audit(published(aware, needs)).values())


def test_a_ragged_grid_is_refused_before_any_suppression() -> None:
    # Rows of different lengths have no column totals: refused by the strict zip.
    for ragged in ([[20, 30], [40]], [[40], [20, 30]], [[1, 2], [3]]):
        with pytest.raises(ValueError, match="zip"):
            suppress(ragged)
