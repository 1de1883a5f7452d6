"""The story end to end: partner requests through the real gate, then the report.

Five analysts look people up as their cases lead them; agent7 looks up people born
abroad, tries the forbidden country-of-origin filter, looks for a victim and writes
immigration reasons under a criminal-investigation agreement. The report must name
agent7 for exactly those kinds, name nobody else, and prove every piece of evidence.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pars.agreements.document import parse_document
from pars.agreements.service import apply_document
from pars.audit import AuditLog, get_entry, inclusion_proof, init_log, log_size, root_at, verify_inclusion
from pars.clock import FixedClock
from pars.gate import Gate, admin_event_recorder, issue_token
from pars.oversight import build_report
from pars.store.db import Store
from pars.store.ingest import ingest_lines
from tests.factories import approve_as, arrest, lines, person, register_parties
from tests.test_oversight_detectors import CRIMES, DETAILS, STREETS

FIXTURES = Path(__file__).parent / "fixtures" / "agreements"
ARRESTS = 240
ABROAD = ("MX", "GT", "SV", "HN", "DO", "CN", "VN", "IN")


def booking(n: int, rng: random.Random) -> dict[str, Any]:
    country = rng.choice(ABROAD) if rng.random() < 0.2 else "US"
    who = person(f"Name{n}", "Pat", dob="1985-05-05", ssn=f"9{n % 100:02d}-{10 + n // 100:02d}-{n:04d}",
                 country_of_origin=country)  # fmt: skip
    ev = arrest(n, person=who, arrested_at=f"2018-0{1 + n % 5}-{1 + n % 27:02d}T10:00:00-05:00")
    ev["charges"] = [{"seq": 1, "statute": "18 § 3502(a)(1)", "description": "Burglary", "grade": "F2"}]
    return ev


@pytest.fixture
def city(store: Store, tmp_path: Path) -> tuple[Store, Gate, AuditLog, dict[str, list[int]]]:
    rng = random.Random(7)
    events = [booking(n, rng) for n in range(1, ARRESTS + 1)]
    ingest_lines(store, lines(*events))
    abroad = [n for n, ev in enumerate(events, 1) if ev["parties"][0]["person"]["country_of_origin"] != "US"]
    clock = FixedClock(datetime(2018, 6, 1, 9, tzinfo=UTC))
    keydir = str(tmp_path / "keys")
    init_log(store, keydir)
    log = AuditLog.open(keydir, clock=clock)
    rec = admin_event_recorder(log)
    register_parties(store, clock, rec)
    apply_document(store, clock, parse_document((FIXTURES / "ice-2017.yaml").read_text()), by="clerk",
                   record_admin_event=rec)  # fmt: skip
    for role in ("courts", "police"):
        approve_as(store, clock, "ice-2017", role, rec)
    return store, Gate(store, log, clock), log, {"abroad": abroad, "all": list(range(1, ARRESTS + 1))}


def test_the_partner_who_targets_people_born_abroad_is_named_with_proof(
    city: tuple[Store, Gate, AuditLog, dict[str, list[int]]],
) -> None:
    store, gate, log, pools = city
    rng = random.Random(1)
    clock = log.clock
    assert isinstance(clock, FixedClock)
    people = {}
    for user in ["analyst0", "analyst1", "analyst2", "analyst3", "analyst4", "agent7"]:
        token, _ = issue_token(
            store, log.clock, role="partner", user=user, agreement_id="ice-2017",
            record_admin_event=admin_event_recorder(log),
        )  # fmt: skip
        people[user] = gate.authenticate(token)

    def search(user: str, n: int, why: str, case: str, **filters: Any) -> None:
        body = {"purpose": "C", "case_number": case, "justification": why,
                "filters": filters or {"last_name": f"Name{n}", "first_name": "Pat"}}  # fmt: skip
        gate.search(people[user], body)
        clock.set(clock.now() + timedelta(minutes=7))

    for k in range(60):
        for u in range(5):
            n = rng.choice(pools["all"])
            search(
                f"analyst{u}",
                n,
                f"{rng.choice(CRIMES)} investigation, case 18-{u}{k:03d}: {rng.choice(DETAILS)} "
                f"near {rng.choice(STREETS)}",
                f"18-{u}{k:03d}",
            )
        n = rng.choice(pools["abroad"])
        why = (
            "ICE detainer review for removal proceedings"
            if k % 3 == 0
            else f"Narcotics tip {k} from informant"
        )
        search("agent7", n, why, f"E-{k:03d}")
    for _ in range(3):
        search("agent7", 0, "Narcotics tip", "E-999", country_of_origin="MX")
    for _ in range(2):
        search("agent7", 0, "Narcotics tip", "E-998", last_name="Roe", first_name="Ann")  # the victim

    r = build_report(store, hmac_key=log.keys.hmac_key, now=clock.now(), verifier_key=log.verifier_key)
    assert r["log"]["verified"] is True
    named = {(f["kind"], f["user"]) for f in r["findings"]}
    assert {
        ("origin_targeting", "agent7"),
        ("forbidden_filter", "agent7"),
        ("protected_role_probe", "agent7"),
        ("purpose_mismatch", "agent7"),
    } <= named
    assert {user for _, user in named} <= {"agent7", None}, r["findings"]
    [origin] = [f for f in r["findings"] if f["kind"] == "origin_targeting" and f["user"] == "agent7"]
    assert origin["statistic"]["k"] == origin["statistic"]["n"] and origin["statistic"]["ratio"] > 3
    for f in r["findings"]:
        assert (
            f["period"]["from"] <= f["period"]["to"]
            and "The requests cited date from 2018-06-" in f["summary"]
        )
    with store.read() as conn:
        size = log_size(conn)
        root = root_at(conn, size)
        for f in r["findings"]:
            for i in f["evidence"]:
                doc = get_entry(conn, i).document()
                assert doc["agreement_id"] == f["agreement_id"], (f["kind"], i)
                if f["user"] is not None:
                    assert doc["user"] == f["user"], (f["kind"], i)
                entry = get_entry(conn, i)
                assert verify_inclusion(entry.leaf_hash, i, size, inclusion_proof(conn, i, size), root)
