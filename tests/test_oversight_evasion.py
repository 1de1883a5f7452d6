"""Oversight against a partner who knows the detectors (issue 12), on hand-built streams.

Each test adds one evasion to a city of ordinary analysts (``make_world``) and checks
the detector that should see it does, and that the analysts stay unflagged.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from pars.audit import keyed_hash
from pars.oversight import Finding
from pars.oversight.html import stat_rows
from pars.oversight.strata import Cell, Strata
from tests.test_oversight_detectors import AGREEMENT, KEY, World, make_world, of, run


def _deny(world: World, user: str, rule: str, violations: list[str]) -> int:
    return world.add(user=user, decision="deny", status=403, rule=rule, violations=violations)


def test_a_forbidden_filter_behind_a_misspelling_counts() -> None:
    world = make_world(41)
    both = ["filters.unknown", "search.forbid_filters.country_of_origin"]
    hidden = [_deny(world, "agent7", "filters.unknown.lname", both) for _ in range(3)]
    findings = run(world)
    [f] = of(findings, "forbidden_filter")
    assert sorted(f.evidence) == hidden
    assert f.statistic["rules"] == {"search.forbid_filters.country_of_origin": 3}
    assert f.summary.startswith("Seen in the gate's denials: every clause each denied request broke")
    assert "misspelt field names alone left out" in f.statistic["seen_as"]


def test_a_request_counts_for_every_kind_it_shows() -> None:
    world = make_world(42)
    both = ["term.end", "search.forbid_filters.country_of_origin"]
    idx = [_deny(world, "agent7", "term.end", both) for _ in range(2)]
    findings = run(world)
    assert sorted(of(findings, "out_of_term_access")[0].evidence) == idx
    assert sorted(of(findings, "forbidden_filter")[0].evidence) == idx


def _surname_world(seed: int) -> World:
    world = make_world(seed)
    f = world.facts
    # One victim shares the surname "Someone" with arrestees.
    victims = [last for last, _ in world.victims] + ["Someone"]
    f.protected_last_names = frozenset(keyed_hash("last_name", last, KEY) for last in victims)
    f.arrestee_last_names = frozenset({keyed_hash("last_name", "Someone", KEY)})
    return world


def test_victim_probes_by_surname_alone() -> None:
    world = _surname_world(43)
    idx = [
        world.add(user="agent7", justification="Robbery investigation, case 1: named by the complainant",
                  filters={"last_name": last})
        for last, _ in world.victims[:3]
    ]  # fmt: skip
    # A surname an arrestee also has is never a probe.
    why = "Theft investigation, case 2: x y"
    world.add(user="agent7", filters={"last_name": "Someone"}, justification=why)
    findings: list[Finding] = run(world)
    [f] = of(findings, "protected_role_probe")
    assert sorted(f.evidence) == idx
    assert "name alone" in str(f.statistic["rules"])
    assert "surname or first name alone" in f.summary and f.summary.startswith(
        "Seen in denials for party roles"
    )


def _aimed(world: World, user: str, pool: list[str], n: int, share: float) -> list[int]:
    out = []
    for _ in range(n):
        case, text = world.new_case()
        aid = world.rng.choice(pool) if world.rng.random() < share else world.rng.choice(world.ids)
        out.append(world.add(user=user, case_number=case, justification=text, arrest_ids=[aid],
                             filters={"last_name": "Someone", "first_name": "Pat"}))  # fmt: skip
    return out


def _broad(world: World, user: str, n: int, per: int = 3) -> None:
    for k in range(n):
        case, text = world.new_case()
        got = world.rng.sample(world.ids, per)
        world.add(user=user, case_number=case, justification=text, arrest_ids=got,
                  filters={"district": str(k % 24 + 1), "arrested_from": "2018-01-01"})  # fmt: skip


def test_dilution_by_broad_searches_hides_nothing() -> None:
    world = make_world(44)
    _aimed(world, "agent7", world.foreign, 40, 0.8)
    _broad(world, "agent7", 300)
    findings = run(world)
    [f] = of(findings, "origin_targeting")
    assert f.statistic["view"] == "aimed access" and f.statistic["n"] <= 40
    assert "broad searches excluded" in f.summary
    # The whole of what it saw is not enough to flag it: the broad sweeps dilute it.
    assert f.statistic["share"] > 0.6
    assert not [g for g in findings if g.kind == "origin_targeting" and g.user not in ("agent7", None)]


def test_splitting_over_accounts_is_pooled() -> None:
    world = make_world(45, users=10)
    temps = [f"temp{u}" for u in range(4)]
    for user in temps:
        _aimed(world, user, world.foreign, 7, 0.7)  # each under min_people
    findings = run(world)
    [f] = of(findings, "origin_targeting", None)
    assert f.statistic["view"] == "pooled users"
    pooled = set(f.statistic["users"])
    assert pooled <= set(temps) and len(pooled) >= 3, pooled
    assert "pooled" in f.summary
    assert not [g for g in findings if g.kind == "origin_targeting" and g.user is not None]


def _solo(world: World) -> str:
    """A second agreement, same scope, with a single user."""
    solo = "solo-2018"
    world.facts.baselines[solo] = world.facts.baselines["ice-2017"]
    world.facts.purposes[(solo, "ab" * 32)] = frozenset({"C"})
    return solo


def test_scraping_by_search_in_a_single_user_agency() -> None:
    world = make_world(46)
    solo = _solo(world)
    day = datetime(2018, 3, 5, 9, tzinfo=UTC)
    sweep = []
    for k in range(300):
        start = date(2017, 1, 1) + timedelta(days=2 * k)
        case, text = world.new_case()
        sweep.append(
            world.add(agreement_id=solo, user="scraper", time=day + timedelta(seconds=20 * k),
                      case_number=case, justification=text, arrest_ids=world.rng.sample(world.ids, 8),
                      filters={"arrested_from": start.isoformat(),
                               "arrested_to": (start + timedelta(days=2)).isoformat()})
        )  # fmt: skip
    findings = run(world)
    [f] = of(findings, "bulk_access", "scraper")
    assert f.agreement_id == solo and f.severity == "high"
    s = f.statistic
    assert s["max_people_per_day"] > 1000 and s["longest_date_sweep"] == 300 and s["coverage"] > 0.4
    assert "date windows in sequence" in f.summary and "on 2018-03-05" in f.summary
    assert f.summary.startswith("Seen in every access it chose (searches and reads, narrow and broad alike)")
    assert set(f.evidence) <= set(sweep)
    assert not [g for g in findings if g.user and g.user.startswith("analyst")]


def test_a_feed_replay_is_the_subscribers_bulk_access() -> None:
    world = make_world(47)
    day = datetime(2018, 3, 6, 9, tzinfo=UTC)
    for k, aid in enumerate(world.ids[:1500]):
        world.add(user="sub", action="feed", arrest_ids=[aid], purpose=None, time=day + timedelta(seconds=k))
    # An ordinary day of the feed is not.
    for k, aid in enumerate(world.ids[1500:1600]):
        world.add(user="calm", action="feed", arrest_ids=[aid], purpose=None, time=day + timedelta(seconds=k))
    findings = run(world)
    [f] = of(findings, "bulk_access", "sub")
    assert f.statistic["feed_max_people_per_day"] > 1000 and "replay" in f.summary
    assert not of(findings, "bulk_access", "calm")


def test_a_burst_inside_a_long_period_is_found_in_its_window() -> None:
    world = make_world(48)
    t0 = datetime(2018, 2, 1, 10, tzinfo=UTC)
    # Five months of honest lookups, then ten days aimed at people born abroad.
    why = {"filters": {"last_name": "Someone"}, "justification": "Theft investigation, case 3: x y"}
    for k in range(600):
        aid = world.rng.choice(world.ids)
        world.add(user="agent7", time=t0 + timedelta(hours=6 * k), arrest_ids=[aid], **why)
    burst = []
    for k in range(40):
        aid = world.rng.choice(world.foreign) if world.rng.random() < 0.8 else world.rng.choice(world.ids)
        at = t0 + timedelta(days=151, hours=6 * k)
        burst.append(world.add(user="agent7", time=at, arrest_ids=[aid], **why))
    findings = run(world)
    [f] = of(findings, "origin_targeting")
    s = f.statistic
    assert s["view"] == "window" and s["window"]["days"] in (30, 90)
    assert s["window"]["from"] <= "2018-07-02" <= s["window"]["to"]
    assert "-day window" in f.summary
    assert set(f.evidence) & set(burst)
    change = s["change_point"]
    assert change["share_after"] > 0.5 > change["share_before"]
    assert 10 <= change["people_after"] <= 60


def _strata(world: World, rates: dict[str, float], days: int = 400) -> None:
    """Each district's people in scope per day, at its own foreign-born rate (20 people a day)."""
    first = date(2017, 6, 1).toordinal()
    cells: dict[tuple[str | None, int], Cell] = {}
    for district, rate in rates.items():
        for d in range(days):
            foreign = round(20 * rate) if d % 2 else int(20 * rate)
            cells[(district, first + d)] = Cell(20, foreign, 20, 5)
    world.facts.strata[AGREEMENT] = Strata(cells)


def _sweeps(world: World, user: str, district: str, share: float, n: int, extra: dict[str, str]) -> list[int]:
    """District sweeps over two weeks, each returning 4 people, ``share`` of them born abroad."""
    home = [a for a in world.ids if a not in set(world.foreign)]
    out = []
    for k in range(n):
        case, text = world.new_case()
        got = [world.rng.choice(world.foreign if world.rng.random() < share else home) for _ in range(4)]
        start = date(2017, 9, 1) + timedelta(days=3 * k)
        filters = {"district": district, "arrested_from": start.isoformat(),
                   "arrested_to": (start + timedelta(days=14)).isoformat(), **extra}  # fmt: skip
        out.append(
            world.add(user=user, case_number=case, justification=text, arrest_ids=got, filters=filters)
        )
    return out


def test_a_sweep_that_selects_on_a_proxy_is_seen_query_by_query() -> None:
    world = make_world(49)
    _strata(world, {"9": 0.05, "3": 0.6, "1": 0.2})
    # District 9 holds few people born abroad; agent7's sweeps there, narrowed by a filter that
    # stands in for origin, return a quarter of them: barely above the scope's 20%, so the whole
    # of its access against the scope shows nothing; against district 9's own 5% it does.
    idx = _sweeps(world, "agent7", "9", 0.25, 60, {"race": "W"})
    findings = run(world)
    [f] = of(findings, "origin_targeting")
    s = f.statistic
    assert s["view"] == "per query" and s["share"] < 0.3
    assert 0.04 < s["baseline_share"] < 0.06 and s["expected"] == pytest.approx(s["n"] * s["baseline_share"])
    assert s["z"] > 5 and "Hoeffding" in s["test"]
    assert "Seen query by query" in f.summary and "against 5% expected" in f.summary
    rows = dict(stat_rows(f.statistic))
    assert rows["how it was seen"].startswith("each query against the base rate of its own filter")
    assert "expected count, each query at its own filter's base rate (E)" in rows
    assert set(f.evidence) <= set(idx)
    assert not [g for g in findings if g.kind == "origin_targeting" and g.user not in ("agent7", None)]


def test_an_honest_sweep_of_a_district_where_many_were_born_abroad_is_not_flagged() -> None:
    world = make_world(50)
    _strata(world, {"9": 0.05, "3": 0.6, "1": 0.2})
    # District 3's own mix: 60% born abroad, three times the scope's share.
    _sweeps(world, "agent7", "3", 0.6, 60, {})
    findings = run(world)
    assert not of(findings, "origin_targeting"), [f.summary for f in of(findings, "origin_targeting")]
