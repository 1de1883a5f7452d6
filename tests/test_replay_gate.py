"""Replay and the live gate agree: a log the gate wrote, malformed requests interleaved,
replays under the same agreement with every decision unchanged (issue 14, item 7)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pars.agreements.decide import AgreementVersion
from pars.agreements.document import parse_document
from pars.agreements.replay import MalformedRequest, logged_requests, replay
from pars.cli.agreements import audit_entries
from tests.test_gate_fixtures import ICE_SEARCH, NOW, World, rate_limited, world

__all__ = ["world"]


def test_replay_counts_malformed_requests_as_the_gate_did(world: World) -> None:
    """With 3 per minute, a's requests run: ok, malformed, ok, malformed, ok. The gate
    counted both 422s, so the third good search is refused; replay, counting them the
    same way, refuses it too. Skip the 422s and replay would allow it (a change)."""
    raw, pa, pb = rate_limited(world)
    bad: dict[str, Any] = {**ICE_SEARCH, "filters": {"last_name": ["x"] * 21}}  # 20 values at most
    steps = [
        (0, pa, ICE_SEARCH),
        (1, pa, bad),
        (2, pa, ICE_SEARCH),
        (3, pb, bad),  # b's own window
        (4, pa, bad),
        (5, pa, ICE_SEARCH),  # a's fifth counted request in the minute: 429
        (6, pb, ICE_SEARCH),
        (61, pa, ICE_SEARCH),  # the first two have left the window (now - 60 s, now]
        (62, pa, bad),
        (63, pa, ICE_SEARCH),  # counted in window: 2, 4, 5, 61, 62 -> 4 or more: 429
        (125, pa, ICE_SEARCH),
    ]
    live: list[tuple[int, str]] = []
    for seconds, who, body in steps:
        world.clock.set(NOW + timedelta(seconds=seconds))
        out = world.gate.search(who, body)
        rule = out.body["error"]["rule"] if out.status != 200 else "allow"
        live.append((out.status, rule))
    assert live == [
        (200, "allow"),
        (422, "malformed"),
        (200, "allow"),
        (422, "malformed"),
        (422, "malformed"),
        (429, "search.rate_limit"),
        (200, "allow"),
        (200, "allow"),
        (422, "malformed"),
        (429, "search.rate_limit"),
        (200, "allow"),
    ]

    doc = parse_document(raw)
    draft = AgreementVersion(doc.id, 0, doc.version_hash(), doc)
    logged = [
        item
        for item in logged_requests(audit_entries(None, world.store, "ICE"))
        if item.agreement_id == "ice-rl"
    ]
    assert sum(isinstance(item, MalformedRequest) for item in logged) == 4
    report = replay(draft, logged)
    assert report.replayed == 7  # the good requests; the 422s are counted, not decided again
    assert (report.changed, report.rule_changed, report.changes) == (0, 0, [])
