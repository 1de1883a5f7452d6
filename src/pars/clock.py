"""The one clock. Every read of "now" goes through a ``Clock`` so term boundaries,
terminations and the demo's simulated years are testable to the second.

Rule: never call ``datetime.now()`` elsewhere; take a ``Clock`` and ask it.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pars.errors import ConfigError

#: The city's time zone (an IANA name): the days of an agreement's ``scope`` are its days.
ENV_TIMEZONE = "PARS_TIMEZONE"
DEFAULT_TIMEZONE = "America/New_York"


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware."""
        ...


class SystemClock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that moves only when told to (tests, the demo's simulated year)."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        self._at = at
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._at

    def set(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs a timezone-aware datetime")
        with self._lock:
            self._at = at

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._at += delta
            return self._at


#: The window of instants and days PARS takes from anyone (requests, agreements,
#: booking events, reports, the console, the CLI): wide enough for any arrest,
#: term or audit period, narrow enough that no offset or day arithmetic overflows.
MIN_YEAR = 1900
MAX_YEAR = 2200
#: Longest text taken as a time (``2018-08-31T23:59:59.123456-04:00`` is 32).
MAX_INSTANT_CHARS = 40
WINDOW = f"between the years {MIN_YEAR} and {MAX_YEAR}"


def check_instant(value: datetime) -> datetime:
    """``value`` if it lies in the window (both as written and in UTC); ``ValueError`` otherwise."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("not an ISO 8601 time with an offset")
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"not a time {WINDOW}")
    # Both ends are at least a year from datetime's limits: this cannot overflow.
    if not MIN_YEAR <= value.astimezone(UTC).year <= MAX_YEAR:
        raise ValueError(f"not a time {WINDOW}")
    return value


def check_day(value: date) -> date:
    """``value`` if its year lies in the window; ``ValueError`` otherwise."""
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"not a date {WINDOW}")
    return value


def parse_instant(text: str) -> datetime:
    """An ISO 8601 time that must carry an offset (``2018-08-31T23:59:59-04:00``),
    in the years ``MIN_YEAR``..``MAX_YEAR``: the one parser of instants PARS takes in.

    Raises ``ValueError`` naming the problem otherwise (never ``OverflowError``).
    """
    if not isinstance(text, str) or len(text) > MAX_INSTANT_CHARS:
        raise ValueError("not an ISO 8601 time with an offset")
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError("not an ISO 8601 time with an offset") from None
    return check_instant(value)


def parse_day(text: str) -> date:
    """An ISO 8601 date ``YYYY-MM-DD`` in the years ``MIN_YEAR``..``MAX_YEAR``."""
    if not isinstance(text, str) or len(text) != 10:
        raise ValueError("not a date (YYYY-MM-DD)")
    try:
        value = date.fromisoformat(text)
    except ValueError:
        raise ValueError("not a date (YYYY-MM-DD)") from None
    return check_day(value)


def to_utc_naive(value: datetime) -> datetime:
    """The instant as naive UTC, the form stored in ``*_utc`` columns."""
    return value.astimezone(UTC).replace(tzinfo=None)


def utc_text(value: datetime) -> str:
    """The instant as naive UTC text ``YYYY-MM-DD HH:MM:SS.ffffff``.

    The form SQLAlchemy stores a SQLite DateTime in and PostgreSQL parses into a
    timestamp, so the raw driver paths write what SQLAlchemy reads back; its fixed
    width makes the text order like the instants. A naive ``value`` is taken as
    UTC already (as read back from a ``*_utc`` column).
    """
    naive = value if value.tzinfo is None else to_utc_naive(value)
    return naive.isoformat(" ", "microseconds")


SYSTEM_CLOCK = SystemClock()


def city_timezone() -> ZoneInfo:
    """The city's time zone, from ``PARS_TIMEZONE`` (default America/New_York)."""
    name = os.environ.get(ENV_TIMEZONE) or DEFAULT_TIMEZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"{ENV_TIMEZONE}: {name!r} is not a time zone name (an IANA name such as America/New_York)"
        ) from None


def city_day_start(day: date) -> datetime:
    """The first instant of ``day`` in the city's time zone, as naive UTC (the ``*_utc`` form).

    2017-01-01 in New York starts at 2017-01-01 05:00 UTC, so an arrest at
    2016-12-31T20:30:00-05:00 falls before it; daylight saving time is the zone's.
    """
    return to_utc_naive(datetime(day.year, day.month, day.day, tzinfo=city_timezone()))
