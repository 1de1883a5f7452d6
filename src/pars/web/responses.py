"""A JSON response serialised by orjson, for the partner routes' answers.

Starlette's ``JSONResponse`` runs the standard library's encoder; on an audited
search with its receipt that was a measurable share of the request. orjson writes
the same compact UTF-8 JSON for the values a gate answer holds (strings, integers,
finite floats, None, lists and objects with string keys) and refuses a value it
cannot write (``orjson.JSONEncodeError``, a ``TypeError``: the route answers 500
and nothing half-written leaves).
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class FastJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
