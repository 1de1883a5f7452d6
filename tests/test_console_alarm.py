"""A witness's refusal (a fork or a cut) is a red banner on every console page, on SQLite
and PostgreSQL: produced by a real witness refusing a rewritten log, never a log line only."""

from __future__ import annotations

from pathlib import Path

from pars.audit.publish import witness_config
from pars.audit.publisher import Publisher
from tests.publish_support import ThreadWitness, WitnessKeys
from tests.test_console import PAGES, sign_in
from tests.test_gate_fixtures import World, world
from tests.test_publish import _rewrite

__all__ = ["world"]


def _pages(w: World) -> list[str]:
    return [*PAGES, "/console/audit/entries/0", "/console/signin", "/console/audit/entries/99999999"]


def test_a_witness_refusal_is_a_banner_on_every_page(world: World, tmp_path: Path) -> None:
    keys = WitnessKeys(tmp_path / "w", "witness.example/courts")
    witness = ThreadWitness(keys, world.log.verifier_key).start()
    try:
        config = witness_config(f"{keys.vkey}={witness.url}", "1")
        assert Publisher(world.store, world.log, config, clock=world.clock).round().newly_published
        sign_in(world, "oversight")
        for path in _pages(world):
            r = world.client.get(path)
            assert 'class="alarm"' not in r.text, path
        world.app.state.witnesses = config  # what pars serve would have read from PARS_WITNESSES
        audit = world.client.get("/console/audit").text
        assert "witness.example/courts</td>" in audit and "up to date" in audit
        forked = _rewrite(world.store, str(tmp_path / "keys"), 3)
        result = Publisher(world.store, forked, config, clock=world.clock).round()
        assert [o.status for o in result.outcomes] == ["refused"]
    finally:
        witness.stop()
    assert "REFUSING" in world.client.get("/console/audit").text
    for path in _pages(world):
        r = world.client.get(path)
        assert 'class="alarm" role="alert"' in r.text, path
        assert "witness.example/courts refuses since" in r.text and "forked" in r.text
    world.client.post("/console/signout", data={})  # signed out: the sign-in page still shows it
    assert 'class="alarm"' in world.client.get("/console/signin").text
