"""Domain errors: each carries a message a user can act on.

The CLI turns them into a message and an exit code, the HTTP layer into the
contract's error body. Never put personal data in a message.
"""

from __future__ import annotations


class ParsError(Exception):
    """Base of every error PARS reports to a user."""

    code = "error"
    exit_code = 1


class ConfigError(ParsError):
    """The environment or a setting is wrong (bad URL, missing key file...)."""

    code = "config"
    exit_code = 2


class NotFound(ParsError):
    code = "not_found"


class InvalidInput(ParsError):
    """Input failed validation; the message names the field first."""

    code = "invalid"
    exit_code = 2
