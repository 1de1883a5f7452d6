"""A slow campaign is found by monthly reports, not only by the whole period's (issue 12).

One synthetic city, ICE's demo agreement, three honest analysts and one user aiming at
people born abroad a few times a month (``slow``: too few people in any one month to
test), six months through the gate; then six monthly reports. Each reads a lookback of
the log before its ``from`` (the longest sliding window, 90 days) into the windows, so
from the third month on the windows that end in the month see the campaign; with the
lookback switched off the same monthly reports miss it.
"""

from __future__ import annotations

import itertools
import re
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from pars.clock import parse_instant
from pars.oversight.config import OversightConfig
from pars.oversight.html import render_html
from pars.simulate import PER_DAY, Persona, enrol, load_world, simulate
from pars.simulate.city import city

pytestmark = pytest.mark.timeout(900)

ANALYSTS = [f"ice.analyst{i}" for i in range(3)]
MONTHS = [parse_instant(f"{y}-{m:02d}-01T00:00:00-05:00") for y, m in [(2017, 9), (2017, 10), (2017, 11),
          (2017, 12), (2018, 1), (2018, 2), (2018, 3)]]  # fmt: skip


def _monthly(folder: Path, seed: int) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(report with the lookback, report without) for each month."""
    with city(folder, seed=seed, arrests=2500, days=360) as c:
        team = [Persona(u, c.doc.id, "ICE", per_day=2) for u in ANALYSTS]
        team.append(Persona("mis.slow", c.doc.id, "ICE", behaviour="slow", per_day=PER_DAY["slow"]))
        who = enrol(c.store, c.gate, c.clock, c.record, team)
        with c.store.read() as conn:
            world = load_world(conn)
        simulate(c.gate, who, team, world, MONTHS[0], MONTHS[-1], c.clock, seed=seed)
        blind = OversightConfig(lookback_days=0)
        out = [
            (c.report(start=a, end=b), c.report(start=a, end=b, config=blind))
            for a, b in itertools.pairwise(MONTHS)
        ]
        out[-1][0]["html"] = render_html(c.store, out[-1][0])
        return out


@pytest.fixture(scope="module")
def monthly(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return _monthly(tmp_path_factory.mktemp("monthly"), 17)


def _slow(report: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in report["findings"] if f["user"] == "mis.slow" and f["kind"] == "origin_targeting"]


def test_every_month_after_the_first_two_flags_the_slow_campaign(
    monthly: list[tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    for n, (report, _) in enumerate(monthly):
        reach = datetime.fromisoformat(report["period"]["lookback_from"])
        assert report["period"]["lookback_days"] == 90
        assert (datetime.fromisoformat(report["period"]["from"]) - reach).days == 90
        found = _slow(report)
        if n < 2:
            continue
        assert found, (n, [(f["kind"], f["user"]) for f in report["findings"]])
        [f] = found
        assert f["statistic"]["view"] == "window", f["statistic"]["view"]
        # The window ends in the month and reaches before it.
        w = f["statistic"]["window"]
        assert w["from"] < report["period"]["from"][:10] <= w["to"]
        assert "-day window" in f["summary"]
        assert report["log"]["verified"] is True


def test_the_lookback_is_stated_in_the_html(monthly: list[tuple[dict[str, Any], dict[str, Any]]]) -> None:
    report = monthly[-1][0]
    text = re.sub(r"<[^>]+>", " ", report["html"])
    assert f"the 90 days from {report['period']['lookback_from']} were also read" in text
    assert "Lookback" in text and "mis.slow" in text


def test_without_the_lookback_the_monthly_reports_miss_it(
    monthly: list[tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    missed = [n for n, (_, blind) in enumerate(monthly) if not _slow(blind)]
    assert len(missed) >= 4, missed
    assert all(b["period"]["lookback_from"] is None for _, b in monthly)


def test_honest_analysts_are_not_flagged_in_any_month(
    monthly: list[tuple[dict[str, Any], dict[str, Any]]],
) -> None:
    for report, _ in monthly:
        assert not [(f["user"], f["kind"]) for f in report["findings"] if f["user"] in ANALYSTS]
