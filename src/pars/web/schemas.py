"""OpenAPI descriptions of the bodies the routes read themselves, and the SSE framing.

Routes read raw bodies (so a malformed one is still logged by the gate, or parsed
strictly), so their request schemas are declared here for ``/openapi.json``.

Rule: these schemas describe; validation happens in the gate and ``deps.strict_object``.
"""

from __future__ import annotations

import json
from typing import Any

_SCALAR: dict[str, Any] = {"anyOf": [{"type": "string", "maxLength": 1000}, {"type": "number"}]}
_TEXT: dict[str, Any] = {"type": "string", "maxLength": 2000}

#: The bounds of ``pars.agreements.request`` (a body outside them is a logged 422).
SEARCH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["purpose"],
    "properties": {
        "purpose": {"type": "string", "maxLength": 100},
        "case_number": _TEXT,
        "justification": _TEXT,
        "warrant": _TEXT,
        "filters": {
            "type": "object",
            "maxProperties": 16,
            "propertyNames": {"minLength": 1, "maxLength": 64},
            "additionalProperties": {
                "anyOf": [_SCALAR, {"type": "array", "items": _SCALAR, "minItems": 1, "maxItems": 20}]
            },
        },
        "sort": {"type": "array", "items": {"type": "string", "maxLength": 65}, "maxItems": 8},
        "limit": {"type": "integer", "minimum": 1, "maximum": 100_000},
    },
}


def json_body(schema: dict[str, Any], *extra_types: str) -> dict[str, Any]:
    content: dict[str, Any] = {"application/json": {"schema": schema}}
    for media in extra_types:
        content[media] = {"schema": {"type": "string"}}
    return {"requestBody": {"required": True, "content": content}}


#: Every search answer (allowed or not) carries its receipt: its entry is readable, and
#: provable, by the partner who asked (OpenAPI links; schemathesis follows them).
_RECEIPT_LINKS: dict[str, Any] = {
    "entry": {
        "operationId": "audit_entry",
        "parameters": {"index": "$response.body#/receipt/leaf_index"},
    },
}
SEARCH_BODY: dict[str, Any] = {
    **json_body(SEARCH_SCHEMA),
    "responses": {
        code: {"description": text, "links": _RECEIPT_LINKS}
        for code, text in (("200", "Results, receipt"), ("422", "Malformed: an error and the receipt"))
    },
}
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
