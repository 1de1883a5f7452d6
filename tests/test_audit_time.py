"""Entry times never go backwards along the log (CONTRACT 5), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from pars.audit import AuditLog, AuditWriteError, build_entry, init_log, log_size, open_log, verify_log
from pars.audit.proofs import read_head
from pars.store.db import Store
from tests.test_gate_fixtures import World, world

__all__ = ["world"]

T0 = datetime(2018, 8, 31, 12, tzinfo=UTC)


def entry(log: AuditLog, at: datetime, user: str = "agent7") -> Any:
    return build_entry(
        hmac_key=log.keys.hmac_key,
        time=at,
        kind="access",
        action="search",
        decision="deny",
        status=403,
        user=user,
    )


@pytest.fixture
def log(store: Store, tmp_path: Path) -> AuditLog:
    init_log(store, str(tmp_path / "keys"))
    return AuditLog.open(str(tmp_path / "keys"))


def test_an_entry_older_than_the_head_is_refused_and_nothing_is_written(store: Store, log: AuditLog) -> None:
    with store.write() as conn:
        log.append(conn, [entry(log, T0), entry(log, T0 + timedelta(seconds=5))])
    with store.read() as conn:
        head = read_head(conn)
    older = r"entry 2: its time 2018-08-31T12:00:04\+00:00 is older"
    with pytest.raises(AuditWriteError, match=older), store.write() as conn:
        log.append(conn, [entry(log, T0 + timedelta(seconds=4))])
    # A batch that goes backwards inside itself is refused whole, its good first entry too.
    with pytest.raises(AuditWriteError, match="entry 3: its time"), store.write() as conn:
        log.append(conn, [entry(log, T0 + timedelta(seconds=9)), entry(log, T0 + timedelta(seconds=8))])
    with store.read() as conn:
        assert read_head(conn) == head and log_size(conn) == 2
    assert verify_log(store, log.verifier_key).ok
    # The same second as the newest is not older: taken.
    with store.write() as conn:
        log.append(conn, [entry(log, T0 + timedelta(seconds=5))])
    with store.read() as conn:
        assert log_size(conn) == 3


def test_a_fresh_writer_reads_the_newest_time_from_storage(
    store: Store, log: AuditLog, tmp_path: Path
) -> None:
    with store.write() as conn:
        log.append(conn, [entry(log, T0)])
    other = AuditLog.open(str(tmp_path / "keys"))  # another process: nothing cached
    with pytest.raises(AuditWriteError, match="older than the log's newest entry"), store.write() as conn:
        other.append(conn, [entry(other, T0 - timedelta(days=1))])


class SlowTicking:
    """A clock one second later at every reading, slow to answer: a job that read it early
    and was appended late would go back in time."""

    def __init__(self, at: datetime) -> None:
        self._at = at
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            self._at += timedelta(seconds=1)
            at = self._at
        time.sleep(0.002)
        return at


def test_concurrent_gate_batches_give_non_decreasing_times(world: World) -> None:
    world.gate.clock = SlowTicking(world.clock.now())
    p = world.gate.authenticate(world.tokens["fbi"])
    statuses: list[int] = []
    lock = threading.Lock()

    def many() -> None:
        for _ in range(6):
            out = world.gate.search(p, {"purpose": "C", "case_number": "c", "filters": {"grade": "F1"}})
            with lock:
                statuses.append(out.status)

    threads = [threading.Thread(target=many) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [200] * 48
    with open_log(world.store, world.log.verifier_key) as view:
        times = [datetime.fromisoformat(doc["time"]) for _, doc in view.entries()]
    assert len(times) >= 48
    assert times == sorted(times)
    assert verify_log(world.store, world.log.verifier_key).ok
