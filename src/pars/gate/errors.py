"""The gate's domain errors and the contract's error body (CONTRACT section 4).

Rule: every error a client sees has the shape
``{"error": {"code", "message", "rule"}}`` (plus ``receipt`` when it was logged);
messages never carry personal data or a token.
"""

from __future__ import annotations

from typing import Any

from pars.errors import ParsError


class Unauthorized(ParsError):
    """No token, or a token that is malformed, unknown or revoked (not logged: no agreement)."""

    code = "unauthorized"


class Forbidden(ParsError):
    """The token's role may not use this route."""

    code = "forbidden"

    def __init__(self, message: str, rule: str | None = None) -> None:
        super().__init__(message)
        self.rule = rule


class Unavailable(ParsError):
    """The audit entry could not be written, so nothing was answered."""

    code = "audit_unavailable"


class TooLarge(ParsError):
    code = "too_large"


class NotImplementedYet(ParsError):
    code = "not_implemented"


#: THE map from an HTTP status to the error ``code`` a client sees when no domain
#: error names one (the gate's denials, the web layer's own errors, the console).
CODE_BY_STATUS: dict[int, str] = {
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    429: "rate_limited",
    500: "internal",
    501: "not_implemented",
    503: "audit_unavailable",
}


def code_for(status: int) -> str:
    return CODE_BY_STATUS.get(status, "error")


def error_body(code: str, message: str, rule: str | None = None) -> dict[str, Any]:
    """THE error body of every route, partner, custodian, console and feed alike."""
    return {"error": {"code": code, "message": message, "rule": rule}}
