"""When synthetic arrests happen: sorted arrival times over a window, streamed.

Arrests follow an intensity that varies by hour of day, day of week and season.
Sorted uniform order statistics are drawn one at a time and mapped through the
intensity's inverse CDF, so N arrival times come out in order with O(1) memory.

Rule: times are instants (epoch seconds); they become text only through ``iso``,
which renders the America/New_York offset of that instant (DST-correct).
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

CITY_TZ = ZoneInfo("America/New_York")

#: Relative arrest intensity by local hour (0-23): lowest at dawn, peak late afternoon.
HOUR_WEIGHTS = (
    5.0,
    4.5,
    4.0,
    3.0,
    2.0,
    1.5,
    1.5,
    2.0,
    3.0,
    4.0,
    4.5,
    5.0,
    5.5,
    6.0,
    6.5,
    7.0,
    7.0,
    7.0,
    7.0,
    6.5,
    6.0,
    6.0,
    5.5,
    5.5,
)
#: Monday=0 ... Sunday=6.
WEEKDAY_WEIGHTS = (1.0, 1.05, 1.05, 1.05, 1.1, 1.0, 0.85)


def local_midnight(day: date) -> int:
    """Epoch seconds of 00:00 local time on ``day``."""
    return int(datetime.combine(day, time(0), CITY_TZ).timestamp())


def iso(ts: int) -> str:
    """``2018-06-01T14:03:00-04:00``: the instant in city time, seconds precision."""
    return datetime.fromtimestamp(ts, CITY_TZ).isoformat(timespec="seconds")


def _season(day: date) -> float:
    # Summer months run hotter; mid-winter cooler.
    return (0.9, 0.88, 0.95, 1.0, 1.05, 1.08, 1.1, 1.08, 1.02, 1.0, 0.95, 0.9)[day.month - 1]


class Intensity:
    """Piecewise-constant arrest intensity over local-clock hours of a window."""

    def __init__(self, start: date, days: int) -> None:
        starts: list[int] = []
        weights: list[float] = []
        for d in range(days):
            day = start + timedelta(days=d)
            base = WEEKDAY_WEIGHTS[day.weekday()] * _season(day)
            for h in range(24):
                local = datetime.combine(day, time(h), CITY_TZ)
                starts.append(int(local.timestamp()))
                weights.append(base * HOUR_WEIGHTS[h])
        self.end = local_midnight(start + timedelta(days=days))
        starts.append(self.end)
        self._starts = starts
        # A DST change makes one local hour last 0 s or 2 h: weight by real duration.
        self._mass = [w * (starts[i + 1] - starts[i]) / 3600 for i, w in enumerate(weights)]
        cum: list[float] = []
        total = 0.0
        for m in self._mass:
            total += m
            cum.append(total)
        self._cum = cum
        self.total = total

    def at(self, u: float) -> int:
        """The instant below which a fraction ``u`` in [0, 1) of the intensity lies."""
        target = u * self.total
        i = min(bisect.bisect_right(self._cum, target), len(self._mass) - 1)
        before = self._cum[i] - self._mass[i]
        span = self._starts[i + 1] - self._starts[i]
        frac = (target - before) / self._mass[i] if self._mass[i] else 0.0
        return self._starts[i] + min(span - 1, int(frac * span))


def arrival_times(n: int, rng: random.Random, start: date, days: int) -> Iterator[int]:
    """``n`` arrest instants in [start, start+days), ascending, drawn one at a time."""
    if n <= 0 or days <= 0:
        return
    intensity = Intensity(start, days)
    u = 0.0
    for k in range(n):
        # Minimum of the remaining n-k uniforms on [u, 1): sequential order statistics.
        u += (1.0 - u) * (1.0 - rng.random() ** (1.0 / (n - k)))
        yield intensity.at(min(u, 0.999_999_999_999))
