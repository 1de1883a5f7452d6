"""The stored log on SQLite and PostgreSQL: append in the caller's transaction,
receipts, checkpoints, proofs equal to the in-memory ones, entry iteration."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from pars.audit import (
    AuditEntry,
    AuditLog,
    build_entry,
    consistency_proof,
    get_entry,
    inclusion_proof,
    init_log,
    iter_entries,
    latest_checkpoint,
    leaf_hash,
    log_size,
    merkle,
    root_at,
    root_hash,
    stored_checkpoint,
    tiles,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
    verify_log,
)
from pars.clock import FixedClock
from pars.errors import InvalidInput, NotFound
from pars.store.db import Store
from pars.store.schema.audit import audit_leaves

T0 = datetime(2018, 1, 1, tzinfo=UTC)


def make_entries(log: AuditLog, n: int, start: int = 0) -> list[AuditEntry]:
    return [
        build_entry(
            hmac_key=log.keys.hmac_key,
            time=T0 + timedelta(minutes=i),
            kind="access",
            action="search",
            decision="allow" if i % 3 else "deny",
            status=200 if i % 3 else 403,
            agreement_id=("ice-2017", "fbi-2018")[i % 2],
            user=f"agent{i % 5}",
            filters={"last_name": f"Doe{i}", "grade": "F1"},
            arrest_ids=[f"A-{i}"],
        )
        for i in range(start, start + n)
    ]


@pytest.fixture
def keydir(tmp_path: Path) -> str:
    return str(tmp_path / "keys")


@pytest.fixture
def log(store: Store, keydir: str) -> AuditLog:
    init_log(store, keydir)
    return AuditLog.open(keydir, clock=FixedClock(T0))


def append(store: Store, log: AuditLog, entries: list[AuditEntry]) -> list[bytes]:
    with store.write() as conn:
        appended = log.append(conn, entries)
    return [leaf.leaf_hash for leaf in appended.leaves]


def test_append_returns_indices_hashes_and_a_signed_checkpoint(store: Store, log: AuditLog) -> None:
    entries = make_entries(log, 3)
    with store.write() as conn:
        appended = log.append(conn, entries)
    assert [leaf.index for leaf in appended.leaves] == [0, 1, 2]
    assert [leaf.leaf_hash for leaf in appended.leaves] == [leaf_hash(e.canonical) for e in entries]
    origin, size, root = verify_checkpoint(appended.checkpoint.note, log.verifier_key)
    assert (origin, size) == ("pars.local/audit", 3)
    assert root == root_hash([leaf_hash(e.canonical) for e in entries])
    receipt = appended.receipts()[1]
    assert set(receipt) == {"leaf_index", "leaf_hash_hex", "entry", "checkpoint", "texts"}
    assert receipt["leaf_index"] == 1
    assert receipt["entry"] == json.loads(entries[1].canonical)
    assert receipt["checkpoint"] == appended.checkpoint.note


def test_a_receipt_checks_out_with_the_proof_routes(store: Store, log: AuditLog) -> None:
    append(store, log, make_entries(log, 5))
    with store.write() as conn:
        receipt = log.append(conn, make_entries(log, 1, 5)).receipts()[0]
    append(store, log, make_entries(log, 4, 6))
    _, size, root = verify_checkpoint(receipt["checkpoint"], log.verifier_key)
    import rfc8785

    lh = leaf_hash(rfc8785.dumps(receipt["entry"]))
    assert lh.hex() == receipt["leaf_hash_hex"]
    with store.read() as conn:
        proof = inclusion_proof(conn, receipt["leaf_index"], size)
        latest = log.head_checkpoint(conn)
        assert latest is not None and latest.size == 10
        cproof = consistency_proof(conn, size, latest.size)
    assert verify_inclusion(lh, receipt["leaf_index"], size, proof, root)
    assert verify_consistency(size, latest.size, root, latest.root, cproof)


def test_nothing_is_written_when_the_callers_transaction_fails(store: Store, log: AuditLog) -> None:
    append(store, log, make_entries(log, 2))

    def respond() -> None:
        with store.write() as conn:
            log.append(conn, make_entries(log, 3, 2))
            raise RuntimeError("the response could not be built")

    with pytest.raises(RuntimeError):
        respond()
    with store.read() as conn:
        assert log_size(conn) == 2
        assert conn.execute(select(func.count()).select_from(audit_leaves)).scalar_one() == 2
    assert verify_log(store, log.verifier_key).ok


def test_append_refuses_an_empty_batch_and_a_read_connection(store: Store, log: AuditLog) -> None:
    with pytest.raises(InvalidInput), store.write() as conn:
        log.append(conn, [])
    if store.is_sqlite:
        from pars.audit import AuditWriteError

        with pytest.raises(AuditWriteError), store.read() as conn:
            log.append(conn, make_entries(log, 1))


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(batches=st.lists(st.integers(1, 300), min_size=1, max_size=6), data=st.data())
def test_proofs_from_storage_equal_proofs_in_memory(
    store: Store, log: AuditLog, batches: list[int], data: st.DataObject
) -> None:
    with store.read() as conn:
        have = log_size(conn)
    with store.read() as conn:  # every stored leaf, not only those a stored checkpoint covers yet
        leaves = [get_entry(conn, i).leaf_hash for i in range(have)]
    for k in batches:
        leaves += append(store, log, make_entries(log, k, len(leaves)))
    n = len(leaves)
    with store.read() as conn:
        for _ in range(10):
            size = data.draw(st.integers(1, n))
            index = data.draw(st.integers(0, size - 1))
            old = data.draw(st.integers(1, size))
            assert root_at(conn, size) == root_hash(leaves[:size])
            assert inclusion_proof(conn, index, size) == merkle.inclusion_proof(leaves, index, size)
            assert consistency_proof(conn, old, size) == merkle.consistency_proof(leaves, old, size)


def test_every_checkpoint_is_kept_and_any_two_are_consistent(store: Store, keydir: str) -> None:
    init_log(store, keydir)
    log = AuditLog.open(keydir, clock=FixedClock(T0), checkpoint_interval=0)  # one stored per append
    done = 0
    for k in (1, 255, 1, 300, 7):
        append(store, log, make_entries(log, k, done))
        done += k
    sizes = [1, 256, 257, 557, 564]
    with store.read() as conn:
        cps = [stored_checkpoint(conn, s) for s in sizes]
        for a in cps:
            for b in cps:
                assert a is not None and b is not None
                if a.size <= b.size:
                    proof = consistency_proof(conn, a.size, b.size)
                    assert verify_consistency(a.size, b.size, a.root, b.root, proof)
        past = log.checkpoint_at(conn, 100)
    assert verify_checkpoint(past.note, log.verifier_key)[1:] == (100, past.root)


def test_read_apis_refuse_sizes_beyond_the_log(store: Store, log: AuditLog) -> None:
    append(store, log, make_entries(log, 4))
    with store.read() as conn:
        with pytest.raises(NotFound):
            inclusion_proof(conn, 0, 5)
        with pytest.raises(InvalidInput):
            inclusion_proof(conn, 4, 4)
        with pytest.raises(InvalidInput):
            consistency_proof(conn, 0, 4)
        with pytest.raises(NotFound):
            get_entry(conn, 4)
        assert get_entry(conn, 3).leaf_hash == leaf_hash(get_entry(conn, 3).entry)


def test_iterate_entries_by_agreement_user_and_time(store: Store, log: AuditLog) -> None:
    append(store, log, make_entries(log, 40))
    got = list(iter_entries(store, agreement_id="ice-2017", user="agent2"))
    assert [e.index for e in got] == [i for i in range(40) if i % 2 == 0 and i % 5 == 2]
    assert all(e.document()["agreement_id"] == "ice-2017" for e in got)
    window = list(iter_entries(store, since=T0 + timedelta(minutes=10), until=T0 + timedelta(minutes=12)))
    assert [e.index for e in window] == [10, 11, 12]
    assert [e.index for e in iter_entries(store, start=38)] == [38, 39]


def test_origin_is_fixed_at_first_init(store: Store, keydir: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PARS_LOG_ORIGIN", "first.example/log")
    assert init_log(store, keydir).origin == "first.example/log"
    monkeypatch.setenv("PARS_LOG_ORIGIN", "second.example/log")
    assert init_log(store, keydir).origin == "first.example/log"
    log = AuditLog.open(keydir)
    append(store, log, make_entries(log, 1))
    with store.read() as conn:
        cp = latest_checkpoint(conn)
    assert cp is not None and cp.note.startswith("first.example/log\n1\n")


def test_stored_entries_are_the_exact_bytes_hashed(store: Store, log: AuditLog) -> None:
    entries = make_entries(log, 3)
    append(store, log, entries)
    for e in entries:
        assert b"Doe" not in e.canonical
    with store.read() as conn:
        assert [get_entry(conn, i).entry for i in range(3)] == [e.canonical for e in entries]


def test_record_takes_an_entry_object_such_as_an_admin_event(store: Store, log: AuditLog) -> None:
    doc = dict(make_entries(log, 1)[0].document)
    doc.update(kind="admin", action="approve", detail={"as": "courts"})
    with store.write() as conn:
        appended = log.record(conn, doc)
    assert appended.leaves[0].entry.document["detail"] == {"as": "courts"}
    bad = {**doc, "filters": {"ssn": "923-45-6789"}}
    with pytest.raises(InvalidInput, match=r"filters\.ssn"), store.write() as conn:
        log.record(conn, bad)


def test_append_refuses_a_key_that_is_not_the_logs(store: Store, log: AuditLog, tmp_path: Path) -> None:
    from pars.audit import create_keys
    from pars.errors import ConfigError

    other, _ = create_keys(tmp_path / "other-keys")
    with pytest.raises(ConfigError, match="PARS_KEY_DIR"), store.write() as conn:
        AuditLog(other).append(conn, make_entries(log, 1))


def test_the_edge_a_writer_keeps_is_the_stored_edge_across_tile_boundaries(
    store: Store, log: AuditLog
) -> None:
    """The next append starts from the edge the last one left; it must equal the tiles."""
    size = 0
    for n in (1, 254, 2, 300, 64_000, 979, 1, 300):  # sizes 255, 257, 65,536 (a full level-1 tile) ...
        append(store, log, make_entries(log, n, size))
        size += n
        assert log._edge is not None and log._edge[0] == size
        with store.read() as conn:
            assert log._edge[2] == AuditLog._load_edge(conn, size)
        # The frontier the next append resumes is the one the stored edge gives.
        assert log._frontier is not None
        resumed, fresh = log._frontier.resumed(), tiles.Frontier(size, log._edge[2])
        assert (resumed.size, resumed.stack, resumed.loaded) == (fresh.size, fresh.stack, fresh.loaded)
        assert {k: v for k, v in resumed.bufs.items() if v} == {k: v for k, v in fresh.bufs.items() if v}
    assert verify_log(store, log.verifier_key).ok


def test_a_rolled_back_append_or_another_writer_makes_the_next_append_reload_the_edge(
    store: Store, log: AuditLog, keydir: str
) -> None:
    append(store, log, make_entries(log, 3))

    def rolled_back() -> None:
        with store.write() as conn:
            log.append(conn, make_entries(log, 2, 3))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        rolled_back()
    append(store, log, make_entries(log, 4, 3))  # the kept edge (size 5) is not the head's (3)
    other = AuditLog.open(keydir)
    append(store, other, make_entries(other, 5, 7))
    append(store, log, make_entries(log, 1, 12))  # the head moved under this writer
    with store.read() as conn:
        assert log_size(conn) == 13
    assert verify_log(store, log.verifier_key).ok


def test_writers_appending_in_turn_and_a_rolled_back_append_leave_one_log(
    store: Store, log: AuditLog, keydir: str
) -> None:
    """On PostgreSQL a writer appends on the head it left in one round trip (nothing read
    first); when another writer appended meanwhile, or its last append rolled back, that
    attempt must write nothing and the append go through the head read under the lock."""
    other = AuditLog.open(keydir, clock=FixedClock(T0))
    done: list[tuple[int, bytes]] = []
    size = 0
    for who in (log, log, log, log, other, log, log, other, other, log, log):
        entries = make_entries(log, 2, size)
        with store.write() as conn:
            appended = who.append(conn, entries)
        assert [leaf.index for leaf in appended.leaves] == [size, size + 1]
        size += 2
        assert appended.checkpoint.size == size
        done.append((size, appended.checkpoint.root))

    def rolled_back() -> None:
        with store.write() as conn:
            log.append(conn, make_entries(log, 1, size))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        rolled_back()
    append(store, log, make_entries(log, 1, size))
    append(store, log, make_entries(log, 1, size + 1))
    size += 2
    with store.read() as conn:
        assert log_size(conn) == size
        for at, root in done:  # every receipt's checkpoint is a root of the stored log
            assert root_at(conn, at) == root
        stored = [get_entry(conn, i).entry for i in range(size)]
    expected = [e.canonical for e in make_entries(log, size)]
    assert stored == expected
    assert verify_log(store, log.verifier_key).ok


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_the_driver_sql_is_compiled_from_the_tables_and_refuses_another_parameter_order(dialect: str) -> None:
    from pars.audit.sql import _compile, _dialect, statements
    from pars.store.schema.audit import audit_tiles

    sql = statements(dialect)
    assert "audit_leaves" in sql.leaf and "leaf_hash" in sql.leaf
    assert (sql.lock is None) == (dialect == "sqlite") and (sql.tip is None) == (dialect == "sqlite")
    with pytest.raises(RuntimeError, match="takes"):
        _compile(audit_tiles.insert(), _dialect(dialect), ("idx", "level", "hashes"))
