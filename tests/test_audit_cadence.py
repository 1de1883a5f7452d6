"""Checkpoints at a cadence, on SQLite and PostgreSQL: every append signs a checkpoint
for its receipt, but one is stored at most once per PARS_CHECKPOINT_INTERVAL; a
receipt's checkpoint that was not stored still checks against the tiles later."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from pars.audit import (
    AuditLog,
    consistency_proof,
    inclusion_proof,
    init_log,
    latest_checkpoint,
    log_size,
    root_at,
    stored_checkpoint,
    verify_checkpoint,
    verify_consistency,
    verify_inclusion,
    verify_log,
)
from pars.audit.writer import checkpoint_interval_seconds
from pars.clock import FixedClock
from pars.errors import ConfigError
from pars.store.db import Store
from pars.store.schema.audit import audit_checkpoints
from tests.test_audit_log import T0, make_entries


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def log(store: Store, tmp_path: Path, clock: FixedClock) -> AuditLog:
    keydir = str(tmp_path / "keys")
    init_log(store, keydir)
    return AuditLog.open(keydir, clock=clock, checkpoint_interval=1.0)


def _append(store: Store, log: AuditLog, n: int = 1) -> tuple[dict, bool]:  # type: ignore[type-arg]
    with store.write() as conn:
        appended = log.append(conn, make_entries(log, n, log_size(conn)))  # times never go backwards
    return appended.receipts()[-1], appended.stored


def _stored_sizes(store: Store) -> list[int]:
    with store.read() as conn:
        return list(conn.scalars(select(audit_checkpoints.c.size).order_by(audit_checkpoints.c.size)))


def test_one_checkpoint_stored_per_interval_and_every_receipt_signed(
    store: Store, log: AuditLog, clock: FixedClock
) -> None:
    flags = []
    for step in [0, 0, 0.5, 0.499, 0.001, 0, 3, 0.999, 1]:  # seconds the clock moves before each append
        clock.advance(timedelta(seconds=step))
        receipt, stored = _append(store, log)
        flags.append(stored)
        _, size, _ = verify_checkpoint(receipt["checkpoint"], log.verifier_key)
        assert size == receipt["leaf_index"] + 1  # signed for the request's own entry
    #  t:   0     0      0.5    0.999  1.0   1.0    4.0   4.999  5.999
    assert flags == [True, False, False, False, True, False, True, False, True]
    assert _stored_sizes(store) == [1, 5, 7, 9]
    result = verify_log(store, log.verifier_key)
    assert result.ok and result.checkpoints_checked == 4


def test_a_clock_that_went_back_does_not_stop_the_cadence(
    store: Store, log: AuditLog, clock: FixedClock
) -> None:
    _append(store, log)
    clock.advance(timedelta(seconds=-30))
    assert _append(store, log)[1] is True
    assert _append(store, log)[1] is False


def test_interval_zero_stores_every_checkpoint(store: Store, log: AuditLog) -> None:
    every = AuditLog(log.keys, log.clock, checkpoint_interval=0)
    for _ in range(3):
        assert _append(store, every)[1] is True
    assert _stored_sizes(store) == [1, 2, 3]


def test_an_unstored_receipt_checkpoint_checks_against_the_tiles_later(
    store: Store, log: AuditLog, clock: FixedClock
) -> None:
    _append(store, log, 5)  # stored at size 5
    receipt, stored = _append(store, log, 3)  # size 8, not stored
    assert not stored
    clock.advance(timedelta(seconds=2))
    _append(store, log, 4)  # stored at size 12
    _, size, root = verify_checkpoint(receipt["checkpoint"], log.verifier_key)
    with store.read() as conn:
        assert stored_checkpoint(conn, size) is None
        assert root_at(conn, size) == root  # the tiles give the root it signed
        later = latest_checkpoint(conn)
        assert later is not None and later.size == 12
        proof = consistency_proof(conn, size, later.size)
        ip = inclusion_proof(conn, receipt["leaf_index"], size)
    assert verify_consistency(size, later.size, root, later.root, proof)
    assert verify_inclusion(bytes.fromhex(receipt["leaf_hash_hex"]), receipt["leaf_index"], size, ip, root)


def test_checkpoint_head_stores_the_quiet_heads_checkpoint_once_due(
    store: Store, log: AuditLog, clock: FixedClock
) -> None:
    _append(store, log, 2)
    _append(store, log, 3)  # size 5, not stored
    with store.write() as conn:
        assert log.checkpoint_head(conn) is None  # the interval has not passed
    clock.advance(timedelta(seconds=1))
    with store.write() as conn:
        cp = log.checkpoint_head(conn)
    assert cp is not None and cp.size == 5
    with store.write() as conn:
        assert log.checkpoint_head(conn, force=True) is None  # already stored at the head
    assert _stored_sizes(store) == [2, 5]
    assert verify_log(store, log.verifier_key).checkpoints_checked == 2
    with store.read() as conn:
        head = log.head_checkpoint(conn)
    assert head is not None and head.note == cp.note


def test_checkpoint_head_on_an_empty_log_stores_nothing(store: Store, log: AuditLog) -> None:
    with store.write() as conn:
        assert log.checkpoint_head(conn, force=True) is None
    assert _stored_sizes(store) == []


def test_checkpoint_head_needs_a_write_connection(sqlite_store: Store, tmp_path: Path) -> None:
    keydir = str(tmp_path / "k")
    init_log(sqlite_store, keydir)
    log = AuditLog.open(keydir)
    from pars.audit import AuditWriteError

    with pytest.raises(AuditWriteError, match=r"Store\.write"), sqlite_store.read() as conn:
        log.checkpoint_head(conn, force=True)


@pytest.mark.parametrize("value", ["-1", "abc", "nan", "1e9", "inf"])
def test_a_bad_interval_is_refused_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="PARS_CHECKPOINT_INTERVAL"):
        checkpoint_interval_seconds(value)


def test_the_interval_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PARS_CHECKPOINT_INTERVAL", raising=False)
    assert checkpoint_interval_seconds() == 1.0
    monkeypatch.setenv("PARS_CHECKPOINT_INTERVAL", "0.25")
    assert checkpoint_interval_seconds() == 0.25
    monkeypatch.setenv("PARS_CHECKPOINT_INTERVAL", "soon")
    with pytest.raises(ConfigError, match="PARS_CHECKPOINT_INTERVAL"):
        checkpoint_interval_seconds()
