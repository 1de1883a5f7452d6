"""Offline evidence (CONTRACT 9.4): an entry's tlog-proof@v1, bundles, and checking them with
nothing but the public keys — on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import insert
from typer.testing import CliRunner

from pars.audit import AuditLog, stored_checkpoint
from pars.audit.bundle import BundleError, check_bundle
from pars.audit.cosignature import cosign, cosigner_verifier_key
from pars.audit.evidence import write_bundle
from pars.audit.note import parse_note, public_key_bytes
from pars.audit.tlogproof import TlogProofError, parse_proof, verify_proof
from pars.cli import app
from pars.store.db import Store
from pars.store.schema.publish import audit_cosignatures, audit_published
from tests.test_audit_log import make_entries
from tests.test_gate_fixtures import ICE_SEARCH, World, world

__all__ = ["world"]
runner = CliRunner()
SRC = str(Path(__file__).resolve().parents[1] / "src")


def search(w: World, who: str) -> dict[str, Any]:
    out = w.search(who, {**ICE_SEARCH, "filters": {"grade": "F1"}} if who.startswith("ice") else
                   {"purpose": "C", "case_number": "c", "filters": {"grade": "F1"}})  # fmt: skip
    receipt: dict[str, Any] = out.json()["receipt"]
    return receipt


def test_the_proof_route_serves_a_tlog_proof_anyone_can_check(world: World) -> None:
    mine, colleague, fbi = search(world, "ice"), search(world, "ice2"), search(world, "fbi")
    i = mine["leaf_index"]
    got = world.client.get(f"/v1/audit/entries/{i}/proof", headers=world.auth("ice"))
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/plain")
    text = got.text
    assert text.startswith(f"c2sp.org/tlog-proof@v1\nindex {i}\n")
    proved = verify_proof(text, log_key=world.log.verifier_key, entry=rfc8785.dumps(mine["entry"]))
    assert proved.index == i and proved.size > fbi["leaf_index"]  # the newest published checkpoint
    # Another entry's bytes do not pass with this proof.
    with pytest.raises(TlogProofError):
        verify_proof(text, log_key=world.log.verifier_key, entry=rfc8785.dumps(colleague["entry"]))
    # Against an older published (here: stored) checkpoint, by its size.
    older = world.client.get(f"/v1/audit/entries/{i}/proof?size={i + 1}", headers=world.auth("oversight"))
    assert older.status_code == 200 and parse_proof(older.text).checkpoint.split("\n")[1] == str(i + 1)
    # Permissions as for the entry: a colleague's or another agency's is "not found"; custodians are refused.
    for who, index in (("ice", colleague["leaf_index"]), ("ice", fbi["leaf_index"]), ("fbi", i)):
        assert (
            world.client.get(f"/v1/audit/entries/{index}/proof", headers=world.auth(who)).status_code == 404
        )
    assert (
        world.client.get(f"/v1/audit/entries/{i}/proof", headers=world.auth("custodian")).status_code == 403
    )
    assert world.client.get(f"/v1/audit/entries/{i}", headers=world.auth("ice2")).status_code == 404
    # Nothing proved past the published checkpoint, nor against a size never published.
    assert (
        world.client.get("/v1/audit/entries/99999/proof", headers=world.auth("oversight")).status_code == 404
    )
    assert (
        world.client.get(
            f"/v1/audit/entries/0/proof?size={10**9}", headers=world.auth("oversight")
        ).status_code
        == 404
    )


def _witness(name: str) -> tuple[str, Ed25519PrivateKey]:
    key = Ed25519PrivateKey.generate()
    return cosigner_verifier_key(name, public_key_bytes(key)), key


def publish(store: Store, size: int, witnesses: list[tuple[str, Ed25519PrivateKey]]) -> None:
    """What the publisher keeps once a quorum cosigned the checkpoint of ``size``."""
    with store.write() as conn:
        cp = stored_checkpoint(conn, size)
        assert cp is not None
        body = parse_note(cp.note).text
        for vkey, key in witnesses:
            line = cosign(body, vkey.split("+")[0], key, 1_700_000_000)
            conn.execute(
                insert(audit_cosignatures).values(
                    size=size, witness_key=vkey, signature=line.rstrip("\n"), timestamp=1_700_000_000,
                    received_utc=datetime(2026, 1, 1),
                )
            )  # fmt: skip
        conn.execute(insert(audit_published).values(size=size, published_utc=datetime(2026, 1, 1)))


def test_with_witnesses_proofs_and_bundles_are_against_the_cosigned_checkpoint(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    courts, civic = _witness("courts.example/w"), _witness("civic.example/w")
    monkeypatch.setenv(
        "PARS_WITNESSES", f"{courts[0]}=http://127.0.0.1:9/courts,{civic[0]}=http://127.0.0.1:9/civic"
    )
    first = search(world, "ice")
    published = first["leaf_index"] + 1
    publish(world.store, published, [courts, civic])
    later = search(world, "ice")  # logged, not yet cosigned
    got = world.client.get(f"/v1/audit/entries/{first['leaf_index']}/proof", headers=world.auth("ice"))
    assert got.status_code == 200
    proved = verify_proof(
        got.text, log_key=world.log.verifier_key, entry=rfc8785.dumps(first["entry"]),
        witness_keys=[courts[0], civic[0]], quorum=2,
    )  # fmt: skip
    assert proved.size == published and set(proved.cosignatures) == {"courts.example/w", "civic.example/w"}
    unpublished = world.client.get(
        f"/v1/audit/entries/{later['leaf_index']}/proof", headers=world.auth("ice")
    )
    assert unpublished.status_code == 404  # not proved against a checkpoint no witness cosigned
    size = later["leaf_index"] + 1
    assert (
        world.client.get(
            f"/v1/audit/entries/0/proof?size={size}", headers=world.auth("oversight")
        ).status_code
        == 404
    )
    text = write_bundle(world.store, [first["leaf_index"]], world.log.verifier_key)
    assert len(check_bundle(text, world.log.verifier_key, witness_keys=[courts[0], civic[0]])) == 1
    stranger = _witness("stranger.example/w")[0]
    with pytest.raises(BundleError, match=f"entry {first['leaf_index']}: .*0 of the required 1"):
        check_bundle(text, world.log.verifier_key, witness_keys=[stranger])


@pytest.fixture
def env(store_url: str, tmp_path: Path) -> dict[str, str]:
    env = {
        "PARS_DATABASE_URL": store_url,
        "PARS_KEY_DIR": str(tmp_path / "keys"),
        "PARS_LOG_ORIGIN": "city.example/pars-audit",
    }
    assert runner.invoke(app, ["init"], env=env).exit_code == 0
    store = Store(store_url)
    log = AuditLog.open(env["PARS_KEY_DIR"], checkpoint_interval=0)
    try:
        for k, start in ((5, 0), (3, 5), (4, 8)):
            with store.write() as conn:
                log.append(conn, make_entries(log, k, start))
    finally:
        store.dispose()
    return env


CHECKER = """
import sys
from pars.cli import main
sys.argv = ["pars", *sys.argv[1:]]
try:
    main()
    code = 0
except SystemExit as exc:
    code = exc.code or 0
print("SQLALCHEMY", "sqlalchemy" in sys.modules, "STORE", "pars.store" in sys.modules)
sys.exit(code)
"""


def check_offline(bundle: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``pars audit check-bundle`` as a court would run it: our code on PYTHONPATH, no database,
    no key directory — nothing but the file and the keys on the command line."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PARS_")}
    clean["PYTHONPATH"] = SRC
    cwd.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-c", CHECKER, "audit", "check-bundle", str(bundle), *args],
        env=clean, cwd=cwd, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_a_bundle_checks_offline_with_only_the_keys(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "evidence.json"
    made = runner.invoke(app, ["audit", "bundle", "--index", "7", "--index", "3", "--out", str(out)], env=env)
    assert made.exit_code == 0, made.output
    key = runner.invoke(app, ["audit", "key"], env=env).stdout.strip()
    doc = json.loads(out.read_text())
    assert doc["format"] == "pars-evidence-bundle/v1" and [e["index"] for e in doc["entries"]] == [3, 7]
    assert all(e["tlog_proof"].endswith(doc["checkpoint"]) for e in doc["entries"])
    court = tmp_path / "court"
    ok = check_offline(out, "--key", key, cwd=court)
    assert ok.returncode == 0, ok.stderr
    assert "bundle verified: 2 entries in the log city.example/pars-audit of size 12" in ok.stdout
    assert "SQLALCHEMY False STORE False" in ok.stdout
    assert not list(court.iterdir())  # no store made on the way

    def tampered(change: Any) -> Path:
        bad = json.loads(out.read_text())
        change(bad["entries"][1])
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(bad))
        return path

    def flip(e: dict[str, Any]) -> None:
        raw = bytearray(base64.b64decode(e["entry_b64"]))
        raw[-3] ^= 1
        e["entry_b64"] = base64.b64encode(bytes(raw)).decode()

    for change, why in (
        (flip, "entry 7: inclusion"),
        (
            lambda e: e["entry"].update(user="someone-else"),
            "entry 7: the readable entry is not what its bytes say",
        ),
        (lambda e: e.update(index=8), "entry 8: its tlog-proof is for index 7"),
    ):
        bad = check_offline(tampered(change), "--key", key, cwd=court)
        assert bad.returncode == 1 and why in bad.stderr, bad.stderr
    from pars.audit.keys import create_keys

    # The same name, another key.
    wrong = create_keys(tmp_path / "k2", name="city.example/pars-audit")[0].verifier_key
    bad = check_offline(out, "--key", wrong, cwd=court)
    assert bad.returncode == 1 and "entry 3:" in bad.stderr
    unmet = check_offline(out, "--key", key, "--witness", _witness("w.example/w")[0], cwd=court)
    assert unmet.returncode == 1 and "0 of the required 1" in unmet.stderr


def test_bundle_refuses_indices_past_the_published_checkpoint(env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "evidence.json"
    made = runner.invoke(app, ["audit", "bundle", "--index", "12", "--out", str(out)], env=env)
    assert made.exit_code != 0 and not out.exists()


def test_the_cli_keeps_ingests_batch_size() -> None:
    from pars.cli.records import BATCH_SIZE
    from pars.store.ingest import BATCH_SIZE as STORE_BATCH_SIZE

    assert BATCH_SIZE == STORE_BATCH_SIZE


def test_a_proof_of_tampered_bytes_is_refused_naming_the_entry(world: World) -> None:
    from sqlalchemy import text

    mine = search(world, "ice")
    i = mine["leaf_index"]
    with world.store.write() as conn:
        body = bytes(
            conn.execute(text("SELECT entry FROM audit_leaves WHERE idx = :i"), {"i": i}).scalar_one()
        )
        forged = body.replace(b'"agent7"', b'"agentX"')
        conn.execute(text("UPDATE audit_leaves SET entry = :e WHERE idx = :i"), {"e": forged, "i": i})
    got = world.client.get(f"/v1/audit/entries/{i}/proof", headers=world.auth("oversight"))
    assert got.status_code == 500
    assert (
        got.json()["error"]["code"] == "audit_mismatch"
        and f"audit entry {i}:" in got.json()["error"]["message"]
    )
