"""The report on a real store and a real audit log (SQLite and PostgreSQL), and the CLI."""

from __future__ import annotations

import hashlib
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pars.agreements.document import parse_document
from pars.agreements.service import apply_document
from pars.audit import (
    AuditLog,
    build_entry,
    get_entry,
    inclusion_proof,
    init_log,
    iter_entries,
    log_size,
    root_at,
    verify_checkpoint,
    verify_inclusion,
)
from pars.cli import app
from pars.clock import FixedClock
from pars.errors import InvalidInput, NotFound
from pars.gate import admin_event_recorder
from pars.oversight import KINDS, build_report
from pars.store.db import Store
from pars.store.ingest import ingest_lines
from tests.factories import arrest, follow, lines, person

FIXTURES = Path(__file__).parent / "fixtures" / "agreements"
T0 = datetime(2018, 3, 1, 14, tzinfo=UTC)
NOW = datetime(2018, 9, 1, tzinfo=UTC)
ARRESTS = 60
runner = CliRunner()


def rfc6962_root(entries: list[bytes]) -> bytes:
    """RFC 6962 section 2.1's Merkle Tree Hash, written out here so the report's root
    is checked against the RFC rather than against ``pars.audit`` itself."""
    if not entries:
        return hashlib.sha256(b"").digest()
    if len(entries) == 1:
        return hashlib.sha256(b"\x00" + entries[0]).digest()
    k = 1 << ((len(entries) - 1).bit_length() - 1)  # the largest power of two below n
    return hashlib.sha256(b"\x01" + rfc6962_root(entries[:k]) + rfc6962_root(entries[k:])).digest()


def _arrest(n: int) -> dict[str, Any]:
    country = "MX" if n % 5 == 0 else ("US" if n % 7 else None)
    ssn = f"9{n % 100:02d}-{10 + n // 100:02d}-{n:04d}"
    who = person(f"Name{n}", "Pat", dob=f"19{60 + n % 30}-01-01", ssn=ssn)
    if country:
        who["country_of_origin"] = country
    ev = arrest(n, person=who, arrested_at=f"2018-02-{1 + n % 27:02d}T10:00:00-05:00")
    ev["charges"] = [{"seq": 1, "statute": "18 § 3502(a)(1)", "description": "Burglary", "grade": "F2"}]
    return ev


@pytest.fixture
def world(store: Store, tmp_path: Path) -> tuple[Store, AuditLog, str]:
    """60 felony arrests (every 5th arrestee born in Mexico), one expunged, ICE's agreement, a log."""
    events: list[dict[str, Any] | str] = [_arrest(n) for n in range(1, ARRESTS + 1)]
    events += [follow("charging", n, f"c-{n}", decision="declined") for n in range(3, ARRESTS, 4)]
    events.append(follow("expungement", 10, "x-10", order="CP-51-MD-0001-2018"))
    ingest_lines(store, lines(*events))
    clock = FixedClock(datetime(2017, 8, 1, tzinfo=UTC))
    keydir = str(tmp_path / "keys")
    init_log(store, keydir)
    applied = apply_document(
        store,
        clock,
        parse_document((FIXTURES / "ice-2017.yaml").read_text()),
        by="clerk",
        record_admin_event=admin_event_recorder(AuditLog.open(keydir, clock=clock)),
    )
    return store, AuditLog.open(keydir, clock=FixedClock(T0), checkpoint_interval=0), applied.hash


def append(store: Store, log: AuditLog, version: str, docs: list[dict[str, Any]]) -> list[int]:
    entries = []
    for i, kw in enumerate(docs):
        args: dict[str, Any] = {
            "hmac_key": log.keys.hmac_key,
            "time": T0 + timedelta(minutes=i),
            "kind": "access",
            "action": "search",
            "decision": "allow",
            "status": 200,
            "agreement_id": "ice-2017",
            "agreement_version": version,
            "agency": "ICE",
            "purpose": "C",
            "rule": "allow",
        }
        args.update(kw)
        entries.append(build_entry(**args))
    with store.write() as conn:
        return [leaf.index for leaf in log.append(conn, entries).leaves]


def aid(n: int) -> str:
    return f"A-2018-{n:06d}"


def ordinary(user: str, n: int) -> dict[str, Any]:
    return {
        "user": user,
        "action": "read",
        "filters": {"arrest_id": aid(n)},
        "arrest_ids": [aid(n)],
        "case_number": f"18-{n:05d}",
        "justification": f"Burglary investigation, case 18-{n:05d}: suspect named by the complainant",
    }


def sample(user: int) -> list[int]:
    """What an ordinary analyst reads: a third of the arrests, in no order (no enumeration)."""
    return random.Random(user).sample([n for n in range(1, ARRESTS + 1) if n != 10], 20)


def everyday() -> list[dict[str, Any]]:
    return [ordinary(f"analyst{u}", n) for u in range(3) for n in sample(u)]


def report(store: Store, log: AuditLog, **kw: Any) -> dict[str, Any]:
    return build_report(store, hmac_key=log.keys.hmac_key, now=NOW, verifier_key=log.verifier_key, **kw)


def test_a_clean_log_reports_no_findings_in_the_contract_shape(world: tuple[Store, AuditLog, str]) -> None:
    store, log, version = world
    docs = everyday()
    docs.append({"user": "analyst0", "decision": "deny", "status": 403, "rule": "search.require.case_number"})
    append(store, log, version, docs)
    r = report(store, log)
    seen = len({n for u in range(3) for n in sample(u)})
    assert set(r) >= {"generated_at", "log", "agreements", "findings"}
    assert r["generated_at"] == "2018-09-01T00:00:00+00:00"
    # the log holds the apply's admin entry (index 0) and the requests
    stored = [e.entry for e in iter_entries(store)]
    assert len(stored) == len(docs) + 1
    assert r["log"] == {
        "size": len(docs) + 1,
        "root_hex": rfc6962_root(stored).hex(),
        "verified": True,
        "checkpoint": r["log"]["checkpoint"],
        "texts": r["log"]["texts"],
    }
    assert r["log"]["texts"]["unexplained"] == 0  # tests/test_inputs.py: texts gone, explained or not
    # The report names the signed checkpoint its evidence proves against.
    _, size, root = verify_checkpoint(r["log"]["checkpoint"], log.verifier_key)
    assert (size, root.hex()) == (len(docs) + 1, r["log"]["root_hex"])
    assert r["agreements"] == [
        {
            "id": "ice-2017",
            "partner": "ICE",
            "requests": len(docs),
            "denied": 1,
            "records_seen": seen,
            "users": 3,
            "expunged_records_seen": 0,
        }
    ]
    assert r["findings"] == []
    assert r["summary"].startswith("No findings")
    assert {p["kind"] for p in r["power"]} == {"origin_targeting", "non_criminal_targeting"}
    json.dumps(r, allow_nan=False)


def test_misuse_is_found_with_provable_evidence(world: tuple[Store, AuditLog, str]) -> None:
    store, log, version = world
    docs = everyday()
    foreign = [n for n in range(1, ARRESTS + 1) if n % 5 == 0 and n != 10]
    docs += [ordinary("agent7", n) for n in foreign for _ in range(2)]
    docs += [ordinary("agent7", n) for n in (1, 2)]
    docs += [ordinary("agent7", 10)]  # an expunged arrest: counted, never shown
    docs += [
        {
            "user": "agent7",
            "decision": "deny",
            "status": 403,
            "rule": "search.forbid_filters.country_of_origin",
        }
    ] * 3
    # The factory's victim is Ann Roe; no arrestee has that name.
    docs += [
        {"user": "agent7", "filters": {"last_name": "ROE", "first_name": "ann "}, "case_number": "x"}
    ] * 2
    indices = append(store, log, version, docs)
    r = report(store, log, config=None)
    assert r["agreements"][0]["expunged_records_seen"] == 1
    kinds = {(f["kind"], f["user"]) for f in r["findings"]}
    assert ("forbidden_filter", "agent7") in kinds
    assert ("protected_role_probe", "agent7") in kinds
    assert not {user for _, user in kinds} - {"agent7", None}
    assert all(f["kind"] in KINDS and f["severity"] in ("low", "medium", "high") for f in r["findings"])
    with store.read() as conn:
        size = log_size(conn)
        root = root_at(conn, size)
        for f in r["findings"]:
            assert f["evidence"] and set(f["evidence"]) <= set(indices)
            for i in f["evidence"]:
                proof = inclusion_proof(conn, i, size)
                assert verify_inclusion(get_entry(conn, i).leaf_hash, i, size, proof, root)
    assert r["summary"].startswith(f"{len(r['findings'])} finding(s)")


def test_origin_targeting_on_the_store(world: tuple[Store, AuditLog, str]) -> None:
    store, log, version = world
    # Many distinct foreign-born people: add them, then have one user look only at them.
    more = [_arrest(n) for n in range(100, 400)]
    for ev in more:
        ev["parties"][0]["person"]["country_of_origin"] = (
            "MX" if int(ev["arrest"]["arrest_id"][-3:]) % 2 else "US"
        )
    ingest_lines(store, lines(*more))
    docs = [ordinary(f"analyst{u}", n) for u in range(3) for n in range(100, 400, 3)]
    docs += [ordinary("agent7", n) for n in range(101, 400, 2)]
    append(store, log, version, docs)
    r = report(store, log, start=datetime(2018, 1, 1, tzinfo=UTC), end=datetime(2018, 8, 31, tzinfo=UTC))
    [f] = [f for f in r["findings"] if f["kind"] == "origin_targeting" and f["user"] == "agent7"]
    assert f["statistic"]["k"] == f["statistic"]["n"] == 150
    assert f["statistic"]["ratio"] > 1.8 and f["statistic"]["p_value"] < 1e-20
    assert "exact binomial" in f["summary"]


def test_the_cli_prints_the_report(
    world: tuple[Store, AuditLog, str], store_url: str, tmp_path: Path
) -> None:
    store, log, version = world
    append(store, log, version, [ordinary("analyst0", n) for n in sample(0)])
    env = {"PARS_DATABASE_URL": store_url, "PARS_KEY_DIR": str(tmp_path / "keys")}
    out = tmp_path / "report.json"
    result = runner.invoke(
        app,
        ["oversight", "report", "--agreement", "ice-2017", "--format", "json", "--out", str(out)],
        env=env,
    )
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["log"]["verified"] is True and data["agreements"][0]["requests"] == 20
    printed = runner.invoke(app, ["oversight", "report", "--from", "2018-01-01T00:00:00+00:00"], env=env)
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.stdout)["findings"] == []
    # In two processes (pars.oversight.split): the same report.
    both = ["oversight", "report", "--from", "2018-01-01T00:00:00+00:00", "--processes"]
    one, two = (json.loads(runner.invoke(app, [*both, n], env=env).stdout) for n in ("1", "2"))
    assert {**one, "generated_at": ""} == {**two, "generated_at": ""} and one["agreements"][0][
        "requests"
    ] == 20
    assert runner.invoke(app, [*both, "3"], env=env).exit_code == 2
    unknown = runner.invoke(app, ["oversight", "report", "--agreement", "nope"], env=env)
    assert isinstance(unknown.exception, NotFound)
    html = runner.invoke(app, ["oversight", "report", "--format", "html"], env=env)
    assert html.exit_code == 0 and html.stdout.startswith("<!DOCTYPE html>")  # tests/test_oversight_html.py
    bad = runner.invoke(app, ["oversight", "report", "--from", "yesterday"], env=env)
    # ``pars.cli.main`` turns the domain error into exit code 2 and this message.
    assert isinstance(bad.exception, InvalidInput) and str(bad.exception).startswith("--from:")
    settings = tmp_path / "oversight.yaml"
    settings.write_text("min_people: 5\nforbidden_min: 1\n")
    tuned = runner.invoke(app, ["oversight", "report", "--config", str(settings)], env=env)
    assert tuned.exit_code == 0, tuned.output
    settings.write_text("forbiden_min: 1\n")
    typo = runner.invoke(app, ["oversight", "report", "--config", str(settings)], env=env)
    assert isinstance(typo.exception, InvalidInput) and "forbiden_min" in str(typo.exception)


def test_every_agreement_is_listed_even_before_any_request(world: tuple[Store, AuditLog, str]) -> None:
    store, log, _ = world
    r = report(store, log)
    assert r["log"]["verified"] is True
    assert [(a["id"], a["partner"], a["requests"], a["users"]) for a in r["agreements"]] == [
        ("ice-2017", "ICE", 0, 0)
    ]
    assert r["findings"] == [] and r["summary"].startswith("No findings: 0 requests")
