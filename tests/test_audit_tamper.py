"""Tampering with storage, on SQLite and PostgreSQL: verify names the first bad index."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, select, update

from pars.audit import AuditLog, init_log, scan, sign_checkpoint, verify, verify_log
from pars.audit.tiles import TILE_WIDTH, Frontier
from pars.store.db import Store
from pars.store.schema.audit import audit_checkpoints, audit_head, audit_leaves, audit_tiles
from tests.test_audit_log import make_entries

SIZE = 600  # three level-0 tiles, the last partial


@pytest.fixture(autouse=True, params=["one read", "a read per tile"])
def chunk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    """Every test also with one tile per read: problems at chunk edges, and PostgreSQL's
    reader thread still holding chunks when verify stops at the first problem."""
    if request.param == "a read per tile":
        monkeypatch.setattr(verify, "CHUNK", TILE_WIDTH)
    return verify.CHUNK


@pytest.fixture
def log(store: Store, tmp_path: Path) -> AuditLog:
    keydir = str(tmp_path / "keys")
    init_log(store, keydir)
    log = AuditLog.open(keydir, checkpoint_interval=0)  # every checkpoint stored, each checked
    # One entry per append for the first 40 (a checkpoint at every size), then batches.
    done = 0
    for k in [1] * 40 + [200, 57, 3, 300]:
        with store.write() as conn:
            log.append(conn, make_entries(log, k, done))
        done += k
    assert done == SIZE
    return log


def _problem(store: Store, log: AuditLog) -> tuple[int, str]:
    result = verify_log(store, log.verifier_key)
    assert not result.ok and result.problem is not None
    return result.problem.index, result.problem.kind


def _entry(store: Store, idx: int) -> bytes:
    with store.read() as conn:
        return bytes(conn.execute(select(audit_leaves.c.entry).where(audit_leaves.c.idx == idx)).scalar_one())


def test_untouched_log_verifies(store: Store, log: AuditLog) -> None:
    result = verify_log(store, log.verifier_key)
    assert result.ok, result.problem
    assert result.size == SIZE and result.leaves_checked == SIZE
    assert result.checkpoints_checked == 44


@pytest.mark.parametrize("idx", [0, 17, 255, 256, 599])
def test_one_changed_byte_of_an_entry_is_named(store: Store, log: AuditLog, idx: int) -> None:
    body = bytearray(_entry(store, idx))
    body[10] ^= 0x01
    with store.write() as conn:
        conn.execute(update(audit_leaves).where(audit_leaves.c.idx == idx).values(entry=bytes(body)))
    assert _problem(store, log) == (idx, "entry")


def test_a_deleted_row_is_named(store: Store, log: AuditLog) -> None:
    with store.write() as conn:
        conn.execute(delete(audit_leaves).where(audit_leaves.c.idx == 123))
    assert _problem(store, log) == (123, "missing")


@pytest.mark.parametrize("with_hashes", [False, True])
def test_two_swapped_rows_are_named(store: Store, log: AuditLog, with_hashes: bool) -> None:
    with store.read() as conn:
        rows = {
            r.idx: r
            for r in conn.execute(
                select(audit_leaves.c.idx, audit_leaves.c.entry, audit_leaves.c.leaf_hash).where(
                    audit_leaves.c.idx.in_([300, 450])
                )
            )
        }
    with store.write() as conn:
        for a, b in ((300, 450), (450, 300)):
            values = {"entry": rows[b].entry}
            if with_hashes:
                values["leaf_hash"] = rows[b].leaf_hash
            conn.execute(update(audit_leaves).where(audit_leaves.c.idx == a).values(**values))
    assert _problem(store, log) == (300, "subtree" if with_hashes else "entry")


def test_a_checkpoint_re_signed_with_another_key_is_named(store: Store, log: AuditLog) -> None:
    with store.read() as conn:
        row = conn.execute(select(audit_checkpoints).where(audit_checkpoints.c.size == 240)).one()
    forged = sign_checkpoint(
        "pars.local/audit", 240, bytes(row.root), "pars.local/audit", Ed25519PrivateKey.generate()
    )
    with store.write() as conn:
        conn.execute(
            update(audit_checkpoints).where(audit_checkpoints.c.size == 240).values(note=forged.note)
        )
    index, kind = _problem(store, log)
    assert (index, kind) == (239, "checkpoint_signature")


@pytest.mark.parametrize("rewrite_head", [False, True])
def test_a_truncated_log_is_named(store: Store, log: AuditLog, rewrite_head: bool) -> None:
    with store.write() as conn:
        conn.execute(delete(audit_leaves).where(audit_leaves.c.idx >= 500))
        if rewrite_head:
            conn.execute(update(audit_head).values(size=500))
    assert _problem(store, log) == (500, "missing")


def test_a_rewritten_entry_with_every_hash_recomputed_breaks_consistency(store: Store, log: AuditLog) -> None:
    # The strongest insider edit: change entry 25, then recompute the leaf hash,
    # every tile and the head, so storage agrees with itself. Only the signed
    # checkpoints still remember the truth.
    with store.read() as conn:
        entries = [bytes(e) for e in conn.scalars(select(audit_leaves.c.entry).order_by("idx"))]
    entries[25] = entries[25].replace(b"agent", b"agenX", 1)
    frontier = Frontier(0, {})
    hashes = [frontier.push(e) for e in entries]
    inserts, _ = frontier.dirty_tiles()
    with store.write() as conn:
        conn.execute(
            update(audit_leaves)
            .where(audit_leaves.c.idx == 25)
            .values(entry=entries[25], leaf_hash=hashes[25])
        )
        conn.execute(delete(audit_tiles))
        conn.execute(audit_tiles.insert(), [{"level": lv, "idx": ix, "hashes": b} for lv, ix, b in inserts])
        conn.execute(update(audit_head).values(root=frontier.root()))
    assert _problem(store, log) == (25, "consistency")


def test_a_corrupted_upper_tile_is_named(store: Store, log: AuditLog) -> None:
    with store.write() as conn:
        blob = conn.execute(
            select(audit_tiles.c.hashes).where(audit_tiles.c.level == 1, audit_tiles.c.idx == 0)
        ).scalar_one()
        bad = bytes(blob[:32]) + bytes(32 - 1) + b"\x01"
        conn.execute(
            update(audit_tiles).where(audit_tiles.c.level == 1, audit_tiles.c.idx == 0).values(hashes=bad)
        )
    assert _problem(store, log) == (256, "subtree")


def test_a_failed_verify_leaves_no_reader_behind(store: Store, log: AuditLog) -> None:
    with store.write() as conn:
        conn.execute(update(audit_leaves).where(audit_leaves.c.idx == 0).values(entry=b"{}"))
    assert _problem(store, log) == (0, "entry")
    assert not [t for t in threading.enumerate() if t.name == "pars-verify-reader"]


def test_a_read_that_fails_reaches_the_caller(
    store: Store, log: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    if store.is_sqlite:
        pytest.skip("SQLite is read in the caller's thread: its errors need no handing over")
    monkeypatch.setattr(scan, "_PG_ROWS", b"SELECT entry, leaf_hash FROM no_such_table")
    with pytest.raises(psycopg.DatabaseError, match="no_such_table"):
        verify_log(store, log.verifier_key)
    assert not [t for t in threading.enumerate() if t.name == "pars-verify-reader"]


def test_an_append_while_verifying_is_not_seen(
    store: Store, log: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Between the caller's first read and the first chunk, the last partial tile grows;
    # every read of the run must still see the log as the caller did.
    from pars.audit.scan import log_chunks as reading

    def append_first(*args: Any) -> Any:
        with store.write() as conn:
            log.append(conn, make_entries(log, 7, SIZE))
        return reading(*args)

    monkeypatch.setattr(verify, "log_chunks", append_first)
    result = verify_log(store, log.verifier_key)
    assert result.ok, result.problem
    assert result.size == SIZE
    monkeypatch.setattr(verify, "log_chunks", reading)
    assert verify_log(store, log.verifier_key).size == SIZE + 7
