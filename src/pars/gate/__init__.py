"""The gate: the one path by which records reach an outside party (ARCHITECTURE.md).

    from pars.gate import Gate
    gate = Gate(store, AuditLog.open(), clock)
    outcome = gate.search(gate.authenticate(token), {"purpose": "C", ...})

Every interface (HTTP routes, the feed, the console, the CLI) calls this package;
nothing else may hand ``pars.store.queries`` results to a partner.

Rule: no record leaves without its audit entry appended in the same transaction.
"""

from pars.agreements.ratelimit import RULE_MALFORMED
from pars.gate.admin import admin_event_recorder
from pars.gate.core import DEFAULT_LIMIT, MAX_LIMIT, RULE_NOT_FOUND, Gate, Outcome
from pars.gate.errors import Forbidden, NotImplementedYet, TooLarge, Unauthorized, Unavailable, error_body
from pars.gate.feed import FeedStep, next_delivery
from pars.gate.tokens import Principal, TokenInfo, authenticate, issue_token, list_tokens, revoke_token

__all__ = [
    "DEFAULT_LIMIT",
    "MAX_LIMIT",
    "RULE_MALFORMED",
    "RULE_NOT_FOUND",
    "FeedStep",
    "Forbidden",
    "Gate",
    "NotImplementedYet",
    "Outcome",
    "Principal",
    "TokenInfo",
    "TooLarge",
    "Unauthorized",
    "Unavailable",
    "admin_event_recorder",
    "authenticate",
    "error_body",
    "issue_token",
    "list_tokens",
    "next_delivery",
    "revoke_token",
]
