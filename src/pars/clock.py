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


def parse_instant(text: str) -> datetime:
    """An ISO 8601 time that must carry an offset (``2018-08-31T23:59:59-04:00``).

    Raises ``ValueError`` naming the problem otherwise.
    """
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError("not an ISO 8601 time with an offset") from None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("not an ISO 8601 time with an offset")
    return value


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
