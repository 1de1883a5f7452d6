"""``verify_log`` on one small SQLite log, tampered with in every way it must name (fast:
the mutation run of ``pars.audit.verify`` uses this file, not the store-wide tamper tests).

The log is built once through ``init_log`` / ``AuditLog.append`` and copied per test.
Checkpoints are stored at sizes 1..5, 255, 256 (a tile edge), 257, 457 and 600 (the end):
three level-0 tiles, the last partial, under one partial level-1 tile.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, select, text, update

from pars.audit import AuditLog, init_log, sign_checkpoint, stored_checkpoint, verify, verify_log
from pars.audit.extends import Kept
from pars.audit.merkle import EMPTY_ROOT
from pars.audit.scan import snapshot
from pars.audit.tiles import TILE_WIDTH, Frontier
from pars.store.db import Store
from pars.store.schema.audit import audit_checkpoints, audit_head, audit_leaves, audit_tiles
from tests.test_audit_log import make_entries

SIZE = 600
APPENDS = [1, 1, 1, 1, 1, 250, 1, 1, 200, 143]
CHECKPOINTS = [1, 2, 3, 4, 5, 255, 256, 257, 457, 600]
ORIGIN = "pars.local/audit"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, _sqlite_template: Path) -> tuple[Path, str]:
    base = tmp_path_factory.mktemp("verify-fast")
    path = base / "log.db"
    shutil.copyfile(_sqlite_template, path)
    keydir = str(base / "keys")
    store = Store(f"sqlite:///{path}")
    try:
        init_log(store, keydir)
        log = AuditLog.open(keydir, checkpoint_interval=0)
        done = 0
        for k in APPENDS:
            with store.write() as conn:
                log.append(conn, make_entries(log, k, done))
            done += k
        assert done == SIZE
    finally:
        store.dispose()
    return path, keydir


@pytest.fixture
def keydir(built: tuple[Path, str]) -> str:
    return built[1]


@pytest.fixture
def log(keydir: str) -> AuditLog:
    return AuditLog.open(keydir, checkpoint_interval=0)


@pytest.fixture
def store(built: tuple[Path, str], tmp_path: Path) -> Iterator[Store]:
    path = tmp_path / "log.db"
    shutil.copyfile(built[0], path)
    s = Store(f"sqlite:///{path}")
    yield s
    s.dispose()


def _fails(store: Store, log: AuditLog) -> verify.Problem:
    result = verify_log(store, log.verifier_key)
    assert result.ok is False and result.problem is not None and result.root_hex is None
    return result.problem


def _sql(store: Store, sql: str, **params: object) -> None:
    with store.write() as conn:
        conn.execute(text(sql), params)


def _tile(store: Store, level: int, idx: int) -> bytes:
    with store.read() as conn:
        q = select(audit_tiles.c.hashes).where(audit_tiles.c.level == level, audit_tiles.c.idx == idx)
        return bytes(conn.execute(q).scalar_one())


def _set_tile(store: Store, level: int, idx: int, blob: bytes) -> None:
    with store.write() as conn:
        conn.execute(
            update(audit_tiles)
            .where(audit_tiles.c.level == level, audit_tiles.c.idx == idx)
            .values(hashes=blob)
        )


def _root(store: Store, size: int) -> bytes:
    with store.read() as conn:
        q = select(audit_checkpoints.c.root).where(audit_checkpoints.c.size == size)
        return bytes(conn.execute(q).scalar_one())


def _resign(store: Store, size: int, note: str) -> None:
    with store.write() as conn:
        conn.execute(update(audit_checkpoints).where(audit_checkpoints.c.size == size).values(note=note))


@pytest.mark.parametrize("chunk", [verify.CHUNK, TILE_WIDTH])
def test_the_untouched_log_verifies_and_reports_progress(
    store: Store, log: AuditLog, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verify, "CHUNK", chunk)
    seen: list[tuple[int, int]] = []
    result = verify_log(store, log.verifier_key, progress=lambda d, t: seen.append((d, t)))
    assert result == verify.VerifyResult(True, SIZE, _root(store, SIZE).hex(), SIZE, 10, None, SIZE)
    assert seen == ([(SIZE, SIZE)] if chunk > SIZE else [(256, SIZE), (512, SIZE), (SIZE, SIZE)])
    assert result.to_json()["problem"] is None and result.to_json()["verified_size"] == SIZE


def test_a_log_read_two_tiles_at_a_time_verifies(
    store: Store, log: AuditLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 900 leaves read 512 at a time: the second read starts at 512 and holds two tiles.
    with store.write() as conn:
        log.append(conn, make_entries(log, 300, SIZE))
    monkeypatch.setattr(verify, "CHUNK", 2 * TILE_WIDTH)
    result = verify_log(store, log.verifier_key)
    assert (result.ok, result.size, result.checkpoints_checked) == (True, 900, 11), result.problem


def test_the_key_is_read_from_the_key_directory(store: Store, keydir: str) -> None:
    assert verify_log(store, key_dir=keydir).ok


def test_a_log_with_no_head_and_an_empty_log_verify(tmp_path: Path, sqlite_store: Store) -> None:
    s = sqlite_store
    empty = verify.VerifyResult(True, 0, EMPTY_ROOT.hex(), 0, 0, None, 0)
    init_log(s, str(tmp_path / "keys"))
    key = AuditLog.open(str(tmp_path / "keys")).verifier_key
    assert verify_log(s, key) == empty  # head at size 0
    _sql(s, "DELETE FROM audit_head")
    assert verify_log(s, key) == empty  # no head at all


def test_a_result_defaults_to_nothing_verified_and_no_kept_checkpoint() -> None:
    result = verify.VerifyResult(False, 3, None, 0, 0, verify.Problem(0, "entry", "x"))
    assert result.verified_size == 0 and result.kept == ()
    assert result.to_json()["problem"] == {"index": 0, "kind": "entry", "message": "x", "size": None}


@pytest.mark.parametrize("idx", [0, 255, 256, 599])
@pytest.mark.parametrize("chunk", [verify.CHUNK, TILE_WIDTH])
def test_a_changed_entry_is_named(
    store: Store, log: AuditLog, idx: int, chunk: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verify, "CHUNK", chunk)
    _sql(store, "UPDATE audit_leaves SET entry = :e WHERE idx = :i", e=b"{}", i=idx)
    result = verify_log(store, log.verifier_key)
    p = result.problem
    assert p == verify.Problem(
        idx, "entry", f"leaf {idx}: stored entry bytes do not hash to the stored leaf hash"
    )
    done = idx // TILE_WIDTH * TILE_WIDTH if chunk == TILE_WIDTH else 0
    good = max([c for c in CHECKPOINTS if c <= done], default=0)
    assert (result.leaves_checked, result.checkpoints_checked) == (
        done,
        CHECKPOINTS.index(good) + 1 if good else 0,
    )
    assert result.verified_size == good and result.size == SIZE and not result.ok


@pytest.mark.parametrize("idx", [0, 123, 256, 599])
def test_a_deleted_leaf_is_named(store: Store, log: AuditLog, idx: int) -> None:
    _sql(store, "DELETE FROM audit_leaves WHERE idx = :i", i=idx)
    p = _fails(store, log)
    assert p == verify.Problem(idx, "missing", f"no stored leaf at index {idx} (log size {SIZE})")


def test_a_leaf_with_its_hash_changed_is_named_by_its_tile(store: Store, log: AuditLog) -> None:
    # Leaf 300 and its hash rewritten together: only the tile still remembers it.
    entry = b'{"forged": true}'
    frontier = Frontier(0, {})
    _sql(
        store,
        "UPDATE audit_leaves SET entry = :e, leaf_hash = :h WHERE idx = 300",
        e=entry,
        h=frontier.push(entry),
    )
    p = _fails(store, log)
    assert p == verify.Problem(300, "subtree", "leaf 300: stored tile hash differs from the entry's hash")


@pytest.mark.parametrize("cut", [0, 5, 87])
def test_a_shortened_level_0_tile_is_named_where_it_ends(store: Store, log: AuditLog, cut: int) -> None:
    _set_tile(store, 0, 2, _tile(store, 0, 2)[: 32 * cut])
    assert _fails(store, log).index == 512 + cut


def test_a_missing_level_0_tile_is_named_at_its_first_leaf(store: Store, log: AuditLog) -> None:
    _sql(store, "DELETE FROM audit_tiles WHERE level = 0 AND idx = 1")
    p = _fails(store, log)
    assert (p.index, p.kind) == (256, "subtree")


def test_a_tile_of_a_bad_length_is_named_at_its_first_leaf(store: Store, log: AuditLog) -> None:
    blob = _tile(store, 0, 1)
    _set_tile(store, 0, 1, blob[:32] + bytes(32) + blob[64:] + b"\x00")
    assert _fails(store, log).index == 256


@pytest.mark.parametrize("pos", [0, 1, 255])
def test_a_changed_hash_in_a_level_0_tile_is_named(store: Store, log: AuditLog, pos: int) -> None:
    blob = bytearray(_tile(store, 0, 1))
    blob[32 * pos] ^= 1
    _set_tile(store, 0, 1, bytes(blob))
    p = _fails(store, log)
    assert (p.index, p.kind) == (256 + pos, "subtree")


def test_a_changed_upper_tile_is_named(store: Store, log: AuditLog) -> None:
    blob = _tile(store, 1, 0)
    assert len(blob) == 64
    _set_tile(store, 1, 0, blob[:32] + bytes(32))
    p = _fails(store, log)
    assert p == verify.Problem(256, "subtree", "stored subtree hash (tile 1/0) covering leaf 256 differs")


@pytest.mark.parametrize(("blob", "index"), [(None, 0), (b"\x01" * 33, 0), (b"", 0)])
def test_a_missing_or_malformed_upper_tile_is_named(
    store: Store, log: AuditLog, blob: bytes | None, index: int
) -> None:
    if blob is None:
        _sql(store, "DELETE FROM audit_tiles WHERE level = 1")
    else:
        _set_tile(store, 1, 0, blob)
    p = _fails(store, log)
    assert (p.index, p.kind, p.message) == (
        index,
        "subtree",
        f"stored subtree hash (tile 1/0) covering leaf {index} differs",
    )


def test_full_upper_tiles_are_compared_and_then_dropped(store: Store, log: AuditLog) -> None:
    # A level-1 tile fills only at 65536 leaves: the run's comparison of full tiles, directly.
    tile0, tile1 = _tile(store, 0, 0), _tile(store, 0, 1)
    with snapshot(store) as conn:
        run = verify._Run(conn, log.verifier_key, ORIGIN, SIZE)
        run.upper.full.extend([(0, 0, tile0), (0, 1, tile1)])
        run.compare_upper()
        assert run.upper.full == []
        run.compare_upper()
        run.upper.full.extend([(0, 0, tile0), (0, 1, tile1[:64] + bytes(32) + tile1[96:])])
        with pytest.raises(verify._Failed) as failed:
            run.compare_upper()
    assert failed.value.problem == verify.Problem(
        258, "subtree", "stored subtree hash (tile 0/1) covering leaf 258 differs"
    )


@pytest.mark.parametrize("size", [1, 256, 457])
def test_a_checkpoint_signed_by_another_key_is_named(store: Store, log: AuditLog, size: int) -> None:
    forged = sign_checkpoint(ORIGIN, size, _root(store, size), ORIGIN, Ed25519PrivateKey.generate())
    _resign(store, size, forged.note)
    result = verify_log(store, log.verifier_key)
    p = result.problem
    assert p is not None and (p.index, p.kind) == (size - 1, "checkpoint_signature")
    assert p.message.startswith(f"checkpoint at size {size}: ") and len(p.message) > len(
        f"checkpoint at size {size}: "
    )
    before = [c for c in CHECKPOINTS if c < size]
    assert result.checkpoints_checked == len(before)
    assert result.verified_size == (before[-1] if before else 0)


@pytest.mark.parametrize(("what", "at"), [("origin", 256), ("size", 256), ("root", 256), ("size", 1)])
def test_a_checkpoint_that_says_other_than_its_row_is_named(
    store: Store, log: AuditLog, what: str, at: int
) -> None:
    root = _root(store, at)
    origin, size = ORIGIN, at
    if what == "origin":
        origin = "other.example/log"
    elif what == "size":
        size = at + 1
    else:
        root = bytes(32)
    note = sign_checkpoint(origin, size, root, ORIGIN, log.keys.signing_key).note
    _resign(store, at, note)
    p = _fails(store, log)
    assert p == verify.Problem(
        at - 1, "checkpoint_signature", f"checkpoint at size {at}: signed note does not match its stored row"
    )


def test_a_rewritten_entry_with_every_hash_recomputed_breaks_consistency(store: Store, log: AuditLog) -> None:
    # Entry 3 changed, its leaf hash, every tile and the head recomputed: only the signed
    # checkpoints (at sizes 4 and on) remember the truth.
    with store.read() as conn:
        entries = [bytes(e) for e in conn.scalars(select(audit_leaves.c.entry).order_by("idx"))]
    entries[3] = entries[3] + b" "
    frontier = Frontier(0, {})
    hashes = [frontier.push(e) for e in entries]
    inserts, _ = frontier.dirty_tiles()
    with store.write() as conn:
        conn.execute(
            update(audit_leaves).where(audit_leaves.c.idx == 3).values(entry=entries[3], leaf_hash=hashes[3])
        )
        conn.execute(delete(audit_tiles))
        conn.execute(audit_tiles.insert(), [{"level": lv, "idx": ix, "hashes": b} for lv, ix, b in inserts])
        conn.execute(update(audit_head).values(root=frontier.root()))
    result = verify_log(store, log.verifier_key)
    assert result.problem == verify.Problem(
        3,
        "consistency",
        "checkpoint at size 4 is not consistent with the log: an entry in [3, 4) "
        "differs from what was signed",
    )
    assert (result.verified_size, result.checkpoints_checked) == (3, 3)


def test_a_changed_head_root_is_named(store: Store, log: AuditLog) -> None:
    with store.write() as conn:
        conn.execute(update(audit_head).values(root=bytes(32)))
    result = verify_log(store, log.verifier_key)
    assert result.problem == verify.Problem(SIZE, "consistency", "the head's root is not the log's root")
    assert (result.verified_size, result.leaves_checked, result.checkpoints_checked) == (SIZE, SIZE, 10)


@pytest.mark.parametrize("signed", [SIZE, 457])
def test_a_head_shorter_than_the_log_is_named(store: Store, log: AuditLog, signed: int) -> None:
    _sql(store, "DELETE FROM audit_checkpoints WHERE size > :s", s=signed)
    _sql(store, "UPDATE audit_head SET size = 500")
    result = verify_log(store, log.verifier_key)
    assert result.problem == verify.Problem(500, "consistency", "the head's size is not the log's size")
    # Verified: the last checkpoint at or below the head's size, none if one above it checked.
    verified = 0 if signed > 500 else signed
    assert (result.ok, result.size, result.root_hex, result.verified_size) == (False, SIZE, None, verified)
    assert (result.leaves_checked, result.checkpoints_checked) == (SIZE, CHECKPOINTS.index(signed) + 1)


@pytest.mark.parametrize(("rewrite_head", "keep_signed"), [(False, True), (True, True), (False, False)])
def test_a_cut_log_is_named(store: Store, log: AuditLog, rewrite_head: bool, keep_signed: bool) -> None:
    # The log is as long as the longest of the head, the stored leaves and the checkpoints.
    _sql(store, "DELETE FROM audit_leaves WHERE idx >= 500")
    if rewrite_head:
        _sql(store, "UPDATE audit_head SET size = 500")
    if not keep_signed:
        _sql(store, "DELETE FROM audit_checkpoints WHERE size > 500")
    result = verify_log(store, log.verifier_key)
    assert result.problem == verify.Problem(500, "missing", f"no stored leaf at index 500 (log size {SIZE})")
    # Leaves are checked before the chunk's checkpoints: none of them counts as verified.
    assert (result.size, result.verified_size, result.leaves_checked) == (SIZE, 0, 0)


def test_a_leaf_beyond_the_head_is_named(store: Store, log: AuditLog) -> None:
    with store.read() as conn:
        row = conn.execute(select(audit_leaves).where(audit_leaves.c.idx == 599)).one()
    with store.write() as conn:
        conn.execute(audit_leaves.insert().values({**row._asdict(), "idx": 600}))
    p = _fails(store, log)
    assert (p.index, p.kind) == (600, "subtree")


def _kept(store: Store, size: int) -> Kept:
    with store.read() as conn:
        cp = stored_checkpoint(conn, size)
    assert cp is not None
    return Kept(cp, ("w1",))


def test_kept_checkpoints_the_log_extends_are_shown(store: Store, log: AuditLog) -> None:
    kept = [_kept(store, 457), _kept(store, 256)]
    result = verify_log(store, log.verifier_key, kept=kept)
    assert result.ok and result.problem is None and result.root_hex == _root(store, SIZE).hex()
    assert result.kept == tuple(
        {"size": k.checkpoint.size, "root_hex": k.checkpoint.root_hex, "cosigned_by": ["w1"]} for k in kept
    )


def test_a_kept_checkpoint_of_another_log_is_named(store: Store, log: AuditLog) -> None:
    other = sign_checkpoint("other.example/log", 256, _root(store, 256), ORIGIN, log.keys.signing_key)
    result = verify_log(store, log.verifier_key, kept=[_kept(store, 5), Kept(other, ())])
    assert result.problem == verify.Problem(
        0, "origin", f"the kept checkpoint is for log 'other.example/log', not {ORIGIN!r}", 256
    )
    assert (result.ok, result.root_hex, result.size) == (False, None, SIZE)
    assert len(result.kept) == 2


def test_a_kept_checkpoint_beyond_a_cut_log_is_named(store: Store, log: AuditLog) -> None:
    kept = [_kept(store, SIZE)]
    _sql(store, "UPDATE audit_checkpoints SET note = 'x' WHERE size = 1")
    broken = verify_log(store, log.verifier_key, kept=kept)
    assert broken.problem is not None and broken.problem.kind == "checkpoint_signature"  # itself first
    _sql(store, "DELETE FROM audit_checkpoints")
    _sql(store, "DELETE FROM audit_leaves WHERE idx >= 256")
    frontier = Frontier(0, {})
    with store.read() as conn:
        for (h,) in conn.execute(select(audit_leaves.c.leaf_hash).order_by("idx")):
            frontier.push_hash(bytes(h))
    inserts, _ = frontier.dirty_tiles()
    with store.write() as conn:
        conn.execute(delete(audit_tiles))
        conn.execute(audit_tiles.insert(), [{"level": lv, "idx": ix, "hashes": b} for lv, ix, b in inserts])
        conn.execute(update(audit_head).values(size=256, root=frontier.root()))
    assert verify_log(store, log.verifier_key).ok
    result = verify_log(store, log.verifier_key, kept=kept)
    assert result.problem is not None
    assert (result.problem.index, result.problem.kind, result.problem.size) == (256, "cut", SIZE)
    assert result.problem.message.startswith("the log was cut: it holds 256 entries")
    assert (result.ok, result.root_hex, result.size) == (False, None, 256)
