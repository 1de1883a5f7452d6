"""The per-query view's base rates: arrests in scope per district and day (``pars.oversight.strata``)."""

from __future__ import annotations

from datetime import date

from pars.oversight.strata import ZERO, Cell, Strata, stratum_key

D = date(2018, 3, 1).toordinal()


def _strata() -> Strata:
    return Strata(
        {
            ("1", D): Cell(10, 1, 11, 2),
            ("1", D + 1): Cell(10, 2, 10, 0),
            ("2", D + 1): Cell(5, 4, 5, 1),
            ("2", D + 9): Cell(5, 5, 6, 6),
            (None, D + 1): Cell(3, 3, 3, 3),  # no district: only in the all-districts sums
        }
    )


def test_a_filter_names_its_stratum() -> None:
    assert stratum_key({"last_name": "hmac:ab"}) is None
    assert stratum_key({"district": "7"}) == (("7",), None, None)
    assert stratum_key({"district": ["9", "7", "9"], "arrested_from": "2018-03-01"}) == (("7", "9"), D, None)
    assert stratum_key({"arrested_to": "2018-03-02T23:00:00-05:00"}) == (None, None, D + 1)
    assert stratum_key({"arrested_from": "not a date", "district": 7}) is None


def test_a_stratum_sums_its_district_and_days() -> None:
    s = _strata()
    assert s.counts((("1",), D, D)) == Cell(10, 1, 11, 2)
    assert s.counts((("1",), None, None)) == Cell(20, 3, 21, 2)
    assert s.counts((("1", "2"), D + 1, D + 1)) == Cell(15, 6, 15, 1)
    assert s.counts((None, D + 1, D + 9)) == Cell(23, 14, 24, 10)
    assert s.counts((None, None, None)) == Cell(33, 15, 35, 12)
    assert s.counts((("2",), D + 2, D + 8)) == ZERO
    assert s.counts((("3",), None, None)) == ZERO
    assert s.counts((("1",), D + 5, D)) == ZERO
