"""Two machines on one log whose clocks differ by less than a second (NTP's usual
milliseconds would do; 300 ms here to make it plain): the one behind waits out the gap
and answers, instead of failing its request because entry times never go backwards
(issue 15: N `pars serve` processes on several machines share one consistent log)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from pars.audit import AuditLog, iter_entries, verify_log
from pars.gate import Gate
from pars.gate.errors import Unavailable
from tests.test_gate_fixtures import ICE_SEARCH, NOW, World, world

__all__ = ["world"]


class RunningClock:
    """A clock that runs in real time from ``start`` (another machine's, set apart)."""

    def __init__(self, start: datetime) -> None:
        self._start, self._t0 = start, time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._t0)


def _machine(w: World, clock: RunningClock) -> Gate:
    return Gate(w.store, AuditLog(w.log.keys, clock, checkpoint_interval=0), clock)


def test_a_machine_whose_clock_is_behind_waits_out_the_gap_and_answers(world: World) -> None:
    ahead = NOW + timedelta(seconds=10)
    world.clock.set(ahead)  # machine A stamps 12:00:10
    a = world.gate
    assert a.search(a.authenticate(world.tokens["ice"]), ICE_SEARCH).status == 200
    behind = _machine(world, RunningClock(ahead - timedelta(milliseconds=300)))  # B reads 12:00:09.7
    started = time.monotonic()
    out = behind.search(behind.authenticate(world.tokens["ice2"]), ICE_SEARCH)
    waited = time.monotonic() - started
    assert out.status == 200, out.body
    assert out.body["receipt"]["entry"]["time"] >= a.clock.now().isoformat()[:19]
    assert 0.2 < waited < 2.0  # it waited for its own clock to reach 12:00:10, no longer
    times = [e.document()["time"] for e in iter_entries(world.store, kind="access")]
    assert times == sorted(times)  # entry times never go backwards
    assert verify_log(world.store, verifier_key=world.log.verifier_key).ok


def test_a_clock_far_behind_fails_closed_and_writes_nothing(world: World) -> None:
    ahead = NOW + timedelta(seconds=10)
    world.clock.set(ahead)
    a = world.gate
    assert a.search(a.authenticate(world.tokens["ice"]), ICE_SEARCH).status == 200
    before = len(list(iter_entries(world.store)))
    far = _machine(world, RunningClock(ahead - timedelta(seconds=30)))
    started = time.monotonic()
    with pytest.raises(Unavailable):  # the web layer's 503: nothing answered
        far.search(far.authenticate(world.tokens["ice2"]), ICE_SEARCH)
    assert time.monotonic() - started < 1.0  # no waiting on a gap wider than MAX_CLOCK_WAIT
    assert len(list(iter_entries(world.store))) == before
