"""Each detector on hand-built entry streams: it finds its injected misuse, and it
flags nobody in a world of analysts working ordinary cases (several seeds)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pars.audit import build_entry, keyed_hash
from pars.audit.texts import with_texts
from pars.oversight import ArrestFact, Finding, OversightConfig, RecordFacts, find
from pars.oversight.facts import baseline

KEY = b"k" * 32
AGREEMENT = "ice-2017"
VERSION = "ab" * 32
T0 = datetime(2018, 1, 2, 9, tzinfo=UTC)
CRIMES = ["Burglary", "Robbery", "Aggravated assault", "Theft", "Fraud", "Narcotics", "Arson", "Carjacking"]
DETAILS = [
    "suspect named by the complainant",
    "prior address matches the scene",
    "vehicle registered to the subject",
    "co-defendant statement",
    "fingerprint hit from the lab",
    "surveillance video identification",
    "pawn shop record",
    "phone records link",
]
STREETS = [
    "Allegheny Ave",
    "Market St",
    "Broad St",
    "Girard Ave",
    "Kensington Ave",
    "Lehigh Ave",
    "Frankford Ave",
    "Spring Garden St",
    "Passyunk Ave",
    "Germantown Ave",
    "Ridge Ave",
    "Baltimore Ave",
    "Castor Ave",
    "Roosevelt Blvd",
    "Cottman Ave",
    "Torresdale Ave",
    "Lancaster Ave",
    "Chestnut St",
    "Walnut St",
    "Snyder Ave",
]


@dataclass
class World:
    """A city's arrests as facts, and a stream of audit entries about them."""

    rng: random.Random
    facts: RecordFacts
    ids: list[str]
    foreign: list[str]
    non_criminal: list[str]
    victims: list[tuple[str, str]]
    entries: list[dict[str, Any]] = field(default_factory=list)
    minute: int = 0
    case_seq: int = 0

    def add(self, **kw: Any) -> int:
        self.minute += 1
        args: dict[str, Any] = {
            "hmac_key": KEY,
            "time": T0 + timedelta(minutes=10 * self.minute),
            "kind": "access",
            "action": "search",
            "decision": "allow",
            "status": 200,
            "agreement_id": AGREEMENT,
            "agreement_version": VERSION,
            "agency": "ICE",
            "purpose": "C",
            "rule": "allow",
        }
        args.update(kw)
        if args["decision"] != "allow" and "rule" not in kw:
            args["rule"] = "purposes"
        entry = build_entry(**args)
        # As the report reads it: free text opened from its commitments (pars.audit.texts).
        self.entries.append(with_texts(dict(entry.document), entry.texts))
        return len(self.entries) - 1

    def stream(self) -> Iterator[tuple[int, dict[str, Any]]]:
        return iter(enumerate(self.entries))

    def new_case(self) -> tuple[str, str]:
        self.case_seq += 1
        case = f"18-{self.case_seq:05d}"
        rng = self.rng
        crime, detail, street = rng.choice(CRIMES), rng.choice(DETAILS), rng.choice(STREETS)
        text = f"{crime} investigation, case {case}: {detail} near {street}"
        return case, text

    def normal_user(self, user: str, requests: int) -> None:
        """An analyst working cases: a few people per case, stated reasons, few mistakes."""
        rng = self.rng
        done = 0
        while done < requests:
            case, text = self.new_case()
            for _ in range(rng.randint(1, 5)):
                done += 1
                roll = rng.random()
                common = {"user": user, "case_number": case, "justification": text}
                if roll < 0.25:
                    aid = rng.choice(self.ids)
                    self.add(action="read", filters={"arrest_id": aid}, arrest_ids=[aid], **common)
                elif roll < 0.33:
                    name = f"Nobody{rng.randrange(10**6)}"
                    self.add(filters={"last_name": name, "first_name": "Pat"}, **common)
                elif roll < 0.335:
                    self.add(decision="deny", status=403, rule="filters.unknown.lastname", **common)
                else:
                    got = rng.sample(self.ids, rng.randint(1, 3))
                    self.add(filters={"last_name": "Someone", "first_name": "Pat"}, arrest_ids=got, **common)


def make_world(seed: int, n: int = 3000, users: int = 8, requests: int = 300) -> World:
    rng = random.Random(seed)
    arrests: dict[str, ArrestFact] = {}
    persons = [f"P{i:05d}" for i in range(int(n * 0.8))]
    born_abroad = {p for p in persons if rng.random() < 0.2}
    for i in range(n):
        person = rng.choice(persons)
        arrests[f"A-2018-{i:06d}"] = ArrestFact(person, person in born_abroad, rng.random() < 0.25)
    victims = [(f"Victim{i}", "Ann") for i in range(50)]
    facts = RecordFacts(
        arrests=arrests,
        baselines={AGREEMENT: baseline(arrests)},
        protected_persons=frozenset(f"V{i:05d}" for i in range(50)),
        protected_names=frozenset(
            (keyed_hash("last_name", last, KEY), keyed_hash("first_name", first, KEY))
            for last, first in victims
        ),
        arrestee_names=frozenset(
            {(keyed_hash("last_name", "Someone", KEY), keyed_hash("first_name", "Pat", KEY))}
        ),
        purposes={(AGREEMENT, VERSION): frozenset({"C"})},
        partners={AGREEMENT: "ICE"},
    )
    ids = sorted(arrests)
    world = World(
        rng,
        facts,
        ids,
        [a for a in ids if arrests[a].foreign_born],
        [a for a in ids if arrests[a].non_criminal],
        victims,
    )
    for u in range(users):
        world.normal_user(f"analyst{u}", rng.randint(requests // 2, requests * 3 // 2))
    return world


def run(world: World, config: OversightConfig | None = None) -> list[Finding]:
    findings, _ = find(world.stream(), world.facts, config or OversightConfig())
    return findings


def of(findings: list[Finding], kind: str, user: str | None = "agent7") -> list[Finding]:
    return [f for f in findings if f.kind == kind and f.user == user]


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_ordinary_analysts_are_not_flagged(seed: int) -> None:
    findings = run(make_world(seed))
    assert findings == [], [(f.kind, f.user, f.summary) for f in findings]


@pytest.mark.parametrize("seed", [31, 32])
def test_busy_analysts_on_a_small_store_are_not_flagged(seed: int) -> None:
    # ~1,500 requests each over 600 arrests: consecutive numbers, repeated case templates
    # and typos all occur by chance; none of it is enumeration, reuse or probing.
    findings = run(make_world(seed, n=600, users=6, requests=1500))
    assert findings == [], [(f.kind, f.user, f.summary) for f in findings]


def test_enumeration_needs_reads_in_sequence() -> None:
    world = make_world(33)
    numbers = list(range(200, 260))
    world.rng.shuffle(numbers)
    for n in numbers:
        aid = f"A-2018-{n:06d}"
        why = f"Theft investigation, case {n}: pawn shop record"
        world.add(
            user="agent7", action="read", filters={"arrest_id": aid}, arrest_ids=[aid], justification=why
        )
    assert not of(run(world), "bulk_access")


def targeted_user(world: World, pool: list[str], requests: int = 150, share: float = 0.8) -> list[int]:
    hits = []
    for _ in range(requests):
        case, text = world.new_case()
        aid = world.rng.choice(pool) if world.rng.random() < share else world.rng.choice(world.ids)
        i = world.add(user="agent7", case_number=case, justification=text, arrest_ids=[aid],
                      filters={"last_name": "Someone", "first_name": "Pat"})  # fmt: skip
        if aid in pool:
            hits.append(i)
    return hits


def test_origin_targeting_finds_the_user_and_lists_the_requests() -> None:
    world = make_world(11)
    hits = targeted_user(world, world.foreign)
    findings = run(world)
    [f] = of(findings, "origin_targeting")
    assert f.severity == "high"
    assert f.statistic["ratio"] > 3 and f.statistic["q_value"] < 1e-6
    assert f.statistic["ratio_ci"][0] > 2
    assert set(f.evidence) <= set(hits) and len(f.evidence) == 50
    assert "born outside the United States" in f.summary and "agent7" in f.summary
    assert not [g for g in findings if g.kind == "origin_targeting" and g.user not in ("agent7", None)]


def test_expunged_records_are_counted_not_shown() -> None:
    world = make_world(12)
    targeted_user(world, world.foreign)
    gone = world.foreign[:5]
    world.facts.expunged = frozenset(gone)
    for aid in gone:
        world.add(user="agent7", arrest_ids=[aid], justification="Theft investigation, case 1: x y",
                  filters={"last_name": "Someone", "first_name": "Pat"})  # fmt: skip
    [f] = of(run(world), "origin_targeting")
    assert f.statistic["excluded_expunged"] == 5
    assert not any(world.entries[i]["arrest_ids"][0] in gone for i in f.evidence)


def test_non_criminal_targeting_and_searches_for_people_never_arrested() -> None:
    world = make_world(13)
    targeted_user(world, world.non_criminal)
    [f] = of(run(world), "non_criminal_targeting")
    assert f.statistic["ratio"] > 2.5
    world = make_world(14)
    for k in range(80):
        case, text = world.new_case()
        world.add(user="agent8", case_number=case, justification=text,
                  filters={"last_name": f"Ghost{k}", "first_name": "Pat"})  # fmt: skip
    [g] = of(run(world), "non_criminal_targeting", "agent8")
    assert g.statistic["empty_searches"]["empty"] == 80
    assert "matched no arrest" in g.summary


def test_protected_role_probe() -> None:
    world = make_world(15)
    idx = []
    for last, first in world.victims[:4]:
        case, text = world.new_case()
        idx.append(world.add(user="agent7", case_number=case, justification=text,
                             filters={"last_name": last, "first_name": first}))  # fmt: skip
    idx.append(
        world.add(user="agent7", decision="deny", status=403, rule="fields.hidden_filter.parties.role")
    )
    idx.append(
        world.add(user="agent7", action="read", status=404, decision="allow", filters={"arrest_id": "V00003"})
    )
    [f] = of(run(world), "protected_role_probe")
    assert sorted(f.evidence) == idx
    assert f.statistic["count"] == 6 and f.severity == "medium"


def test_forbidden_filter_and_out_of_term() -> None:
    world = make_world(16)
    forbidden = [
        world.add(user="agent7", decision="deny", status=403, rule="search.forbid_filters.country_of_origin")
        for _ in range(6)
    ]
    late = [world.add(user="agent9", decision="deny", status=403, rule="term.end") for _ in range(3)]
    findings = run(world)
    [f] = of(findings, "forbidden_filter")
    assert sorted(f.evidence) == forbidden and f.severity == "medium"
    [g] = of(findings, "out_of_term_access", "agent9")
    assert sorted(g.evidence) == late
    # The agency is not reported again for the same conduct.
    assert not of(findings, "forbidden_filter", None)


def test_forbidden_filter_is_found_when_spread_over_accounts() -> None:
    world = make_world(17)
    for u in range(4):
        world.add(
            user=f"temp{u}", decision="deny", status=403, rule="search.forbid_filters.country_of_origin"
        )
    [f] = of(run(world), "forbidden_filter", None)
    assert f.statistic["count"] == 4


def test_bulk_access_enumeration_volume_and_case_scraping() -> None:
    world = make_world(18)
    run_idx = [
        world.add(user="agent7", action="read", filters={"arrest_id": f"A-2018-{n:06d}"},
                  arrest_ids=[f"A-2018-{n:06d}"], justification="Robbery investigation, case 9: lab hit x")
        for n in range(100, 140)
    ]  # fmt: skip
    for k in range(3000):
        aid = world.rng.choice(world.ids)
        world.add(user="agent8", arrest_ids=[aid], case_number="18-99999",
                  justification=f"Fraud investigation, case 18-99999, lead {k}")  # fmt: skip
    findings = run(world)
    [f] = of(findings, "bulk_access")
    assert f.statistic["longest_run"] == 40 and set(run_idx[:40]) >= set(f.evidence)
    [g] = of(findings, "bulk_access", "agent8")
    assert g.statistic["volume_robust_z"] > 10 and g.statistic["max_people_per_case"] > 200
    assert g.severity == "high"


def test_vague_and_reused_justifications() -> None:
    world = make_world(19)
    for _ in range(60):
        world.add(user="agent7", arrest_ids=[world.rng.choice(world.ids)], justification="Investigation")
    for k in range(60):
        world.add(user="agent8", arrest_ids=[world.rng.choice(world.ids)], case_number=f"c{k}",
                  justification="Subject of interest in an ongoing narcotics matter, see file")  # fmt: skip
    findings = run(world)
    [f] = of(findings, "vague_justification")
    assert f.statistic["vague"] == 60 and f.severity == "high"
    [g] = of(findings, "vague_justification", "agent8")
    assert g.statistic["max_people_per_reason"] >= 30 and "same reason" in g.summary


def test_purpose_mismatch() -> None:
    world = make_world(20)
    idx = [
        world.add(user="agent7", arrest_ids=[world.rng.choice(world.foreign)], case_number=f"R{k}",
                  justification=f"ICE detainer review for removal proceedings, alien file {k}")
        for k in range(8)
    ]  # fmt: skip
    idx.append(world.add(user="agent7", decision="deny", status=403, rule="purposes", purpose="IMM"))
    [f] = of(run(world), "purpose_mismatch")
    assert sorted(f.evidence) == idx
    assert f.statistic["permitted"] == {"C": "criminal investigation"}
    assert "immigration enforcement" in str(f.statistic["rules"])


def test_power_is_stated_for_each_test() -> None:
    world = make_world(21)
    _, power = find(world.stream(), world.facts, OversightConfig())
    assert {p["kind"] for p in power} == {"origin_targeting", "non_criminal_targeting"}
    for p in power:
        assert 1.0 < p["agency"]["test_min_ratio"] < 1.3
        assert p["agency"]["min_ratio"] == OversightConfig().min_ratio
        assert p["median_user"]["test_min_ratio"] > p["agency"]["test_min_ratio"]


def test_feed_deliveries_are_not_anyones_choice() -> None:
    world = make_world(22)
    for aid in world.foreign[:200]:
        world.add(user="agent7", action="feed", arrest_ids=[aid], purpose=None, rule="allow")
        world.add(user=None, action="feed", arrest_ids=[aid], purpose=None, rule="allow")
    findings = run(world)
    assert findings == [], [(f.kind, f.user) for f in findings]


def test_typos_count_only_in_numbers_and_are_then_listed() -> None:
    world = make_world(23)
    for _ in range(12):
        world.add(user="agent7", decision="deny", status=403, rule="filters.unknown.ssn_last4")
    for _ in range(3):
        world.add(user="agent8", decision="deny", status=403, rule="fields.hidden_filter.person.ssn")
    world.add(user="agent8", decision="deny", status=403, rule="filters.unknown.lastname")
    findings = run(world)
    [f] = of(findings, "forbidden_filter")
    assert f.statistic["rules"] == {"filters.unknown.ssn_last4": 12} and len(f.evidence) == 12
    [g] = of(findings, "forbidden_filter", "agent8")
    assert g.statistic["rules"] == {"fields.hidden_filter.person.ssn": 3} and len(g.evidence) == 3
    assert "other user(s) made" in g.summary


def test_one_resolution_shared_by_every_detector_finds_what_each_finds_alone() -> None:
    """The report resolves each entry once and hands it to every detector: that must find
    exactly what each detector finds reading the raw entries alone (none may alter it)."""
    from pars.oversight.model import run as run_alone
    from pars.oversight.report import detectors

    world = make_world(21)
    targeted_user(world, world.foreign)
    targeted_user(world, world.non_criminal)
    for _ in range(6):
        world.add(user="agent7", decision="deny", status=403, rule="search.forbid_filters.country_of_origin")
    for n in range(100, 140):
        world.add(user="agent9", action="read", filters={"arrest_id": f"A-2018-{n:06d}"},
                  arrest_ids=[f"A-2018-{n:06d}"], justification="Investigation")  # fmt: skip
    config = OversightConfig()
    shared, _ = find(world.stream(), world.facts, config)
    alone = [f for d in detectors(world.facts, config) for f in run_alone(d, world.stream())]
    assert {f.kind for f in shared} >= {"origin_targeting", "forbidden_filter", "bulk_access"}
    key = lambda f: (f.kind, f.user or "")  # noqa: E731
    assert sorted(shared, key=key) == sorted(alone, key=key)
