"""The feed replay (issue 12), driven through the gate's real feed path, is bulk access.

A synthetic city whose bookings arrive day by day (``City.arrivals``), ICE's terms with
the feed enabled, two honest analysts, one subscriber following the feed from where it
left off, and one opening it with ``Last-Event-ID: 0`` at every sitting to pull all it
can again. Each open and each delivery goes through ``Gate.open_feed`` and
``next_delivery`` (the group commit, the rate limit, the log), as the web route's
stream does. The replay can reach back no further than its own first open (the gate's
floor), but pulling everything since then again and again soon passes
``feed_people_per_day``: the report's bulk_access names it; the follower is not named.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pars.clock import parse_instant
from pars.oversight.config import OversightConfig
from pars.simulate import FEED_HONEST, FEED_TERMS, run_feed
from pars.simulate.city import city

pytestmark = pytest.mark.timeout(1200)

START, END = parse_instant("2017-09-01T00:00:00-04:00"), parse_instant("2017-11-15T00:00:00-05:00")


def _run(folder: Path, seed: int) -> tuple[dict[str, Any], dict[str, int]]:
    booked_before = lambda e: parse_instant(e["at"]) < START  # noqa: E731
    with city(
        folder, seed=seed, arrests=4000, days=170, agreement=FEED_TERMS, ingest_first=booked_before
    ) as c:
        stats = run_feed(c, seed, START, END)
        assert not c.held or min(e["at"] for e in c.held) >= "2017-11-14"  # the bookings did arrive
        return c.report(), {u: sum(s.values()) for u, s in stats.by_user.items()}


@pytest.fixture(scope="module")
def fed(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], dict[str, int]]:
    return _run(tmp_path_factory.mktemp("feed"), 5)


def test_a_feed_replay_through_the_gate_is_bulk_access(fed: tuple[dict[str, Any], dict[str, int]]) -> None:
    report, asks = fed
    assert asks["mis.feed_replay"] > 20 and asks["ice.feed"] > 40
    [f] = [f for f in report["findings"] if f["user"] == "mis.feed_replay"]
    s = f["statistic"]
    assert f["kind"] == "bulk_access" and f["severity"] == "high"
    assert s["feed_max_people_per_day"] > OversightConfig().feed_people_per_day
    assert "by the feed" in f["summary"] and "replay" in f["summary"]
    assert f["summary"].startswith("Seen in every access it chose") and "feed delivery" in f["summary"]
    assert report["log"]["verified"] is True


def test_a_subscriber_following_the_feed_is_not_flagged(fed: tuple[dict[str, Any], dict[str, int]]) -> None:
    report, _ = fed
    assert not [(f["user"], f["kind"]) for f in report["findings"] if f["user"] in FEED_HONEST]
    # It was delivered the city's new arrests, day by day.
    requests = {a["id"]: a for a in report["agreements"]}["ice-2017"]["requests"]
    assert requests > 100
