"""A report in two processes (``pars.oversight.split``) is exactly the report one process makes,
and it fails closed: a second process that reads other bytes, another tree, or fails or
dies makes no report (SQLite and PostgreSQL).

The simulator's log, with a finding of every kind, is compared in both forms in
``test_simulate.py``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text

from pars.audit.reader import LogMismatch, published_checkpoint
from pars.oversight import OversightConfig, build_report
from pars.oversight import split as split_module
from pars.oversight.split import SECOND, Job, Second, SplitError, processes_for
from pars.store.db import Store
from tests.test_gate_fixtures import ICE_END, ICE_SEARCH, World, world

__all__ = ["world"]


def _report(w: World, **kw: Any) -> dict[str, Any]:
    return build_report(
        w.store, hmac_key=w.log.keys.hmac_key, verifier_key=w.log.verifier_key, now=w.clock.now(), **kw
    )


def _work(w: World) -> list[int]:
    """Searches and reads by two ICE users and one FBI user, then agent7 after the term: the
    leaf indices of the late searches."""
    for who in ("ice", "ice2", "fbi"):
        user = w.gate.authenticate(w.tokens[who])
        for n in range(6):
            body = {**ICE_SEARCH, "case_number": f"HSI-{n}", "filters": {"last_name": f"Name{n % 3}"}}
            w.gate.search(user, body)
        w.gate.search(user, {**ICE_SEARCH, "filters": {"country_of_origin": "MX"}})
    agent7 = w.gate.authenticate(w.tokens["ice"])
    late = []
    for minutes in (1, 30, 90):
        w.clock.set(ICE_END + timedelta(minutes=minutes))
        late.append(w.gate.search(agent7, ICE_SEARCH).body["receipt"]["leaf_index"])
    return late


def _same(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_two_processes_make_the_report_one_makes(world: World) -> None:
    late = _work(world)
    one, two = _report(world, processes=1), _report(world, processes=2)
    _same(one, two)
    kinds = {f["kind"] for f in two["findings"]}
    assert "out_of_term_access" in kinds and "forbidden_filter" in kinds, kinds
    out = [f for f in two["findings"] if f["kind"] == "out_of_term_access"]
    assert sorted(out[0]["evidence"]) == late
    # One agreement, a period with its lookback (the windows read before it), other thresholds.
    config = OversightConfig(min_people=1, lookback_days=30)
    period = {"start": ICE_END - timedelta(days=2), "end": ICE_END + timedelta(days=1)}
    _same(
        _report(world, processes=1, agreement_id="ice-2017", config=config, **period),
        _report(world, processes=2, agreement_id="ice-2017", config=config, **period),
    )


def _job(w: World) -> Job:
    config = OversightConfig()
    return Job(
        w.store.url, None, ["fbi-2017", "ice-2017"], None, None, None, None, config, w.log.keys.hmac_key
    )


def _signed(w: World) -> tuple[int, bytes]:
    with w.store.read() as conn:
        cp = published_checkpoint(conn)
    assert cp is not None
    return cp.size, cp.root


def test_a_second_process_that_reads_another_tree_fails(world: World) -> None:
    _work(world)
    size, _ = _signed(world)
    second = Second(_job(world))
    second.read(world.log.verifier_key, size, bytes(32))  # what the first verified: another root
    with pytest.raises(LogMismatch, match=f"two different trees of size {size}"):
        second.result()


def test_bytes_edited_under_the_report_make_no_report(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The custodian edits a leaf's bytes after the first process verified the log (its snapshot
    does not see the edit): the second process checks what it reads, and the report fails."""
    late = _work(world)
    edited = late[0]
    started: list[Second] = []
    read = Second.read

    def edit_then_read(self: Second, verifier_key: str, size: int, root: bytes) -> None:
        with world.store.write() as conn:
            row = conn.execute(text("SELECT entry FROM audit_leaves WHERE idx = :i"), {"i": edited}).one()
            forged = bytes(row[0]).replace(b'"agent7"', b'"agent9"')
            conn.execute(
                text("UPDATE audit_leaves SET entry = :e WHERE idx = :i"), {"e": forged, "i": edited}
            )
        started.append(self)
        read(self, verifier_key, size, root)

    monkeypatch.setattr(Second, "read", edit_then_read)
    with pytest.raises(LogMismatch) as caught:
        _report(world, processes=2)
    assert caught.value.index == edited
    assert "do not hash to its leaf" in str(caught.value)
    assert started and started[0]._proc.poll() is not None  # nothing left running


def test_a_second_process_that_fails_or_dies_fails_the_report(world: World) -> None:
    _work(world)
    size, root = _signed(world)
    failing = Second(_job(world))
    failing.read(world.log.verifier_key, size + 1000, root)  # no checkpoint of that size is stored
    with pytest.raises(SplitError, match=f"failed: NotFound: no signed checkpoint of size {size + 1000}"):
        failing.result()
    dying = Second(_job(world))
    dying._proc.kill()
    with pytest.raises(SplitError, match="ended without an answer"):
        dying.result()


def test_when_a_report_splits(store: Store, tmp_path: Any) -> None:
    big = split_module.SPLIT_FROM
    assert processes_for(store, big, 1) == 1
    assert processes_for(store, 10, 2) == 2
    memory = Store("sqlite://")
    try:
        assert processes_for(memory, big, None) == 1  # a second process could not open it
        assert processes_for(memory, 10, 2) == 1
    finally:
        memory.dispose()
    with pytest.raises(ValueError, match="processes: 1 or 2, not 3"):
        processes_for(store, big, 3)
    cores = split_module._cores()
    assert processes_for(store, big, None) == (2 if cores >= 2 else 1)
    assert processes_for(store, big - 1, None) == 1
    # The second runs the share tests and bulk; the first everything else.
    assert {"origin_targeting", "non_criminal_targeting", "bulk_access"} == SECOND
