"""``pars.audit.canonical.canonical_json`` is ``rfc8785.dumps``, byte for byte, or its error."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from pars.audit.canonical import _plain, canonical_json


def _same(value: Any) -> None:
    try:
        expected = rfc8785.dumps(value)
    except Exception as exc:  # whatever rfc8785 raises, canonical_json must raise too
        with pytest.raises(type(exc)):
            canonical_json(value)
        return
    assert canonical_json(value) == expected


def test_every_code_point_is_escaped_as_rfc8785_does() -> None:
    """All 1,112,064 scalar values, in strings and (below U+D800) as keys, on the fast path."""
    for start in range(0, 0x110000, 4096):
        chars = [chr(cp) for cp in range(start, start + 4096) if not 0xD800 <= cp <= 0xDFFF]
        strings = [f'a{c}\\"' for c in chars]
        value: Any = {s: s for s in strings} if start < 0xD800 else strings
        assert _plain(value)
        assert canonical_json(value) == rfc8785.dumps(value), hex(start)


@pytest.mark.parametrize(
    "value",
    [
        # Keys that sort differently by UTF-16 code units than by code points: the slow path.
        {"\U0001f600": 1, "\uff01": 2, "a": 3},
        {"\ue000": 1, "\U00010000": 2},
        # Integers at and beyond JSON's safe range (rfc8785 refuses the latter).
        [2**53 - 1, -(2**53 - 1)],
        [2**53],
        {"x": -(2**53)},
        # Floats: ECMAScript's number form, not orjson's.
        [1e21, 1e-7, 0.1, -0.0, 5e-324, 1.5],
        [float("nan")],
        # A lone surrogate (not UTF-8), a non-string key, a type JSON has no form for.
        ["\ud800"],
        {"\udfff": 1},
        {1: "x"},
        [b"bytes"],
        (1, "tuple"),
        {"": {"": []}},
    ],
)
def test_edge_cases_match(value: Any) -> None:
    _same(value)


def test_fast_path_is_taken_only_where_orjson_agrees() -> None:
    assert _plain({"a": [1, "x", None, True, {"b": []}]})
    assert not _plain({"\U0001f600": 1})
    assert not _plain([1.0])
    assert not _plain([2**53])
    assert not _plain([True, 1 << 60])

    class Text(str):
        pass

    assert not _plain([Text("x")])  # a subclass: rfc8785 decides


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**60), max_value=2**60)
    | st.floats(allow_nan=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=4), inner, max_size=5),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None)
@given(_json)
def test_any_json_value_matches_rfc8785(value: Any) -> None:
    _same(value)
