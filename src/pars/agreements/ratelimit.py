"""Rate-limit windows: who is counted, which requests count, over which window.

The gate counts in the store (``gate_requests``, exact across processes); replay
counts in memory (``Windows``). Both use the rules here, so a replayed log is
decided with the counts the gate had:

- a limit applies per (agreement, user): colleagues never use up each other's;
- every request under a limited version counts (allowed, denied, malformed, a feed
  open or delivery) except one the limit itself refused, so a client that keeps
  knocking is let back in once the window has passed;
- the window of a request at ``now`` is ``(now - period, now]``.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

from pars.agreements.decide import PERIOD_SECONDS

RULE_RATE_LIMIT = "search.rate_limit"
#: The rule of a request answered 422 (it could not be parsed, or the store refused its
#: filters): it counts toward the limit like any other, and decide() never saw it.
RULE_MALFORMED = "malformed"


def window_start(now: datetime, per: str) -> datetime:
    """Requests at or before this instant lie outside the window of a request at ``now``."""
    return now - timedelta(seconds=PERIOD_SECONDS[per])


def counts(rule: str | None) -> bool:
    """Whether a request answered with ``rule`` counts toward its (agreement, user)'s limit:
    every one (``RULE_MALFORMED`` included) but a refusal by the limit itself."""
    return rule != RULE_RATE_LIMIT


class Windows:
    """In-memory counts per (agreement, user), for requests replayed in time order."""

    def __init__(self, per: str) -> None:
        self.per = per
        self._seen: dict[tuple[str, str], deque[datetime]] = {}

    def in_window(self, agreement_id: str, user: str, now: datetime) -> int:
        """Counted requests of this (agreement, user) in the window of a request at ``now``."""
        seen = self._seen.setdefault((agreement_id, user), deque())
        start = window_start(now, self.per)
        while seen and seen[0] <= start:
            seen.popleft()
        return len(seen)

    def record(self, agreement_id: str, user: str, now: datetime, rule: str | None) -> None:
        """Note a request decided with ``rule`` (nothing if the limit itself refused it)."""
        if counts(rule):
            self._seen.setdefault((agreement_id, user), deque()).append(now)
