"""Detectors on entries the real gate wrote (not hand-built): a partner user who keeps
searching after the agreement's term ended is reported for out-of-term access, with
exactly those requests as evidence (SQLite and PostgreSQL).

The other kinds are found through the gate in ``test_simulate.py`` (every kind the
simulator plays) and ``test_oversight_story.py``.
"""

from __future__ import annotations

from datetime import timedelta

from pars.oversight import build_report
from tests.test_gate_fixtures import ICE_END, ICE_SEARCH, World, world

__all__ = ["world"]


def test_searches_after_the_term_are_found_with_their_entries(world: World) -> None:
    agent7 = world.gate.authenticate(world.tokens["ice"])
    agent8 = world.gate.authenticate(world.tokens["ice2"])
    assert world.gate.search(agent7, ICE_SEARCH).status == 200  # inside the term
    assert world.gate.search(agent8, ICE_SEARCH).status == 200
    late = []
    for minutes in (1, 30, 90):
        world.clock.set(ICE_END + timedelta(minutes=minutes))
        out = world.gate.search(agent7, ICE_SEARCH)
        assert (out.status, out.body["error"]["rule"]) == (403, "term.end")
        late.append(out.body["receipt"]["leaf_index"])
    report = build_report(
        world.store,
        hmac_key=world.log.keys.hmac_key,
        verifier_key=world.log.verifier_key,
        now=world.clock.now(),
    )
    found = [f for f in report["findings"] if f["kind"] == "out_of_term_access"]
    assert [(f["agreement_id"], f["user"]) for f in found] == [("ice-2017", "agent7")], found
    assert sorted(found[0]["evidence"]) == late
