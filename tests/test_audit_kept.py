"""``pars audit verify --checkpoint FILE [--witness KEY]... [--quorum K]`` (CONTRACT 9.2), both stores.

The custodian's two moves on a log someone holds a checkpoint of: cut the tail
(leaves from index k on, their tiles, newer checkpoints, the head reset) and
fork it (cut, then append other entries). Plain ``verify`` cannot see either —
every stored byte agrees with every other — but a kept checkpoint does.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text
from typer.testing import CliRunner

from pars.audit import AuditLog, stored_checkpoint
from pars.audit.cosignature import cosign, cosigner_verifier_key
from pars.audit.note import add_signatures, parse_note, public_key_bytes
from pars.audit.tiles import Frontier
from pars.cli import app
from pars.store.db import Store
from tests.test_audit_log import make_entries

runner = CliRunner()
SIZES = (100, 300, 350, 650)  # a stored checkpoint after each append


@pytest.fixture
def env(store_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "PARS_DATABASE_URL": store_url,
        "PARS_KEY_DIR": str(tmp_path / "keys"),
        "PARS_LOG_ORIGIN": "city.example/pars-audit",
    }


@pytest.fixture
def kept(env: dict[str, str], store_url: str, tmp_path: Path) -> dict[int, Path]:
    """A log of 650 entries; the checkpoint of each size in SIZES kept in a file, as an auditor would."""
    assert runner.invoke(app, ["init"], env=env).exit_code == 0
    store = Store(store_url)
    log = AuditLog.open(env["PARS_KEY_DIR"], checkpoint_interval=0)
    files = {}
    done = 0
    try:
        for size in SIZES:
            with store.write() as conn:
                log.append(conn, make_entries(log, size - done, done))
            done = size
            with store.read() as conn:
                cp = stored_checkpoint(conn, size)
            assert cp is not None
            files[size] = tmp_path / f"kept-{size}.checkpoint"
            files[size].write_text(cp.note, encoding="utf-8")
    finally:
        store.dispose()
    return files


def cut(store_url: str, k: int) -> None:
    """The custodian's clean cut at ``k``: leaves, tiles rebuilt for size k, newer checkpoints, head."""
    store = Store(store_url)
    try:
        with store.write() as conn:
            rows = conn.execute(
                text("SELECT leaf_hash FROM audit_leaves WHERE idx < :k ORDER BY idx"), {"k": k}
            )
            hashes = [bytes(r[0]) for r in rows]
            conn.execute(text("DELETE FROM audit_leaves WHERE idx >= :k"), {"k": k})
            conn.execute(text("DELETE FROM audit_tiles"))
            frontier = Frontier(0, {})
            for h in hashes:
                frontier.push_hash(h)
            inserts, _ = frontier.dirty_tiles()
            for level, idx, blob in inserts:
                conn.execute(
                    text("INSERT INTO audit_tiles (level, idx, hashes) VALUES (:l, :i, :h)"),
                    {"l": level, "i": idx, "h": blob},
                )
            conn.execute(text("DELETE FROM audit_checkpoints WHERE size > :k"), {"k": k})
            conn.execute(
                text("UPDATE audit_head SET size = :k, root = :r WHERE id = 1"),
                {"k": k, "r": frontier.root()},
            )
    finally:
        store.dispose()


def regrow(env: dict[str, str], store_url: str, n: int) -> None:
    """After a cut, other entries appended by the log's own writer (a fresh process)."""
    store = Store(store_url)
    log = AuditLog.open(env["PARS_KEY_DIR"], checkpoint_interval=0)
    try:
        with store.write() as conn:
            log.append(conn, make_entries(log, n, 1000))
    finally:
        store.dispose()


def verify(env: dict[str, str], *args: str | Path) -> tuple[int, str]:
    result = runner.invoke(app, ["audit", "verify", *map(str, args)], env=env)
    return result.exit_code, result.output


def test_an_untouched_log_extends_every_kept_checkpoint(env: dict[str, str], kept: dict[int, Path]) -> None:
    code, out = verify(env, "--checkpoint", kept[350], "--checkpoint", kept[650])
    assert code == 0, out
    assert "log verified: 650 entries" in out
    assert "extends the kept checkpoint of size 350" in out and "size 650" in out


def test_a_clean_cut_passes_verify_and_is_named_by_a_kept_checkpoint(
    env: dict[str, str], kept: dict[int, Path], store_url: str
) -> None:
    cut(store_url, 300)
    code, out = verify(env)
    assert code == 0 and "log verified: 300 entries" in out  # the attack: verify alone passes
    code, out = verify(env, "--checkpoint", kept[650])
    assert code == 1
    assert "at index 300 (cut)" in out and "the first missing index is 300" in out
    # A checkpoint kept from before the cut still holds.
    assert verify(env, "--checkpoint", kept[300])[0] == 0
    code, out = verify(env, "--json", "--checkpoint", kept[100], "--checkpoint", kept[650])
    problem = json.loads(out)["problem"]
    assert (problem["kind"], problem["index"], problem["size"]) == ("cut", 300, 650)


def test_a_fork_is_named_at_the_size_where_the_trees_disagree(
    env: dict[str, str], kept: dict[int, Path], store_url: str
) -> None:
    cut(store_url, 300)
    regrow(env, store_url, 400)  # 700 entries again, the last 400 others
    assert verify(env)[0] == 0
    code, out = verify(env, "--checkpoint", kept[650])
    assert code == 1 and "(fork)" in out and "forks from the kept checkpoint of size 650" in out
    # More kept checkpoints narrow it: agrees at 300, disagrees at 350.
    code, out = verify(env, "--json", *[a for s in SIZES for a in ("--checkpoint", str(kept[s]))])
    problem = json.loads(out)["problem"]
    assert (problem["kind"], problem["index"], problem["size"]) == ("fork", 300, 350)
    assert "after size 300" in problem["message"]


def test_a_kept_receipt_or_tlog_proof_serves_as_well(
    env: dict[str, str], kept: dict[int, Path], store_url: str, tmp_path: Path
) -> None:
    receipt = tmp_path / "receipt.json"
    receipt.write_text(json.dumps({"leaf_index": 600, "checkpoint": kept[650].read_text()}))
    cut(store_url, 300)
    code, out = verify(env, "--checkpoint", receipt)
    assert code == 1 and "(cut)" in out


def test_a_kept_checkpoint_must_verify_with_the_log_key(env: dict[str, str], kept: dict[int, Path]) -> None:
    forged = kept[350].read_text().replace("\n350\n", "\n351\n")
    kept[350].write_text(forged)
    code, out = verify(env, "--checkpoint", kept[350])
    assert code == 1 and "--checkpoint" in out and "does not verify" in out


def _witness(name: str) -> tuple[str, Ed25519PrivateKey]:
    key = Ed25519PrivateKey.generate()
    return cosigner_verifier_key(name, public_key_bytes(key)), key


def test_witness_quorum_on_the_kept_checkpoint(
    env: dict[str, str], kept: dict[int, Path], store_url: str
) -> None:
    (courts, ck), (civic, vk), (other, _) = (
        _witness(n) for n in ("courts.example/w", "civic.example/w", "x.example/w")
    )
    note = kept[650].read_text()
    body = parse_note(note).text
    kept[650].write_text(add_signatures(note, [cosign(body, "courts.example/w", ck, 1_700_000_000)]))
    both = ["--witness", courts, "--witness", civic]
    code, out = verify(env, "--checkpoint", kept[650], *both)
    assert code == 1 and "1 of the required 2" in out  # default quorum: every witness given
    code, out = verify(env, "--checkpoint", kept[650], *both, "--quorum", "1")
    assert code == 0 and "cosigned by courts.example/w" in out
    code, out = verify(env, "--checkpoint", kept[650], "--witness", other)
    assert code == 1 and "0 of the required 1" in out
    lines = [
        cosign(body, "courts.example/w", ck, 1_700_000_000),
        cosign(body, "civic.example/w", vk, 1_700_000_001),
    ]
    kept[650].write_text(add_signatures(note, lines))
    assert verify(env, "--checkpoint", kept[650], *both)[0] == 0
    # A cosignature over another tree does not count (nor pass as a bad line silently).
    other_body = body.replace("\n650\n", "\n649\n")
    kept[650].write_text(add_signatures(note, [cosign(other_body, "civic.example/w", vk, 1_700_000_001)]))
    code, out = verify(env, "--checkpoint", kept[650], "--witness", civic)
    assert code == 1 and "does not verify" in out
    # And a cosigned checkpoint still catches a cut.
    kept[650].write_text(add_signatures(note, [cosign(body, "courts.example/w", ck, 1_700_000_000)]))
    cut(store_url, 300)
    code, out = verify(env, "--checkpoint", kept[650], "--witness", courts)
    assert code == 1 and "(cut)" in out


def test_witness_options_need_a_kept_checkpoint(env: dict[str, str], kept: dict[int, Path]) -> None:
    code, out = verify(env, "--witness", _witness("w.example/w")[0])
    assert code != 0 and "--checkpoint" in out
