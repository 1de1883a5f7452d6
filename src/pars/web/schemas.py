"""OpenAPI descriptions of the bodies the routes read themselves, and the SSE framing.

Routes read raw bodies (so a malformed one is still logged by the gate, or parsed
strictly), so their request schemas are declared here for ``/openapi.json``.

Rule: these schemas describe; validation happens in the gate and ``deps.strict_object``.
"""

from __future__ import annotations

import json
from typing import Any

_SCALAR: dict[str, Any] = {"anyOf": [{"type": "string"}, {"type": "number"}]}

SEARCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["purpose"],
    "properties": {
        "purpose": {"type": "string"},
        "case_number": {"type": "string"},
        "justification": {"type": "string"},
        "warrant": {"type": "string"},
        "filters": {
            "type": "object",
            "additionalProperties": {"anyOf": [_SCALAR, {"type": "array", "items": _SCALAR}]},
        },
        "sort": {"type": "array", "items": {"type": "string"}},
        "limit": {"type": "integer", "minimum": 1},
    },
}


def json_body(schema: dict[str, Any], *extra_types: str) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    for media in extra_types:
        content[media] = {"schema": {"type": "string"}}
    return {"requestBody": {"required": True, "content": content}}


SEARCH_BODY = json_body(SEARCH_SCHEMA)
BOOKINGS_BODY = json_body({"type": "array", "items": {"type": "object"}}, "application/x-ndjson")
AGREEMENT_BODY = json_body({"type": "object"}, "application/yaml")
APPROVAL_BODY = json_body(
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["note"],
        "properties": {
            "note": {
                "type": "string",
                "maxLength": 4096,
                "description": "The party's signed approval note (CONTRACT 9.1), from pars agreements sign",
            },
        },
    }
)
TERMINATE_BODY = json_body(
    {
        "type": "object",
        "additionalProperties": False,
        "required": ["effective_at", "reason"],
        "properties": {
            "effective_at": {"type": "string", "format": "date-time"},
            "reason": {"type": "string"},
            "force_past": {"type": "boolean"},
        },
    }
)


def feed_event(event: str, event_id: int | None, data: dict[str, Any]) -> bytes:
    """One SSE event; ``id`` is the event seq delivered up to (resume with Last-Event-ID)."""
    lines = [f"event: {event}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines.append("data: " + json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    return ("\n".join(lines) + "\n\n").encode()
