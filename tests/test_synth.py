"""``pars synth``: synthetic booking streams follow CONTRACT section 1 exactly,
are deterministic, and look like a city's arrests (mix, repeats, foreign-born share)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import pars.synth
from pars.cli import app
from pars.synth import CITY_TZ, ArrestSpec, Person, Profile, charge, generate, is_synthetic_ssn
from pars.synth.timeline import local_midnight

START = date(2017, 9, 1)
DAYS = 365
N = 3000

GRADES = {"F1", "F2", "F3", "F", "M1", "M2", "M3", "M", "S"}
BAIL_TYPES = {"ROR", "unsecured", "monetary", "nonmonetary", "denied"}
DISPOSITIONS = {"withdrawn", "dismissed", "held_for_court", "guilty", "not_guilty"}
PERSON_KEYS = {"last_name", "first_name", "dob", "sex", "race", "ssn", "country_of_origin", "address"}
KEYS = {
    "arrest": {"type", "event_id", "at", "arrest", "parties", "charges"},
    "charging": {"type", "event_id", "at", "arrest_id", "decision", "charges"},
    "arraignment": {"type", "event_id", "at", "arrest_id", "held_at", "bail", "commissioner"},
    "disposition": {"type", "event_id", "at", "arrest_id", "charges"},
    "release": {"type", "event_id", "at", "arrest_id", "released_at", "facility"},
    "expungement": {"type", "event_id", "at", "arrest_id", "order"},
}

runner = CliRunner()


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return [json.dumps(e, ensure_ascii=False) for e in generate(N, 11, START, DAYS)]


@pytest.fixture(scope="module")
def events(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def arrestees(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        p["person"] for e in events if e["type"] == "arrest" for p in e["parties"] if p["role"] == "arrestee"
    ]


def instant(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    assert value.utcoffset() is not None, text
    # Seconds precision with the city's own offset at that instant (DST-correct).
    assert len(text) == 25, text
    assert value.utcoffset() == value.astimezone(CITY_TZ).utcoffset(), text
    return value


def check_charges(charges: list[dict[str, Any]]) -> None:
    assert 1 <= len(charges) <= 4
    assert [c["seq"] for c in charges] == list(range(1, len(charges) + 1))
    for c in charges:
        assert set(c) == {"seq", "statute", "description", "grade"}
        assert c["grade"] in GRADES
        assert c["statute"].split(" § ")[0] in {"18", "35", "75"}


def check_person(person: dict[str, Any]) -> None:
    assert set(person) <= PERSON_KEYS
    assert person["last_name"]
    assert person["first_name"]
    if "dob" in person:
        date.fromisoformat(person["dob"])
    assert person.get("sex", "M") in {"M", "F"}
    assert person.get("race", "W") in {"W", "B", "A", "I", "P", "U"}
    country = person.get("country_of_origin", "US")
    assert len(country) == 2
    assert country.isupper()
    assert country != "PR"


# -- determinism -------------------------------------------------------------------------


def test_same_seed_same_bytes_other_seed_differs() -> None:
    args = ["synth", "--arrests", "300", "--seed", "5", "--days", "60", "-q"]
    first = runner.invoke(app, args)
    again = runner.invoke(app, args)
    other = runner.invoke(app, [*args[:4], "6", *args[5:]])
    assert first.exit_code == 0, first.output
    assert first.stdout_bytes == again.stdout_bytes
    assert first.stdout_bytes != other.stdout_bytes
    assert len(first.stdout_bytes.splitlines()) > 300


def test_the_cli_prints_what_the_api_generates() -> None:
    """``pars synth`` is the API's stream as JSON Lines, nothing added or reordered."""
    api = [json.loads(json.dumps(e)) for e in generate(200, 11, START, 30)]
    args = ["synth", "--arrests", "200", "--seed", "11", "--start", START.isoformat(), "--days", "30", "-q"]
    out = runner.invoke(app, args)
    assert out.exit_code == 0, out.output
    assert [json.loads(line) for line in out.stdout.splitlines()] == api


# -- the contract's shapes ---------------------------------------------------------------


def test_every_line_is_a_contract_event(events: list[dict[str, Any]]) -> None:
    ids = set()
    for e in events:
        kind = e["type"]
        assert kind in KEYS
        assert set(e) <= KEYS[kind]
        assert set(e) >= KEYS[kind] - {"charges"} or kind == "charging"
        instant(e["at"])
        ids.add(e["event_id"])
        if kind == "arrest":
            a = e["arrest"]
            assert set(a) == {"arrest_id", "agency", "district", "arrested_at", "arrest_type", "location"}
            assert a["agency"] in {"PPD", "SEPTA", "PHA", "TUPD"}
            assert a["arrest_type"] in {"O", "S", "T"}
            instant(a["arrested_at"])
            check_charges(e["charges"])
            for party in e["parties"]:
                assert set(party) == {"role", "person"}
                assert party["role"] in {"arrestee", "victim", "witness"}
                check_person(party["person"])
        elif kind == "charging":
            assert e["decision"] in {"approved", "declined", "modified"}
            assert ("charges" in e) == (e["decision"] == "modified")
            if "charges" in e:
                check_charges(e["charges"])
        elif kind == "arraignment":
            instant(e["held_at"])
            assert e["bail"]["type"] in BAIL_TYPES
            amount = e["bail"]["amount"]
            if e["bail"]["type"] in {"monetary", "unsecured"}:
                assert isinstance(amount, int)
                assert amount > 0
            else:
                assert amount is None
            assert e["commissioner"]
        elif kind == "disposition":
            assert all(c["disposition"] in DISPOSITIONS for c in e["charges"])
        elif kind == "release":
            instant(e["released_at"])
            assert e["facility"] in {"PDU", "CFCF", "DC", "PICC", "RCF"}
        else:
            assert e["order"].startswith("CP-51-MD-")
    assert len(ids) == len(events)


def test_each_arrest_has_one_arrestee_and_others_are_not_them(
    events: list[dict[str, Any]],
) -> None:
    arrests = [e for e in events if e["type"] == "arrest"]
    assert len(arrests) == N
    assert len({e["arrest"]["arrest_id"] for e in arrests}) == N
    with_victims = 0
    for e in arrests:
        roles = [p["role"] for p in e["parties"]]
        assert roles.count("arrestee") == 1
        arrestee = e["parties"][0]["person"]
        for p in e["parties"][1:]:
            other = p["person"]
            assert (other["last_name"], other["first_name"]) != (
                arrestee["last_name"],
                arrestee["first_name"],
            )
            assert "ssn" not in other
            assert "country_of_origin" not in other
        with_victims += "victim" in roles
    assert 0.2 < with_victims / N < 0.6


def test_stream_is_sorted_and_follow_ups_come_after_their_arrest(
    events: list[dict[str, Any]],
) -> None:
    times = [instant(e["at"]) for e in events]
    assert times == sorted(times)
    seen: dict[str, datetime] = {}
    charges: dict[str, int] = {}
    for e, at in zip(events, times, strict=True):
        if e["type"] == "arrest":
            arrest_id = e["arrest"]["arrest_id"]
            assert instant(e["arrest"]["arrested_at"]) < at
            seen[arrest_id] = at
            charges[arrest_id] = len(e["charges"])
            continue
        assert e["arrest_id"] in seen, "follow-up before its arrest"
        assert at > seen[e["arrest_id"]]
        if e["type"] == "charging" and e["decision"] == "modified":
            charges[e["arrest_id"]] = len(e["charges"])
        if e["type"] == "disposition":
            assert [c["seq"] for c in e["charges"]] == list(range(1, charges[e["arrest_id"]] + 1))


def test_window_and_horizon(events: list[dict[str, Any]]) -> None:
    first, end = local_midnight(START), local_midnight(START + timedelta(days=DAYS))
    horizon = local_midnight(START + timedelta(days=DAYS + 90))
    for e in events:
        if e["type"] == "arrest":
            assert first <= instant(e["arrest"]["arrested_at"]).timestamp() < end
        assert instant(e["at"]).timestamp() <= horizon
    offsets = {e["at"][-6:] for e in events}
    assert offsets == {"-04:00", "-05:00"}  # the window spans both DST changes


def test_event_mix_is_plausible(events: list[dict[str, Any]]) -> None:
    kinds = Counter(e["type"] for e in events)
    assert kinds["charging"] > 0.85 * N
    assert 0.5 * N < kinds["arraignment"] < N
    assert 0.4 * N < kinds["release"] < N
    assert 0.4 * N < kinds["disposition"] < 0.8 * N
    assert 0 < kinds["expungement"] < 0.05 * N
    decisions = Counter(e["decision"] for e in events if e["type"] == "charging")
    assert 0.75 < decisions["approved"] / kinds["charging"] < 0.85
    types = Counter(e["arrest"]["arrest_type"] for e in events if e["type"] == "arrest")
    assert types["T"] > types["O"] + types["S"]
    grades = Counter(e["charges"][0]["grade"] for e in events if e["type"] == "arrest")
    assert set(grades) >= {"F1", "F2", "F3", "F", "M1", "M2", "M3", "M", "S"}


# -- people ------------------------------------------------------------------------------


def test_foreign_born_share(arrestees: list[dict[str, Any]]) -> None:
    abroad = sum(1 for p in arrestees if p.get("country_of_origin", "US") != "US")
    recorded = sum(1 for p in arrestees if "country_of_origin" in p)
    assert 0.05 <= abroad / len(arrestees) <= 0.08
    assert 0.05 <= abroad / recorded <= 0.08
    assert recorded < len(arrestees)  # some arrestees have no country recorded
    assert len({p["country_of_origin"] for p in arrestees if "country_of_origin" in p}) > 8


def test_repeat_arrestees_and_identity_conflicts(arrestees: list[dict[str, Any]]) -> None:
    by_ssn: dict[str, list[dict[str, Any]]] = defaultdict(list)
    by_name_dob: Counter[tuple[str, str, str]] = Counter()
    for p in arrestees:
        if "ssn" in p:
            by_ssn[p["ssn"]].append(p)
        else:
            by_name_dob[(p["last_name"], p["first_name"], p["dob"])] += 1
    repeats = sum(len(v) - 1 for v in by_ssn.values()) + sum(n - 1 for n in by_name_dob.values())
    assert 0.15 < repeats / len(arrestees) < 0.3
    conflicts = 0
    for same in by_ssn.values():
        assert len({(p["last_name"], p["first_name"]) for p in same}) == 1
        conflicts += len({p["dob"] for p in same if "dob" in p}) > 1
    assert conflicts >= 1
    moved = sum(len({p.get("address") for p in same}) > 1 for same in by_ssn.values())
    assert moved >= 1
    assert 0.75 < sum("ssn" in p for p in arrestees) / len(arrestees) < 0.85


def test_ssns_are_never_in_issued_ranges(arrestees: list[dict[str, Any]]) -> None:
    ssns = [p["ssn"] for p in arrestees if "ssn" in p]
    assert ssns
    for ssn in ssns:
        area, group, serial = ssn.split("-")
        assert len(area) == 3
        assert len(group) == 2
        assert len(serial) == 4
        assert 900 <= int(area) <= 999  # never issued as an SSN
        assert 1 <= int(group) <= 49  # never used by an ITIN either
        assert is_synthetic_ssn(ssn)


def test_adult_arrestees(events: list[dict[str, Any]]) -> None:
    for e in events:
        if e["type"] != "arrest":
            continue
        person = e["parties"][0]["person"]
        if "dob" in person:
            age = instant(e["arrest"]["arrested_at"]).date() - date.fromisoformat(person["dob"])
            assert 18 * 365 - 5 < age.days < 72 * 366


# -- validation by the ingestion room ------------------------------------------------------


def test_every_line_validates_with_parse_event(lines: list[str]) -> None:
    from pars.records.events import Rejection, parse_event

    rejected = [(line, r) for line in lines if isinstance(r := parse_event(line), Rejection)]
    assert rejected == []


# -- injected situations -----------------------------------------------------------------


def test_profile_injects_a_fixed_arrest() -> None:
    person = Person("Quill", "Ona", date(1990, 2, 3), "F", "W", None, "HN", "12 N 5th St")
    spec = ArrestSpec(
        datetime(2017, 10, 2, 14, 30, tzinfo=CITY_TZ),
        person=person,
        charges=(charge("retail_theft", "S"),),
        decision="declined",
        arrest_type="T",
        arrest_id="A-2017-INJECTED",
        expunge_after_days=60,
    )
    plain = list(generate(200, 3, START, 60))
    events = list(generate(200, 3, START, 60, Profile(extra=(spec,))))
    mine = [
        e for e in events if "A-2017-INJECTED" in (e.get("arrest_id"), e.get("arrest", {}).get("arrest_id"))
    ]
    assert [e["type"] for e in mine] == ["arrest", "charging", "release", "expungement"]
    arrest = mine[0]
    assert arrest["arrest"]["arrested_at"] == "2017-10-02T14:30:00-04:00"
    assert arrest["parties"][0]["person"] == {
        "last_name": "Quill",
        "first_name": "Ona",
        "dob": "1990-02-03",
        "sex": "F",
        "race": "W",
        "country_of_origin": "HN",
        "address": "12 N 5th St",
    }
    assert mine[1]["decision"] == "declined"

    # The rest of the city is the same city: the injection uses its own random stream.
    def arrestees(evs: list[dict[str, Any]]) -> list[Any]:
        return [e["parties"][0] for e in evs if e["type"] == "arrest"]

    assert [p for p in arrestees(events) if p["person"]["last_name"] != "Quill"] == arrestees(plain)


def test_arrest_spec_needs_an_aware_time() -> None:
    with pytest.raises(ValueError, match="arrested_at"):
        ArrestSpec(datetime(2017, 10, 2, 14, 30))


def test_public_api_is_pinned() -> None:
    assert set(pars.synth.__all__) == {
        "CITY_TZ",
        "ArrestSpec",
        "Charge",
        "Person",
        "Profile",
        "charge",
        "generate",
        "is_synthetic_ssn",
    }


# -- the command -------------------------------------------------------------------------


def test_cli_writes_data_on_stdout_and_summary_on_stderr() -> None:
    result = runner.invoke(app, ["synth", "--arrests", "50", "--seed", "1", "--days", "30"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(json.loads(line)["type"] in KEYS for line in lines)
    assert "events/s" in result.stderr


def test_cli_out_file(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    result = runner.invoke(
        app,
        [
            "synth",
            "--arrests",
            "40",
            "--seed",
            "2",
            "--start",
            "2018-03-01",
            "--days",
            "10",
            "--out",
            str(out),
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    first = json.loads(out.read_text(encoding="utf-8").splitlines()[0])
    assert first["arrest"]["arrested_at"].startswith("2018-03-")


def test_cli_rejects_a_bad_start() -> None:
    result = runner.invoke(app, ["synth", "--arrests", "1", "--seed", "1", "--start", "soon"])
    assert result.exit_code == 2
    assert "YYYY-MM-DD" in result.output


def test_cli_help() -> None:
    result = runner.invoke(app, ["synth", "--help"])
    assert result.exit_code == 0
    assert "--arrests" in result.output
    assert "--seed" in result.output


def test_every_ssn_the_tests_use_is_synthetic() -> None:
    """README: every SSN in PARS's data, tests and demo is synthetic (area 9xx, group 01-49)."""
    import re

    from tests.factories import many

    pattern = re.compile(r"(?<![\d-])(\d{3})-?(\d{2})-?(\d{4})(?![\d-])")
    found: list[tuple[str, str]] = []
    for path in sorted(Path(__file__).parent.rglob("*.py")):
        for line in path.read_text().splitlines():
            if "ssn" in line.lower():
                found += [(path.name, "-".join(m.groups())) for m in pattern.finditer(line)]
    # many() numbers arrests from ``start``: arrests far into a run must be synthetic too,
    # at every edge where the group (each 100 arrests) or the serial (each 9,999) turns.
    edges = [*range(0, 500_000, 100), *range(99, 500_000, 100), *range(9_998, 500_000, 9_999)]
    for start in sorted({*range(1, 3001), *edges, *(e + 1 for e in edges)}):
        event = json.loads(many(1, start)[0])
        found.append(("factories.many", event["parties"][0]["person"]["ssn"]))
    assert len(found) > 3000
    assert [f for f in found if not is_synthetic_ssn(f[1])] == []
