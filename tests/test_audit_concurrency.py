"""Several processes appending at once leave one gap-free log that verifies."""

from __future__ import annotations

import contextlib
import itertools
import os
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from pars.audit import AuditLog, init_log, verify_log
from pars.store.db import Store
from pars.store.schema.audit import audit_checkpoints, audit_leaves
from tests.processes import started

WORKERS = 4
APPENDS = 15

WORKER = """
import sys
from datetime import UTC, datetime
from pars.audit import AuditLog, build_entry
from pars.store.db import Store

url, keydir, name, appends = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
store = Store(url)
log = AuditLog.open(keydir)
for i in range(appends):
    with store.write() as conn:
        log.lock(conn)  # the clock read under the log's lock: entry times never go backwards
        batch = [
            build_entry(hmac_key=log.keys.hmac_key, time=datetime.now(UTC), kind="access",
                        action="read", decision="allow", status=200, user=name,
                        arrest_ids=[f"{name}-{i}-{j}"])
            for j in range(1 + i % 3)
        ]
        log.append(conn, batch)
store.dispose()
"""


@pytest.mark.parametrize("interval", ["0", "0.2"])
def test_concurrent_appends_from_processes_verify(store_url: str, tmp_path: Path, interval: str) -> None:
    keydir = str(tmp_path / "keys")
    store = Store(store_url)
    init_log(store, keydir)
    env = {**os.environ, "PYTHONWARNINGS": "error", "PARS_CHECKPOINT_INTERVAL": interval}
    with contextlib.ExitStack() as stack:
        cmds = [[sys.executable, "-c", WORKER, store_url, keydir, f"w{n}", str(APPENDS)]
                for n in range(WORKERS)]  # fmt: skip
        procs = [stack.enter_context(started(cmd, env=env)) for cmd in cmds]
        assert [p.wait(timeout=240) for p in procs] == [0] * WORKERS

    expected = WORKERS * sum(1 + i % 3 for i in range(APPENDS))
    with store.read() as conn:
        indices = list(conn.scalars(select(audit_leaves.c.idx).order_by(audit_leaves.c.idx)))
        stored = conn.execute(select(audit_checkpoints).order_by(audit_checkpoints.c.size)).all()
    assert indices == list(range(expected))  # no gap, no duplicate
    if interval == "0":
        assert len(stored) == WORKERS * APPENDS  # one checkpoint per append
    else:  # the cadence holds across processes: stored checkpoints are an interval apart
        gaps = [b.time_utc - a.time_utc for a, b in itertools.pairwise(stored)]
        assert stored and all(g >= timedelta(seconds=0.2) for g in gaps), gaps
    result = verify_log(store, AuditLog.open(keydir).verifier_key)
    assert result.ok, result.problem
    assert result.size == expected
    store.dispose()
