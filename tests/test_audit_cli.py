"""``pars init`` (keys) and ``pars audit ...`` through Typer's runner, on both databases."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from pars.audit import (
    AuditLog,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
)
from pars.cli import app
from pars.store.db import Store
from pars.store.schema.audit import audit_leaves
from tests.test_audit_log import make_entries

runner = CliRunner()


@pytest.fixture
def env(store_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "PARS_DATABASE_URL": store_url,
        "PARS_KEY_DIR": str(tmp_path / "keys"),
        "PARS_LOG_ORIGIN": "city.example/pars-audit",
    }


@pytest.fixture
def filled(env: dict[str, str], store_url: str) -> Iterator[Store]:
    result = runner.invoke(app, ["init"], env=env)
    assert result.exit_code == 0, result.output
    store = Store(store_url)
    log = AuditLog.open(env["PARS_KEY_DIR"])
    for k, start in ((5, 0), (3, 5), (4, 8)):
        with store.write() as conn:
            log.append(conn, make_entries(log, k, start))
    yield store
    store.dispose()


def test_init_creates_private_key_files_and_is_idempotent(env: dict[str, str]) -> None:
    first = runner.invoke(app, ["init"], env=env)
    assert first.exit_code == 0, first.output
    keydir = Path(env["PARS_KEY_DIR"])
    for name in ("log-signing.key", "log-hmac.key"):
        assert stat.S_IMODE((keydir / name).stat().st_mode) == 0o600
    assert "city.example/pars-audit" in first.output
    signing = (keydir / "log-signing.key").read_text()
    secret = signing.strip().split("+", 4)[4]  # base64 may itself contain "+"
    assert len(secret) > 40 and secret not in first.output  # the secret is never printed
    second = runner.invoke(app, ["init"], env=env)
    assert second.exit_code == 0 and "created key file" not in second.output
    assert (keydir / "log-signing.key").read_text() == signing


def test_checkpoint_and_key_verify_together(env: dict[str, str], filled: Store) -> None:
    note = runner.invoke(app, ["audit", "checkpoint"], env=env)
    key = runner.invoke(app, ["audit", "key"], env=env)
    assert note.exit_code == 0 and key.exit_code == 0
    origin, size, _ = verify_checkpoint(note.stdout, key.stdout.strip())
    assert (origin, size) == ("city.example/pars-audit", 12)


def test_prove_prints_a_proof_that_verifies(env: dict[str, str], filled: Store) -> None:
    out = runner.invoke(app, ["audit", "prove", "--index", "6", "--size", "10"], env=env)
    assert out.exit_code == 0, out.output
    p = json.loads(out.stdout)
    assert (p["index"], p["size"]) == (6, 10)
    proof = [bytes.fromhex(h) for h in p["proof_hex"]]
    assert verify_inclusion(bytes.fromhex(p["leaf_hash_hex"]), 6, 10, proof, bytes.fromhex(p["root_hex"]))
    latest = json.loads(runner.invoke(app, ["audit", "prove", "--index", "0"], env=env).stdout)
    assert latest["size"] == 12


def test_consistency_and_entry_commands(env: dict[str, str], filled: Store) -> None:
    out = runner.invoke(app, ["audit", "consistency", "--old", "5", "--new", "12"], env=env)
    assert out.exit_code == 0, out.output
    c = json.loads(out.stdout)
    assert verify_consistency(
        5,
        12,
        bytes.fromhex(c["old_root_hex"]),
        bytes.fromhex(c["new_root_hex"]),
        [bytes.fromhex(h) for h in c["proof_hex"]],
    )
    entry = json.loads(runner.invoke(app, ["audit", "entry", "3"], env=env).stdout)
    assert entry["index"] == 3 and entry["entry"]["arrest_ids"] == ["A-3"]


def test_verify_passes_then_names_the_tampered_index(env: dict[str, str], filled: Store) -> None:
    ok = runner.invoke(app, ["audit", "verify"], env=env)
    assert ok.exit_code == 0, ok.output
    assert "12 entries" in ok.output
    as_json = json.loads(runner.invoke(app, ["audit", "verify", "--json"], env=env).stdout)
    assert as_json["ok"] is True and as_json["size"] == 12

    with filled.write() as conn:
        conn.execute(update(audit_leaves).where(audit_leaves.c.idx == 7).values(entry=b"{}"))
    bad = runner.invoke(app, ["audit", "verify"], env=env)
    assert bad.exit_code == 1
    assert "index 7" in bad.output and "entry" in bad.output
    bad_json = runner.invoke(app, ["audit", "verify", "--json"], env=env)
    assert bad_json.exit_code == 1
    problem = json.loads(bad_json.stdout)["problem"]
    assert (problem["index"], problem["kind"]) == (7, "entry")


def test_checkpoint_on_an_empty_log_fails_cleanly(env: dict[str, str]) -> None:
    assert runner.invoke(app, ["init"], env=env).exit_code == 0
    out = runner.invoke(app, ["audit", "checkpoint"], env=env)
    assert out.exit_code == 1
    assert "no checkpoint" in out.output


def test_verify_with_an_auditors_key_and_a_wrong_key(env: dict[str, str], filled: Store) -> None:
    key = runner.invoke(app, ["audit", "key"], env=env).stdout.strip()
    no_keydir = {**env, "PARS_KEY_DIR": "/nonexistent"}
    ok = runner.invoke(app, ["audit", "verify", "--key", key], env=no_keydir)
    assert ok.exit_code == 0, ok.output
    from pars.audit import create_keys

    other = create_keys(Path(env["PARS_KEY_DIR"]).parent / "other")[0].verifier_key
    bad = runner.invoke(app, ["audit", "verify", "--json"], env={**env, "PARS_VERIFIER_KEY": other})
    assert bad.exit_code == 1
    assert json.loads(bad.stdout)["problem"]["kind"] == "checkpoint_signature"
