"""Request validation at its bounds: what is a well-formed request before decide() sees it."""

from __future__ import annotations

from typing import Any

import pytest

from pars.agreements.request import Request
from pars.errors import InvalidInput

VALUE_ERROR = "must be a string of at most 1000 characters, a number or a list of 1 to 20 of them"


def search(**kw: Any) -> Request:
    return Request.search({"purpose": "C", **kw})


def refused(**kw: Any) -> str:
    with pytest.raises(InvalidInput) as err:
        search(**kw)
    return str(err.value)


def test_filter_names_up_to_80_characters() -> None:
    assert list(search(filters={"n" * 80: "x"}).filters) == ["n" * 80]
    assert refused(filters={"n" * 81: "x"}) == f"filters.{'n' * 81}: a filter name is 1 to 80 characters"


@pytest.mark.parametrize(
    "value",
    ["", "x" * 1000, 0, -7, 2.5, 2**53 - 1, -(2**53 - 1), ["a"], ["a", 1, 2.5], ["v"] * 20],
)
def test_filter_values_within_bounds_are_kept_as_given(value: object) -> None:
    assert search(filters={"last_name": value}).filters == {"last_name": value}


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        None,
        "x" * 1001,
        "\ud800",  # a lone surrogate is not Unicode text
        2**53,
        -(2**53),
        float(2**53),
        float("nan"),
        float("inf"),
        [],
        ["v"] * 21,
        [True],
        ["a", None],
        [["a"]],
        ["a", float("nan")],
        ["x" * 1001],
        {"$ne": 1},
    ],
)
def test_filter_values_out_of_bounds_are_malformed(value: object) -> None:
    assert refused(filters={"last_name": value}) == f"filters.last_name: {VALUE_ERROR}"


@pytest.mark.parametrize(
    "value",
    ["2018-01-01", "2018-01-01T00:00:00-05:00", "2018-06-01T13:10:00Z", "2018-06-01T13:10:00.5+00:00"],
)
def test_time_filters_take_a_date_or_an_instant(value: str) -> None:
    assert search(filters={"arrested_from": value, "arrested_to": value}).filters["arrested_from"] == value


@pytest.mark.parametrize(
    "value",
    [2018, 20180101.0, ["2018-01-01"], "2018-13-01", "2018-1-1", "2018-06-01T13:10:00", "1899-12-31", "soon"],
)
def test_time_filters_refuse_anything_else(value: object) -> None:
    for name in ("arrested_from", "arrested_to"):
        assert refused(filters={name: value}).startswith(f"filters.{name}: not a date (YYYY-MM-DD)")


def test_a_lone_surrogate_in_text_is_malformed_naming_the_field() -> None:
    assert refused(case_number="\ud800").startswith("case_number: ")
    assert refused(sort=["\ud800"]).startswith("sort[0]: ")


def test_filter_names_are_the_filters_then_the_sort_keys_without_direction() -> None:
    req = search(filters={"last_name": "Doe", "dob": "1990-02-03"}, sort=["-arrested_at", "district", "--x"])
    assert req.filter_names() == ("last_name", "dob", "arrested_at", "district", "-x")
    assert Request.feed({"purpose": "C"}).filter_names() == ()


@pytest.mark.parametrize("data", [[("purpose", "C")], "purpose=C", None, 7])
def test_a_request_that_is_not_an_object_is_malformed(data: Any) -> None:
    with pytest.raises(InvalidInput) as err:
        Request.parse(data)
    assert str(err.value) == "request: must be a JSON object"
