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


def error_body(code: str, message: str, rule: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "rule": rule}}
