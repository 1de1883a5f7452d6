"""RFC 8785 (JCS) canonical JSON: the exact bytes of ``rfc8785.dumps``, fast for entries.

    canonical_json({"b": 1, "a": [True, None, "x"]})   # b'{"a":[true,null,"x"],"b":1}'

``rfc8785`` is written in Python and walks the value one call per node; on an
audited search it was half the cost of building the entry. For the values an
audit entry holds (strings, booleans, None, integers within JSON's safe range,
lists and dicts whose keys sort the same by UTF-16 code units as by code points)
orjson with sorted keys writes the same bytes: the same escapes for every code
point (checked for all of them in ``tests/test_audit_canonical.py``), no
whitespace, integers in decimal. Anything else (a float, a larger integer, a key
at or above U+D800, a subclass, any other type, a lone surrogate) goes to
``rfc8785`` itself, which writes it or raises as it always did.

Rule: the output is ``rfc8785.dumps(value)`` byte for byte, or its exception.
"""

from __future__ import annotations

from typing import Any

import orjson
import rfc8785

#: JSON's safe integers (what ``rfc8785`` writes; it refuses the others).
_SAFE = 2**53 - 1
_FIRST_SURROGATE = "\ud800"


def canonical_json(value: Any) -> bytes:
    if _plain(value):
        try:
            return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:  # a lone surrogate: rfc8785 says what is wrong
            pass
    return rfc8785.dumps(value)


def _plain(value: Any) -> bool:
    """Whether orjson's sorted output is the JCS output for ``value``."""
    kind = type(value)
    if kind is str or kind is bool or value is None:
        return True
    if kind is int:
        return bool(-_SAFE <= value <= _SAFE)
    if kind is list or kind is tuple:
        return all(map(_plain, value))
    if kind is dict:
        for key, item in value.items():
            # Below U+D800 UTF-16 code units sort like code points; above, they may not.
            if type(key) is not str or not (key.isascii() or max(key) < _FIRST_SURROGATE):
                return False
            if not _plain(item):
                return False
        return True
    return False
