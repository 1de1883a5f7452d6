"""Each kind of misuse, simulated through the real gate, is found; normal analysts are not.

One synthetic city, one agreement (ICE's demo agreement: arrestees only, country of
origin withheld and forbidden as a filter), five normal analysts and one user per
kind of misuse, three months of work on a simulated clock, then the oversight
report over the log they left.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pars.clock import parse_instant
from pars.oversight.split import SECOND
from pars.simulate import ANALYSTS, EXPECTED, SPLIT, detection_world, simulate
from pars.simulate.city import city

#: Each seed's three months through the gate take about a minute and a half of CPU: more on a busy machine.
pytestmark = pytest.mark.timeout(900)


def _run(folder: Path, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report in one process, and in two (``pars.oversight.split``)."""
    with city(folder, seed=seed, arrests=2500, days=180) as c:
        team, who, world = detection_world(c.store, c.gate, c.clock, c.record, c.doc.id)
        start, end = parse_instant("2017-09-01T00:00:00-04:00"), parse_instant("2017-12-01T00:00:00-05:00")
        simulate(c.gate, who, team, world, start, end, c.clock, seed=seed)
        return c.report(processes=1), c.report(processes=2)


@pytest.fixture(scope="module", params=[11, 29], ids=lambda s: f"seed{s}")
def reports(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[dict[str, Any], dict[str, Any]]:
    return _run(tmp_path_factory.mktemp("sim"), request.param)


@pytest.fixture
def report(reports: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, Any]:
    return reports[0]


def test_a_report_in_two_processes_is_the_same_report(reports: tuple[dict[str, Any], dict[str, Any]]) -> None:
    one, two = reports
    assert json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)
    # Each process had findings of its own kinds to contribute.
    kinds = {f["kind"] for f in two["findings"]}
    assert kinds & SECOND and kinds - SECOND, kinds


@pytest.mark.parametrize("behaviour", sorted(EXPECTED))
def test_each_misuse_is_found(report: dict[str, Any], behaviour: str) -> None:
    kinds = {f["kind"] for f in report["findings"] if f["user"] == f"mis.{behaviour}"}
    assert EXPECTED[behaviour] in kinds, (behaviour, kinds)


def test_split_accounts_are_found_pooled(report: dict[str, Any]) -> None:
    pooled = [
        f
        for f in report["findings"]
        if f["kind"] == "origin_targeting"
        and f["user"] is None
        and f["statistic"].get("view") == "pooled users"
    ]
    assert pooled, [(f["kind"], f["user"]) for f in report["findings"]]
    assert len(set(SPLIT) & set(pooled[0]["statistic"]["users"])) >= 2, pooled[0]["statistic"]["users"]
    assert not set(ANALYSTS) & set(pooled[0]["statistic"]["users"])


def test_normal_analysts_are_not_flagged(report: dict[str, Any]) -> None:
    flagged = {(f["user"], f["kind"]) for f in report["findings"] if f["user"] in ANALYSTS}
    assert not flagged
    assert report["log"]["verified"] is True


def test_every_finding_says_how_it_was_seen(report: dict[str, Any]) -> None:
    kinds = set()
    for f in report["findings"]:
        kinds.add(f["kind"])
        assert f["statistic"]["seen_as"], f["kind"]
        assert f["summary"].startswith(("Seen in ", "Seen query by query")), (f["kind"], f["summary"])
    assert len(kinds) >= 7, kinds
