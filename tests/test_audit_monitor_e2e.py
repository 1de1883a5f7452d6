"""``pars audit monitor`` against the real ``/log`` routes (``pars serve``'s app), on SQLite and PostgreSQL.

The custodian holds the database and the log key: it cuts the log's tail and
re-signs a smaller head, or rewrites history and re-signs it. The monitor, which
kept an earlier checkpoint, names each.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import httpx
import pytest
from sqlalchemy import delete, insert, update

from pars.audit import AuditLog, init_log, root_at
from pars.audit.merkle import EMPTY_ROOT
from pars.audit.monitor import MonitorError, monitor
from pars.audit.note import sign_checkpoint
from pars.clock import FixedClock
from pars.store.db import Store
from pars.store.schema.audit import audit_checkpoints, audit_head, audit_leaves, audit_tiles
from pars.web.app import create_app
from tests.test_audit_log import T0, make_entries
from tests.test_gate_fixtures import TestClient

URL = "http://testserver/log"


@pytest.fixture(autouse=True)
def no_witnesses(monkeypatch: pytest.MonkeyPatch) -> None:
    # With no witness configured every stored checkpoint is published.
    monkeypatch.delenv("PARS_WITNESSES", raising=False)
    monkeypatch.delenv("PARS_WITNESS_QUORUM", raising=False)


@pytest.fixture
def keydir(store: Store, tmp_path: Path) -> str:
    d = str(tmp_path / "keys")
    init_log(store, d)
    return d


def open_log(keydir: str) -> AuditLog:
    return AuditLog.open(keydir, clock=FixedClock(T0), checkpoint_interval=0)


@contextmanager
def public_log(store: Store, log: AuditLog) -> Iterator[httpx.Client]:
    """The app in-process; ``monitor`` calls only ``get``, which ``TestClient`` has."""
    client = TestClient(create_app(store, log.clock, audit_log=log))
    try:
        yield cast(httpx.Client, client)
    finally:
        client.close()


def test_normal_growth_is_followed(store: Store, keydir: str, tmp_path: Path) -> None:
    log = open_log(keydir)
    state = tmp_path / "kept.checkpoint"
    with store.write() as conn:
        log.append(conn, make_entries(log, 300))
    with public_log(store, log) as client:
        assert monitor(URL, log.verifier_key, state, client).status == "first"
        for more in (1, 255, 10_000):
            with store.write() as conn:
                before = int(conn.execute(audit_head.select()).one().size)
                log.append(conn, make_entries(log, more, before))
            result = monitor(URL, log.verifier_key, state, client)
            assert (result.status, result.previous_size, result.checkpoint.size) == (
                "grew",
                before,
                before + more,
            )
        assert monitor(URL, log.verifier_key, state, client).status == "same"
    assert state.read_text().splitlines()[1] == str(300 + 1 + 255 + 10_000)


def test_a_cut_is_caught(store: Store, keydir: str, tmp_path: Path) -> None:
    log = open_log(keydir)
    state = tmp_path / "kept.checkpoint"
    with store.write() as conn:
        log.append(conn, make_entries(log, 600))
    with public_log(store, log) as client:
        monitor(URL, log.verifier_key, state, client)
        kept = state.read_text()
        # The insider deletes every leaf from 400 on, with its tiles and checkpoints,
        # resets the head and signs a checkpoint at 400 with the log's own key.
        with store.write() as conn:
            root = root_at(conn, 400)
            conn.execute(delete(audit_leaves).where(audit_leaves.c.idx >= 400))
            conn.execute(delete(audit_checkpoints))
            cp = sign_checkpoint(log.keys.name, 400, root, log.keys.name, log.keys.signing_key)
            conn.execute(insert(audit_checkpoints).values(size=400, root=root, note=cp.note, time_utc=T0))
            conn.execute(update(audit_head).values(size=400, root=root))
        assert client.get("/log/checkpoint").text == cp.note
        with pytest.raises(MonitorError, match="cut: the log shrank from 600 to 400") as info:
            monitor(URL, log.verifier_key, state, client)
        assert info.value.exit_code == 1
    assert state.read_text() == kept


def test_a_fork_is_caught(store: Store, keydir: str, tmp_path: Path) -> None:
    log = open_log(keydir)
    state = tmp_path / "kept.checkpoint"
    with store.write() as conn:
        log.append(conn, make_entries(log, 600))
    with public_log(store, log) as client:
        monitor(URL, log.verifier_key, state, client)
    kept = state.read_text()
    # The insider rewrites history: same key, same origin, other entries from index 0.
    with store.write() as conn:
        for table in (audit_leaves, audit_tiles, audit_checkpoints):
            conn.execute(delete(table))
        conn.execute(update(audit_head).values(size=0, root=EMPTY_ROOT))
    forged = open_log(keydir)
    with store.write() as conn:
        forged.append(conn, make_entries(forged, 600, 1))
    with public_log(store, forged) as client:
        with pytest.raises(MonitorError, match="fork: size 600 now has root"):
            monitor(URL, log.verifier_key, state, client)
        with store.write() as conn:
            forged.append(conn, make_entries(forged, 300, 601))
        with pytest.raises(
            MonitorError, match="fork: the tree of size 900 does not extend the kept tree of size 600"
        ):
            monitor(URL, log.verifier_key, state, client)
    assert state.read_text() == kept
