"""The public log (/log/, C2SP tlog-tiles) in-process, on SQLite and PostgreSQL: the tiles a
client fetches rebuild the published root with RFC 6962's algorithms, paths only in
their canonical spelling, nothing beyond the published size, bundles for oversight."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from contextlib import contextmanager
from hashlib import sha256
from pathlib import Path

import pytest
from sqlalchemy import insert, update

from pars.audit import AuditLog, init_log, leaf_hash, root_hash, verify_checkpoint
from pars.audit.note import sign_checkpoint
from pars.audit.publish import witness_config
from pars.audit.publisher import Publisher
from pars.audit.tilepath import decode_bundle, tiles_for_size
from pars.audit.tiles import Frontier
from pars.clock import FixedClock
from pars.gate import admin_event_recorder
from pars.gate.tokens import issue_token
from pars.store.db import Store
from pars.store.schema.audit import audit_checkpoints, audit_head, audit_tiles
from pars.web.app import create_app
from tests.publish_support import ThreadWitness, WitnessKeys
from tests.test_audit_log import T0, make_entries
from tests.test_gate_fixtures import TestClient

BIG = 1000 * 256 + 300  # level-0 tile 1000 ("x001/000") is full, 1001 is partial


@pytest.fixture(autouse=True)
def no_witnesses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARS_WITNESSES", raising=False)
    monkeypatch.delenv("PARS_WITNESS_QUORUM", raising=False)


@pytest.fixture
def log(store: Store, tmp_path: Path) -> AuditLog:
    keydir = str(tmp_path / "keys")
    init_log(store, keydir)
    return AuditLog.open(keydir, clock=FixedClock(T0), checkpoint_interval=0)


@pytest.fixture
def client(store: Store, log: AuditLog) -> Iterator[TestClient]:
    c = TestClient(create_app(store, log.clock, audit_log=log))
    yield c
    c.close()


@contextmanager
def _client(store: Store, log: AuditLog) -> Iterator[TestClient]:
    c = TestClient(create_app(store, log.clock, audit_log=log))
    try:
        yield c
    finally:
        c.close()


def _node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right).digest()


def _perfect(hashes: list[bytes]) -> bytes:
    while len(hashes) > 1:
        hashes = [_node(hashes[i], hashes[i + 1]) for i in range(0, len(hashes), 2)]
    return hashes[0]


def _go_style_root(partials: dict[int, list[bytes]]) -> bytes:
    """RFC 6962 root from the right edge only, as Go's tlog.TreeHash does: every level's
    partial tile split into perfect subtrees, largest first, then folded from the right."""
    pieces: list[bytes] = []
    for level in sorted(partials, reverse=True):
        hashes = partials[level]
        pos = 0
        for k in range(len(hashes).bit_length() - 1, -1, -1):
            if len(hashes) & (1 << k):
                pieces.append(_perfect(hashes[pos : pos + (1 << k)]))
                pos += 1 << k
    root = pieces[-1]
    for piece in reversed(pieces[:-1]):
        root = _node(piece, root)
    return root


def _hashes_only_log(store: Store, log: AuditLog, size: int) -> bytes:
    """A log of ``size`` leaf hashes written straight as tiles, head and signed checkpoint
    (the hash routes read nothing else): a big tree without a big append."""
    frontier = Frontier(0, {})
    for i in range(size):
        frontier.push_hash(sha256(b"\x00leaf %d" % i).digest())
    inserts, _ = frontier.dirty_tiles()
    root = frontier.root()
    cp = sign_checkpoint("pars.local/audit", size, root, log.keys.name, log.keys.signing_key)
    with store.write() as conn:
        rows = [{"level": lv, "idx": ix, "hashes": blob} for lv, ix, blob in inserts]
        conn.execute(insert(audit_tiles), rows)
        conn.execute(update(audit_head).values(size=size, root=root))
        conn.execute(insert(audit_checkpoints).values(size=size, root=root, note=cp.note, time_utc=T0))
    return root


def test_the_tiles_rebuild_the_published_root(store: Store, log: AuditLog, client: TestClient) -> None:
    root = _hashes_only_log(store, log, BIG)
    cp = client.get("/log/checkpoint")  # no token
    assert cp.status_code == 200 and cp.headers["content-type"] == "text/plain; charset=utf-8"
    assert cp.headers["cache-control"] == "public, max-age=5"
    origin, size, signed_root = verify_checkpoint(cp.text, log.verifier_key)
    assert (origin, size, signed_root) == ("pars.local/audit", BIG, root)
    # A Go-style client fetches the right edge: these paths, spelled as it spells them.
    edge = ["tile/2/000.p/3", "tile/1/003.p/233", "tile/0/x001/001.p/44"]
    got = {}
    for level, path in enumerate(reversed(edge)):
        r = client.get(f"/log/{path}")
        assert r.status_code == 200, (path, r.text)
        assert r.headers["content-type"] == "application/octet-stream"
        assert r.headers["cache-control"] == "public, max-age=60"
        got[level] = [r.content[i : i + 32] for i in range(0, len(r.content), 32)]
    assert [len(got[lv]) for lv in (0, 1, 2)] == [44, 233, 3]
    assert _go_style_root(got) == root
    # Every tile of the tree, full ones immutable; each level-L hash is the MTH of its
    # 256**L leaves, and the level-0 tiles' hashes are the whole tree's leaves.
    paths = [t.path for t in tiles_for_size(BIG)]
    assert "tile/0/x001/000" in paths and "tile/0/x001/001.p/44" in paths
    leaves: list[bytes] = []
    level1: list[bytes] = []
    for tile in tiles_for_size(BIG):
        if tile.level > 1:
            continue
        r = client.get(f"/log/{tile.path}")
        assert r.status_code == 200 and len(r.content) == 32 * tile.width
        if not tile.is_partial:
            assert r.headers["cache-control"] == "public, max-age=31536000, immutable"
        (leaves if tile.level == 0 else level1).append(r.content)
    hashes = [h for blob in leaves for h in (blob[i : i + 32] for i in range(0, len(blob), 32))]
    assert len(hashes) == BIG and root_hash(hashes) == root
    l1 = b"".join(level1)
    assert l1[:32] == root_hash(hashes[:256])
    assert l1[32 * 999 : 32 * 1000] == root_hash(hashes[999 * 256 : 1000 * 256])


@pytest.mark.parametrize(
    "path",
    [
        "tile/0/000.p/256", "tile/0/000.p/0", "tile/0/x000/000", "tile/0/0", "tile/0/0000", "tile/00/000",
        "tile/64/000", "tile/0/x001", "tile/-1/000", "tile/0/000.p/01", "tile/0/001/", "tile/entries/abc",
        "tile/0/x1000/000", "tile//000",
    ],
)  # fmt: skip
def test_a_path_not_in_its_canonical_spelling_is_404(
    store: Store, log: AuditLog, client: TestClient, path: str
) -> None:
    with store.write() as conn:
        log.append(conn, make_entries(log, 600))
    r = client.get(f"/log/{path}", headers={"Authorization": "Bearer x"})
    assert r.status_code in (404, 401), r.text
    if not path.startswith("tile/entries/"):
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_tiles_and_bundles_stop_at_the_published_size(
    store: Store, log: AuditLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = WitnessKeys(tmp_path / "w", "witness.example/courts")
    witness = ThreadWitness(keys, log.verifier_key).start()
    try:
        monkeypatch.setenv("PARS_WITNESSES", f"{keys.vkey}={witness.url}")
        with store.write() as conn:
            log.append(conn, make_entries(log, 300))
        Publisher(store, log, witness_config(), clock=log.clock).round()  # published: 300
        with store.write() as conn:
            log.append(conn, make_entries(log, 250, 300))  # 550, not published
        with _client(store, log) as client:
            cp = client.get("/log/checkpoint").text
            assert cp.splitlines()[1] == "300" and "\u2014 witness.example/courts " in cp
            assert client.get("/log/tile/0/000").status_code == 200
            part = client.get("/log/tile/0/001.p/44")  # the stored tile is full by now
            assert part.status_code == 200 and len(part.content) == 44 * 32
            assert client.get("/log/tile/0/001.p/45").status_code == 404  # leaf 300 is not published
            assert client.get("/log/tile/0/002.p/1").status_code == 404
            assert client.get("/log/tile/1/000.p/1").status_code == 200
            assert client.get("/log/tile/0/001").status_code == 404
    finally:
        witness.stop()


def _token(store: Store, log: AuditLog, role: str) -> dict[str, str]:
    """A token, issued as every token is: with its admin entry in the log."""
    tok, _ = issue_token(
        store, FixedClock(T0), role=role, user=f"{role}-user", record_admin_event=admin_event_recorder(log)
    )
    return {"Authorization": f"Bearer {tok}"}


def test_entry_bundles_are_for_oversight_and_hash_to_the_level_0_tiles(
    store: Store, log: AuditLog, client: TestClient
) -> None:
    custodian, oversight = _token(store, log, "custodian"), _token(store, log, "oversight")  # entries 0, 1
    entries = make_entries(log, 300)
    with store.write() as conn:
        log.append(conn, entries)
    assert client.get("/log/tile/entries/000").status_code == 401
    assert client.get("/log/tile/entries/000", headers=custodian).status_code == 403
    full = client.get("/log/tile/entries/000", headers=oversight)
    part = client.get("/log/tile/entries/001.p/46", headers=oversight)
    assert full.status_code == 200 and part.status_code == 200
    assert full.headers["content-type"] == "application/octet-stream"
    assert full.headers["cache-control"] == "no-store"  # private data: no shared cache
    bundle = decode_bundle(full.content, 256) + decode_bundle(part.content, 46)
    assert bundle[2:] == [e.canonical for e in entries]
    tile = client.get("/log/tile/0/000").content + client.get("/log/tile/0/001.p/46").content
    assert b"".join(leaf_hash(b) for b in bundle) == tile
    assert client.get("/log/tile/entries/001.p/47", headers=oversight).status_code == 404
    assert client.get("/log/tile/entries/001", headers=oversight).status_code == 404


def test_no_checkpoint_published_yet_is_404(client: TestClient) -> None:
    r = client.get("/log/checkpoint")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert client.get("/log/tile/0/000.p/1").status_code == 404


def test_the_checkpoint_carries_the_published_cosignatures_verbatim(
    store: Store, log: AuditLog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = WitnessKeys(tmp_path / "w", "witness.example/civic")
    witness = ThreadWitness(keys, log.verifier_key).start()
    try:
        monkeypatch.setenv("PARS_WITNESSES", f"{keys.vkey}={witness.url}")
        with store.write() as conn:
            log.append(conn, make_entries(log, 5))
        Publisher(store, log, witness_config(), clock=log.clock).round()
        with _client(store, log) as client:
            note = client.get("/log/checkpoint").text
    finally:
        witness.stop()
    from pars.audit.cosignature import require_quorum

    assert require_quorum(note, log.verifier_key, [keys.vkey], 1)
    sig = note.rstrip("\n").rsplit("\n", 1)[1]
    assert sig.startswith("\u2014 witness.example/civic ") and len(base64.b64decode(sig.split()[-1])) == 76
